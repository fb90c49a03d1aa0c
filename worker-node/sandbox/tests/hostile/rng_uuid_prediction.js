// Captures the seed through JSON.parse and predicts crypto.randomUUID().
// Expected: success, prediction wrong.
@@INCLUDE lib/chacha_predictor.js@@
const realParse = JSON.parse;
let seed = null;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && typeof value.seed === "string") seed = value.seed;
  return value;
};
function uuidOf(bytes) {
  const b = bytes.slice();
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = b.map((x) => (x + 0x100).toString(16).slice(1)).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
export default {
  async run() {
    try {
      const guess = seed === null ? "" : uuidOf(predict(fromBase64(seed)));
      return { predicted: guess === crypto.randomUUID() };
    } catch (error) {
      return { predicted: false, error: String(error) };
    }
  },
};
