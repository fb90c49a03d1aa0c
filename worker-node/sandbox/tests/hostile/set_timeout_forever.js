// Waits on a timer of 2^40 ms. Expected: `timeout`.
export default {
  async run() {
    await new Promise((resolve) => setTimeout(resolve, 2 ** 40));
  },
};
