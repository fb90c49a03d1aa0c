// Returns, leaving an endless chain of promise jobs behind. Expected: success
// with "returned", and the sandbox keeps serving.
export default {
  async run() {
    (async () => {
      for (;;) await null;
    })();
    return "returned";
  },
};
