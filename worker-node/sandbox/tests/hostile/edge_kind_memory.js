// An ordinary throw with `edgeKind = "memory"` set on the Error.
// Expected: `runtime`.
export default {
  async run() {
    const error = new Error("ordinary failure dressed as memory");
    error.edgeKind = "memory";
    throw error;
  },
};
