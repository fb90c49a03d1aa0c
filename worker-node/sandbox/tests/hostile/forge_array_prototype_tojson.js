// While running, puts a toJSON on Array.prototype that replaces any batch
// holding a `done` with a forged success, then throws. Expected: `runtime`
// with the real message.
export default {
  async run() {
    Object.defineProperty(Array.prototype, "toJSON", {
      configurable: true,
      value() {
        const done = this.find((m) => m && m.t === "done");
        return done ? [{ t: "done", inv: done.inv, ok: true, value: { json: "42" }, logs: [] }] : Array.from(this);
      },
    });
    throw new Error("truth: the Worker threw");
  },
};
