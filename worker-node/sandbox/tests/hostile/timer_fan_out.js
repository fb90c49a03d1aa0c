// Each zero-delay timer starts two more. Expected: `timeout` (or `runtime`
// from a timer cap).
export default {
  async run() {
    const spawn = () => {
      setTimeout(spawn, 0);
      setTimeout(spawn, 0);
    };
    spawn();
    await new Promise(() => {});
  },
};
