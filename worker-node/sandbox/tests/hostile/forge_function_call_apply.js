// While running, overrides Function.prototype.call/apply/bind and
// Reflect.apply so any captured runtime function called through them sees
// its arguments rewritten (a failed `done` becomes a success), then throws.
// Expected: `runtime` with the real message.
const apply = Reflect.apply;
function tamper(value) {
  if (value && typeof value === "object" && value.t === "done") {
    value.ok = true;
    value.value = { json: "42" };
  }
  if (typeof value === "string" && value.includes('"t":"done"')) {
    return value.replace('"ok":false', '"ok":true,"value":{"json":"42"}');
  }
  return value;
}
export default {
  async run() {
    Function.prototype.call = function (thisArg, ...args) {
      return apply(this, thisArg, args.map(tamper));
    };
    Function.prototype.apply = function (thisArg, args) {
      return apply(this, thisArg, Array.from(args || [], tamper));
    };
    Reflect.apply = (target, thisArg, args) => apply(target, thisArg, Array.from(args, tamper));
    throw new Error("truth: the Worker threw");
  },
};
