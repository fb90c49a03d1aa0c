// Reseeds the generator with 32 zero bytes through any exposed reseed hook,
// assuming that resets it to a known key, and predicts the next 16 bytes.
// Expected: success, prediction wrong.
@@INCLUDE lib/chacha_predictor.js@@
export default {
  async run() {
    try {
      const internal = globalThis.__edge_internal;
      if (internal && typeof internal.reseedRandom === "function") {
        internal.reseedRandom(new Uint8Array(32));
        internal.reseedRandom(new Uint8Array(32));
      }
      const guess = predict(new Array(32).fill(0));
      return verdict(guess, Array.from(crypto.getRandomValues(new Uint8Array(16))));
    } catch (error) {
      return { predicted: false, error: String(error) };
    }
  },
};
