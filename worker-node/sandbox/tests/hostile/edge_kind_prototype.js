// Sets edgeKind on Error.prototype, so every error (the runtime's own
// included) claims `memory`, then throws. Expected: `runtime`.
export default {
  async run() {
    Error.prototype.edgeKind = "memory";
    throw new Error("ordinary failure");
  },
};
