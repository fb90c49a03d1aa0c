// Grows WebAssembly memories of 16 MiB each until stopped. Expected: `memory`.
export default {
  async run() {
    const keep = [];
    for (let i = 0; i < 256; i++) {
      const memory = new WebAssembly.Memory({ initial: 256 });
      new Uint8Array(memory.buffer).fill(1);
      keep.push(memory);
    }
    return keep.length;
  },
};
