// The attacker's ChaCha20 predictor, shared by the rng_* Workers (inserted
// by the test's @@INCLUDE): replays the generator from a captured seed.
function rotl(v, c) {
  return ((v << c) | (v >>> (32 - c))) >>> 0;
}
// One ChaCha20 block (RFC 8439) as a byte array.
function chachaBlock(key, counter, nonce) {
  const s = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574].concat(key, [counter >>> 0], nonce);
  const x = s.slice();
  const qr = (a, b, c, d) => {
    x[a] = (x[a] + x[b]) >>> 0; x[d] = rotl(x[d] ^ x[a], 16);
    x[c] = (x[c] + x[d]) >>> 0; x[b] = rotl(x[b] ^ x[c], 12);
    x[a] = (x[a] + x[b]) >>> 0; x[d] = rotl(x[d] ^ x[a], 8);
    x[c] = (x[c] + x[d]) >>> 0; x[b] = rotl(x[b] ^ x[c], 7);
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15);
    qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14);
  }
  const out = [];
  for (let i = 0; i < 16; i++) {
    const v = (x[i] + s[i]) >>> 0;
    out.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
  }
  return out;
}
function words(bytes, count) {
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push((bytes[4 * i] | (bytes[4 * i + 1] << 8) | (bytes[4 * i + 2] << 16) | (bytes[4 * i + 3] << 24)) >>> 0);
  }
  return out;
}
// The next 16 output bytes if the generator is key' = ChaCha20(key ^ seed, 0,
// "reseed") with a fresh (all-zero) key, output block 0 under key', whose
// first 32 bytes become the following key.
function predict(seedBytes) {
  const mixed = words(seedBytes, 8);
  const key = words(chachaBlock(mixed, 0, [0x65736572, 0x646565, 0]), 8);
  return chachaBlock(key, 0, [0, 0, 0]).slice(32, 48);
}
function fromBase64(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const out = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length && text[i] !== "="; i++) {
    acc = (acc << 6) | alphabet.indexOf(text[i]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 255);
      acc &= (1 << bits) - 1;
    }
  }
  return out;
}
function verdict(guess, actual) {
  return { predicted: guess.length === 16 && guess.every((b, i) => b === actual[i]) };
}
