// Fills the heap in top-level code. Expected: the load fails with `memory`.
const keep = [];
for (;;) keep.push(new Array(1024).fill(keep.length));
export default {
  async run() {
    return keep.length;
  },
};
