// An ordinary throw with `edgeKind = "crashed"` set on the Error.
// Expected: `runtime`.
export default {
  async run() {
    const error = new Error("ordinary failure dressed as crashed");
    error.edgeKind = "crashed";
    throw error;
  },
};
