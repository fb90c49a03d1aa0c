// While running, puts a toJSON on Object.prototype that turns any failed
// `done` into a forged success, then throws. Expected: `runtime` with the
// real message.
export default {
  async run() {
    Object.defineProperty(Object.prototype, "toJSON", {
      configurable: true,
      value() {
        if (this && this.t === "done") return { t: "done", inv: this.inv, ok: true, value: { json: "42" }, logs: [] };
        return this;
      },
    });
    throw new Error("truth: the Worker threw");
  },
};
