// Overrides Atomics.load to always report the mailbox empty, so batches
// overwrite each other; then waits on three timers and returns.
// Expected: success with "real".
const realLoad = Atomics.load;
Atomics.load = function (array, index) {
  realLoad.call(Atomics, array, index);
  return 0;
};
export default {
  async run() {
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 2));
    return "real";
  },
};
