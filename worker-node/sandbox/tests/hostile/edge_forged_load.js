// Points `__edge_main` at a forged module and re-runs the runtime's load
// entry point while running, then throws. Expected: `runtime` with the real
// message.
export default {
  async run() {
    try {
      globalThis.__edge_main = { default: { async run() { return 42; } } };
      globalThis.__edge.load();
    } catch (_) {
      // no load entry point
    }
    throw new Error("truth: run threw");
  },
};
