// Awaits an endless chain of promise jobs. Expected: `timeout`.
export default {
  async run() {
    await (async () => {
      for (;;) await null;
    })();
  },
};
