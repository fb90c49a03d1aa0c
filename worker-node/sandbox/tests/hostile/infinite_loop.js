// for (;;) {} in the handler. Expected: `timeout`.
export default {
  async run() {
    for (;;) {}
  },
};
