// Puts an edgeKind getter ("memory") on Object.prototype, so even a thrown
// string appears to carry it, then throws a string. Expected: `runtime`.
export default {
  async run() {
    Object.defineProperty(Object.prototype, "edgeKind", { configurable: true, get: () => "memory" });
    throw "an ordinary string";
  },
};
