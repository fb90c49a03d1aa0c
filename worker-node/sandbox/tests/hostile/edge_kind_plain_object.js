// Throws a plain object that looks like a runtime error of kind `timeout`.
// Expected: `runtime`.
export default {
  async run() {
    throw { edgeKind: "timeout", message: "forged timeout" };
  },
};
