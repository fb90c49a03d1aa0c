// An ordinary throw with `edgeKind = "not_found"` set on the Error.
// Expected: `runtime`.
export default {
  async run() {
    const error = new Error("ordinary failure dressed as not_found");
    error.edgeKind = "not_found";
    throw error;
  },
};
