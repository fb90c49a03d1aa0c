// While running, makes Map.prototype.set a no-op (so the runtime cannot
// record its timer), waits on a timer and returns. Expected: success "real".
export default {
  async run() {
    Map.prototype.set = function () { return this; };
    await new Promise((resolve) => setTimeout(resolve, 5));
    return "real";
  },
};
