// Invoked with a 70 MiB input, more than a protocol frame may carry.
// Expected: `bad_request`, and the tenant's sandbox keeps serving.
export default {
  async run(input) {
    return typeof input === "string" ? input.length : -1;
  },
};
