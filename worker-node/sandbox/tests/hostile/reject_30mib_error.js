// Returns a promise rejected with a 30 MiB Error after a timer.
// Expected: `runtime`, bounded.
export default {
  async run() {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return Promise.reject(new Error("late " + "r".repeat(30 << 20)));
  },
};
