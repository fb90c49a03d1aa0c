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
//
// Tests: worker-node/tests/js/webapi_conformance.js (run in node with
// tests/js/run_in_node.cjs, which also cross-checks against node's own classes).
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

  const isObject = (v) => (typeof v === "object" && v !== null) || typeof v === "function";

  // An opaque token: constructors given it skip their public argument handling.
  const INTERNAL = Symbol("internal");
  const EMPTY_BYTES = new Uint8Array(0);

  // ---- DOMException -------------------------------------------------------------

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
    get code() { return DOM_CODES[this.name] || 0; }
  }
  tag(DOMException, "DOMException");

  // ---- Byte helpers --------------------------------------------------------------

  // %TypedArray%.prototype[@@toStringTag] reads an internal slot: an unspoofable type test.
  const typedArrayName = Object.getOwnPropertyDescriptor(
    Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
  const HAS_SAB = typeof SharedArrayBuffer === "function";

  // A Uint8Array over the bytes of a BufferSource (no copy), or null if x is not one.
  function bytesOf(x) {
    if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    if (x instanceof ArrayBuffer || (HAS_SAB && x instanceof SharedArrayBuffer)) return new Uint8Array(x);
    return null;
  }

  function concatBytes(chunks) {
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
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

  // ---- UTF-8 ---------------------------------------------------------------------

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
      else if (isSurrogatePair(s, i)) { len += 4; i++; }
      else len += 3; // other BMP characters, and lone surrogates (written as U+FFFD)
    }
    return len;
  }

  // Writes s as UTF-8 into out[at..]; stops before a character that does not fit.
  // Returns [code units read, bytes written].
  function utf8Write(s, out, at) {
    const n = s.length, end = out.length;
    let i = 0, p = at;
    while (i < n) {
      let c = s.charCodeAt(i), units = 1;
      if (c >= 0xd800 && c <= 0xdfff) {
        if (isSurrogatePair(s, i)) { c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00); units = 2; }
        else c = 0xfffd;
      }
      if (c < 0x80) {
        if (p >= end) break;
        out[p++] = c;
      } else if (c < 0x800) {
        if (p + 2 > end) break;
        out[p++] = 0xc0 | (c >> 6); out[p++] = 0x80 | (c & 0x3f);
      } else if (c < 0x10000) {
        if (p + 3 > end) break;
        out[p++] = 0xe0 | (c >> 12); out[p++] = 0x80 | ((c >> 6) & 0x3f); out[p++] = 0x80 | (c & 0x3f);
      } else {
        if (p + 4 > end) break;
        out[p++] = 0xf0 | (c >> 18); out[p++] = 0x80 | ((c >> 12) & 0x3f);
        out[p++] = 0x80 | ((c >> 6) & 0x3f); out[p++] = 0x80 | (c & 0x3f);
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

  const newUtf8State = () => ({ cp: 0, seen: 0, needed: 0, lower: 0x80, upper: 0xbf });

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
        else if (b >= 0xc2 && b <= 0xdf) { needed = 1; cp = b & 0x1f; }
        else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) lower = 0xa0;
          else if (b === 0xed) upper = 0x9f; // no surrogates
          needed = 2; cp = b & 0xf;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) lower = 0x90;
          else if (b === 0xf4) upper = 0x8f; // nothing above U+10FFFF
          needed = 3; cp = b & 0x7;
        } else {
          if (fatal) fail();
          out[o++] = 0xfffd;
        }
        continue;
      }
      if (b < lower || b > upper) {
        // The sequence ends early: emit U+FFFD and reprocess this byte as a new start.
        cp = needed = seen = 0; lower = 0x80; upper = 0xbf;
        if (fatal) fail();
        out[o++] = 0xfffd;
        i--;
        continue;
      }
      lower = 0x80; upper = 0xbf;
      cp = (cp << 6) | (b & 0x3f);
      if (++seen === needed) {
        if (cp > 0xffff) {
          cp -= 0x10000;
          out[o++] = 0xd800 + (cp >> 10); out[o++] = 0xdc00 + (cp & 0x3ff);
        } else out[o++] = cp;
        cp = needed = seen = 0;
      }
    }
    if (flush && needed !== 0) {
      cp = needed = seen = 0; lower = 0x80; upper = 0xbf;
      if (fatal) fail();
      out[o++] = 0xfffd;
    }
    Object.assign(st, { cp, seen, needed, lower, upper });
    return fromCodeUnits(out, o);
  }

  // UTF-8 decode without BOM handling (replacement mode), as URLs and forms use it.
  const utf8Decode = (bytes) => utf8DecodeChunk(newUtf8State(), bytes, true, false);

  // The Encoding standard's "UTF-8 decode": a leading BOM is dropped (bodies' text()).
  function utf8DecodeBOM(bytes) {
    const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    return utf8Decode(bom ? bytes.subarray(3) : bytes);
  }

  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") { return utf8Encode(str(input)); }
    encodeInto(source, destination) {
      requireArgs(arguments.length, 2, "TextEncoder.encodeInto");
      if (!(destination instanceof Uint8Array)) throw new TypeError("encodeInto: destination must be a Uint8Array");
      const [read, written] = utf8Write(str(source), destination, 0);
      return { read, written };
    }
  }
  tag(TextEncoder, "TextEncoder");

  const UTF8_LABELS = new Set(["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8",
    "x-unicode20utf8"]);

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
    get encoding() { return "utf-8"; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input = undefined, options = undefined) {
      const bytes = input === undefined ? EMPTY_BYTES : bytesOf(input);
      if (bytes === null) throw new TypeError("TextDecoder.decode: input must be an ArrayBuffer or ArrayBufferView");
      const stream = !!dict(options).stream;
      // A call after a non-streaming one starts a fresh stream.
      if (!this.#streaming) { this.#state = newUtf8State(); this.#bomSeen = false; }
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

  // ---- Base64 --------------------------------------------------------------------

  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const B64_CODES = new Uint8Array(64);
  const B64_VALUES = new Uint8Array(256).fill(255);
  for (let i = 0; i < 64; i++) {
    B64_CODES[i] = B64.charCodeAt(i);
    B64_VALUES[B64.charCodeAt(i)] = i;
  }

  const latin1String = (bytes) => fromCodeUnits(bytes, bytes.length);

  function base64Encode(bytes) {
    const n = bytes.length, out = new Uint8Array(Math.ceil(n / 3) * 4);
    let o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
      const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      out[o++] = B64_CODES[v >> 18]; out[o++] = B64_CODES[(v >> 12) & 63];
      out[o++] = B64_CODES[(v >> 6) & 63]; out[o++] = B64_CODES[v & 63];
    }
    if (i < n) {
      const two = i + 1 < n;
      const v = (bytes[i] << 16) | (two ? bytes[i + 1] << 8 : 0);
      out[o++] = B64_CODES[v >> 18]; out[o++] = B64_CODES[(v >> 12) & 63];
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
    let acc = 0, bits = 0, o = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      const v = c < 256 ? B64_VALUES[c] : 255;
      if (v === 255) return null;
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 0xff; }
    }
    return out;
  }

  const invalidCharacter = (message) => new DOMException(message, "InvalidCharacterError");

  function atob(data) {
    requireArgs(arguments.length, 1, "atob");
    const bytes = base64DecodeForgiving(str(data));
    if (bytes === null) throw invalidCharacter("The string to be decoded is not correctly encoded.");
    return latin1String(bytes);
  }

  function btoa(data) {
    requireArgs(arguments.length, 1, "btoa");
    const s = str(data), bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) throw invalidCharacter("The string to be encoded contains characters outside of the Latin1 range.");
      bytes[i] = c;
    }
    return base64Encode(bytes);
  }

  // ---- crypto: a ChaCha20 generator seeded by the host ------------------------------
  //
  // Worker code may replace any prototype method, so the generator's state
  // (key and output buffer) is only ever touched by index: no TypedArray
  // method (set, fill, subarray: each can be replaced, and subarray also
  // consults the species constructor) is called on it, and output is copied
  // into the caller's array byte by byte through a view made here.

  const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]; // "expand 32-byte k"
  const chachaInput = new Uint32Array(16);
  const chachaWork = new Uint32Array(16);
  const mathMin = Math.min;
  const typedArrayGetter = (name) => {
    const get = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), name).get;
    return (array) => Reflect.apply(get, array, []);
  };
  const viewBuffer = typedArrayGetter("buffer");
  const viewByteOffset = typedArrayGetter("byteOffset");
  const viewByteLength = typedArrayGetter("byteLength");
  const viewTag = typedArrayGetter(Symbol.toStringTag);
  const Uint8ArrayCtor = Uint8Array;
  const Uint32ArrayCtor = Uint32Array;

  function zero(array, from, to) {
    for (let i = from; i < to; i++) array[i] = 0;
  }

  function quarterRound(x, a, b, c, d) {
    let t;
    x[a] += x[b]; t = x[d] ^ x[a]; x[d] = (t << 16) | (t >>> 16);
    x[c] += x[d]; t = x[b] ^ x[c]; x[b] = (t << 12) | (t >>> 20);
    x[a] += x[b]; t = x[d] ^ x[a]; x[d] = (t << 8) | (t >>> 24);
    x[c] += x[d]; t = x[b] ^ x[c]; x[b] = (t << 7) | (t >>> 25);
  }

  // One ChaCha20 block (RFC 8439): key is 8 words, nonce 3 words; 64 bytes go to out[at..].
  function chachaBlock(key, counter, nonce, out, at) {
    const s = chachaInput, x = chachaWork;
    for (let i = 0; i < 4; i++) s[i] = SIGMA[i];
    for (let i = 0; i < 8; i++) s[4 + i] = key[i];
    s[12] = counter;
    for (let i = 0; i < 3; i++) s[13 + i] = nonce[i];
    for (let i = 0; i < 16; i++) x[i] = s[i];
    for (let round = 0; round < 10; round++) {
      quarterRound(x, 0, 4, 8, 12); quarterRound(x, 1, 5, 9, 13);
      quarterRound(x, 2, 6, 10, 14); quarterRound(x, 3, 7, 11, 15);
      quarterRound(x, 0, 5, 10, 15); quarterRound(x, 1, 6, 11, 12);
      quarterRound(x, 2, 7, 8, 13); quarterRound(x, 3, 4, 9, 14);
    }
    for (let i = 0; i < 16; i++) {
      const v = (x[i] + s[i]) >>> 0;
      out[at++] = v & 0xff; out[at++] = (v >>> 8) & 0xff; out[at++] = (v >>> 16) & 0xff; out[at++] = v >>> 24;
    }
    // Do not leave key material in the scratch buffers.
    zero(s, 0, 16);
    zero(x, 0, 16);
  }

  // `count` words from bytes[at..]; no `length` getter is consulted.
  function readWords(bytes, at, words, count) {
    for (let i = 0; i < count; i++, at += 4) {
      words[i] = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
    }
    return words;
  }

  const OUTPUT_NONCE = [0, 0, 0];
  const RESEED_NONCE = [0x65736572, 0x646565, 0]; // "reseed": separates key derivation from output
  const BATCH = 16 * 64; // bytes generated per refill
  const rng = { key: new Uint32ArrayCtor(8), seeded: false, buf: new Uint8ArrayCtor(BATCH), pos: BATCH };

  // "Fast key erasure": each batch's first 32 bytes become the next key, so the
  // current state never reveals output that was already handed out.
  function refillRandom() {
    for (let b = 0; b < BATCH / 64; b++) chachaBlock(rng.key, b, OUTPUT_NONCE, rng.buf, b * 64);
    readWords(rng.buf, 0, rng.key, 8);
    zero(rng.buf, 0, 32);
    rng.pos = 32;
  }

  // Fills `dst` (a Uint8Array made here, never the caller's object) with output.
  function randomFill(dst) {
    if (!rng.seeded) throw new Error("crypto is not seeded");
    const length = viewByteLength(dst);
    for (let o = 0; o < length; ) {
      if (rng.pos === BATCH) refillRandom();
      const take = mathMin(length - o, BATCH - rng.pos);
      for (let i = 0; i < take; i++) {
        dst[o + i] = rng.buf[rng.pos + i];
        rng.buf[rng.pos + i] = 0; // handed-out bytes are not kept
      }
      rng.pos += take;
      o += take;
    }
    return dst;
  }

  // key' = ChaCha20(key xor seed): a seed only ever adds entropy, so a caller
  // cannot reset or weaken the generator by reseeding it. `seed` is 32 numbers
  // (the host's bytes); only index reads touch it.
  function reseedRandom(seed) {
    if (seed === null || typeof seed !== "object" || seed.length !== 32) {
      throw new TypeError("reseedRandom expects 32 bytes");
    }
    const mixed = new Uint32ArrayCtor(8);
    for (let i = 0; i < 8; i++) {
      const at = i * 4;
      mixed[i] = ((seed[at] & 0xff) | ((seed[at + 1] & 0xff) << 8) | ((seed[at + 2] & 0xff) << 16) |
        ((seed[at + 3] & 0xff) << 24)) ^ rng.key[i];
    }
    const block = new Uint8ArrayCtor(64);
    chachaBlock(mixed, 0, RESEED_NONCE, block, 0);
    readWords(block, 0, rng.key, 8);
    zero(block, 0, 64);
    zero(mixed, 0, 8);
    zero(rng.buf, 0, BATCH);
    rng.pos = BATCH;
    rng.seeded = true;
  }

  const INTEGER_ARRAYS = new Set([
    "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
    "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array",
  ]);
  const HEX2 = Array.from({ length: 256 }, (_, i) => (i + 0x100).toString(16).slice(1));

  class Crypto {
    constructor() { throw new TypeError("Illegal constructor"); }
    getRandomValues(array) {
      requireArgs(arguments.length, 1, "Crypto.getRandomValues");
      if (!ArrayBuffer.isView(array)) {
        throw new TypeError("Crypto.getRandomValues: parameter 1 is not of type 'ArrayBufferView'.");
      }
      // Per Web Crypto: float arrays and DataView are a TypeMismatchError, not a TypeError.
      if (!INTEGER_ARRAYS.has(viewTag(array))) {
        throw new DOMException("The provided ArrayBufferView is not an integer-typed array.", "TypeMismatchError");
      }
      if (viewByteLength(array) > 65536) {
        throw new DOMException(`The ArrayBufferView's byte length (${viewByteLength(array)}) exceeds the number of ` +
          "bytes of entropy available via this API (65536).", "QuotaExceededError");
      }
      randomFill(new Uint8ArrayCtor(viewBuffer(array), viewByteOffset(array), viewByteLength(array)));
      return array;
    }
    randomUUID() {
      const b = randomFill(new Uint8ArrayCtor(16)), h = HEX2;
      b[6] = (b[6] & 0x0f) | 0x40; // version 4
      b[8] = (b[8] & 0x3f) | 0x80; // variant 10
      return h[b[0]] + h[b[1]] + h[b[2]] + h[b[3]] + "-" + h[b[4]] + h[b[5]] + "-" + h[b[6]] + h[b[7]] + "-" +
        h[b[8]] + h[b[9]] + "-" + h[b[10]] + h[b[11]] + h[b[12]] + h[b[13]] + h[b[14]] + h[b[15]];
    }
  }
  tag(Crypto, "Crypto");
  const crypto = Object.create(Crypto.prototype);

  // ---- Events and AbortController --------------------------------------------------

  let eventState; // (event) => its private dispatch state, for EventTarget

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
    static { eventState = (e) => e.#state; }
    get type() { return this.#type; }
    get target() { return this.#state.target; }
    get currentTarget() { return this.#state.currentTarget; }
    get bubbles() { return this.#bubbles; }
    get cancelable() { return this.#cancelable; }
    get defaultPrevented() { return this.#state.canceled; }
    get timeStamp() { return this.#timeStamp; }
    get isTrusted() { return false; }
    get eventPhase() { return this.#state.currentTarget ? 2 : 0; }
    preventDefault() { if (this.#cancelable) this.#state.canceled = true; }
    stopPropagation() {}
    stopImmediatePropagation() { this.#state.stopped = true; }
    composedPath() { return this.#state.currentTarget ? [this.#state.currentTarget] : []; }
  }
  tag(Event, "Event");

  // A listener's exception must not stop the dispatch; surface it asynchronously.
  function reportListenerError(error) {
    if (typeof G.reportError === "function") G.reportError(error);
    else Promise.reject(error);
  }

  const captureOption = (options) => (typeof options === "boolean" ? options : !!(options && options.capture));

  class EventTarget {
    #listeners = new Map(); // type -> [{ callback, capture, once, removed }]

    addEventListener(type, callback, options = undefined) {
      requireArgs(arguments.length, 2, "EventTarget.addEventListener");
      if (callback === null || callback === undefined) return;
      const capture = captureOption(options);
      const { once = false, signal } = isObject(options) ? options : {};
      if (signal !== undefined && signal.aborted) return;
      type = str(type);
      let list = this.#listeners.get(type);
      if (!list) this.#listeners.set(type, (list = []));
      if (list.some((l) => l.callback === callback && l.capture === capture)) return;
      list.push({ callback, capture, once: !!once, removed: false });
      const remove = () => this.removeEventListener(type, callback, capture);
      if (signal !== undefined) signal.addEventListener("abort", remove);
    }
    removeEventListener(type, callback, options = undefined) {
      const capture = captureOption(options);
      const list = this.#listeners.get(str(type)) || [];
      const i = list.findIndex((l) => l.callback === callback && l.capture === capture);
      if (i >= 0) list.splice(i, 1)[0].removed = true;
    }
    dispatchEvent(event) {
      if (!(event instanceof Event)) throw new TypeError("dispatchEvent: parameter 1 is not of type 'Event'.");
      const state = eventState(event);
      state.target = state.currentTarget = this;
      state.stopped = false;
      for (const l of (this.#listeners.get(event.type) || []).slice()) {
        if (l.removed) continue;
        if (l.once) this.removeEventListener(event.type, l.callback, l.capture);
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
    static { signalAbort = (signal, reason) => signal.#abort(reason); }
    #abort(reason) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
      const event = new Event("abort");
      try {
        if (this.#onabort) this.#onabort.call(this, event);
      } catch (error) {
        reportListenerError(error);
      }
      this.dispatchEvent(event);
    }
    get aborted() { return this.#aborted; }
    get reason() { return this.#reason; }
    get onabort() { return this.#onabort; }
    set onabort(handler) { this.#onabort = typeof handler === "function" ? handler : null; }
    throwIfAborted() { if (this.#aborted) throw this.#reason; }
    static abort(reason = undefined) {
      const signal = new AbortSignal(INTERNAL);
      signal.#abort(reason);
      return signal;
    }
    // Uses the host's setTimeout, looked up when called (runtime.js defines it).
    static timeout(ms) {
      if (typeof G.setTimeout !== "function") throw new DOMException("Timers are not available", "NotSupportedError");
      const signal = new AbortSignal(INTERNAL);
      G.setTimeout(() => signal.#abort(new DOMException("The operation timed out.", "TimeoutError")), Number(ms));
      return signal;
    }
    static any(signals) {
      const result = new AbortSignal(INTERNAL), list = [...signals];
      const done = list.find((s) => s.aborted);
      if (done) result.#abort(done.reason);
      else for (const s of list) s.addEventListener("abort", () => result.#abort(s.reason), { once: true });
      return result;
    }
  }
  tag(AbortSignal, "AbortSignal");

  class AbortController {
    #signal = new AbortSignal(INTERNAL);
    get signal() { return this.#signal; }
    abort(reason = undefined) { signalAbort(this.#signal, reason); }
  }
  tag(AbortController, "AbortController");

  // ---- Blob ----------------------------------------------------------------------

  let blobBytes; // (blob) => its Uint8Array

  class Blob {
    #bytes;
    #type;

    constructor(parts = undefined, options = undefined) {
      const chunks = [];
      if (parts !== undefined) {
        if (!isObject(parts) || typeof parts[Symbol.iterator] !== "function") {
          throw new TypeError("Blob: the parts argument must be a sequence");
        }
        for (const part of parts) {
          const b = part instanceof Blob ? part.#bytes : bytesOf(part);
          chunks.push(b === null ? utf8Encode(str(part)) : part instanceof Blob ? b : b.slice());
        }
      }
      const { type = "" } = dict(options);
      this.#type = /^[\x20-\x7e]*$/.test(str(type)) ? str(type).toLowerCase() : "";
      this.#bytes = chunks.length === 1 ? chunks[0] : concatBytes(chunks);
    }
    static { blobBytes = (b) => b.#bytes; }
    get size() { return this.#bytes.length; }
    get type() { return this.#type; }
    slice(start = 0, end = undefined, contentType = undefined) {
      const size = this.#bytes.length;
      const clamp = (v) => {
        v = Math.trunc(Number(v)) || 0;
        return v < 0 ? Math.max(size + v, 0) : Math.min(v, size);
      };
      const from = clamp(start), to = end === undefined ? size : clamp(end);
      const blob = new Blob([], { type: contentType === undefined ? "" : str(contentType) });
      blob.#bytes = this.#bytes.subarray(from, Math.max(from, to)); // blobs are immutable: share the bytes
      return blob;
    }
    async text() { return utf8DecodeBOM(this.#bytes); }
    async arrayBuffer() { return this.#bytes.slice().buffer; }
    async bytes() { return this.#bytes.slice(); }
    stream() { return new BodyStream(new BodyState(this.#bytes)); }
  }
  tag(Blob, "Blob");

  // ---- structuredClone --------------------------------------------------------------

  const ERROR_TYPES = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
  const TYPED_ARRAYS = {
    Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
    Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  };
  if (typeof G.Float16Array === "function") TYPED_ARRAYS.Float16Array = G.Float16Array;
  const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

  const DATA = (value) => ({ value, writable: true, enumerable: true, configurable: true });
  const dataCloneError = (what) => new DOMException(`${what} could not be cloned.`, "DataCloneError");

  function copyArrayBuffer(b) {
    if (b.detached === true) throw dataCloneError("A detached ArrayBuffer");
    const copy = new ArrayBuffer(b.byteLength, b.resizable ? { maxByteLength: b.maxByteLength } : undefined);
    new Uint8Array(copy).set(new Uint8Array(b));
    return copy;
  }

  // Own enumerable string-keyed properties, read with [[Get]], as the HTML serializer does.
  function cloneInto(src, dst, memory) {
    for (const key of Object.keys(src)) {
      const value = cloneValue(src[key], memory);
      // Not `dst.__proto__ = value`, which would set the prototype.
      if (key === "__proto__") Object.defineProperty(dst, key, DATA(value));
      else dst[key] = value;
    }
    return dst;
  }

  function cloneError(v) {
    const name = v.name;
    const Ctor = typeof name === "string" && hasOwn(ERROR_TYPES, name) ? ERROR_TYPES[name] : Error;
    const out = new Ctor();
    const message = Object.getOwnPropertyDescriptor(v, "message");
    if (message && "value" in message) {
      Object.defineProperty(out, "message", { value: str(message.value), writable: true, configurable: true });
    }
    if (typeof v.stack === "string") {
      try {
        Object.defineProperty(out, "stack", { value: v.stack, writable: true, configurable: true });
      } catch (_) {
        // an engine whose stack property cannot be redefined keeps its own
      }
    }
    return out;
  }

  function cloneValue(v, memory) {
    const type = typeof v;
    if (type === "symbol") throw dataCloneError("Symbol()");
    if (type === "function") throw dataCloneError(`function ${v.name || "(anonymous)"}`);
    if (v === null || type !== "object") return v;
    let out = memory.get(v);
    if (out !== undefined) return out;

    // Containers are registered before their contents are cloned, so cycles resolve.
    if (Array.isArray(v)) {
      memory.set(v, (out = new Array(v.length)));
      return cloneInto(v, out, memory);
    }
    if (v instanceof Map) {
      memory.set(v, (out = new Map()));
      for (const [k, val] of Array.from(v)) out.set(cloneValue(k, memory), cloneValue(val, memory));
      return out;
    }
    if (v instanceof Set) {
      memory.set(v, (out = new Set()));
      for (const k of Array.from(v)) out.add(cloneValue(k, memory));
      return out;
    }
    if (v instanceof Error && !(v instanceof DOMException)) {
      memory.set(v, (out = cloneError(v)));
      if (hasOwn(v, "cause")) {
        const cause = cloneValue(v.cause, memory);
        Object.defineProperty(out, "cause", { value: cause, writable: true, configurable: true });
      }
      return out;
    }
    if (v instanceof Date) out = new Date(v.getTime());
    else if (v instanceof RegExp) out = new RegExp(v.source, v.flags);
    else if (v instanceof ArrayBuffer) out = copyArrayBuffer(v);
    else if (HAS_SAB && v instanceof SharedArrayBuffer) out = v; // shared memory stays shared
    else if (ArrayBuffer.isView(v)) {
      const buffer = cloneValue(v.buffer, memory), name = typedArrayName.call(v);
      out = name === undefined
        ? new DataView(buffer, v.byteOffset, v.byteLength)
        : new TYPED_ARRAYS[name](buffer, v.byteOffset, v.length);
    } else if (v instanceof Boolean || v instanceof Number || v instanceof String || v instanceof BigInt) {
      out = Object(v.valueOf());
    } else if (v instanceof Symbol) throw dataCloneError("A Symbol object");
    else if (v instanceof Blob) out = new Blob([v], { type: v.type });
    else if (v instanceof DOMException) out = new DOMException(v.message, v.name);
    else if (UNCLONEABLE.some((C) => v instanceof C)) {
      throw dataCloneError(`${Object.prototype.toString.call(v).slice(8, -1)} object`);
    } else {
      // Any other object clones as a plain object of its own enumerable properties.
      memory.set(v, (out = {}));
      return cloneInto(v, out, memory);
    }
    memory.set(v, out);
    return out;
  }

  function structuredClone(value, options = undefined) {
    requireArgs(arguments.length, 1, "structuredClone");
    const { transfer = [] } = dict(options);
    const memory = new Map(), transferred = [];
    for (const t of transfer) {
      if (!(t instanceof ArrayBuffer)) throw dataCloneError("A transfer list entry other than an ArrayBuffer");
      if (transferred.includes(t)) throw dataCloneError("An ArrayBuffer listed twice in the transfer list");
      if (typeof t.transfer !== "function") throw dataCloneError("A transfer (unsupported by this engine)");
      // The clone gets a copy of the bytes; the original is detached below.
      memory.set(t, copyArrayBuffer(t));
      transferred.push(t);
    }
    const result = cloneValue(value, memory);
    for (const t of transferred) t.transfer();
    return result;
  }

  // ---- URL: percent-encoding and hosts -----------------------------------------------

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

  const PCT = HEX2.map((h) => "%" + h.toUpperCase());

  // Percent-encodes one code point: ASCII per the set, everything else as UTF-8 bytes.
  function encodeCodePoint(c, set) {
    if (c < 0x80) return set[c] ? PCT[c] : String.fromCharCode(c);
    if (c < 0x800) return PCT[0xc0 | (c >> 6)] + PCT[0x80 | (c & 0x3f)];
    if (c < 0x10000) return PCT[0xe0 | (c >> 12)] + PCT[0x80 | ((c >> 6) & 0x3f)] + PCT[0x80 | (c & 0x3f)];
    return PCT[0xf0 | (c >> 18)] + PCT[0x80 | ((c >> 12) & 0x3f)] +
      PCT[0x80 | ((c >> 6) & 0x3f)] + PCT[0x80 | (c & 0x3f)];
  }

  function percentEncode(s, set) {
    let i = 0;
    while (i < s.length && s.charCodeAt(i) < 0x80 && !set[s.charCodeAt(i)]) i++;
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
    let out = String.fromCodePoint(...cps.filter((c) => c < 0x80));
    const basic = out.length;
    if (basic > 0) out += "-";
    let n = 0x80, delta = 0, bias = 72, handled = basic;
    while (handled < cps.length) {
      const m = Math.min(...cps.filter((c) => c >= n));
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
    return domain.normalize("NFKC").toLowerCase()
      .replace(/[\u00ad\u200b\u2060\ufeff\ufe00-\ufe0f]/g, "")
      .replace(/[\u3002\uff0e\uff61]/g, ".")
      .split(".")
      .map((label) => (/[^\x00-\x7f]/.test(label) ? "xn--" + punycode(label) : label))
      .join(".");
  }

  function parseIPv4Number(s) {
    if (s === "") return null;
    let radix = 10;
    if (s.length >= 2 && s[0] === "0" && (s[1] === "x" || s[1] === "X")) { s = s.slice(2); radix = 16; }
    else if (s.length >= 2 && s[0] === "0") { s = s.slice(1); radix = 8; }
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
    const nums = parts.map(parseIPv4Number);
    if (nums.includes(null)) return null;
    const last = nums.pop();
    if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return null;
    const ip = nums.reduce((sum, n, i) => sum + n * 256 ** (3 - i), last);
    return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".");
  }

  // IPv6 address text (without brackets) to 8 pieces, or null. Equivalent to the
  // WHATWG IPv6 parser: at most one "::", groups of 1-4 hex digits, and a dotted
  // IPv4 address (no leading zeros) allowed as the last two pieces.
  function parseIPv6(s) {
    const halves = s.split("::");
    if (halves.length > 2) return null;
    const IPV4 = /^(?:(?:0|[1-9]\d{0,2})\.){3}(?:0|[1-9]\d{0,2})$/;
    const pieces = [];
    for (const [h, half] of halves.entries()) {
      const groups = half === "" ? [] : half.split(":");
      for (const [i, g] of groups.entries()) {
        const last = h === halves.length - 1 && i === groups.length - 1;
        if (/^[0-9a-f]{1,4}$/i.test(g)) pieces.push(parseInt(g, 16));
        else if (last && IPV4.test(g)) {
          const v4 = g.split(".").map(Number);
          if (v4.some((n) => n > 255)) return null;
          pieces.push(v4[0] * 256 + v4[1], v4[2] * 256 + v4[3]);
        } else return null;
      }
      if (h === 0 && halves.length === 2) pieces.push(null); // where "::" stands
    }
    const compress = pieces.indexOf(null);
    if (compress < 0) return pieces.length === 8 ? pieces : null;
    if (pieces.length > 8) return null; // "::" must stand for at least one zero piece
    pieces.splice(compress, 1, ...new Array(9 - pieces.length).fill(0));
    return pieces;
  }

  function serializeIPv6(addr) {
    // Compress the first longest run of two or more zero pieces.
    let best = -1, bestLen = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && addr[j] === 0) j++;
      if (j - i > bestLen) { best = i; bestLen = j - i; }
      i = j === i ? i + 1 : j;
    }
    let out = "";
    for (let i = 0; i < 8; i++) {
      if (i === best) {
        out += i === 0 ? "::" : ":";
        i += bestLen - 1;
      } else out += addr[i].toString(16) + (i < 7 ? ":" : "");
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

  // ---- URL: the parser ----------------------------------------------------------------

  // A URL record: { scheme, username, password, host (serialized, or null), port (number
  // or null), path (array of segments, or a string when opaque), query, fragment }.
  const SPECIAL_PORTS = Object.assign(Object.create(null), { ftp: 21, file: null, http: 80, https: 443, ws: 80,
    wss: 443 });
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
  const isDoubleDot = (s) => [".." , ".%2e", "%2e.", "%2e%2e"].includes(s.toLowerCase());
  const includesCredentials = (url) => url.username !== "" || url.password !== "";
  const hasOpaquePath = (url) => typeof url.path === "string";

  // Whether code points input[p..] start with a Windows drive letter ("c:", "c|", then end or /\?#).
  function startsWithDriveLetter(input, p) {
    if (input.length - p < 2 || !isAlpha(input[p]) || (input[p + 1] !== 0x3a && input[p + 1] !== 0x7c)) return false;
    const c = input[p + 2];
    return input.length - p === 2 || c === 0x2f || c === 0x5c || c === 0x3f || c === 0x23;
  }

  const newRecord = () =>
    ({ scheme: "", username: "", password: "", host: null, port: null, path: [], query: null, fragment: null });
  const copyRecord = (r) => ({ ...r, path: hasOpaquePath(r) ? r.path : r.path.slice() });

  function shortenPath(url) {
    if (url.scheme === "file" && url.path.length === 1 && isNormalizedDriveLetter(url.path[0])) return;
    url.path.pop();
  }

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
    let state = override || SCHEME_START, buffer = "", p = 0;
    let atSignSeen = false, insideBrackets = false, passwordTokenSeen = false;
    const inheritAuthority = () =>
      Object.assign(url, { username: base.username, password: base.password, host: base.host, port: base.port });

    for (;;) {
      const c = p < len ? input[p] : EOF;
      const special = isSpecial(url.scheme);
      // Where the authority, host, port and path components end.
      const endsComponent = c === EOF || c === 0x2f || c === 0x3f || c === 0x23 || (special && c === 0x5c);

      switch (state) {
        case SCHEME_START:
          if (isAlpha(c)) { buffer += String.fromCharCode(c | 0x20); state = SCHEME; }
          else if (override) return null;
          else { state = NO_SCHEME; p--; }
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
            else if (input[p + 1] === 0x2f) { state = PATH_OR_AUTHORITY; p++; }
            else { url.path = ""; state = OPAQUE_PATH; }
          } else if (override) return null;
          else { buffer = ""; state = NO_SCHEME; p = -1; } // start over from the first code point
          break;
        case NO_SCHEME:
          if (!base || (hasOpaquePath(base) && c !== 0x23)) return null;
          if (hasOpaquePath(base)) {
            Object.assign(url, { scheme: base.scheme, path: base.path, query: base.query, fragment: "" });
            state = FRAGMENT;
          } else { state = base.scheme === "file" ? FILE : RELATIVE; p--; }
          break;
        case SPECIAL_RELATIVE_OR_AUTHORITY:
          if (c === 0x2f && input[p + 1] === 0x2f) { state = SPECIAL_AUTHORITY_IGNORE_SLASHES; p++; }
          else { state = RELATIVE; p--; }
          break;
        case PATH_OR_AUTHORITY:
          if (c === 0x2f) state = AUTHORITY;
          else { state = PATH; p--; }
          break;
        case RELATIVE:
          url.scheme = base.scheme;
          if (c === 0x2f || (isSpecial(url.scheme) && c === 0x5c)) state = RELATIVE_SLASH;
          else {
            inheritAuthority();
            url.path = base.path.slice();
            url.query = base.query;
            if (c === 0x3f) { url.query = ""; state = QUERY; }
            else if (c === 0x23) { url.fragment = ""; state = FRAGMENT; }
            else if (c !== EOF) { url.query = null; shortenPath(url); state = PATH; p--; }
          }
          break;
        case RELATIVE_SLASH:
          if (special && (c === 0x2f || c === 0x5c)) state = SPECIAL_AUTHORITY_IGNORE_SLASHES;
          else if (c === 0x2f) state = AUTHORITY;
          else { inheritAuthority(); state = PATH; p--; }
          break;
        case SPECIAL_AUTHORITY_SLASHES:
          state = SPECIAL_AUTHORITY_IGNORE_SLASHES;
          if (c === 0x2f && input[p + 1] === 0x2f) p++;
          else p--;
          break;
        case SPECIAL_AUTHORITY_IGNORE_SLASHES:
          if (c !== 0x2f && c !== 0x5c) { state = AUTHORITY; p--; }
          break;
        case AUTHORITY:
          if (c === 0x40) {
            if (atSignSeen) buffer = "%40" + buffer;
            atSignSeen = true;
            for (const ch of buffer) {
              if (ch === ":" && !passwordTokenSeen) { passwordTokenSeen = true; continue; }
              const encoded = encodeCodePoint(ch.codePointAt(0), USERINFO_SET);
              if (passwordTokenSeen) url.password += encoded;
              else url.username += encoded;
            }
            buffer = "";
          } else if (endsComponent) {
            if (atSignSeen && buffer === "") return null;
            p -= Array.from(buffer).length + 1; // reparse the buffer as the host
            buffer = "";
            state = HOST;
          } else buffer += String.fromCodePoint(c);
          break;
        case HOST:
        case HOSTNAME:
          if (override && url.scheme === "file") { p--; state = FILE_HOST; }
          else if (c === 0x3a && !insideBrackets) {
            if (buffer === "" || override === HOSTNAME) return null;
            if ((url.host = parseHost(buffer, !special)) === null) return null;
            buffer = "";
            state = PORT;
          } else if (endsComponent) {
            p--;
            if (special && buffer === "") return null;
            if (override && buffer === "" && (includesCredentials(url) || url.port !== null)) return null;
            if ((url.host = parseHost(buffer, !special)) === null) return null;
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
            Object.assign(url, { host: base.host, path: base.path.slice(), query: base.query });
            if (c === 0x3f) { url.query = ""; state = QUERY; }
            else if (c === 0x23) { url.fragment = ""; state = FRAGMENT; }
            else if (c !== EOF) {
              url.query = null;
              if (startsWithDriveLetter(input, p)) url.path = [];
              else shortenPath(url);
              state = PATH;
              p--;
            }
          } else { state = PATH; p--; }
          break;
        case FILE_SLASH:
          if (c === 0x2f || c === 0x5c) state = FILE_HOST;
          else {
            if (base && base.scheme === "file") {
              url.host = base.host;
              const drive = base.path[0];
              if (!startsWithDriveLetter(input, p) && isNormalizedDriveLetter(drive)) url.path.push(drive);
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
              const host = parseHost(buffer, false);
              if (host === null) return null;
              url.host = host === "localhost" ? "" : host;
              if (override) return url;
              buffer = "";
              state = PATH_START;
            }
          } else buffer += String.fromCodePoint(c);
          break;
        case PATH_START:
          if (special) { state = PATH; if (c !== 0x2f && c !== 0x5c) p--; }
          else if (!override && c === 0x3f) { url.query = ""; state = QUERY; }
          else if (!override && c === 0x23) { url.fragment = ""; state = FRAGMENT; }
          else if (c !== EOF) { state = PATH; if (c !== 0x2f) p--; }
          else if (override && url.host === null) url.path.push("");
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
            if (c === 0x3f) { url.query = ""; state = QUERY; }
            else if (c === 0x23) { url.fragment = ""; state = FRAGMENT; }
          } else buffer += encodeCodePoint(c, PATH_SET);
          break;
        case OPAQUE_PATH:
          if (c === 0x3f) { url.query = ""; state = QUERY; }
          else if (c === 0x23) { url.fragment = ""; state = FRAGMENT; }
          else if (c !== EOF) url.path += encodeCodePoint(c, C0_SET);
          break;
        case QUERY:
          if ((!override && c === 0x23) || c === EOF) {
            url.query += percentEncode(buffer, special ? SPECIAL_QUERY_SET : QUERY_SET);
            buffer = "";
            if (c === 0x23) { url.fragment = ""; state = FRAGMENT; }
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

  function serializePath(url, forHref = false) {
    if (hasOpaquePath(url)) return url.path;
    // "/." keeps a path starting with "//" from being read back as an authority.
    let out = forHref && url.host === null && url.path.length > 1 && url.path[0] === "" ? "/." : "";
    for (const segment of url.path) out += "/" + segment;
    return out;
  }

  function serializeURL(url) {
    let out = url.scheme + ":";
    if (url.host !== null) {
      out += "//";
      if (includesCredentials(url)) out += url.username + (url.password === "" ? "" : ":" + url.password) + "@";
      out += url.host + (url.port === null ? "" : ":" + url.port);
    }
    out += serializePath(url, true);
    if (url.query !== null) out += "?" + url.query;
    if (url.fragment !== null) out += "#" + url.fragment;
    return out;
  }

  function serializeOrigin(url) {
    if (url.scheme === "blob") {
      const inner = hasOpaquePath(url) ? parseURL(url.path, null) : null;
      return inner && (inner.scheme === "http" || inner.scheme === "https") ? serializeOrigin(inner) : "null";
    }
    if (url.scheme === "file" || !isSpecial(url.scheme)) return "null";
    return url.scheme + "://" + url.host + (url.port === null ? "" : ":" + url.port);
  }

  // Spaces at the end of an opaque path would be lost on reparse once query and fragment are gone.
  function stripTrailingSpacesFromOpaquePath(url) {
    if (hasOpaquePath(url) && url.fragment === null && url.query === null) url.path = url.path.replace(/ +$/, "");
  }

  // ---- URLSearchParams ----------------------------------------------------------------

  function formDecode(s) {
    if (!s.includes("+") && !s.includes("%")) return s;
    return utf8Decode(percentDecode(s.replace(/\+/g, " ")));
  }

  function parseForm(s) {
    const list = [];
    for (const seq of s.split("&")) {
      if (seq === "") continue;
      const eq = seq.indexOf("=");
      list.push(eq < 0 ? [formDecode(seq), ""] : [formDecode(seq.slice(0, eq)), formDecode(seq.slice(eq + 1))]);
    }
    return list;
  }

  // encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ); forms also encode ! ~ ' ( ) and use + for space.
  const FORM_EXTRA = { "!": "%21", "'": "%27", "(": "%28", ")": "%29", "~": "%7E", "%20": "+" };
  const formEncode = (s) => encodeURIComponent(s).replace(/[!'()~]|%20/g, (m) => FORM_EXTRA[m]);
  const serializeForm = (list) => list.map(([name, value]) => formEncode(name) + "=" + formEncode(value)).join("&");

  // Name/value pairs from a sequence of 2-item iterables (Headers and URLSearchParams init).
  function pairsOf(init, what) {
    const pairs = [];
    for (const pair of init) {
      const items = isObject(pair) ? Array.from(pair) : null;
      if (items === null || items.length !== 2) throw new TypeError(`${what}: each item must be a [name, value] pair`);
      pairs.push(items);
    }
    return pairs;
  }

  // A WebIDL record<K, V>: own enumerable keys, in order.
  function recordPairs(init) {
    const pairs = [];
    for (const key of Reflect.ownKeys(init)) {
      const desc = Reflect.getOwnPropertyDescriptor(init, key);
      if (desc !== undefined && desc.enumerable) pairs.push([key, init[key]]);
    }
    return pairs;
  }

  let linkSearchParams; // (params, urlRecord, list) => void

  class URLSearchParams {
    #list = [];
    #url = null; // the record of the URL this object belongs to, if any

    constructor(init = "") {
      if (isObject(init)) {
        const iterator = init[Symbol.iterator];
        if (iterator !== undefined && iterator !== null && typeof iterator !== "function") {
          throw new TypeError("URLSearchParams: init is not iterable");
        }
        const pairs = iterator ? pairsOf(init, "URLSearchParams") : recordPairs(init);
        this.#list = pairs.map(([name, value]) => [usv(name), usv(value)]);
      } else {
        const s = usv(init);
        this.#list = parseForm(s[0] === "?" ? s.slice(1) : s);
      }
    }
    static {
      linkSearchParams = (params, record, list) => {
        params.#url = record;
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
    get size() { return this.#list.length; }
    append(name, value) {
      requireArgs(arguments.length, 2, "URLSearchParams.append");
      this.#list.push([usv(name), usv(value)]);
      this.#update();
    }
    delete(name, value = undefined) {
      requireArgs(arguments.length, 1, "URLSearchParams.delete");
      name = usv(name);
      value = value === undefined ? undefined : usv(value);
      this.#list = this.#list.filter((e) => e[0] !== name || (value !== undefined && e[1] !== value));
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
      value = value === undefined ? undefined : usv(value);
      return this.#list.some((e) => e[0] === name && (value === undefined || e[1] === value));
    }
    set(name, value) {
      requireArgs(arguments.length, 2, "URLSearchParams.set");
      name = usv(name);
      value = usv(value);
      const i = this.#list.findIndex((e) => e[0] === name);
      if (i < 0) this.#list.push([name, value]);
      else this.#list = this.#list.filter((e, j) => j <= i || e[0] !== name).with(i, [name, value]);
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
    // Like the spec's iterators these read the live list at every step.
    *entries() { for (let i = 0; i < this.#list.length; i++) yield [this.#list[i][0], this.#list[i][1]]; }
    *keys() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0]; }
    *values() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1]; }
    toString() { return serializeForm(this.#list); }
  }
  URLSearchParams.prototype[Symbol.iterator] = URLSearchParams.prototype.entries;
  tag(URLSearchParams, "URLSearchParams");

  // ---- URL ------------------------------------------------------------------------------

  function parseWithBase(url, base) {
    if (base === undefined) return parseURL(usv(url), null);
    const baseRecord = parseURL(usv(base), null);
    return baseRecord && parseURL(usv(url), baseRecord);
  }

  const cannotHaveCredentialsOrPort = (url) => url.host === null || url.host === "" || url.scheme === "file";

  class URL {
    #url;
    #params = new URLSearchParams();

    constructor(url, base = undefined) {
      requireArgs(arguments.length, 1, "URL");
      const record = parseWithBase(url, base);
      if (record === null) throw new TypeError("Invalid URL");
      this.#url = record;
      linkSearchParams(this.#params, record, parseForm(record.query ?? ""));
    }
    static canParse(url, base = undefined) {
      requireArgs(arguments.length, 1, "URL.canParse");
      return parseWithBase(url, base) !== null;
    }
    static parse(url, base = undefined) {
      requireArgs(arguments.length, 1, "URL.parse");
      return parseWithBase(url, base) === null ? null : new URL(url, base);
    }
    get href() { return serializeURL(this.#url); }
    set href(value) {
      const record = parseURL(usv(value), null);
      if (record === null) throw new TypeError("Invalid URL");
      Object.assign(this.#url, record); // in place: the URLSearchParams object keeps its link
      linkSearchParams(this.#params, this.#url, parseForm(record.query ?? ""));
    }
    get origin() { return serializeOrigin(this.#url); }
    get protocol() { return this.#url.scheme + ":"; }
    set protocol(value) { parseURL(usv(value) + ":", null, this.#url, SCHEME_START); }
    get username() { return this.#url.username; }
    set username(value) {
      if (!cannotHaveCredentialsOrPort(this.#url)) this.#url.username = percentEncode(usv(value), USERINFO_SET);
    }
    get password() { return this.#url.password; }
    set password(value) {
      if (!cannotHaveCredentialsOrPort(this.#url)) this.#url.password = percentEncode(usv(value), USERINFO_SET);
    }
    get host() {
      const { host, port } = this.#url;
      return host === null ? "" : port === null ? host : host + ":" + port;
    }
    set host(value) { if (!hasOpaquePath(this.#url)) this.#setWith(value, HOST); }
    get hostname() { return this.#url.host ?? ""; }
    set hostname(value) { if (!hasOpaquePath(this.#url)) this.#setWith(value, HOSTNAME); }
    get port() { return this.#url.port === null ? "" : String(this.#url.port); }
    set port(value) {
      if (cannotHaveCredentialsOrPort(this.#url)) return;
      value = usv(value);
      if (value === "") this.#url.port = null;
      else this.#setWith(value, PORT);
    }
    get pathname() { return serializePath(this.#url); }
    set pathname(value) { if (!hasOpaquePath(this.#url)) this.#setWith(value, PATH_START, { path: [] }); }
    get search() { return this.#url.query ? "?" + this.#url.query : ""; }
    set search(value) {
      value = usv(value);
      const input = value[0] === "?" ? value.slice(1) : value;
      this.#url.query = null;
      if (value !== "") this.#setWith(input, QUERY, { query: "" });
      else stripTrailingSpacesFromOpaquePath(this.#url);
      linkSearchParams(this.#params, this.#url, parseForm(input));
    }
    get searchParams() { return this.#params; }
    get hash() { return this.#url.fragment ? "#" + this.#url.fragment : ""; }
    set hash(value) {
      value = usv(value);
      this.#url.fragment = null;
      if (value !== "") this.#setWith(value[0] === "#" ? value.slice(1) : value, FRAGMENT, { fragment: "" });
      else stripTrailingSpacesFromOpaquePath(this.#url);
    }
    // Setters parse into a copy (with `start` applied), so a failure leaves the URL unchanged.
    #setWith(value, override, start = {}) {
      const copy = Object.assign(copyRecord(this.#url), start);
      if (parseURL(usv(value), null, copy, override) !== null) Object.assign(this.#url, copy);
    }
    toString() { return this.href; }
    toJSON() { return this.href; }
  }
  tag(URL, "URL");

  // ---- Headers ------------------------------------------------------------------------

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

  let headersInternals; // (headers) => { list, guard }, for Request, Response and the wire hooks

  class Headers {
    #list = []; // [lower-case name, value] pairs in insertion order
    #guard = "none"; // or "immutable"
    #sorted = null; // cached "sort and combine" result

    constructor(init = undefined) {
      if (init === undefined) return;
      if (!isObject(init)) throw new TypeError("Headers: init must be a sequence of pairs or a record");
      const pairs = typeof init[Symbol.iterator] === "function" ? pairsOf(init, "Headers") : recordPairs(init);
      for (const [name, value] of pairs) this.append(name, value);
    }
    static {
      headersInternals = (h) => ({
        list: h.#list,
        guard: h.#guard,
        set(list, guard) {
          h.#list = list;
          h.#guard = guard;
          h.#sorted = null;
        },
      });
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
      const values = this.#list.filter((e) => e[0] === name).map((e) => e[1]);
      return values.length === 0 ? null : values.join(", ");
    }
    getSetCookie() { return this.#list.filter((e) => e[0] === "set-cookie").map((e) => e[1]); }
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
      else this.#list = this.#list.filter((e, j) => j <= i || e[0] !== name).with(i, [name, value]);
    }
    // Sorted by name, values of one name combined, except Set-Cookie which stays separate.
    #combined() {
      if (this.#sorted !== null) return this.#sorted;
      const byName = new Map();
      for (const [name, value] of this.#list) {
        if (byName.has(name)) byName.get(name).push(value);
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
    *entries() { for (let i = 0; i < this.#combined().length; i++) yield this.#combined()[i].slice(); }
    *keys() { for (let i = 0; i < this.#combined().length; i++) yield this.#combined()[i][0]; }
    *values() { for (let i = 0; i < this.#combined().length; i++) yield this.#combined()[i][1]; }
  }
  Headers.prototype[Symbol.iterator] = Headers.prototype.entries;
  tag(Headers, "Headers");

  // A copy of headers with the given guard (by default the source's).
  function copyHeaders(source, guard = headersInternals(source).guard) {
    const h = new Headers();
    headersInternals(h).set(headersInternals(source).list.map((e) => e.slice()), guard);
    return h;
  }

  function immutableHeaders(init) {
    const h = new Headers(init);
    headersInternals(h).set(headersInternals(h).list, "immutable");
    return h;
  }

  // ---- Bodies ---------------------------------------------------------------------------

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

  // Takes the whole body, marking it used. Shared bytes are never mutated: readers get copies.
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
    constructor(state) { this.#state = state; }
    static take(stream) { return takeBytes(stream.#state); }
    get locked() { return this.#state.locked; }
    getReader() {
      const state = this.#state;
      if (state.locked) throw new TypeError("This stream is already locked to a reader.");
      state.locked = true;
      let done = state.used, released = false;
      return {
        closed: Promise.resolve(undefined),
        async read() {
          if (released) throw new TypeError("This reader has been released.");
          const chunk = done || state.bytes.length === 0 ? undefined : state.bytes.slice();
          done = state.used = true;
          return { value: chunk, done: chunk === undefined };
        },
        releaseLock() {
          released = true;
          state.locked = false;
        },
        async cancel() { done = state.used = true; },
      };
    }
    async cancel() {
      if (this.#state.locked) throw new TypeError("Cannot cancel a locked stream.");
      this.#state.used = true;
    }
    async *[Symbol.asyncIterator]() {
      const reader = this.getReader();
      try {
        for (let r = await reader.read(); !r.done; r = await reader.read()) yield r.value;
      } finally {
        reader.releaseLock();
      }
    }
    values() { return this[Symbol.asyncIterator](); }
  }
  tag(BodyStream, "ReadableStream");

  const FORM_CONTENT_TYPE = "application/x-www-form-urlencoded;charset=UTF-8";

  // The Fetch standard's "extract a body": [bytes, default Content-Type or null].
  function extractBody(init) {
    if (typeof init === "string") return [utf8Encode(init), "text/plain;charset=UTF-8"];
    if (init instanceof URLSearchParams) return [utf8Encode(`${init}`), FORM_CONTENT_TYPE];
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
      return state.bytes === null ? null : (state.stream ??= new BodyStream(state));
    },
    get bodyUsed() { return bodyOf(this).used; },
    async arrayBuffer() { return takeBytes(bodyOf(this)).slice().buffer; },
    async bytes() { return takeBytes(bodyOf(this)).slice(); },
    async text() { return utf8DecodeBOM(takeBytes(bodyOf(this))); },
    async json() { return JSON.parse(utf8DecodeBOM(takeBytes(bodyOf(this)))); },
    async blob() { return new Blob([takeBytes(bodyOf(this))], { type: this.headers.get("content-type") ?? "" }); },
    async formData() { throw new TypeError("formData() is not supported"); },
  };

  function installBodyMixin(cls) {
    for (const [key, desc] of Object.entries(Object.getOwnPropertyDescriptors(BodyMixin))) {
      Object.defineProperty(cls.prototype, key, { ...desc, enumerable: false });
    }
  }

  // Stores an extracted body, adding its default Content-Type if none is set.
  function setBody(owner, headers, [bytes, type]) {
    bodyOf(owner).bytes = bytes;
    if (type !== null && !headers.has("content-type")) headers.append("content-type", type);
  }

  // ---- Request ---------------------------------------------------------------------------

  const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
  const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
  const REDIRECT_MODES = new Set(["follow", "error", "manual"]);
  const DEFAULT_OPTIONS = Object.freeze({ cache: "default", integrity: "", keepalive: false });

  function normalizeMethod(method) {
    method = str(method);
    if (!TOKEN.test(method)) throw new TypeError(`'${method}' is not a valid HTTP method.`);
    const upper = method.toUpperCase();
    return NORMALIZED_METHODS.has(upper) ? upper : method;
  }

  function parseRequestURL(input) {
    const record = parseURL(usv(input), null);
    if (record === null) throw new TypeError("Invalid URL");
    if (includesCredentials(record)) throw new TypeError("Request URL must not include credentials");
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
        ({ method: this.#method, url: this.#url, headers: this.#headers, redirect: this.#redirect } = init);
        this.#signal = init.signal ?? new AbortController().signal;
        this.#options = init.options ?? DEFAULT_OPTIONS;
        bodies.set(this, init.body);
        return;
      }
      requireArgs(arguments.length, 1, "Request");
      init = dict(init, "init");
      const source = input instanceof Request ? input : null;
      const sourceBody = source && bodyOf(source);

      this.#url = source ? source.#url : parseRequestURL(input);
      let method = source ? source.#method : "GET";
      if (init.method !== undefined) {
        method = normalizeMethod(init.method);
        if (FORBIDDEN_METHODS.has(method.toUpperCase())) throw new TypeError(`'${method}' HTTP method is unsupported.`);
      }
      this.#method = method;

      this.#redirect = source ? source.#redirect : "follow";
      if (init.redirect !== undefined) {
        this.#redirect = str(init.redirect);
        if (!REDIRECT_MODES.has(this.#redirect)) throw new TypeError(`Invalid redirect mode: '${this.#redirect}'`);
      }

      let signal = source ? source.#signal : null;
      if (init.signal !== undefined) {
        if (init.signal !== null && !(init.signal instanceof AbortSignal)) throw new TypeError("Invalid signal");
        signal = init.signal;
      }
      this.#signal = signal ?? new AbortController().signal;

      const base = source ? source.#options : DEFAULT_OPTIONS;
      this.#options = {
        cache: init.cache !== undefined ? str(init.cache) : base.cache,
        integrity: init.integrity !== undefined ? str(init.integrity) : base.integrity,
        keepalive: init.keepalive !== undefined ? !!init.keepalive : base.keepalive,
      };

      this.#headers = init.headers !== undefined ? new Headers(init.headers)
        : source ? copyHeaders(source.#headers, "none") : new Headers();

      const hasInitBody = init.body !== undefined && init.body !== null;
      const hasSourceBody = sourceBody !== null && sourceBody.bytes !== null;
      if ((hasInitBody || hasSourceBody) && (method === "GET" || method === "HEAD")) {
        throw new TypeError("Request with GET/HEAD method cannot have body.");
      }
      bodies.set(this, new BodyState(null));
      if (hasInitBody) setBody(this, this.#headers, extractBody(init.body));
      else if (hasSourceBody) bodyOf(this).bytes = takeBytes(sourceBody); // taking it counts as reading it
    }
    get method() { return this.#method; }
    get url() { return this.#url; }
    get headers() { return this.#headers; }
    get redirect() { return this.#redirect; }
    get signal() { return this.#signal; }
    get cache() { return this.#options.cache; }
    get integrity() { return this.#options.integrity; }
    get keepalive() { return this.#options.keepalive; }
    get credentials() { return "same-origin"; }
    get mode() { return "cors"; }
    get destination() { return ""; }
    get referrer() { return "about:client"; }
    get referrerPolicy() { return ""; }
    get duplex() { return "half"; }
    clone() {
      const state = bodyOf(this);
      if (state.used || state.locked) throw new TypeError("Request.clone: " + USED_MESSAGE);
      return new Request(INTERNAL, {
        method: this.#method, url: this.#url, headers: copyHeaders(this.#headers), redirect: this.#redirect,
        signal: this.#signal, options: this.#options, body: new BodyState(state.bytes),
      });
    }
  }
  installBodyMixin(Request);
  tag(Request, "Request");

  // ---- Response ------------------------------------------------------------------------

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
        // Internal construction from already-validated parts.
        ({ status: this.#status, statusText: this.#statusText = "", headers: this.#headers } = init);
        ({ type: this.#type = "default", url: this.#url = "", redirected: this.#redirected = false } = init);
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
    static { isResponse = (value) => isObject(value) && #status in value; }
    static #setBody(response, extracted) {
      const status = response.#status;
      if (NULL_BODY_STATUS.has(status)) throw new TypeError(`A ${status} response cannot have a body`);
      setBody(response, response.#headers, extracted);
    }
    static error() {
      return new Response(INTERNAL, { status: 0, headers: immutableHeaders(), type: "error" });
    }
    static redirect(url, status = 302) {
      requireArgs(arguments.length, 1, "Response.redirect");
      const record = parseURL(usv(url), null);
      if (record === null) throw new TypeError("Invalid URL");
      status = Number(status);
      if (!REDIRECT_STATUS.has(status)) throw new RangeError(`Invalid status code ${status} for a redirect.`);
      return new Response(INTERNAL, { status, headers: immutableHeaders([["location", serializeURL(record)]]) });
    }
    static json(data, init = undefined) {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError("Response.json: the data is not JSON-serializable");
      const response = new Response(null, init);
      Response.#setBody(response, [utf8Encode(text), "application/json"]);
      return response;
    }
    get type() { return this.#type; }
    get url() { return this.#url; }
    get redirected() { return this.#redirected; }
    get status() { return this.#status; }
    get ok() { return this.#status >= 200 && this.#status <= 299; }
    get statusText() { return this.#statusText; }
    get headers() { return this.#headers; }
    clone() {
      const state = bodyOf(this);
      if (state.used || state.locked) throw new TypeError("Response.clone: " + USED_MESSAGE);
      return new Response(INTERNAL, {
        status: this.#status, statusText: this.#statusText, headers: copyHeaders(this.#headers), type: this.#type,
        url: this.#url, redirected: this.#redirected, body: new BodyState(state.bytes),
      });
    }
  }
  installBodyMixin(Response);
  tag(Response, "Response");

  // Classes whose instances structuredClone refuses (host objects in browsers).
  const UNCLONEABLE = [
    Promise, WeakMap, WeakSet, G.WeakRef, G.FinalizationRegistry, EventTarget, Event, AbortController,
    TextEncoder, TextDecoder, Crypto, URL, URLSearchParams, Headers, Request, Response, BodyStream,
  ].filter(Boolean);

  // ---- Host hooks -----------------------------------------------------------------------

  function base64DecodeStrict(s) {
    const bytes = base64DecodeForgiving(str(s));
    if (bytes === null) throw new TypeError("base64Decode: invalid base64");
    return bytes;
  }

  // Builds the incoming Request from the host's wire form. Its headers are
  // immutable (as for an incoming request in a service worker) and its redirect
  // mode is "manual", so passing it to fetch() proxies redirects unchanged.
  // An empty body_base64 means no body.
  function requestFromWire(wire) {
    return new Request(INTERNAL, {
      method: normalizeMethod(wire.method || "GET"),
      url: parseRequestURL(wire.url),
      headers: immutableHeaders(wire.headers || []),
      redirect: "manual",
      body: new BodyState(wire.body_base64 ? base64DecodeStrict(wire.body_base64) : null),
    });
  }

  // The host's wire form of a Response; body_base64 is "" when there is no body.
  // With `maxBody`, a larger body is not encoded: the result is then
  // `{ tooLarge: <bytes> }`, so nothing the size of the body is built.
  async function responseToWire(response, maxBody = Infinity) {
    if (!isResponse(response)) throw new TypeError("fetch handler must return a Response");
    const bytes = takeBytes(bodyOf(response));
    if (bytes.length > maxBody) return { tooLarge: bytes.length };
    return {
      status: response.status,
      headers: headersInternals(response.headers).list.map((e) => [e[0], e[1]]),
      body_base64: base64Encode(bytes),
    };
  }

  // ---- Install --------------------------------------------------------------------------

  const globals = {
    DOMException, TextEncoder, TextDecoder, atob, btoa, structuredClone, Crypto, crypto, Event, EventTarget,
    AbortController, AbortSignal, Blob, URL, URLSearchParams, Headers, Request, Response,
  };
  for (const [name, value] of Object.entries(globals)) expose(name, value);

  if (!isObject(G.__edge_internal)) {
    Object.defineProperty(G, "__edge_internal", { value: {}, writable: false, configurable: true, enumerable: false });
  }
  // Fixed properties: Worker code must not be able to intercept the host's seeds or wire data.
  const hooks = {
    reseedRandom,
    base64Encode(bytes) {
      if (!(bytes instanceof Uint8Array)) throw new TypeError("base64Encode expects a Uint8Array");
      return base64Encode(bytes);
    },
    base64Decode: base64DecodeStrict,
    requestFromWire,
    responseToWire,
    // A pure function of its inputs, for known-answer tests of the generator's core.
    chacha20Block(key, counter, nonce) {
      const out = new Uint8Array(64);
      const keyWords = readWords(key, 0, new Uint32Array(8), 8), nonceWords = readWords(nonce, 0, new Uint32Array(3), 3);
      chachaBlock(keyWords, counter >>> 0, nonceWords, out, 0);
      return out;
    },
  };
  for (const [name, value] of Object.entries(hooks)) {
    Object.defineProperty(G.__edge_internal, name, { value, writable: false, configurable: false, enumerable: true });
  }
})();
