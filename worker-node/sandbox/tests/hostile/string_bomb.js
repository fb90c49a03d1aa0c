// Fills the V8 heap with 1 MiB flat strings. Expected: `memory`.
export default {
  async run() {
    const keep = [];
    for (let i = 0; ; i++) keep.push(JSON.stringify({ i, v: "s".repeat(1 << 20) }));
  },
};
