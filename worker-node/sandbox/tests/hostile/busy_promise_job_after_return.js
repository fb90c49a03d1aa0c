// Returns, leaving a promise job that spins in while (true) behind.
// Expected: success or `timeout`, bounded, and the sandbox keeps serving.
export default {
  async run() {
    (async () => {
      for (let i = 0; i < 8; i++) await null;
      while (true) {}
    })();
    return "returned";
  },
};
