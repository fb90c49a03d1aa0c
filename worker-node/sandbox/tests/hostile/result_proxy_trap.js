// A result that is a Proxy whose traps throw. Expected: `runtime`.
export default {
  async run() {
    return new Proxy({}, {
      ownKeys() { throw new Error("ownKeys trap"); },
      get() { throw new Error("get trap"); },
    });
  },
};
