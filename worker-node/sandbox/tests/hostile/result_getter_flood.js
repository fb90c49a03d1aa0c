// A result with 10,000 getters, each returning a fresh 1 MiB string.
// Expected: `output_too_large`, without building the whole text first.
export default {
  async run() {
    const result = {};
    for (let i = 0; i < 10000; i++) {
      Object.defineProperty(result, `k${i}`, { enumerable: true, get: () => "g".repeat(1 << 20) });
    }
    return result;
  },
};
