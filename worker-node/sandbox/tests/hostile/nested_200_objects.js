// Returns objects nested 200 levels deep. Expected: success, the value whole.
export default {
  async run() {
    let value = 0;
    for (let i = 0; i < 200; i++) value = { a: value };
    return value;
  },
};
