// Blocks in Atomics.wait for 60 s, in a loop. Expected: `timeout`.
export default {
  async run() {
    const cell = new Int32Array(new SharedArrayBuffer(4));
    for (;;) Atomics.wait(cell, 0, 0, 60000);
  },
};
