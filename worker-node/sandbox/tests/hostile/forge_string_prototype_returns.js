// While running, makes String.prototype methods return forged values, logs a
// long line and returns. Expected: success with "real".
export default {
  async run() {
    for (const name of ["startsWith", "slice", "replace", "concat", "toString", "substring", "toWellFormed"]) {
      String.prototype[name] = () => "forged";
    }
    console.log("w".repeat(100000));
    return "real";
  },
};
