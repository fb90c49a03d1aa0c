// A cyclic result. Expected: `runtime`.
export default {
  async run() {
    const value = { name: "cycle" };
    value.self = value;
    return value;
  },
};
