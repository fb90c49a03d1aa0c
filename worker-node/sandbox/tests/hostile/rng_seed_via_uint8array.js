// Replaces the global Uint8Array with a subclass that keeps every 32-byte
// array made (the decoded seed among them) and predicts the next 16 bytes of
// crypto.getRandomValues from it. Expected: success, prediction wrong.
@@INCLUDE lib/chacha_predictor.js@@
const RealUint8Array = Uint8Array;
const made = [];
class Spy extends RealUint8Array {
  constructor(...args) {
    super(...args);
    if (this.length === 32) made.push(this);
  }
}
globalThis.Uint8Array = Spy;
export default {
  async run() {
    try {
      const seed = made.length > 0 ? Array.from(made[made.length - 1]) : [];
      const guess = seed.length === 32 ? predict(seed) : [];
      return verdict(guess, Array.from(crypto.getRandomValues(new RealUint8Array(16))));
    } catch (error) {
      return { predicted: false, error: String(error) };
    }
  },
};
