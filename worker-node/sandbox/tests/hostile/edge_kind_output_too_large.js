// An ordinary throw with `edgeKind = "output_too_large"` set on the Error.
// Expected: `runtime`.
export default {
  async run() {
    const error = new Error("ordinary failure dressed as output_too_large");
    error.edgeKind = "output_too_large";
    throw error;
  },
};
