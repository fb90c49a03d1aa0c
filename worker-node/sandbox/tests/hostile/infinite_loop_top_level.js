// for (;;) {} in top-level code. Expected: the load fails with `timeout`.
for (;;) {}
export default {
  async run() {
    return 1;
  },
};
