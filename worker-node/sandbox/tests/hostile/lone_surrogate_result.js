// Returns a string holding a lone surrogate. Expected: success.
export default {
  async run() {
    return "x\udc00y";
  },
};
