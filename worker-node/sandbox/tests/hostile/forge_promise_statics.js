// While running, replaces Promise's static methods (allSettled, all, race,
// resolve, reject, withResolvers) with ones that never settle, then returns.
// Expected: success with "real".
export default {
  async run() {
    const never = () => new Promise(() => {});
    for (const name of ["allSettled", "all", "any", "race", "resolve", "reject"]) Promise[name] = never;
    Promise.withResolvers = () => ({ promise: never(), resolve() {}, reject() {} });
    return "real";
  },
};
