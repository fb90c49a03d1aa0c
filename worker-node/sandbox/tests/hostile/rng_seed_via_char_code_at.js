// Captures the seed's base64 text through a String.prototype.charCodeAt
// override and replays the generator with the exposed chacha20 block function
// (its own copy when none is exposed). Expected: success, prediction wrong.
@@INCLUDE lib/chacha_predictor.js@@
let seed = null;
const realCharCodeAt = String.prototype.charCodeAt;
String.prototype.charCodeAt = function (index) {
  if (this.length === 44 && realCharCodeAt.call(this, 43) === 61) seed = String(this);
  return realCharCodeAt.call(this, index);
};
function exposedPredict(seedBytes) {
  const internal = globalThis.__edge_internal;
  if (!internal || typeof internal.chacha20Block !== "function") return predict(seedBytes);
  const reseedNonce = new Uint8Array([0x72, 0x65, 0x73, 0x65, 0x65, 0x64, 0, 0, 0, 0, 0, 0]);
  const key = internal.chacha20Block(new Uint8Array(seedBytes), 0, reseedNonce).slice(0, 32);
  return Array.from(internal.chacha20Block(key, 0, new Uint8Array(12)).slice(32, 48));
}
export default {
  async run() {
    try {
      const guess = seed === null ? [] : exposedPredict(fromBase64(seed));
      return verdict(guess, Array.from(crypto.getRandomValues(new Uint8Array(16))));
    } catch (error) {
      return { predicted: false, error: String(error) };
    }
  },
};
