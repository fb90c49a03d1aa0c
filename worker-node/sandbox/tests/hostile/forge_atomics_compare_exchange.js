// Overrides Atomics.compareExchange so every post rings the host, then posts
// 900 timers (under the runtime's cap) from a promise job and returns.
// Expected: success with "real" within the limits.
Atomics.compareExchange = () => 0;
export default {
  async run() {
    await new Promise((resolve) => setTimeout(resolve, 1));
    for (let i = 0; i < 900; i++) setTimeout(() => {}, 60000);
    return "real";
  },
};
