// Top-level code throws an Error with edgeKind "memory". Expected: the load
// fails with `runtime`.
const error = new Error("top-level failure dressed as memory");
error.edgeKind = "memory";
throw error;
export default {
  async run() {
    return 1;
  },
};
