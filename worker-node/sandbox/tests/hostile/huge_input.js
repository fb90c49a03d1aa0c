// Invoked with a 16 MiB JSON string as input: an ordinary (large) request.
// Expected: success, the Worker sees the whole input.
export default {
  async run(input) {
    return typeof input === "string" ? input.length : -1;
  },
};
