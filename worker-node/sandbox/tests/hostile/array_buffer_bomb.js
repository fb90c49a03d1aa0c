// Allocates 64 MiB ArrayBuffers (outside the V8 heap) until stopped.
// Expected: `memory`.
export default {
  async run() {
    const keep = [];
    for (let i = 0; i < 64; i++) {
      const bytes = new Uint8Array(64 << 20);
      bytes.fill(7);
      keep.push(bytes);
    }
    return keep.length;
  },
};
