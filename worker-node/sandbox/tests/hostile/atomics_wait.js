// Blocks the isolate's thread in Atomics.wait with no timeout.
// Expected: `timeout`.
export default {
  async run() {
    return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  },
};
