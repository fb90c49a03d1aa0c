// Starts 100,000 zero-delay intervals and never returns. Expected: `timeout`
// (or `runtime` from a timer cap).
export default {
  async run() {
    for (let i = 0; i < 100000; i++) setInterval(() => {}, 0);
    await new Promise(() => {});
  },
};
