// A regular expression with catastrophic backtracking. Expected: `timeout`.
export default {
  async run() {
    return /^(a+)+$/.test("a".repeat(64) + "!");
  },
};
