// Starts 100,000 zero-delay intervals and returns. Expected: success or
// `timeout` or `runtime` (a timer cap), bounded.
export default {
  async run() {
    for (let i = 0; i < 100000; i++) setInterval(() => {}, 0);
    return "scheduled";
  },
};
