// An edgeKind getter that answers "runtime" first and "memory" afterwards.
// Expected: `runtime`.
export default {
  async run() {
    const error = new Error("ordinary failure with a shifty edgeKind");
    let reads = 0;
    Object.defineProperty(error, "edgeKind", { get: () => (reads++ === 0 ? "runtime" : "memory") });
    throw error;
  },
};
