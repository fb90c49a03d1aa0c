// Throws a plain object holding a 30 MiB string (described with JSON).
// Expected: `runtime`, bounded.
export default {
  async run() {
    throw { reason: "z".repeat(30 << 20) };
  },
};
