// While running, overrides Promise.prototype.then so a rejection is turned
// into a forged success, then throws. Expected: `runtime` with the real message.
export default {
  async run() {
    const realThen = Promise.prototype.then;
    Promise.prototype.then = function (onFulfilled, onRejected) {
      const forged = typeof onFulfilled === "function" ? () => onFulfilled({ json: "42" }) : onRejected;
      return realThen.call(this, onFulfilled, forged);
    };
    throw new Error("truth: the Worker threw");
  },
};
