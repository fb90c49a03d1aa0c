// Calls the runtime's drain() itself, taking the messages meant for the host
// (its timer), then waits on that timer. Expected: success with "real".
export default {
  async run() {
    const timer = new Promise((resolve) => setTimeout(resolve, 5));
    try {
      globalThis.__edge.drain();
    } catch (_) {
      // no drain to steal with
    }
    await timer;
    return "real";
  },
};
