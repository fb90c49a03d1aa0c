// An Error whose `stack` and `name` are replaced by 30 MiB strings.
// Expected: `runtime`, bounded.
export default {
  async run() {
    const error = new Error("small message");
    error.stack = "s".repeat(30 << 20);
    error.name = "N".repeat(1 << 20);
    throw error;
  },
};
