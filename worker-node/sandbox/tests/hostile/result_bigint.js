// A BigInt result, which JSON cannot carry. Expected: `runtime`.
export default {
  async run() {
    return 1n;
  },
};
