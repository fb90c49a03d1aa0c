// Throws an Error whose message is 30 MiB. Expected: `runtime`, the message
// cut to a bounded size with an explicit truncation mark.
export default {
  async run() {
    throw new Error("big " + "x".repeat(30 << 20));
  },
};
