// A result whose JSON is 100 MB: one 1 MiB string referenced 100 times.
// Expected: `output_too_large`.
export default {
  async run() {
    return new Array(100).fill("x".repeat(1 << 20));
  },
};
