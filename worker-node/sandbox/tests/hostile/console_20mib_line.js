// One 20 MiB console line. Expected: success, the line truncated visibly.
export default {
  async run() {
    console.log("l".repeat(20 << 20));
    return "logged";
  },
};
