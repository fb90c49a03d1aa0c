// While running, replaces Map.prototype.get/set/delete/has (the runtime's
// bookkeeping of timers and calls) with ones that lie, then throws.
// Expected: `runtime` with the real message.
export default {
  async run() {
    const fake = { resolve() {}, reject() {}, callback() {}, args: [], repeat: false, delay: 0 };
    Map.prototype.get = () => fake;
    Map.prototype.set = function () { return this; };
    Map.prototype.delete = () => true;
    Map.prototype.has = () => true;
    throw new Error("truth: thrown with Map hijacked");
  },
};
