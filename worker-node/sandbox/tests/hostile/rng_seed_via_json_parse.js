// Captures the invocation's random seed from the invocation message through
// a JSON.parse override and replays the generator to predict the next 16
// bytes of crypto.getRandomValues. Expected: success, prediction wrong.
@@INCLUDE lib/chacha_predictor.js@@
const realParse = JSON.parse;
let seed = null;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && typeof value.seed === "string") seed = value.seed;
  return value;
};
export default {
  async run() {
    try {
      const guess = seed === null ? [] : predict(fromBase64(seed));
      return verdict(guess, Array.from(crypto.getRandomValues(new Uint8Array(16))));
    } catch (error) {
      return { predicted: false, error: String(error) };
    }
  },
};
