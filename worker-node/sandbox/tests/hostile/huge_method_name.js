// A plain Worker invoked with an 8 MiB method name. Expected: `not_found` (or
// `bad_request`) with a bounded message.
export default {
  async run(input) {
    return input;
  },
};
