// While running, makes String.prototype methods (used to describe errors and
// format logs) throw, then throws. Expected: `runtime` with the real message.
export default {
  async run() {
    for (const name of ["startsWith", "slice", "replace", "concat", "toString", "split", "substring", "indexOf", "toWellFormed"]) {
      String.prototype[name] = function () { throw new Error(`hijacked ${name}`); };
    }
    throw new Error("truth: the Worker threw");
  },
};
