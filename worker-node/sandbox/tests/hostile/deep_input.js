// Invoked with an input of 100,000 nested arrays. Expected: success or
// `bad_request`, bounded.
export default {
  async run(input) {
    return Array.isArray(input);
  },
};
