// Throws a non-Error: a 30 MiB string. Expected: `runtime`, bounded.
export default {
  async run() {
    throw "y".repeat(30 << 20);
  },
};
