// Logs a string holding a lone surrogate. Expected: success, the line arrives.
export default {
  async run() {
    console.log("lone \ud800 surrogate");
    return "logged";
  },
};
