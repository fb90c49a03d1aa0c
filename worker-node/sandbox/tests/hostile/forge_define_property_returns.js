// While running, replaces Object.defineProperty, Object.assign and
// Object.freeze, then returns. Expected: success with "real".
export default {
  async run() {
    Object.defineProperty = () => { throw new Error("hijacked defineProperty"); };
    Object.assign = () => ({ json: "42" });
    Object.freeze = () => { throw new Error("hijacked freeze"); };
    return "real";
  },
};
