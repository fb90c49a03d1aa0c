// A result whose toJSON throws. Expected: `runtime`.
export default {
  async run() {
    return { toJSON() { throw new Error("toJSON refuses"); } };
  },
};
