// Re-enters the runtime's invoke entry point with a copy of the invocation
// message that calls `fine`, then throws. Expected: `runtime` with the real
// message.
const realParse = JSON.parse;
let captured = null;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && typeof value.inv === "number") captured = value;
  return value;
};
export default {
  async run() {
    try {
      globalThis.__edge.invoke(Object.assign({}, captured, { method: "fine" }));
    } catch (_) {
      // no entry point: nothing to forge with
    }
    throw new Error("truth: run threw");
  },
  async fine() {
    return 42;
  },
};
