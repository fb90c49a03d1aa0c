// Throws an Error whose `stack` and `message` getters never return.
// Expected: `runtime` (the runtime must not run them), within the limits.
export default {
  async run() {
    const error = new Error("looping getters");
    Object.defineProperty(error, "stack", { get() { for (;;) {} } });
    Object.defineProperty(error, "message", { get() { for (;;) {} } });
    throw error;
  },
};
