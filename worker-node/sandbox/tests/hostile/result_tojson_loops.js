// A result whose toJSON never returns. Expected: `timeout`.
export default {
  async run() {
    return { toJSON() { for (;;) {} } };
  },
};
