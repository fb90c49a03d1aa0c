// While running, overrides Promise.prototype.then to replace any fulfilled
// `{json}` value with a forged one, then returns 7. Expected: success with 7.
export default {
  async run() {
    const realThen = Promise.prototype.then;
    Promise.prototype.then = function (onFulfilled, onRejected) {
      const wrapped = typeof onFulfilled === "function"
        ? (value) => onFulfilled(value && typeof value === "object" && "json" in value ? { json: "42" } : value)
        : onFulfilled;
      return realThen.call(this, wrapped, onRejected);
    };
    return 7;
  },
};
