// Fills the V8 heap with small objects. Expected: `memory`.
export default {
  async run() {
    const keep = [];
    for (;;) keep.push({ a: [1, 2, 3], b: "x" + keep.length });
  },
};
