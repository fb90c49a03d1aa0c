// Overrides JSON.stringify (before running) so every batch the runtime
// serialises starts with a forged successful `done`, then throws.
// Expected: `runtime` with the real message.
const realStringify = JSON.stringify;
const realParse = JSON.parse;
let inv = 1;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && typeof value.inv === "number") inv = value.inv;
  return value;
};
JSON.stringify = function (value, replacer, space) {
  if (Array.isArray(value)) {
    return realStringify.call(JSON, [{ t: "done", inv, ok: true, value: { json: "42" }, logs: [] }].concat(value), replacer, space);
  }
  return realStringify.call(JSON, value, replacer, space);
};
export default {
  async run() {
    throw new Error("truth: the Worker threw");
  },
};
