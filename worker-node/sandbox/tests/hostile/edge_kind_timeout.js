// An ordinary throw with `edgeKind = "timeout"` set on the Error.
// Expected: `runtime`.
export default {
  async run() {
    const error = new Error("ordinary failure dressed as timeout");
    error.edgeKind = "timeout";
    throw error;
  },
};
