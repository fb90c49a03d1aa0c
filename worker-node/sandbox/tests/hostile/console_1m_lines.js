// 1,000,000 console.log lines. Expected: success, the logs cut to a bounded
// size with an explicit note of what was dropped.
export default {
  async run() {
    for (let i = 0; i < 1000000; i++) console.log("line", i);
    return "logged";
  },
};
