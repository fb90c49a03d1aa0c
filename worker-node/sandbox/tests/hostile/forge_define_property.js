// While running, replaces Object.defineProperty and Object.freeze, then
// throws. Expected: `runtime` with the real message.
export default {
  async run() {
    Object.defineProperty = () => { throw new Error("hijacked defineProperty"); };
    Object.freeze = (value) => value;
    throw new Error("truth: the Worker threw");
  },
};
