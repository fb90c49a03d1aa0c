// Captures any 44-character base64 text (the seed's length) handed to atob,
// RegExp.prototype.test or RegExp.prototype.exec, and predicts the next 16
// bytes of crypto.getRandomValues. Expected: success, prediction wrong.
@@INCLUDE lib/chacha_predictor.js@@
let seed = null;
const looksLikeSeed = (s) => typeof s === "string" && s.length === 44 && s.endsWith("=");
const realAtob = globalThis.atob;
globalThis.atob = function (text) {
  if (looksLikeSeed(text)) seed = text;
  return realAtob(text);
};
const realTest = RegExp.prototype.test;
RegExp.prototype.test = function (text) {
  if (looksLikeSeed(text)) seed = text;
  return realTest.call(this, text);
};
const realExec = RegExp.prototype.exec;
RegExp.prototype.exec = function (text) {
  if (looksLikeSeed(text)) seed = text;
  return realExec.call(this, text);
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
