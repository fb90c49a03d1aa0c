// While running, makes every object a thenable (Object.prototype.then) that
// resolves to a forged result, then returns 7. Expected: success with 7.
export default {
  async run() {
    Object.defineProperty(Object.prototype, "then", {
      configurable: true,
      value(resolve) {
        delete Object.prototype.then;
        resolve({ json: "42", http: undefined });
      },
    });
    return 7;
  },
};
