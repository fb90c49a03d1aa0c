// The web platform classes every Worker sees, written in plain JavaScript.
//
// The host evaluates this classic script once per isolate, before runtime.js
// and before any Worker code. Bare V8 has only the ECMAScript builtins, so this
// file supplies the web APIs Workers expect: URL and URLSearchParams, the
// Fetch classes (Headers, Request, Response), TextEncoder/TextDecoder,
// atob/btoa, structuredClone, crypto.getRandomValues/randomUUID, DOMException,
// Event/EventTarget, AbortController/AbortSignal and Blob.
//
// It also defines `globalThis.__edge_internal`, the hooks the host runtime uses:
// reseedRandom, base64Encode/base64Decode, requestFromWire and responseToWire.
(function () {
  "use strict";

  const G = globalThis;

  // Web globals are non-enumerable, writable and configurable, as in browsers.
  function expose(name, value) {
    Object.defineProperty(G, name, { value, writable: true, configurable: true, enumerable: false });
  }

  function tag(cls, name) {
    Object.defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
  }

  // WebIDL DOMString / USVString conversions (template literals throw on symbols, as WebIDL does).
  const toWellFormed = String.prototype.toWellFormed;
  const str = (v) => `${v}`;
  const usv = (v) => toWellFormed.call(`${v}`);

  // WebIDL dictionary conversion: undefined/null mean "empty", primitives are rejected.
  function dict(value, what = "options") {
    if (value === undefined || value === null) return {};
    if (typeof value !== "object" && typeof value !== "function") {
      throw new TypeError(`The provided value for '${what}' is not an object.`);
    }
    return value;
  }

  function requireArgs(count, needed, what) {
    if (count < needed) {
      throw new TypeError(`${what}: ${needed} argument${needed > 1 ? "s" : ""} required, but only ${count} present.`);
    }
  }

  // An opaque token: constructors given it skip their public argument handling.
  const INTERNAL = Symbol("internal");
  const EMPTY_BYTES = new Uint8Array(0);

  // ---- DOMException -----------------------------------------------------------

  const DOM_CODES = Object.assign(Object.create(null), {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11,
    SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
    TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20, URLMismatchError: 21,
    QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
  });

  class DOMException extends Error {
    constructor(message = "", name = "Error") {
      super(str(message));
      // An own property (like `message`), so stack traces and Error#toString show it.
      Object.defineProperty(this, "name", { value: str(name), writable: true, configurable: true });
    }
    get code() {
      return DOM_CODES[this.name] || 0;
    }
  }
  tag(DOMException, "DOMException");

  // ---- Byte helpers ------------------------------------------------------------

  const TA_PROTO = Object.getPrototypeOf(Uint8Array.prototype);
  // %TypedArray%.prototype[@@toStringTag] reads the internal slot: an unspoofable type test.
  const typedArrayName = Object.getOwnPropertyDescriptor(TA_PROTO, Symbol.toStringTag).get;
  const HAS_SAB = typeof SharedArrayBuffer === "function";

  function isArrayBuffer(x) {
    return x instanceof ArrayBuffer || (HAS_SAB && x instanceof SharedArrayBuffer);
  }

  // A Uint8Array over the bytes of a BufferSource (no copy), or null if x is not one.
  function bytesOf(x) {
    if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    if (isArrayBuffer(x)) return new Uint8Array(x);
    return null;
  }

  function concatBytes(chunks) {
    let total = 0;
    for (const c of chunks) total += c.length;
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  // String.fromCharCode over code units in slices, to stay under argument-count limits.
  function fromCodeUnits(units, length) {
    const CHUNK = 0x2000;
    if (length <= CHUNK) return String.fromCharCode.apply(null, units.subarray(0, length));
    let out = "";
    for (let i = 0; i < length; i += CHUNK) {
      out += String.fromCharCode.apply(null, units.subarray(i, Math.min(length, i + CHUNK)));
    }
    return out;
  }

  // ---- UTF-8 -------------------------------------------------------------------

  function isSurrogatePair(s, i) {
    const c = s.charCodeAt(i);
    return c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
  }

  function utf8Length(s) {
    let len = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) len += 1;
      else if (c < 0x800) len += 2;
      else if (isSurrogatePair(s, i)) {
        len += 4;
        i++;
      } else len += 3; // other BMP characters, and lone surrogates (written as U+FFFD)
    }
    return len;
  }

  // Writes s as UTF-8 into out[at..]; stops before a character that does not fit.
  // Returns [code units read, bytes written].
  function utf8Write(s, out, at) {
    const n = s.length;
    const end = out.length;
    let i = 0;
    let p = at;
    while (i < n) {
      let c = s.charCodeAt(i);
      let units = 1;
      if (c >= 0xd800 && c <= 0xdfff) {
        if (isSurrogatePair(s, i)) {
          c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00);
          units = 2;
        } else c = 0xfffd;
      }
      if (c < 0x80) {
        if (p >= end) break;
        out[p++] = c;
      } else if (c < 0x800) {
        if (p + 2 > end) break;
        out[p++] = 0xc0 | (c >> 6);
        out[p++] = 0x80 | (c & 0x3f);
      } else if (c < 0x10000) {
        if (p + 3 > end) break;
        out[p++] = 0xe0 | (c >> 12);
        out[p++] = 0x80 | ((c >> 6) & 0x3f);
        out[p++] = 0x80 | (c & 0x3f);
      } else {
        if (p + 4 > end) break;
        out[p++] = 0xf0 | (c >> 18);
        out[p++] = 0x80 | ((c >> 12) & 0x3f);
        out[p++] = 0x80 | ((c >> 6) & 0x3f);
        out[p++] = 0x80 | (c & 0x3f);
      }
      i += units;
    }
    return [i, p - at];
  }

  function utf8Encode(s) {
    const n = s.length;
    let i = 0;
    while (i < n && s.charCodeAt(i) < 0x80) i++;
    if (i === n) {
      // Pure ASCII (the common case): one byte per code unit.
      const out = new Uint8Array(n);
      for (let j = 0; j < n; j++) out[j] = s.charCodeAt(j);
      return out;
    }
    const out = new Uint8Array(utf8Length(s));
    utf8Write(s, out, 0);
    return out;
  }

  function newUtf8State() {
    return { cp: 0, seen: 0, needed: 0, lower: 0x80, upper: 0xbf };
  }

  // The WHATWG UTF-8 decoder: each maximal invalid subpart becomes one U+FFFD
  // (or a TypeError when fatal). `st` carries a partial sequence across chunks.
  function utf8DecodeChunk(st, bytes, flush, fatal) {
    const out = new Uint16Array(bytes.length + 4);
    let o = 0;
    let { cp, seen, needed, lower, upper } = st;
    const fail = () => {
      Object.assign(st, newUtf8State());
      throw new TypeError("The encoded data was not valid for encoding utf-8");
    };
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (needed === 0) {
        if (b < 0x80) out[o++] = b;
        else if (b >= 0xc2 && b <= 0xdf) {
          needed = 1;
          cp = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) lower = 0xa0;
          else if (b === 0xed) upper = 0x9f; // no surrogates
          needed = 2;
          cp = b & 0xf;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) lower = 0x90;
          else if (b === 0xf4) upper = 0x8f; // nothing above U+10FFFF
          needed = 3;
          cp = b & 0x7;
        } else {
          if (fatal) fail();
          out[o++] = 0xfffd;
        }
        continue;
      }
      if (b < lower || b > upper) {
        // The sequence ends early: emit U+FFFD and reprocess this byte as a new start.
        cp = needed = seen = 0;
        lower = 0x80;
        upper = 0xbf;
        if (fatal) fail();
        out[o++] = 0xfffd;
        i--;
        continue;
      }
      lower = 0x80;
      upper = 0xbf;
      cp = (cp << 6) | (b & 0x3f);
      if (++seen === needed) {
        if (cp > 0xffff) {
          cp -= 0x10000;
          out[o++] = 0xd800 + (cp >> 10);
          out[o++] = 0xdc00 + (cp & 0x3ff);
        } else out[o++] = cp;
        cp = needed = seen = 0;
      }
    }
    if (flush && needed !== 0) {
      cp = needed = seen = 0;
      lower = 0x80;
      upper = 0xbf;
      if (fatal) fail();
      out[o++] = 0xfffd;
    }
    Object.assign(st, { cp, seen, needed, lower, upper });
    return fromCodeUnits(out, o);
  }

  // UTF-8 decode without BOM handling (replacement mode), as URLs and forms use it.
  function utf8Decode(bytes) {
    return utf8DecodeChunk(newUtf8State(), bytes, true, false);
  }

  // The Encoding standard's "UTF-8 decode": a leading BOM is dropped (bodies' text()).
  function utf8DecodeBOM(bytes) {
    const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    return utf8Decode(start ? bytes.subarray(start) : bytes);
  }

  class TextEncoder {
    get encoding() {
      return "utf-8";
    }
    encode(input = "") {
      return utf8Encode(str(input));
    }
    encodeInto(source, destination) {
      requireArgs(arguments.length, 2, "TextEncoder.encodeInto");
      if (!(destination instanceof Uint8Array)) throw new TypeError("encodeInto: destination must be a Uint8Array");
      const [read, written] = utf8Write(str(source), destination, 0);
      return { read, written };
    }
  }
  tag(TextEncoder, "TextEncoder");

  const UTF8_LABELS = new Set(["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"]);

  class TextDecoder {
    #fatal;
    #ignoreBOM;
    #state = newUtf8State();
    #bomSeen = false;
    #streaming = false;

    constructor(label = "utf-8", options = undefined) {
      const name = str(label).replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "").toLowerCase();
      if (!UTF8_LABELS.has(name)) throw new RangeError(`The encoding label provided ('${label}') is not supported.`);
      options = dict(options);
      this.#fatal = !!options.fatal;
      this.#ignoreBOM = !!options.ignoreBOM;
    }
    get encoding() {
      return "utf-8";
    }
    get fatal() {
      return this.#fatal;
    }
    get ignoreBOM() {
      return this.#ignoreBOM;
    }
    decode(input = undefined, options = undefined) {
      const bytes = input === undefined ? EMPTY_BYTES : bytesOf(input);
      if (bytes === null) throw new TypeError("TextDecoder.decode: input must be an ArrayBuffer or ArrayBufferView");
      const stream = !!dict(options).stream;
      // A call after a non-streaming one starts a fresh stream.
      if (!this.#streaming) {
        this.#state = newUtf8State();
        this.#bomSeen = false;
      }
      this.#streaming = stream;
      let text;
      try {
        text = utf8DecodeChunk(this.#state, bytes, !stream, this.#fatal);
      } catch (e) {
        this.#streaming = false;
        throw e;
      }
      if (!this.#ignoreBOM && !this.#bomSeen && text.length > 0) {
        this.#bomSeen = true;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      return text;
    }
  }
  tag(TextDecoder, "TextDecoder");

  // ---- Base64 ------------------------------------------------------------------

  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const B64_CODES = new Uint8Array(64);
  const B64_VALUES = new Uint8Array(256).fill(255);
  for (let i = 0; i < 64; i++) {
    B64_CODES[i] = B64.charCodeAt(i);
    B64_VALUES[B64.charCodeAt(i)] = i;
  }

  function latin1String(bytes) {
    return fromCodeUnits(bytes, bytes.length);
  }

  function base64Encode(bytes) {
    const n = bytes.length;
    const out = new Uint8Array(Math.ceil(n / 3) * 4);
    let o = 0;
    let i = 0;
    for (; i + 2 < n; i += 3) {
      const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      out[o++] = B64_CODES[v >> 18];
      out[o++] = B64_CODES[(v >> 12) & 63];
      out[o++] = B64_CODES[(v >> 6) & 63];
      out[o++] = B64_CODES[v & 63];
    }
    if (i < n) {
      const two = i + 1 < n;
      const v = (bytes[i] << 16) | (two ? bytes[i + 1] << 8 : 0);
      out[o++] = B64_CODES[v >> 18];
      out[o++] = B64_CODES[(v >> 12) & 63];
      out[o++] = two ? B64_CODES[(v >> 6) & 63] : 61; // '='
      out[o++] = 61;
    }
    return latin1String(out);
  }

  // The HTML "forgiving-base64 decode": ASCII whitespace is ignored and padding
  // is optional. Returns null for invalid input.
  function base64DecodeForgiving(s) {
    if (/[\t\n\f\r ]/.test(s)) s = s.replace(/[\t\n\f\r ]+/g, "");
    let n = s.length;
    if (n % 4 === 0 && n > 0 && s.charCodeAt(n - 1) === 61) {
      n--;
      if (s.charCodeAt(n - 1) === 61) n--;
    }
    if (n % 4 === 1) return null;
    const out = new Uint8Array((n * 3) >> 2);
    let acc = 0;
    let bits = 0;
    let o = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      const v = c < 256 ? B64_VALUES[c] : 255;
      if (v === 255) return null;
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (acc >> bits) & 0xff;
      }
    }
    return out;
  }

  function invalidCharacter(message) {
    return new DOMException(message, "InvalidCharacterError");
  }

  function atob(data) {
    requireArgs(arguments.length, 1, "atob");
    const bytes = base64DecodeForgiving(str(data));
    if (bytes === null) throw invalidCharacter("The string to be decoded is not correctly encoded.");
    return latin1String(bytes);
  }

  function btoa(data) {
    requireArgs(arguments.length, 1, "btoa");
    const s = str(data);
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) throw invalidCharacter("The string to be encoded contains characters outside of the Latin1 range.");
      bytes[i] = c;
    }
    return base64Encode(bytes);
  }

  // ---- crypto: a ChaCha20 generator seeded by the host -------------------------

  const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]; // "expand 32-byte k"
  const chachaInput = new Uint32Array(16);
  const chachaWork = new Uint32Array(16);

  function quarterRound(x, a, b, c, d) {
    let t;
    x[a] += x[b];
    t = x[d] ^ x[a];
    x[d] = (t << 16) | (t >>> 16);
    x[c] += x[d];
    t = x[b] ^ x[c];
    x[b] = (t << 12) | (t >>> 20);
    x[a] += x[b];
    t = x[d] ^ x[a];
    x[d] = (t << 8) | (t >>> 24);
    x[c] += x[d];
    t = x[b] ^ x[c];
    x[b] = (t << 7) | (t >>> 25);
  }

  // One ChaCha20 block (RFC 8439): key is 8 words, nonce 3 words; 64 bytes go to out[at..].
  function chachaBlock(key, counter, nonce, out, at) {
    const s = chachaInput;
    const x = chachaWork;
    s.set(SIGMA, 0);
    s.set(key, 4);
    s[12] = counter;
    s.set(nonce, 13);
    x.set(s);
    for (let round = 0; round < 10; round++) {
      quarterRound(x, 0, 4, 8, 12);
      quarterRound(x, 1, 5, 9, 13);
      quarterRound(x, 2, 6, 10, 14);
      quarterRound(x, 3, 7, 11, 15);
      quarterRound(x, 0, 5, 10, 15);
      quarterRound(x, 1, 6, 11, 12);
      quarterRound(x, 2, 7, 8, 13);
      quarterRound(x, 3, 4, 9, 14);
    }
    for (let i = 0; i < 16; i++) {
      const v = (x[i] + s[i]) >>> 0;
      out[at++] = v & 0xff;
      out[at++] = (v >>> 8) & 0xff;
      out[at++] = (v >>> 16) & 0xff;
      out[at++] = v >>> 24;
    }
    // Do not leave key material in the scratch buffers.
    s.fill(0);
    x.fill(0);
  }

  function readWords(bytes, at, words) {
    for (let i = 0; i < words.length; i++, at += 4) {
      words[i] = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
    }
    return words;
  }

  const OUTPUT_NONCE = [0, 0, 0];
  const RESEED_NONCE = [0x65736572, 0x646565, 0]; // "reseed": separates key derivation from output
  const BATCH_BLOCKS = 16;
  const rng = { key: new Uint32Array(8), seeded: false, buf: new Uint8Array(BATCH_BLOCKS * 64), pos: BATCH_BLOCKS * 64 };

  // "Fast key erasure": each batch's first 32 bytes become the next key, so the
  // current state never reveals output that was already handed out.
  function refillRandom() {
    for (let b = 0; b < BATCH_BLOCKS; b++) chachaBlock(rng.key, b, OUTPUT_NONCE, rng.buf, b * 64);
    readWords(rng.buf, 0, rng.key);
    rng.buf.fill(0, 0, 32);
    rng.pos = 32;
  }

  function randomFill(dst) {
    if (!rng.seeded) throw new Error("crypto is not seeded");
    for (let o = 0; o < dst.length; ) {
      if (rng.pos === rng.buf.length) refillRandom();
      const take = Math.min(dst.length - o, rng.buf.length - rng.pos);
      dst.set(rng.buf.subarray(rng.pos, rng.pos + take), o);
      rng.buf.fill(0, rng.pos, rng.pos + take); // handed-out bytes are not kept
      rng.pos += take;
      o += take;
    }
    return dst;
  }

  // key' = ChaCha20(key xor seed): a seed only ever adds entropy, so a caller
  // cannot reset or weaken the generator by reseeding it.
  function reseedRandom(seed) {
    if (!(seed instanceof Uint8Array) || seed.length !== 32) {
      throw new TypeError("reseedRandom expects a Uint8Array of 32 bytes");
    }
    const mixed = readWords(seed, 0, new Uint32Array(8));
    for (let i = 0; i < 8; i++) mixed[i] ^= rng.key[i];
    const block = new Uint8Array(64);
    chachaBlock(mixed, 0, RESEED_NONCE, block, 0);
    readWords(block, 0, rng.key);
    block.fill(0);
    mixed.fill(0);
    rng.buf.fill(0);
    rng.pos = rng.buf.length;
    rng.seeded = true;
  }

  const INTEGER_ARRAYS = new Set([
    "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
    "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array",
  ]);
  const HEX2 = Array.from({ length: 256 }, (_, i) => (i + 0x100).toString(16).slice(1));

  class Crypto {
    constructor() {
      throw new TypeError("Illegal constructor");
    }
    getRandomValues(array) {
      requireArgs(arguments.length, 1, "Crypto.getRandomValues");
      if (!ArrayBuffer.isView(array)) {
        throw new TypeError("Crypto.getRandomValues: parameter 1 is not of type 'ArrayBufferView'.");
      }
      // Per Web Crypto: float arrays and DataView are a TypeMismatchError, not a TypeError.
      if (!INTEGER_ARRAYS.has(typedArrayName.call(array))) {
        throw new DOMException("The provided ArrayBufferView is not an integer-typed array.", "TypeMismatchError");
      }
      if (array.byteLength > 65536) {
        throw new DOMException(
          `The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (65536).`,
          "QuotaExceededError",
        );
      }
      randomFill(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
      return array;
    }
    randomUUID() {
      const b = randomFill(new Uint8Array(16));
      b[6] = (b[6] & 0x0f) | 0x40; // version 4
      b[8] = (b[8] & 0x3f) | 0x80; // variant 10
      const h = HEX2;
      return (
        h[b[0]] + h[b[1]] + h[b[2]] + h[b[3]] + "-" + h[b[4]] + h[b[5]] + "-" + h[b[6]] + h[b[7]] + "-" +
        h[b[8]] + h[b[9]] + "-" + h[b[10]] + h[b[11]] + h[b[12]] + h[b[13]] + h[b[14]] + h[b[15]]
      );
    }
  }
  tag(Crypto, "Crypto");
  const crypto = Object.create(Crypto.prototype);

  // ---- Events and AbortController -------------------------------------------------

  let eventInternals; // (event) => its private state, for EventTarget

  class Event {
    #type;
    #bubbles;
    #cancelable;
    #state = { target: null, currentTarget: null, canceled: false, stopped: false };
    #timeStamp = Date.now();

    constructor(type, init = undefined) {
      requireArgs(arguments.length, 1, "Event");
      this.#type = str(type);
      init = dict(init);
      this.#bubbles = !!init.bubbles;
      this.#cancelable = !!init.cancelable;
    }
    static {
      eventInternals = (e) => e.#state;
    }
    get type() {
      return this.#type;
    }
    get target() {
      return this.#state.target;
    }
    get currentTarget() {
      return this.#state.currentTarget;
    }
    get bubbles() {
      return this.#bubbles;
    }
    get cancelable() {
      return this.#cancelable;
    }
    get defaultPrevented() {
      return this.#state.canceled;
    }
    get timeStamp() {
      return this.#timeStamp;
    }
    get isTrusted() {
      return false;
    }
    get eventPhase() {
      return this.#state.currentTarget ? 2 : 0;
    }
    preventDefault() {
      if (this.#cancelable) this.#state.canceled = true;
    }
    stopPropagation() {}
    stopImmediatePropagation() {
      this.#state.stopped = true;
    }
    composedPath() {
      return this.#state.currentTarget ? [this.#state.currentTarget] : [];
    }
  }
  tag(Event, "Event");

  // A listener's exception must not stop the dispatch; surface it asynchronously.
  function reportListenerError(error) {
    if (typeof G.reportError === "function") G.reportError(error);
    else Promise.reject(error);
  }

  class EventTarget {
    #listeners = new Map(); // type -> [{ callback, capture, once, removed }]

    addEventListener(type, callback, options = undefined) {
      requireArgs(arguments.length, 2, "EventTarget.addEventListener");
      if (callback === null || callback === undefined) return;
      const capture = typeof options === "boolean" ? options : !!(options && options.capture);
      const once = typeof options === "object" && options !== null && !!options.once;
      const signal = typeof options === "object" && options !== null ? options.signal : undefined;
      if (signal !== undefined && signal.aborted) return;
      type = str(type);
      let list = this.#listeners.get(type);
      if (!list) this.#listeners.set(type, (list = []));
      if (list.some((l) => l.callback === callback && l.capture === capture)) return;
      list.push({ callback, capture, once, removed: false });
      if (signal !== undefined) signal.addEventListener("abort", () => this.removeEventListener(type, callback, { capture }));
    }
    removeEventListener(type, callback, options = undefined) {
      const capture = typeof options === "boolean" ? options : !!(options && options.capture);
      const list = this.#listeners.get(str(type));
      if (!list) return;
      const i = list.findIndex((l) => l.callback === callback && l.capture === capture);
      if (i >= 0) {
        list[i].removed = true;
        list.splice(i, 1);
      }
    }
    dispatchEvent(event) {
      if (!(event instanceof Event)) throw new TypeError("EventTarget.dispatchEvent: parameter 1 is not of type 'Event'.");
      const state = eventInternals(event);
      state.target = state.currentTarget = this;
      state.stopped = false;
      const list = this.#listeners.get(event.type);
      for (const l of list ? list.slice() : []) {
        if (l.removed) continue;
        if (l.once) this.removeEventListener(event.type, l.callback, { capture: l.capture });
        try {
          if (typeof l.callback === "function") l.callback.call(this, event);
          else l.callback.handleEvent(event);
        } catch (error) {
          reportListenerError(error);
        }
        if (state.stopped) break;
      }
      state.currentTarget = null;
      return !state.canceled;
    }
  }
  tag(EventTarget, "EventTarget");

  let signalAbort; // (signal, reason) => void

  class AbortSignal extends EventTarget {
    #aborted = false;
    #reason = undefined;
    #onabort = null;

    constructor(token) {
      if (token !== INTERNAL) throw new TypeError("Illegal constructor");
      super();
    }
    static {
      signalAbort = (signal, reason) => signal.#abort(reason);
    }
    #abort(reason) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
      const event = new Event("abort");
      if (typeof this.#onabort === "function") {
        try {
          this.#onabort.call(this, event);
        } catch (error) {
          reportListenerError(error);
        }
      }
      this.dispatchEvent(event);
    }
    get aborted() {
      return this.#aborted;
    }
    get reason() {
      return this.#reason;
    }
    get onabort() {
      return this.#onabort;
    }
    set onabort(handler) {
      this.#onabort = typeof handler === "function" ? handler : null;
    }
    throwIfAborted() {
      if (this.#aborted) throw this.#reason;
    }
    static abort(reason = undefined) {
      const signal = new AbortSignal(INTERNAL);
      signal.#abort(reason);
      return signal;
    }
    static timeout(ms) {
      const signal = new AbortSignal(INTERNAL);
      if (typeof G.setTimeout !== "function") throw new DOMException("Timers are not available", "NotSupportedError");
      G.setTimeout(() => signal.#abort(new DOMException("The operation timed out.", "TimeoutError")), Number(ms));
      return signal;
    }
    static any(signals) {
      const result = new AbortSignal(INTERNAL);
      const list = [...signals];
      const done = list.find((s) => s.aborted);
      if (done) result.#abort(done.reason);
      else for (const s of list) s.addEventListener("abort", () => result.#abort(s.reason), { once: true });
      return result;
    }
  }
  tag(AbortSignal, "AbortSignal");

  class AbortController {
    #signal = new AbortSignal(INTERNAL);
    get signal() {
      return this.#signal;
    }
    abort(reason = undefined) {
      signalAbort(this.#signal, reason);
    }
  }
  tag(AbortController, "AbortController");

  // ---- Blob ---------------------------------------------------------------------

  let blobBytes; // (blob) => its Uint8Array

  class Blob {
    #bytes;
    #type;

    constructor(parts = undefined, options = undefined) {
      const chunks = [];
      if (parts !== undefined) {
        if (parts === null || typeof parts !== "object" || typeof parts[Symbol.iterator] !== "function") {
          throw new TypeError("Blob: the parts argument must be a sequence");
        }
        for (const part of parts) {
          if (part instanceof Blob) chunks.push(part.#bytes);
          else {
            const b = bytesOf(part);
            chunks.push(b ? b.slice() : utf8Encode(str(part)));
          }
        }
      }
      const { type: rawType } = dict(options);
      const type = rawType === undefined ? "" : str(rawType);
      this.#type = /^[\x20-\x7e]*$/.test(type) ? type.toLowerCase() : "";
      this.#bytes = chunks.length === 1 ? chunks[0] : concatBytes(chunks);
    }
    static {
      blobBytes = (b) => b.#bytes;
    }
    get size() {
      return this.#bytes.length;
    }
    get type() {
      return this.#type;
    }
    slice(start = 0, end = undefined, contentType = undefined) {
      const size = this.#bytes.length;
      const clamp = (v) => {
        v = Math.trunc(Number(v)) || 0;
        return v < 0 ? Math.max(size + v, 0) : Math.min(v, size);
      };
      const from = clamp(start);
      const to = end === undefined ? size : clamp(end);
      const blob = new Blob([], { type: contentType === undefined ? "" : str(contentType) });
      blob.#bytes = this.#bytes.subarray(from, Math.max(from, to));
      return blob;
    }
    async text() {
      return utf8DecodeBOM(this.#bytes);
    }
    async arrayBuffer() {
      return this.#bytes.slice().buffer;
    }
    async bytes() {
      return this.#bytes.slice();
    }
    stream() {
      return new BodyStream(new BodyState(this.#bytes));
    }
  }
  tag(Blob, "Blob");

  // ---- structuredClone -----------------------------------------------------------

  const ERROR_TYPES = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
  const TYPED_ARRAYS = {
    Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
    Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  };
  if (typeof G.Float16Array === "function") TYPED_ARRAYS.Float16Array = G.Float16Array;
  const hasOwn = Object.prototype.hasOwnProperty;

  function dataCloneError(what) {
    return new DOMException(`${what} could not be cloned.`, "DataCloneError");
  }

  // Classes whose instances cannot be cloned (host objects in browsers).
  const UNCLONEABLE = [
    Promise, WeakMap, WeakSet, G.WeakRef, G.FinalizationRegistry, EventTarget, Event,
    AbortController, TextEncoder, TextDecoder, Crypto,
  ].filter(Boolean);
  function addUncloneable(...classes) {
    UNCLONEABLE.push(...classes);
  }

  function copyArrayBuffer(b) {
    if (b.detached === true) throw dataCloneError("A detached ArrayBuffer");
    const copy = b.resizable ? new ArrayBuffer(b.byteLength, { maxByteLength: b.maxByteLength }) : new ArrayBuffer(b.byteLength);
    new Uint8Array(copy).set(new Uint8Array(b));
    return copy;
  }

  function cloneInto(src, dst, memory) {
    for (const key of Object.keys(src)) {
      const value = cloneValue(src[key], memory);
      if (key === "__proto__") Object.defineProperty(dst, key, { value, writable: true, enumerable: true, configurable: true });
      else dst[key] = value;
    }
    return dst;
  }

  function cloneValue(v, memory) {
    const type = typeof v;
    if (type === "symbol") throw dataCloneError("Symbol()");
    if (type === "function") throw dataCloneError(`function ${v.name || ""}() {}`.trim());
    if (v === null || type !== "object") return v;
    let out = memory.get(v);
    if (out !== undefined) return out;

    if (Array.isArray(v)) {
      out = new Array(v.length);
      memory.set(v, out);
      return cloneInto(v, out, memory);
    }
    if (v instanceof Map) {
      out = new Map();
      memory.set(v, out);
      for (const [k, val] of Array.from(v)) out.set(cloneValue(k, memory), cloneValue(val, memory));
      return out;
    }
    if (v instanceof Set) {
      out = new Set();
      memory.set(v, out);
      for (const k of Array.from(v)) out.add(cloneValue(k, memory));
      return out;
    }
    if (v instanceof Date) out = new Date(v.getTime());
    else if (v instanceof RegExp) out = new RegExp(v.source, v.flags);
    else if (v instanceof ArrayBuffer) out = copyArrayBuffer(v);
    else if (HAS_SAB && v instanceof SharedArrayBuffer) out = v; // shared memory stays shared
    else if (ArrayBuffer.isView(v)) {
      const buffer = cloneValue(v.buffer, memory);
      const name = typedArrayName.call(v);
      out = name === undefined ? new DataView(buffer, v.byteOffset, v.byteLength) : new TYPED_ARRAYS[name](buffer, v.byteOffset, v.length);
    } else if (v instanceof Boolean) out = new Boolean(v.valueOf());
    else if (v instanceof Number) out = new Number(v.valueOf());
    else if (v instanceof String) out = new String(v.valueOf());
    else if (v instanceof BigInt) out = Object(v.valueOf());
    else if (v instanceof Symbol) throw dataCloneError("Symbol object");
    else if (v instanceof Blob) out = new Blob([v], { type: v.type });
    else if (v instanceof DOMException) out = new DOMException(v.message, v.name);
    else if (v instanceof Error) {
      const name = v.name;
      const Ctor = typeof name === "string" && hasOwn.call(ERROR_TYPES, name) ? ERROR_TYPES[name] : Error;
      out = new Ctor();
      const desc = Object.getOwnPropertyDescriptor(v, "message");
      if (desc && "value" in desc) {
        Object.defineProperty(out, "message", { value: str(desc.value), writable: true, configurable: true });
      }
      if (typeof v.stack === "string") {
        try {
          Object.defineProperty(out, "stack", { value: v.stack, writable: true, configurable: true });
        } catch (_) {
          // an engine whose stack property cannot be redefined keeps its own
        }
      }
      if (hasOwn.call(v, "cause")) {
        memory.set(v, out);
        Object.defineProperty(out, "cause", { value: cloneValue(v.cause, memory), writable: true, configurable: true });
      }
    } else if (UNCLONEABLE.some((C) => v instanceof C)) {
      throw dataCloneError(Object.prototype.toString.call(v).slice(8, -1) + " object");
    } else {
      // Any other object clones as a plain object of its own enumerable properties.
      out = {};
      memory.set(v, out);
      return cloneInto(v, out, memory);
    }
    memory.set(v, out);
    return out;
  }

  function structuredClone(value, options = undefined) {
    requireArgs(arguments.length, 1, "structuredClone");
    const transfer = dict(options).transfer;
    const memory = new Map();
    const transferred = [];
    if (transfer !== undefined) {
      for (const t of transfer) {
        if (!(t instanceof ArrayBuffer)) throw dataCloneError("A transfer list entry other than an ArrayBuffer");
        if (transferred.includes(t)) throw dataCloneError("An ArrayBuffer listed twice in the transfer list");
        if (typeof t.transfer !== "function") throw dataCloneError("A transferred ArrayBuffer (unsupported by this engine)");
        // The clone gets a copy of the bytes; the original is detached below.
        memory.set(t, copyArrayBuffer(t));
        transferred.push(t);
      }
    }
    const result = cloneValue(value, memory);
    for (const t of transferred) t.transfer();
    return result;
  }

  // ---- URL: percent-encoding and hosts ------------------------------------------------

  function makeEncodeSet(base, extra) {
    const set = base ? base.slice() : new Uint8Array(128);
    for (let c = 0; c < 0x20; c++) set[c] = 1;
    set[0x7f] = 1;
    for (const ch of extra) set[ch.charCodeAt(0)] = 1;
    return set;
  }
  const C0_SET = makeEncodeSet(null, "");
  const FRAGMENT_SET = makeEncodeSet(C0_SET, ' "<>`');
  const QUERY_SET = makeEncodeSet(C0_SET, ' "#<>');
  const SPECIAL_QUERY_SET = makeEncodeSet(QUERY_SET, "'");
  const PATH_SET = makeEncodeSet(QUERY_SET, "?`{}");
  const USERINFO_SET = makeEncodeSet(PATH_SET, "/:;=@[\\]^|");

  const HEX_UPPER = HEX2.map((h) => "%" + h.toUpperCase());

  // Percent-encodes one code point: ASCII per the set, everything else as UTF-8 bytes.
  function encodeCodePoint(c, set) {
    if (c < 0x80) return set[c] ? HEX_UPPER[c] : String.fromCharCode(c);
    if (c < 0x800) return HEX_UPPER[0xc0 | (c >> 6)] + HEX_UPPER[0x80 | (c & 0x3f)];
    if (c < 0x10000) return HEX_UPPER[0xe0 | (c >> 12)] + HEX_UPPER[0x80 | ((c >> 6) & 0x3f)] + HEX_UPPER[0x80 | (c & 0x3f)];
    return (
      HEX_UPPER[0xf0 | (c >> 18)] + HEX_UPPER[0x80 | ((c >> 12) & 0x3f)] +
      HEX_UPPER[0x80 | ((c >> 6) & 0x3f)] + HEX_UPPER[0x80 | (c & 0x3f)]
    );
  }

  function percentEncode(s, set) {
    let i = 0;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c >= 0x80 || set[c]) break;
      i++;
    }
    if (i === s.length) return s;
    let out = s.slice(0, i);
    for (const ch of s.slice(i)) out += encodeCodePoint(ch.codePointAt(0), set);
    return out;
  }

  const isHexDigit = (c) => (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
  const hexValue = (c) => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);

  // %XX sequences become bytes; anything else is kept as its UTF-8 bytes.
  function percentDecode(s) {
    const bytes = utf8Encode(s);
    if (!s.includes("%")) return bytes;
    const out = new Uint8Array(bytes.length);
    let o = 0;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === 0x25 && i + 2 < bytes.length && isHexDigit(bytes[i + 1]) && isHexDigit(bytes[i + 2])) {
        out[o++] = (hexValue(bytes[i + 1]) << 4) | hexValue(bytes[i + 2]);
        i += 2;
      } else out[o++] = b;
    }
    return out.subarray(0, o);
  }

  // RFC 3492 Punycode encoding of one label.
  function punycode(label) {
    const cps = Array.from(label, (ch) => ch.codePointAt(0));
    const BASE = 36, TMIN = 1, TMAX = 26;
    const digit = (d) => String.fromCharCode(d < 26 ? 97 + d : 22 + d);
    const adapt = (delta, points, first) => {
      delta = first ? Math.floor(delta / 700) : delta >> 1;
      delta += Math.floor(delta / points);
      let k = 0;
      for (; delta > 455; k += BASE) delta = Math.floor(delta / 35);
      return k + Math.floor((36 * delta) / (delta + 38));
    };
    let out = cps.filter((c) => c < 0x80).map((c) => String.fromCharCode(c)).join("");
    const basic = out.length;
    if (basic > 0) out += "-";
    let n = 0x80, delta = 0, bias = 72, handled = basic;
    while (handled < cps.length) {
      let m = Infinity;
      for (const c of cps) if (c >= n && c < m) m = c;
      delta += (m - n) * (handled + 1);
      n = m;
      for (const c of cps) {
        if (c < n) delta++;
        if (c !== n) continue;
        let q = delta;
        for (let k = BASE; ; k += BASE) {
          const t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
          if (q < t) break;
          out += digit(t + ((q - t) % (BASE - t)));
          q = Math.floor((q - t) / (BASE - t));
        }
        out += digit(q);
        bias = adapt(delta, handled + 1, handled === basic);
        delta = 0;
        handled++;
      }
      delta++;
      n++;
    }
    return out;
  }

  // An approximation of UTS #46 ToASCII: NFKC plus lower-casing stands in for
  // the full mapping table, then non-ASCII labels are Punycode-encoded.
  function domainToASCII(domain) {
    if (!/[^\x00-\x7f]/.test(domain)) return domain.toLowerCase();
    const mapped = domain
      .normalize("NFKC")
      .toLowerCase()
      .replace(/[\u00ad\u200b\u2060\ufeff\ufe00-\ufe0f]/g, "")
      .replace(/[\u3002\uff0e\uff61]/g, ".");
    return mapped
      .split(".")
      .map((label) => (/[^\x00-\x7f]/.test(label) ? "xn--" + punycode(label) : label))
      .join(".");
  }

  function parseIPv4Number(s) {
    if (s === "") return null;
    let radix = 10;
    if (s.length >= 2 && (s[1] === "x" || s[1] === "X") && s[0] === "0") {
      s = s.slice(2);
      radix = 16;
    } else if (s.length >= 2 && s[0] === "0") {
      s = s.slice(1);
      radix = 8;
    }
    if (s === "") return 0;
    const valid = radix === 10 ? /^[0-9]+$/ : radix === 16 ? /^[0-9a-fA-F]+$/ : /^[0-7]+$/;
    return valid.test(s) ? parseInt(s, radix) : null;
  }

  function endsInNumber(host) {
    const parts = host.split(".");
    if (parts[parts.length - 1] === "") {
      if (parts.length === 1) return false;
      parts.pop();
    }
    const last = parts[parts.length - 1];
    return /^[0-9]+$/.test(last) || parseIPv4Number(last) !== null;
  }

  function parseIPv4(host) {
    const parts = host.split(".");
    if (parts[parts.length - 1] === "" && parts.length > 1) parts.pop();
    if (parts.length > 4) return null;
    const nums = [];
    for (const part of parts) {
      const n = parseIPv4Number(part);
      if (n === null) return null;
      nums.push(n);
    }
    const last = nums.pop();
    if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return null;
    let ip = last;
    nums.forEach((n, i) => (ip += n * 256 ** (3 - i)));
    return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".");
  }

  // The WHATWG IPv6 parser; returns 8 pieces or null.
  function parseIPv6(s) {
    const addr = [0, 0, 0, 0, 0, 0, 0, 0];
    let piece = 0;
    let compress = null;
    let p = 0;
    const at = (i) => (i < s.length ? s.charCodeAt(i) : -1);
    const isDigit = (c) => c >= 0x30 && c <= 0x39;
    if (at(0) === 0x3a) {
      if (at(1) !== 0x3a) return null;
      p = 2;
      compress = ++piece;
    }
    while (at(p) !== -1) {
      if (piece === 8) return null;
      if (at(p) === 0x3a) {
        if (compress !== null) return null;
        p++;
        compress = ++piece;
        continue;
      }
      let value = 0;
      let length = 0;
      while (length < 4 && isHexDigit(at(p))) {
        value = value * 16 + hexValue(at(p));
        p++;
        length++;
      }
      if (at(p) === 0x2e) {
        // An embedded IPv4 address fills the last two pieces.
        if (length === 0 || piece > 6) return null;
        p -= length;
        let seen = 0;
        while (at(p) !== -1) {
          if (seen > 0) {
            if (at(p) === 0x2e && seen < 4) p++;
            else return null;
          }
          if (!isDigit(at(p))) return null;
          let v4 = null;
          while (isDigit(at(p))) {
            const d = at(p) - 0x30;
            if (v4 === null) v4 = d;
            else if (v4 === 0) return null;
            else v4 = v4 * 10 + d;
            if (v4 > 255) return null;
            p++;
          }
          addr[piece] = addr[piece] * 256 + v4;
          seen++;
          if (seen === 2 || seen === 4) piece++;
        }
        if (seen !== 4) return null;
        break;
      } else if (at(p) === 0x3a) {
        p++;
        if (at(p) === -1) return null;
      } else if (at(p) !== -1) return null;
      addr[piece++] = value;
    }
    if (compress !== null) {
      let swaps = piece - compress;
      piece = 7;
      while (piece !== 0 && swaps > 0) {
        const t = addr[piece];
        addr[piece] = addr[compress + swaps - 1];
        addr[compress + swaps - 1] = t;
        piece--;
        swaps--;
      }
    } else if (piece !== 8) return null;
    return addr;
  }

  function serializeIPv6(addr) {
    // Compress the first longest run of two or more zero pieces.
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && addr[j] === 0) j++;
      if (j - i > bestLen) {
        best = i;
        bestLen = j - i;
      }
      i = j === i ? i + 1 : j;
    }
    let out = "";
    for (let i = 0; i < 8; i++) {
      if (i === best) {
        out += i === 0 ? "::" : ":";
        i += bestLen - 1;
        continue;
      }
      out += addr[i].toString(16);
      if (i < 7) out += ":";
    }
    return out;
  }

  const FORBIDDEN_HOST = /[\0\t\n\r #/:<>?@[\\\]^|]/;
  const FORBIDDEN_DOMAIN = /[\0-\x20#%/:<>?@[\\\]^|\x7f]/;

  // The host parser; returns the serialized host or null for failure.
  function parseHost(input, opaque) {
    if (input[0] === "[") {
      if (input[input.length - 1] !== "]") return null;
      const addr = parseIPv6(input.slice(1, -1));
      return addr && "[" + serializeIPv6(addr) + "]";
    }
    if (opaque) return FORBIDDEN_HOST.test(input) ? null : percentEncode(input, C0_SET);
    const ascii = domainToASCII(utf8Decode(percentDecode(input)));
    if (ascii === "" || FORBIDDEN_DOMAIN.test(ascii)) return null;
    return endsInNumber(ascii) ? parseIPv4(ascii) : ascii;
  }

  // ---- URL: the parser ------------------------------------------------------------

  const SPECIAL_PORTS = Object.assign(Object.create(null), { ftp: 21, file: null, http: 80, https: 443, ws: 80, wss: 443 });
  const isSpecial = (scheme) => scheme in SPECIAL_PORTS;
  const defaultPort = (scheme) => (scheme in SPECIAL_PORTS ? SPECIAL_PORTS[scheme] : null);

  // Parser states.
  const SCHEME_START = 1, SCHEME = 2, NO_SCHEME = 3, SPECIAL_RELATIVE_OR_AUTHORITY = 4,
    PATH_OR_AUTHORITY = 5, RELATIVE = 6, RELATIVE_SLASH = 7, SPECIAL_AUTHORITY_SLASHES = 8,
    SPECIAL_AUTHORITY_IGNORE_SLASHES = 9, AUTHORITY = 10, HOST = 11, HOSTNAME = 12, PORT = 13,
    FILE = 14, FILE_SLASH = 15, FILE_HOST = 16, PATH_START = 17, PATH = 18, OPAQUE_PATH = 19,
    QUERY = 20, FRAGMENT = 21;
  const EOF = -1;

  const isAlpha = (c) => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
  const isDriveLetter = (s) => s.length === 2 && isAlpha(s.charCodeAt(0)) && (s[1] === ":" || s[1] === "|");
  const isNormalizedDriveLetter = (s) => typeof s === "string" && isDriveLetter(s) && s[1] === ":";
  const isSingleDot = (s) => s === "." || s.toLowerCase() === "%2e";
  const isDoubleDot = (s) => {
    const l = s.toLowerCase();
    return l === ".." || l === ".%2e" || l === "%2e." || l === "%2e%2e";
  };

  // Whether code points input[p..] start with a Windows drive letter ("c:", "c|", then end or /\?#).
  function startsWithDriveLetter(input, p) {
    if (input.length - p < 2 || !isAlpha(input[p]) || (input[p + 1] !== 0x3a && input[p + 1] !== 0x7c)) return false;
    const c = input[p + 2];
    return input.length - p === 2 || c === 0x2f || c === 0x5c || c === 0x3f || c === 0x23;
  }

  function newRecord() {
    return { scheme: "", username: "", password: "", host: null, port: null, path: [], query: null, fragment: null };
  }

  function copyRecord(r) {
    return { ...r, path: typeof r.path === "string" ? r.path : r.path.slice() };
  }

  function shortenPath(url) {
    const path = url.path;
    if (url.scheme === "file" && path.length === 1 && isNormalizedDriveLetter(path[0])) return;
    path.pop();
  }

  const includesCredentials = (url) => url.username !== "" || url.password !== "";

  // The WHATWG basic URL parser. Returns the URL record, or null on failure.
  // With `url` and `override` it modifies that record in place (the setters).
  function parseURL(text, base, url = null, override = 0) {
    if (url === null) {
      url = newRecord();
      text = text.replace(/^[\0-\x20]+|[\0-\x20]+$/g, "");
    }
    text = text.replace(/[\t\n\r]/g, "");
    const input = [];
    for (const ch of text) input.push(ch.codePointAt(0));
    const len = input.length;
    let state = override || SCHEME_START;
    let buffer = "";
    let atSignSeen = false;
    let insideBrackets = false;
    let passwordTokenSeen = false;
    let p = 0;

    for (;;) {
      const c = p < len ? input[p] : EOF;
      const special = isSpecial(url.scheme);
      // Where the authority, host, port and path components end.
      const endsComponent = c === EOF || c === 0x2f || c === 0x3f || c === 0x23 || (special && c === 0x5c);

      switch (state) {
        case SCHEME_START:
          if (isAlpha(c)) {
            buffer += String.fromCharCode(c | 0x20);
            state = SCHEME;
          } else if (!override) {
            state = NO_SCHEME;
            p--;
          } else return null;
          break;

        case SCHEME:
          if (isAlpha(c) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) {
            buffer += String.fromCharCode(isAlpha(c) ? c | 0x20 : c);
          } else if (c === 0x3a) {
            if (override) {
              if (special !== isSpecial(buffer)) return url;
              if ((includesCredentials(url) || url.port !== null) && buffer === "file") return url;
              if (url.scheme === "file" && url.host === "") return url;
            }
            url.scheme = buffer;
            if (override) {
              if (url.port === defaultPort(url.scheme)) url.port = null;
              return url;
            }
            buffer = "";
            if (url.scheme === "file") state = FILE;
            else if (isSpecial(url.scheme) && base && base.scheme === url.scheme) state = SPECIAL_RELATIVE_OR_AUTHORITY;
            else if (isSpecial(url.scheme)) state = SPECIAL_AUTHORITY_SLASHES;
            else if (input[p + 1] === 0x2f) {
              state = PATH_OR_AUTHORITY;
              p++;
            } else {
              url.path = "";
              state = OPAQUE_PATH;
            }
          } else if (!override) {
            buffer = "";
            state = NO_SCHEME;
            p = -1; // start over from the first code point
          } else return null;
          break;

        case NO_SCHEME:
          if (!base || (typeof base.path === "string" && c !== 0x23)) return null;
          if (typeof base.path === "string") {
            url.scheme = base.scheme;
            url.path = base.path;
            url.query = base.query;
            url.fragment = "";
            state = FRAGMENT;
          } else {
            state = base.scheme === "file" ? FILE : RELATIVE;
            p--;
          }
          break;

        case SPECIAL_RELATIVE_OR_AUTHORITY:
          if (c === 0x2f && input[p + 1] === 0x2f) {
            state = SPECIAL_AUTHORITY_IGNORE_SLASHES;
            p++;
          } else {
            state = RELATIVE;
            p--;
          }
          break;

        case PATH_OR_AUTHORITY:
          if (c === 0x2f) state = AUTHORITY;
          else {
            state = PATH;
            p--;
          }
          break;

        case RELATIVE:
          url.scheme = base.scheme;
          if (c === 0x2f || (isSpecial(url.scheme) && c === 0x5c)) state = RELATIVE_SLASH;
          else {
            Object.assign(url, { username: base.username, password: base.password, host: base.host, port: base.port });
            url.path = base.path.slice();
            url.query = base.query;
            if (c === 0x3f) {
              url.query = "";
              state = QUERY;
            } else if (c === 0x23) {
              url.fragment = "";
              state = FRAGMENT;
            } else if (c !== EOF) {
              url.query = null;
              shortenPath(url);
              state = PATH;
              p--;
            }
          }
          break;

        case RELATIVE_SLASH:
          if (special && (c === 0x2f || c === 0x5c)) state = SPECIAL_AUTHORITY_IGNORE_SLASHES;
          else if (c === 0x2f) state = AUTHORITY;
          else {
            Object.assign(url, { username: base.username, password: base.password, host: base.host, port: base.port });
            state = PATH;
            p--;
          }
          break;

        case SPECIAL_AUTHORITY_SLASHES:
          state = SPECIAL_AUTHORITY_IGNORE_SLASHES;
          if (c === 0x2f && input[p + 1] === 0x2f) p++;
          else p--;
          break;

        case SPECIAL_AUTHORITY_IGNORE_SLASHES:
          if (c !== 0x2f && c !== 0x5c) {
            state = AUTHORITY;
            p--;
          }
          break;

        case AUTHORITY:
          if (c === 0x40) {
            if (atSignSeen) buffer = "%40" + buffer;
            atSignSeen = true;
            for (const ch of buffer) {
              if (ch === ":" && !passwordTokenSeen) {
                passwordTokenSeen = true;
                continue;
              }
              const encoded = encodeCodePoint(ch.codePointAt(0), USERINFO_SET);
              if (passwordTokenSeen) url.password += encoded;
              else url.username += encoded;
            }
            buffer = "";
          } else if (endsComponent) {
            if (atSignSeen && buffer === "") return null;
            p -= Array.from(buffer).length + 1;
            buffer = "";
            state = HOST;
          } else buffer += String.fromCodePoint(c);
          break;

        case HOST:
        case HOSTNAME:
          if (override && url.scheme === "file") {
            p--;
            state = FILE_HOST;
          } else if (c === 0x3a && !insideBrackets) {
            if (buffer === "" || override === HOSTNAME) return null;
            const host = parseHost(buffer, !special);
            if (host === null) return null;
            url.host = host;
            buffer = "";
            state = PORT;
          } else if (endsComponent) {
            p--;
            if (special && buffer === "") return null;
            if (override && buffer === "" && (includesCredentials(url) || url.port !== null)) return null;
            const host = parseHost(buffer, !special);
            if (host === null) return null;
            url.host = host;
            buffer = "";
            state = PATH_START;
            if (override) return url;
          } else {
            if (c === 0x5b) insideBrackets = true;
            if (c === 0x5d) insideBrackets = false;
            buffer += String.fromCodePoint(c);
          }
          break;

        case PORT:
          if (c >= 0x30 && c <= 0x39) buffer += String.fromCharCode(c);
          else if (endsComponent || override) {
            if (buffer !== "") {
              const port = parseInt(buffer, 10);
              if (port > 65535) return null;
              url.port = port === defaultPort(url.scheme) ? null : port;
              buffer = "";
            }
            if (override) return url;
            state = PATH_START;
            p--;
          } else return null;
          break;

        case FILE:
          url.scheme = "file";
          url.host = "";
          if (c === 0x2f || c === 0x5c) state = FILE_SLASH;
          else if (base && base.scheme === "file") {
            url.host = base.host;
            url.path = base.path.slice();
            url.query = base.query;
            if (c === 0x3f) {
              url.query = "";
              state = QUERY;
            } else if (c === 0x23) {
              url.fragment = "";
              state = FRAGMENT;
            } else if (c !== EOF) {
              url.query = null;
              if (!startsWithDriveLetter(input, p)) shortenPath(url);
              else url.path = [];
              state = PATH;
              p--;
            }
          } else {
            state = PATH;
            p--;
          }
          break;

        case FILE_SLASH:
          if (c === 0x2f || c === 0x5c) state = FILE_HOST;
          else {
            if (base && base.scheme === "file") {
              url.host = base.host;
              if (!startsWithDriveLetter(input, p) && isNormalizedDriveLetter(base.path[0])) url.path.push(base.path[0]);
            }
            state = PATH;
            p--;
          }
          break;

        case FILE_HOST:
          if (c === EOF || c === 0x2f || c === 0x5c || c === 0x3f || c === 0x23) {
            p--;
            if (!override && isDriveLetter(buffer)) state = PATH; // the buffer becomes the first path segment
            else if (buffer === "") {
              url.host = "";
              if (override) return url;
              state = PATH_START;
            } else {
              let host = parseHost(buffer, false);
              if (host === null) return null;
              if (host === "localhost") host = "";
              url.host = host;
              if (override) return url;
              buffer = "";
              state = PATH_START;
            }
          } else buffer += String.fromCodePoint(c);
          break;

        case PATH_START:
          if (special) {
            state = PATH;
            if (c !== 0x2f && c !== 0x5c) p--;
          } else if (!override && c === 0x3f) {
            url.query = "";
            state = QUERY;
          } else if (!override && c === 0x23) {
            url.fragment = "";
            state = FRAGMENT;
          } else if (c !== EOF) {
            state = PATH;
            if (c !== 0x2f) p--;
          } else if (override && url.host === null) url.path.push("");
          break;

        case PATH:
          if (c === EOF || c === 0x2f || (special && c === 0x5c) || (!override && (c === 0x3f || c === 0x23))) {
            const slash = c === 0x2f || (special && c === 0x5c);
            if (isDoubleDot(buffer)) {
              shortenPath(url);
              if (!slash) url.path.push("");
            } else if (isSingleDot(buffer)) {
              if (!slash) url.path.push("");
            } else {
              if (url.scheme === "file" && url.path.length === 0 && isDriveLetter(buffer)) buffer = buffer[0] + ":";
              url.path.push(buffer);
            }
            buffer = "";
            if (c === 0x3f) {
              url.query = "";
              state = QUERY;
            } else if (c === 0x23) {
              url.fragment = "";
              state = FRAGMENT;
            }
          } else buffer += encodeCodePoint(c, PATH_SET);
          break;

        case OPAQUE_PATH:
          if (c === 0x3f) {
            url.query = "";
            state = QUERY;
          } else if (c === 0x23) {
            url.fragment = "";
            state = FRAGMENT;
          } else if (c !== EOF) url.path += encodeCodePoint(c, C0_SET);
          break;

        case QUERY:
          if ((!override && c === 0x23) || c === EOF) {
            url.query += percentEncode(buffer, special ? SPECIAL_QUERY_SET : QUERY_SET);
            buffer = "";
            if (c === 0x23) {
              url.fragment = "";
              state = FRAGMENT;
            }
          } else buffer += String.fromCodePoint(c);
          break;

        case FRAGMENT:
          if (c !== EOF) url.fragment += encodeCodePoint(c, FRAGMENT_SET);
          break;
      }
      if (p >= len) break;
      p++;
    }
    return url;
  }

  function serializeURL(url, excludeFragment = false) {
    let out = url.scheme + ":";
    if (url.host !== null) {
      out += "//";
      if (includesCredentials(url)) {
        out += url.username;
        if (url.password !== "") out += ":" + url.password;
        out += "@";
      }
      out += url.host;
      if (url.port !== null) out += ":" + url.port;
    }
    out += serializePath(url, true);
    if (url.query !== null) out += "?" + url.query;
    if (!excludeFragment && url.fragment !== null) out += "#" + url.fragment;
    return out;
  }

  function serializePath(url, forHref = false) {
    if (typeof url.path === "string") return url.path;
    let out = "";
    // "/." keeps a path starting with "//" from being read back as an authority.
    if (forHref && url.host === null && url.path.length > 1 && url.path[0] === "") out = "/.";
    for (const segment of url.path) out += "/" + segment;
    return out;
  }

  function serializeOrigin(url) {
    switch (url.scheme) {
      case "blob": {
        const inner = typeof url.path === "string" ? parseURL(url.path, null) : null;
        return inner && (inner.scheme === "http" || inner.scheme === "https") ? serializeOrigin(inner) : "null";
      }
      case "ftp":
      case "http":
      case "https":
      case "ws":
      case "wss":
        return url.scheme + "://" + url.host + (url.port === null ? "" : ":" + url.port);
      default:
        return "null";
    }
  }

  // Spaces at the end of an opaque path would be lost on reparse once query and fragment are gone.
  function stripTrailingSpacesFromOpaquePath(url) {
    if (typeof url.path === "string" && url.fragment === null && url.query === null) {
      url.path = url.path.replace(/ +$/, "");
    }
  }

  // ---- URLSearchParams ---------------------------------------------------------------

  function parseFormURLEncoded(s) {
    const list = [];
    for (const seq of s.split("&")) {
      if (seq === "") continue;
      const eq = seq.indexOf("=");
      const name = eq < 0 ? seq : seq.slice(0, eq);
      const value = eq < 0 ? "" : seq.slice(eq + 1);
      list.push([formDecode(name), formDecode(value)]);
    }
    return list;
  }

  function formDecode(s) {
    if (!s.includes("+") && !s.includes("%")) return s;
    return utf8Decode(percentDecode(s.replace(/\+/g, " ")));
  }

  // encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ); forms also encode ! ~ ' ( ) and use + for space.
  const FORM_EXTRA = { "!": "%21", "'": "%27", "(": "%28", ")": "%29", "~": "%7E", "%20": "+" };
  function formEncode(s) {
    return encodeURIComponent(s).replace(/[!'()~]|%20/g, (m) => FORM_EXTRA[m]);
  }

  function serializeForm(list) {
    let out = "";
    for (let i = 0; i < list.length; i++) {
      if (i > 0) out += "&";
      out += formEncode(list[i][0]) + "=" + formEncode(list[i][1]);
    }
    return out;
  }

  let attachSearchParams; // (params, urlRecord) => void
  let resetSearchParams; // (params, list) => void

  class URLSearchParams {
    #list = [];
    #url = null; // the record of the URL this object belongs to, if any

    constructor(init = "") {
      if ((typeof init === "object" && init !== null) || typeof init === "function") {
        const iterator = init[Symbol.iterator];
        if (iterator !== undefined && iterator !== null) {
          if (typeof iterator !== "function") throw new TypeError("URLSearchParams: init is not iterable");
          for (const pair of init) {
            if ((typeof pair !== "object" || pair === null) && typeof pair !== "function") {
              throw new TypeError("URLSearchParams: each query pair must be an iterable [name, value] tuple");
            }
            const items = Array.from(pair);
            if (items.length !== 2) throw new TypeError("URLSearchParams: each query pair must be a [name, value] tuple");
            this.#list.push([usv(items[0]), usv(items[1])]);
          }
        } else {
          for (const key of Reflect.ownKeys(init)) {
            const desc = Reflect.getOwnPropertyDescriptor(init, key);
            if (desc !== undefined && desc.enumerable) this.#list.push([usv(key), usv(init[key])]);
          }
        }
      } else {
        const s = usv(init);
        this.#list = parseFormURLEncoded(s[0] === "?" ? s.slice(1) : s);
      }
    }
    static {
      attachSearchParams = (params, record) => {
        params.#url = record;
      };
      resetSearchParams = (params, list) => {
        params.#list = list;
      };
    }
    // The URL's query follows every change of the list.
    #update() {
      if (this.#url === null) return;
      const query = serializeForm(this.#list);
      this.#url.query = query === "" ? null : query;
      if (query === "") stripTrailingSpacesFromOpaquePath(this.#url);
    }
    get size() {
      return this.#list.length;
    }
    append(name, value) {
      requireArgs(arguments.length, 2, "URLSearchParams.append");
      this.#list.push([usv(name), usv(value)]);
      this.#update();
    }
    delete(name, value = undefined) {
      requireArgs(arguments.length, 1, "URLSearchParams.delete");
      name = usv(name);
      if (value === undefined) this.#list = this.#list.filter((e) => e[0] !== name);
      else {
        value = usv(value);
        this.#list = this.#list.filter((e) => e[0] !== name || e[1] !== value);
      }
      this.#update();
    }
    get(name) {
      requireArgs(arguments.length, 1, "URLSearchParams.get");
      name = usv(name);
      const entry = this.#list.find((e) => e[0] === name);
      return entry ? entry[1] : null;
    }
    getAll(name) {
      requireArgs(arguments.length, 1, "URLSearchParams.getAll");
      name = usv(name);
      return this.#list.filter((e) => e[0] === name).map((e) => e[1]);
    }
    has(name, value = undefined) {
      requireArgs(arguments.length, 1, "URLSearchParams.has");
      name = usv(name);
      if (value === undefined) return this.#list.some((e) => e[0] === name);
      value = usv(value);
      return this.#list.some((e) => e[0] === name && e[1] === value);
    }
    set(name, value) {
      requireArgs(arguments.length, 2, "URLSearchParams.set");
      name = usv(name);
      value = usv(value);
      const i = this.#list.findIndex((e) => e[0] === name);
      if (i < 0) this.#list.push([name, value]);
      else {
        this.#list[i] = [name, value];
        this.#list = this.#list.filter((e, j) => j <= i || e[0] !== name);
      }
      this.#update();
    }
    sort() {
      // Array#sort is stable; names compare by UTF-16 code units, as specified.
      this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      this.#update();
    }
    forEach(callback, thisArg = undefined) {
      if (typeof callback !== "function") throw new TypeError("URLSearchParams.forEach: callback is not a function");
      for (let i = 0; i < this.#list.length; i++) callback.call(thisArg, this.#list[i][1], this.#list[i][0], this);
    }
    *entries() {
      for (let i = 0; i < this.#list.length; i++) yield [this.#list[i][0], this.#list[i][1]];
    }
    *keys() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0];
    }
    *values() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1];
    }
    toString() {
      return serializeForm(this.#list);
    }
  }
  URLSearchParams.prototype[Symbol.iterator] = URLSearchParams.prototype.entries;
  tag(URLSearchParams, "URLSearchParams");

  // ---- URL -----------------------------------------------------------------------------

  function parseWithBase(url, base) {
    let baseRecord = null;
    if (base !== undefined) {
      baseRecord = parseURL(usv(base), null);
      if (baseRecord === null) return null;
    }
    return parseURL(usv(url), baseRecord);
  }

  const cannotHaveCredentialsOrPort = (url) => url.host === null || url.host === "" || url.scheme === "file";

  class URL {
    #url;
    #params;

    constructor(url, base = undefined) {
      requireArgs(arguments.length, 1, "URL");
      const record = parseWithBase(url, base);
      if (record === null) throw new TypeError("Invalid URL");
      this.#url = record;
      this.#params = new URLSearchParams();
      resetSearchParams(this.#params, parseFormURLEncoded(record.query ?? ""));
      attachSearchParams(this.#params, record);
    }
    static canParse(url, base = undefined) {
      requireArgs(arguments.length, 1, "URL.canParse");
      return parseWithBase(url, base) !== null;
    }
    static parse(url, base = undefined) {
      requireArgs(arguments.length, 1, "URL.parse");
      try {
        return new URL(url, base);
      } catch (_) {
        return null;
      }
    }
    get href() {
      return serializeURL(this.#url);
    }
    set href(value) {
      const record = parseURL(usv(value), null);
      if (record === null) throw new TypeError("Invalid URL");
      Object.assign(this.#url, record); // in place: the URLSearchParams object keeps its link
      resetSearchParams(this.#params, parseFormURLEncoded(record.query ?? ""));
    }
    get origin() {
      return serializeOrigin(this.#url);
    }
    get protocol() {
      return this.#url.scheme + ":";
    }
    set protocol(value) {
      parseURL(usv(value) + ":", null, this.#url, SCHEME_START);
    }
    get username() {
      return this.#url.username;
    }
    set username(value) {
      if (!cannotHaveCredentialsOrPort(this.#url)) this.#url.username = percentEncode(usv(value), USERINFO_SET);
    }
    get password() {
      return this.#url.password;
    }
    set password(value) {
      if (!cannotHaveCredentialsOrPort(this.#url)) this.#url.password = percentEncode(usv(value), USERINFO_SET);
    }
    get host() {
      const { host, port } = this.#url;
      if (host === null) return "";
      return port === null ? host : host + ":" + port;
    }
    set host(value) {
      if (typeof this.#url.path !== "string") this.#setWith(value, HOST);
    }
    get hostname() {
      return this.#url.host ?? "";
    }
    set hostname(value) {
      if (typeof this.#url.path !== "string") this.#setWith(value, HOSTNAME);
    }
    get port() {
      return this.#url.port === null ? "" : String(this.#url.port);
    }
    set port(value) {
      if (cannotHaveCredentialsOrPort(this.#url)) return;
      value = usv(value);
      if (value === "") this.#url.port = null;
      else this.#setWith(value, PORT);
    }
    get pathname() {
      return serializePath(this.#url);
    }
    set pathname(value) {
      if (typeof this.#url.path === "string") return;
      const copy = copyRecord(this.#url);
      copy.path = [];
      if (parseURL(usv(value), null, copy, PATH_START) !== null) Object.assign(this.#url, copy);
    }
    get search() {
      const q = this.#url.query;
      return q === null || q === "" ? "" : "?" + q;
    }
    set search(value) {
      value = usv(value);
      if (value === "") {
        this.#url.query = null;
        resetSearchParams(this.#params, []);
        stripTrailingSpacesFromOpaquePath(this.#url);
        return;
      }
      const input = value[0] === "?" ? value.slice(1) : value;
      this.#url.query = "";
      parseURL(input, null, this.#url, QUERY);
      resetSearchParams(this.#params, parseFormURLEncoded(input));
    }
    get searchParams() {
      return this.#params;
    }
    get hash() {
      const f = this.#url.fragment;
      return f === null || f === "" ? "" : "#" + f;
    }
    set hash(value) {
      value = usv(value);
      if (value === "") {
        this.#url.fragment = null;
        stripTrailingSpacesFromOpaquePath(this.#url);
        return;
      }
      this.#url.fragment = "";
      parseURL(value[0] === "#" ? value.slice(1) : value, null, this.#url, FRAGMENT);
    }
    // Setters parse into a copy, so a failure leaves the URL unchanged.
    #setWith(value, override) {
      const copy = copyRecord(this.#url);
      if (parseURL(usv(value), null, copy, override) !== null) Object.assign(this.#url, copy);
    }
    toString() {
      return this.href;
    }
    toJSON() {
      return this.href;
    }
  }
  tag(URL, "URL");

  // ---- Headers -----------------------------------------------------------------------

  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

  function headerName(name) {
    const n = str(name);
    if (!TOKEN.test(n)) throw new TypeError(`Invalid header name: "${n}"`);
    return n.toLowerCase();
  }

  // Trims HTTP whitespace; values must be ByteStrings without NUL, CR or LF.
  function headerValue(value) {
    const v = str(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (/[\0\n\r]|[^\0-\xff]/.test(v)) throw new TypeError(`Invalid header value: "${v}"`);
    return v;
  }

  let headerList; // (headers) => its [name, value] list
  let setHeadersGuard; // (headers, guard) => void
  let headersGuard; // (headers) => guard

  class Headers {
    #list = []; // [lower-case name, value] pairs in insertion order
    #guard = "none"; // or "immutable"
    #sorted = null; // cached "sort and combine" result

    constructor(init = undefined) {
      if (init === undefined) return;
      if ((typeof init !== "object" || init === null) && typeof init !== "function") {
        throw new TypeError("Headers: init must be a sequence of pairs or a record");
      }
      if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          if ((typeof pair !== "object" || pair === null) && typeof pair !== "function") {
            throw new TypeError("Headers: each header must be a [name, value] pair");
          }
          const items = Array.from(pair);
          if (items.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
          this.append(items[0], items[1]);
        }
      } else {
        for (const key of Reflect.ownKeys(init)) {
          const desc = Reflect.getOwnPropertyDescriptor(init, key);
          if (desc !== undefined && desc.enumerable) this.append(key, init[key]);
        }
      }
    }
    static {
      headerList = (h) => h.#list;
      setHeadersGuard = (h, guard) => {
        h.#guard = guard;
      };
      headersGuard = (h) => h.#guard;
    }
    #mutable() {
      if (this.#guard === "immutable") throw new TypeError("Can't modify immutable headers.");
      this.#sorted = null;
    }
    append(name, value) {
      requireArgs(arguments.length, 2, "Headers.append");
      const entry = [headerName(name), headerValue(value)];
      this.#mutable();
      this.#list.push(entry);
    }
    delete(name) {
      requireArgs(arguments.length, 1, "Headers.delete");
      name = headerName(name);
      this.#mutable();
      this.#list = this.#list.filter((e) => e[0] !== name);
    }
    get(name) {
      requireArgs(arguments.length, 1, "Headers.get");
      name = headerName(name);
      const values = [];
      for (const e of this.#list) if (e[0] === name) values.push(e[1]);
      return values.length === 0 ? null : values.join(", ");
    }
    getSetCookie() {
      return this.#list.filter((e) => e[0] === "set-cookie").map((e) => e[1]);
    }
    has(name) {
      requireArgs(arguments.length, 1, "Headers.has");
      name = headerName(name);
      return this.#list.some((e) => e[0] === name);
    }
    set(name, value) {
      requireArgs(arguments.length, 2, "Headers.set");
      name = headerName(name);
      value = headerValue(value);
      this.#mutable();
      const i = this.#list.findIndex((e) => e[0] === name);
      if (i < 0) this.#list.push([name, value]);
      else {
        this.#list[i] = [name, value];
        this.#list = this.#list.filter((e, j) => j <= i || e[0] !== name);
      }
    }
    // Sorted by name, values of one name combined, except Set-Cookie which stays separate.
    #combined() {
      if (this.#sorted !== null) return this.#sorted;
      const byName = new Map();
      for (const [name, value] of this.#list) {
        const values = byName.get(name);
        if (values) values.push(value);
        else byName.set(name, [value]);
      }
      const out = [];
      for (const name of [...byName.keys()].sort()) {
        const values = byName.get(name);
        if (name === "set-cookie") for (const v of values) out.push([name, v]);
        else out.push([name, values.join(", ")]);
      }
      return (this.#sorted = out);
    }
    forEach(callback, thisArg = undefined) {
      if (typeof callback !== "function") throw new TypeError("Headers.forEach: callback is not a function");
      for (let i = 0; i < this.#combined().length; i++) {
        const [name, value] = this.#combined()[i];
        callback.call(thisArg, value, name, this);
      }
    }
    // Like the spec's iterators these re-read the (re-sorted) list at every step.
    *entries() {
      for (let i = 0; i < this.#combined().length; i++) yield this.#combined()[i].slice();
    }
    *keys() {
      for (let i = 0; i < this.#combined().length; i++) yield this.#combined()[i][0];
    }
    *values() {
      for (let i = 0; i < this.#combined().length; i++) yield this.#combined()[i][1];
    }
  }
  Headers.prototype[Symbol.iterator] = Headers.prototype.entries;
  tag(Headers, "Headers");

  // A copy of headers with the given guard.
  function copyHeaders(source, guard = "none") {
    const h = new Headers();
    for (const e of headerList(source)) headerList(h).push(e.slice());
    setHeadersGuard(h, guard);
    return h;
  }

  // ---- Bodies --------------------------------------------------------------------------

  // The body of a Request or Response: its bytes (null for "no body") and whether it was read.
  class BodyState {
    constructor(bytes) {
      this.bytes = bytes;
      this.used = false;
      this.locked = false;
      this.stream = null;
    }
  }

  const USED_MESSAGE = "Body has already been used. It can only be used once; use clone() first to read it twice.";

  // Takes the whole body, marking it used. Shared bytes are never mutated; readers get copies.
  function takeBytes(state) {
    if (state.bytes === null) return EMPTY_BYTES;
    if (state.used || state.locked) throw new TypeError(USED_MESSAGE);
    state.used = true;
    return state.bytes;
  }

  // A minimal stand-in for ReadableStream (`body`): one chunk with all the
  // bytes. Enough for getReader().read() loops, async iteration, and passing
  // a body on to a new Request or Response.
  class BodyStream {
    #state;
    constructor(state) {
      this.#state = state;
    }
    static take(stream) {
      return takeBytes(stream.#state);
    }
    get locked() {
      return this.#state.locked;
    }
    getReader() {
      const state = this.#state;
      if (state.locked) throw new TypeError("This stream is already locked to a reader.");
      state.locked = true;
      let delivered = state.used;
      let released = false;
      const closed = Promise.resolve(undefined);
      return {
        closed,
        async read() {
          if (released) throw new TypeError("This reader has been released.");
          if (delivered) return { value: undefined, done: true };
          delivered = state.used = true;
          const bytes = state.bytes;
          return bytes.length === 0 ? { value: undefined, done: true } : { value: bytes.slice(), done: false };
        },
        releaseLock() {
          released = true;
          state.locked = false;
        },
        async cancel() {
          delivered = state.used = true;
        },
      };
    }
    async cancel() {
      if (this.#state.locked) throw new TypeError("Cannot cancel a locked stream.");
      this.#state.used = true;
    }
    async *[Symbol.asyncIterator]() {
      const reader = this.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          yield value;
        }
      } finally {
        reader.releaseLock();
      }
    }
    values() {
      return this[Symbol.asyncIterator]();
    }
  }
  tag(BodyStream, "ReadableStream");

  // The Fetch standard's "extract a body": [bytes, default Content-Type or null].
  function extractBody(init) {
    if (typeof init === "string") return [utf8Encode(init), "text/plain;charset=UTF-8"];
    if (init instanceof URLSearchParams) return [utf8Encode(init.toString()), "application/x-www-form-urlencoded;charset=UTF-8"];
    const bytes = bytesOf(init);
    if (bytes !== null) return [bytes.slice(), null];
    if (init instanceof Blob) return [blobBytes(init), init.type === "" ? null : init.type];
    if (init instanceof BodyStream) return [BodyStream.take(init), null];
    return [utf8Encode(usv(init)), "text/plain;charset=UTF-8"];
  }

  const bodies = new WeakMap(); // Request/Response -> BodyState

  function bodyOf(owner) {
    const state = bodies.get(owner);
    if (state === undefined) throw new TypeError("Illegal invocation");
    return state;
  }

  // The Body mixin, shared by Request and Response.
  const BodyMixin = {
    get body() {
      const state = bodyOf(this);
      if (state.bytes === null) return null;
      return (state.stream ??= new BodyStream(state));
    },
    get bodyUsed() {
      return bodyOf(this).used;
    },
    async arrayBuffer() {
      return takeBytes(bodyOf(this)).slice().buffer;
    },
    async bytes() {
      return takeBytes(bodyOf(this)).slice();
    },
    async text() {
      return utf8DecodeBOM(takeBytes(bodyOf(this)));
    },
    async json() {
      return JSON.parse(utf8DecodeBOM(takeBytes(bodyOf(this))));
    },
    async blob() {
      const bytes = takeBytes(bodyOf(this));
      return new Blob([bytes], { type: this.headers.get("content-type") ?? "" });
    },
    async formData() {
      throw new TypeError("formData() is not supported");
    },
  };

  function installBodyMixin(cls) {
    for (const [key, desc] of Object.entries(Object.getOwnPropertyDescriptors(BodyMixin))) {
      Object.defineProperty(cls.prototype, key, { ...desc, enumerable: false });
    }
  }

  // ---- Request -----------------------------------------------------------------------

  const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
  const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
  const REDIRECT_MODES = new Set(["follow", "error", "manual"]);

  function normalizeMethod(method) {
    method = str(method);
    if (!TOKEN.test(method)) throw new TypeError(`'${method}' is not a valid HTTP method.`);
    const upper = method.toUpperCase();
    return NORMALIZED_METHODS.has(upper) ? upper : method;
  }

  function parseRequestURL(input) {
    const record = parseURL(usv(input), null);
    if (record === null) throw new TypeError("Invalid URL");
    if (includesCredentials(record)) throw new TypeError("Request cannot be constructed from a URL that includes credentials");
    return serializeURL(record);
  }

  class Request {
    #method;
    #url;
    #headers;
    #redirect;
    #signal;
    #options; // cache, integrity, keepalive: stored only to be read back

    constructor(input, init = undefined) {
      if (input === INTERNAL) {
        // Internal construction from already-validated parts.
        this.#method = init.method;
        this.#url = init.url;
        this.#headers = init.headers;
        this.#redirect = init.redirect;
        this.#signal = init.signal;
        this.#options = init.options;
        bodies.set(this, init.body);
        return;
      }
      requireArgs(arguments.length, 1, "Request");
      init = dict(init, "init");
      const source = input instanceof Request ? input : null;
      const sourceBody = source ? bodyOf(source) : null;

      this.#url = source ? source.#url : parseRequestURL(input);
      let method = source ? source.#method : "GET";
      if (init.method !== undefined) {
        method = normalizeMethod(init.method);
        if (FORBIDDEN_METHODS.has(method.toUpperCase())) throw new TypeError(`'${method}' HTTP method is unsupported.`);
      }
      this.#method = method;

      let redirect = source ? source.#redirect : "follow";
      if (init.redirect !== undefined) {
        redirect = str(init.redirect);
        if (!REDIRECT_MODES.has(redirect)) throw new TypeError(`'${redirect}' is not a valid redirect mode.`);
      }
      this.#redirect = redirect;

      let signal = source ? source.#signal : null;
      if (init.signal !== undefined) {
        if (init.signal !== null && !(init.signal instanceof AbortSignal)) throw new TypeError("Request: signal must be an AbortSignal");
        signal = init.signal;
      }
      this.#signal = signal ?? new AbortController().signal;

      const base = source ? source.#options : { cache: "default", integrity: "", keepalive: false };
      this.#options = {
        cache: init.cache !== undefined ? str(init.cache) : base.cache,
        integrity: init.integrity !== undefined ? str(init.integrity) : base.integrity,
        keepalive: init.keepalive !== undefined ? !!init.keepalive : base.keepalive,
      };

      this.#headers = init.headers !== undefined ? new Headers(init.headers) : source ? copyHeaders(source.#headers) : new Headers();

      const hasInitBody = init.body !== undefined && init.body !== null;
      const hasSourceBody = sourceBody !== null && sourceBody.bytes !== null;
      if ((hasInitBody || hasSourceBody) && (method === "GET" || method === "HEAD")) {
        throw new TypeError("Request with GET/HEAD method cannot have body.");
      }
      const state = new BodyState(null);
      if (hasInitBody) {
        const [bytes, type] = extractBody(init.body);
        state.bytes = bytes;
        if (type !== null && !this.#headers.has("content-type")) this.#headers.append("content-type", type);
      } else if (hasSourceBody) {
        // The new request takes over the source's body, which counts as read.
        state.bytes = takeBytes(sourceBody);
      }
      bodies.set(this, state);
    }
    get method() {
      return this.#method;
    }
    get url() {
      return this.#url;
    }
    get headers() {
      return this.#headers;
    }
    get redirect() {
      return this.#redirect;
    }
    get signal() {
      return this.#signal;
    }
    get cache() {
      return this.#options.cache;
    }
    get integrity() {
      return this.#options.integrity;
    }
    get keepalive() {
      return this.#options.keepalive;
    }
    get credentials() {
      return "same-origin";
    }
    get mode() {
      return "cors";
    }
    get destination() {
      return "";
    }
    get referrer() {
      return "about:client";
    }
    get referrerPolicy() {
      return "";
    }
    get duplex() {
      return "half";
    }
    clone() {
      const state = bodyOf(this);
      if (state.used || state.locked) throw new TypeError("Request.clone: " + USED_MESSAGE);
      return new Request(INTERNAL, {
        method: this.#method,
        url: this.#url,
        headers: copyHeaders(this.#headers, headersGuard(this.#headers)),
        redirect: this.#redirect,
        signal: this.#signal,
        options: { ...this.#options },
        body: new BodyState(state.bytes),
      });
    }
  }
  installBodyMixin(Request);
  tag(Request, "Request");

  // ---- Response ----------------------------------------------------------------------

  const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
  const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
  const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

  let isResponse; // (value) => boolean

  class Response {
    #status = 200;
    #statusText = "";
    #headers;
    #type = "default";
    #url = "";
    #redirected = false;

    constructor(body = null, init = undefined) {
      if (body === INTERNAL) {
        this.#status = init.status;
        this.#statusText = init.statusText ?? "";
        this.#headers = init.headers;
        this.#type = init.type ?? "default";
        this.#url = init.url ?? "";
        this.#redirected = !!init.redirected;
        bodies.set(this, init.body ?? new BodyState(null));
        return;
      }
      init = dict(init, "init");
      if (init.status !== undefined) {
        // WebIDL unsigned short conversion, then the Fetch range check.
        const n = Math.trunc(Number(init.status));
        this.#status = Number.isFinite(n) ? ((n % 65536) + 65536) % 65536 : 0;
      }
      if (this.#status < 200 || this.#status > 599) {
        throw new RangeError(`The status provided (${this.#status}) is outside the range [200, 599].`);
      }
      if (init.statusText !== undefined) {
        this.#statusText = str(init.statusText);
        if (!REASON_PHRASE.test(this.#statusText)) throw new TypeError("Invalid statusText");
      }
      this.#headers = new Headers(init.headers);
      bodies.set(this, new BodyState(null));
      if (body !== null && body !== undefined) Response.#setBody(this, extractBody(body));
    }
    static {
      isResponse = (value) => typeof value === "object" && value !== null && #status in value;
    }
    static #setBody(response, [bytes, type]) {
      if (NULL_BODY_STATUS.has(response.#status)) throw new TypeError("Response with null body status cannot have body");
      bodyOf(response).bytes = bytes;
      if (type !== null && !response.#headers.has("content-type")) response.#headers.append("content-type", type);
    }
    static error() {
      const headers = new Headers();
      setHeadersGuard(headers, "immutable");
      return new Response(INTERNAL, { status: 0, headers, type: "error" });
    }
    static redirect(url, status = 302) {
      requireArgs(arguments.length, 1, "Response.redirect");
      const record = parseURL(usv(url), null);
      if (record === null) throw new TypeError("Invalid URL");
      status = Number(status);
      if (!REDIRECT_STATUS.has(status)) throw new RangeError(`Invalid status code ${status} for a redirect.`);
      const headers = new Headers([["location", serializeURL(record)]]);
      setHeadersGuard(headers, "immutable");
      return new Response(INTERNAL, { status, headers });
    }
    static json(data, init = undefined) {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError("Response.json: the data is not JSON-serializable");
      const response = new Response(null, init);
      Response.#setBody(response, [utf8Encode(text), "application/json"]);
      return response;
    }
    get type() {
      return this.#type;
    }
    get url() {
      return this.#url;
    }
    get redirected() {
      return this.#redirected;
    }
    get status() {
      return this.#status;
    }
    get ok() {
      return this.#status >= 200 && this.#status <= 299;
    }
    get statusText() {
      return this.#statusText;
    }
    get headers() {
      return this.#headers;
    }
    clone() {
      const state = bodyOf(this);
      if (state.used || state.locked) throw new TypeError("Response.clone: " + USED_MESSAGE);
      return new Response(INTERNAL, {
        status: this.#status,
        statusText: this.#statusText,
        headers: copyHeaders(this.#headers, headersGuard(this.#headers)),
        type: this.#type,
        url: this.#url,
        redirected: this.#redirected,
        body: new BodyState(state.bytes),
      });
    }
  }
  installBodyMixin(Response);
  tag(Response, "Response");

  addUncloneable(URL, URLSearchParams, Headers, Request, Response, BodyStream, AbortSignal);

  // ---- Host hooks ---------------------------------------------------------------------

  function base64DecodeStrict(s) {
    const bytes = base64DecodeForgiving(str(s));
    if (bytes === null) throw new TypeError("base64Decode: invalid base64");
    return bytes;
  }

  // Builds the incoming Request from the host's wire form. Its headers are
  // immutable (as for an incoming request in a service worker) and its redirect
  // mode is "manual", so passing it to fetch() proxies redirects unchanged.
  function requestFromWire(wire) {
    const headers = new Headers(wire.headers || []);
    setHeadersGuard(headers, "immutable");
    const body = wire.body_base64 ? base64DecodeStrict(wire.body_base64) : null;
    return new Request(INTERNAL, {
      method: normalizeMethod(wire.method || "GET"),
      url: parseRequestURL(wire.url),
      headers,
      redirect: "manual",
      signal: new AbortController().signal,
      options: { cache: "default", integrity: "", keepalive: false },
      body: new BodyState(body),
    });
  }

  // The host's wire form of a Response; body_base64 is "" when there is no body.
  async function responseToWire(response) {
    if (!isResponse(response)) throw new TypeError("fetch handler must return a Response");
    const state = bodyOf(response);
    const body = state.bytes === null ? EMPTY_BYTES : takeBytes(state);
    return {
      status: response.status,
      headers: headerList(response.headers).map((e) => [e[0], e[1]]),
      body_base64: base64Encode(body),
    };
  }

  // ---- Install ------------------------------------------------------------------------

  const globals = {
    DOMException, TextEncoder, TextDecoder, atob, btoa, structuredClone, Crypto, crypto,
    Event, EventTarget, AbortController, AbortSignal, Blob,
    URL, URLSearchParams, Headers, Request, Response,
  };
  for (const [name, value] of Object.entries(globals)) expose(name, value);

  if (!G.__edge_internal) {
    Object.defineProperty(G, "__edge_internal", { value: {}, writable: false, configurable: true, enumerable: false });
  }
  // Fixed properties: Worker code must not be able to intercept the host's seeds or wire data.
  const hooks = {
    reseedRandom,
    base64Encode: (bytes) => {
      if (!(bytes instanceof Uint8Array)) throw new TypeError("base64Encode expects a Uint8Array");
      return base64Encode(bytes);
    },
    base64Decode: base64DecodeStrict,
    requestFromWire,
    responseToWire,
    // A pure function of its inputs, for known-answer tests of the generator's core.
    chacha20Block(key, counter, nonce) {
      const out = new Uint8Array(64);
      chachaBlock(readWords(key, 0, new Uint32Array(8)), counter >>> 0, readWords(nonce, 0, new Uint32Array(3)), out, 0);
      return out;
    },
  };
  for (const [name, value] of Object.entries(hooks)) {
    Object.defineProperty(G.__edge_internal, name, { value, writable: false, configurable: false, enumerable: true });
  }
})();
