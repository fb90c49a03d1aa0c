// Top-level code that throws a 30 MiB string. Expected: the load fails with
// `runtime`, bounded.
throw "q".repeat(30 << 20);
export default {
  async run() {
    return 1;
  },
};
