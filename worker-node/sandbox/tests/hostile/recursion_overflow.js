// Unbounded recursion: an ordinary RangeError. Expected: `runtime`.
function down(n) {
  return down(n + 1) + 1;
}
export default {
  async run() {
    return down(0);
  },
};
