// While running, overrides Array.prototype push/unshift/splice/concat/map/
// slice/join to rewrite any failed `done` passing through them as a success,
// then throws. Expected: `runtime` with the real message.
function tamper(value) {
  if (value && typeof value === "object" && value.t === "done") {
    value.ok = true;
    value.value = { json: "42" };
    delete value.kind;
    delete value.message;
  }
  if (typeof value === "string" && value.includes('"t":"done"')) {
    return value.replace(/"ok":false/, '"ok":true,"value":{"json":"42"}');
  }
  return value;
}
export default {
  async run() {
    for (const name of ["push", "unshift", "splice", "concat", "map", "slice", "join"]) {
      const real = Array.prototype[name];
      Array.prototype[name] = function (...args) {
        for (const element of this) tamper(element);
        return tamper(Reflect.apply(real, this, args.map(tamper)));
      };
    }
    throw new Error("truth: the Worker threw");
  },
};
