// Overrides Array.prototype[Symbol.iterator], which spreads the host's
// arguments into the runtime's entry points, to swap the invocation message
// for one that calls `fine`. Expected: `runtime` with the real message.
const realIterator = Array.prototype[Symbol.iterator];
Array.prototype[Symbol.iterator] = function () {
  const first = this.length === 1 ? this[0] : undefined;
  if (first && typeof first === "object" && first.method === "run") {
    return realIterator.call([Object.assign({}, first, { method: "fine" })]);
  }
  return realIterator.call(this);
};
export default {
  async run() {
    throw new Error("truth: run threw");
  },
  async fine() {
    return 42;
  },
};
