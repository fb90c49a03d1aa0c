// Overrides JSON.parse to raise the invocation's output limit, then returns
// 2 MiB (the limit is 1 MiB). Expected: `output_too_large`.
const realParse = JSON.parse;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && "maxOutput" in value) value.maxOutput = 2 ** 52;
  return value;
};
export default {
  async run() {
    return "o".repeat(2 << 20);
  },
};
