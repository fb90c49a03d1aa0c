// Overrides JSON.parse (which reads the invocation message) to redirect the
// call from `run`, which throws, to `fine`, which succeeds.
// Expected: `runtime` with the real message.
const realParse = JSON.parse;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && value.method === "run") value.method = "fine";
  return value;
};
export default {
  async run() {
    throw new Error("truth: run threw");
  },
  async fine() {
    return 42;
  },
};
