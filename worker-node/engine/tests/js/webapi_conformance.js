// Conformance checks for webapi.js, written as a Worker (an ES module whose
// default export has a `run` method). The host seeds crypto before calling
// `run()`, which returns
// { passed, failed, failures: [strings naming the check and what differed] }.
//
// The host hooks (`__edge_internal`) are only reachable where webapi.js runs
// alone (node's vm, tests/js/run_in_node.cjs); in the engine the runtime
// takes them before any Worker code runs, and the checks here say so.
//
// Only ECMAScript builtins and the classes under test are used, so the same
// file runs in bare V8 (the engine) and in node's vm (tests/js/run_in_node.cjs).

function describe(v) {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return `[function ${v.name}]`;
  if (v instanceof Uint8Array) return `Uint8Array[${Array.from(v).join(",")}]`;
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  try {
    const json = JSON.stringify(v);
    return json === undefined ? String(v) : json;
  } catch (_) {
    return String(v);
  }
}

// Structural equality for primitives, arrays, typed arrays and plain objects.
function same(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    if (a.constructor !== b.constructor || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && same(a[k], b[k]));
}

class Suite {
  constructor() {
    this.passed = 0;
    this.failed = 0;
    this.failures = [];
  }
  pass() {
    this.passed++;
  }
  fail(name, message) {
    this.failed++;
    this.failures.push(`${name}: ${message}`);
  }
  // Compares fn's value (or a value) with the expectation.
  eq(name, actual, expected) {
    try {
      const value = typeof actual === "function" ? actual() : actual;
      if (same(value, expected)) this.pass();
      else this.fail(name, `expected ${describe(expected)}, got ${describe(value)}`);
    } catch (e) {
      this.fail(name, `threw ${describe(e)}`);
    }
  }
  ok(name, fn) {
    this.eq(name, () => !!fn(), true);
  }
  // Expects fn to throw an error whose name is `errorName`.
  throws(name, fn, errorName) {
    try {
      const value = fn();
      this.fail(name, `expected ${errorName}, returned ${describe(value)}`);
    } catch (e) {
      if (e && e.name === errorName) this.pass();
      else this.fail(name, `expected ${errorName}, threw ${describe(e)}`);
    }
  }
  async asyncEq(name, fn, expected) {
    try {
      const value = await fn();
      if (same(value, expected)) this.pass();
      else this.fail(name, `expected ${describe(expected)}, got ${describe(value)}`);
    } catch (e) {
      this.fail(name, `threw ${describe(e)}`);
    }
  }
  async rejects(name, fn, errorName) {
    try {
      const value = await fn();
      this.fail(name, `expected rejection with ${errorName}, resolved ${describe(value)}`);
    } catch (e) {
      if (e && e.name === errorName) this.pass();
      else this.fail(name, `expected ${errorName}, rejected with ${describe(e)}`);
    }
  }
}

const bytes = (...b) => new Uint8Array(b);
const decode = (arr, opts) => new TextDecoder("utf-8", opts).decode(new Uint8Array(arr));

function testGlobals(t) {
  const names = [
    "URL", "URLSearchParams", "Headers", "Request", "Response", "TextEncoder", "TextDecoder", "atob", "btoa",
    "structuredClone", "crypto", "DOMException", "AbortController", "AbortSignal", "Blob", "Event", "EventTarget",
  ];
  for (const name of names) {
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    t.eq(`global ${name} is a non-enumerable writable configurable property`,
      d ? [d.enumerable, d.writable, d.configurable] : "missing", [false, true, true]);
  }
  t.eq("Object.keys(globalThis) lists no web globals", Object.keys(globalThis).filter((k) => names.includes(k)), []);
  t.eq("__edge_internal is not enumerable", Object.keys(globalThis).includes("__edge_internal"), false);
  t.eq("toStringTag of Headers", Object.prototype.toString.call(new Headers()), "[object Headers]");
  t.eq("toStringTag of URL", Object.prototype.toString.call(new URL("http://a/")), "[object URL]");
}

function testDOMException(t) {
  const e = new DOMException("boom", "InvalidCharacterError");
  t.eq("DOMException name", e.name, "InvalidCharacterError");
  t.eq("DOMException message", e.message, "boom");
  t.eq("DOMException legacy code", e.code, 5);
  t.ok("DOMException is an Error", () => e instanceof Error && e instanceof DOMException);
  t.eq("DOMException toString", String(e), "InvalidCharacterError: boom");
  t.eq("DOMException defaults", [new DOMException().name, new DOMException().message, new DOMException().code], ["Error", "", 0]);
  t.eq("DataCloneError code", new DOMException("x", "DataCloneError").code, 25);
}

const RFC3986_BASE = "http://a/b/c/d;p?q";
const RELATIVE_CASES = [
  ["g:h", "g:h"], ["g", "http://a/b/c/g"], ["./g", "http://a/b/c/g"], ["g/", "http://a/b/c/g/"],
  ["/g", "http://a/g"], ["//g", "http://g/"], ["?y", "http://a/b/c/d;p?y"], ["g?y", "http://a/b/c/g?y"],
  ["#s", "http://a/b/c/d;p?q#s"], ["g#s", "http://a/b/c/g#s"], ["g?y#s", "http://a/b/c/g?y#s"],
  [";x", "http://a/b/c/;x"], ["g;x", "http://a/b/c/g;x"], ["", "http://a/b/c/d;p?q"], [".", "http://a/b/c/"],
  ["./", "http://a/b/c/"], ["..", "http://a/b/"], ["../", "http://a/b/"], ["../g", "http://a/b/g"],
  ["../..", "http://a/"], ["../../", "http://a/"], ["../../g", "http://a/g"], ["../../../g", "http://a/g"],
  ["../../../../g", "http://a/g"], ["/./g", "http://a/g"], ["/../g", "http://a/g"], ["g.", "http://a/b/c/g."],
  [".g", "http://a/b/c/.g"], ["g..", "http://a/b/c/g.."], ["..g", "http://a/b/c/..g"], ["./../g", "http://a/b/g"],
  ["./g/.", "http://a/b/c/g/"], ["g/./h", "http://a/b/c/g/h"], ["g/../h", "http://a/b/c/h"],
  ["g;x=1/./y", "http://a/b/c/g;x=1/y"], ["g;x=1/../y", "http://a/b/c/y"], ["g?y/./x", "http://a/b/c/g?y/./x"],
  ["g#s/../x", "http://a/b/c/g#s/../x"], ["http:g", "http://a/b/c/g"], ["\\g", "http://a/g"],
  ["//user@other:81/p", "http://user@other:81/p"], ["https:x", "https://x/"],
];

// [input, base, href] — href null means the parse must fail.
const ABSOLUTE_CASES = [
  ["../x?y", "https://a.b/c/d", "https://a.b/x?y"],
  ["HTTP://EXAMPLE.COM:80/a b?c d#e f", undefined, "http://example.com/a%20b?c%20d#e%20f"],
  ["  https://example.com/  ", undefined, "https://example.com/"],
  ["https://exa\tmple.com/p\nath", undefined, "https://example.com/path"],
  ["https://example.com:443/", undefined, "https://example.com/"],
  ["http://example.com:8080", undefined, "http://example.com:8080/"],
  ["http://example.com:0080/", undefined, "http://example.com/"],
  ["ws://x:80/", undefined, "ws://x/"],
  ["wss://x:443", undefined, "wss://x/"],
  ["ftp://x:21/f", undefined, "ftp://x/f"],
  ["http://[::1]:3000/x", undefined, "http://[::1]:3000/x"],
  ["http://[2001:DB8:0:0:0:0:0:1]/", undefined, "http://[2001:db8::1]/"],
  ["http://[::ffff:192.168.0.1]/", undefined, "http://[::ffff:c0a8:1]/"],
  ["http://[1:0:0:2::3:0]/", undefined, "http://[1::2:0:0:3:0]/"],
  ["http://0x7f.1/", undefined, "http://127.0.0.1/"],
  ["http://2130706433/", undefined, "http://127.0.0.1/"],
  ["http://192.168.0.257/", undefined, null],
  ["http://1.2.3.4.5/", undefined, null],
  ["http://user:pa ss@host/", undefined, "http://user:pa%20ss@host/"],
  ["http://us@er:p@host/", undefined, "http://us%40er:p@host/"],
  ["http://a\\b\\c", undefined, "http://a/b/c"],
  ["http:\\\\a\\b", undefined, "http://a/b"],
  ["http:/example.com/", undefined, "http://example.com/"],
  ["file:///C:/x/../y", undefined, "file:///C:/y"],
  ["file://localhost/etc/passwd", undefined, "file:///etc/passwd"],
  ["file:/x", undefined, "file:///x"],
  ["file:c:\\dir\\f", undefined, "file:///c:/dir/f"],
  ["mailto:someone@example.com", undefined, "mailto:someone@example.com"],
  ["data:text/plain,hello world", undefined, "data:text/plain,hello world"],
  ["urn:isbn:0451450523", undefined, "urn:isbn:0451450523"],
  ["javascript:alert(1)", undefined, "javascript:alert(1)"],
  ["foo://bar/baz/../q", undefined, "foo://bar/q"],
  ["foo://BAR:99/", undefined, "foo://BAR:99/"],
  ["foo:/a//b", undefined, "foo:/a//b"],
  ["http://münchen.de/", undefined, "http://xn--mnchen-3ya.de/"],
  ["http://EXAMPLE.com./", undefined, "http://example.com./"],
  ["http://ex%41mple.com/", undefined, "http://example.com/"],
  ["http://example.com/foo/%2e%2E/bar", undefined, "http://example.com/bar"],
  ["http://example.com/a/./b/../c", undefined, "http://example.com/a/c"],
  ["http://example.com/ä?ä#ä", undefined, "http://example.com/%C3%A4?%C3%A4#%C3%A4"],
  ["http://x/?'\"<>`", undefined, "http://x/?%27%22%3C%3E`"],
  ["foo://x/?'", undefined, "foo://x/?'"],
  ["http://x/{}|^`", undefined, "http://x/%7B%7D|^%60"],
  ["http://x/#\"<>`'", undefined, "http://x/#%22%3C%3E%60'"],
  ["http://x/%zz%41", undefined, "http://x/%zz%41"],
  ["http://x/?a=b&c=%20d+e", undefined, "http://x/?a=b&c=%20d+e"],
  ["/relative", "file:///a/b", "file:///relative"],
  ["?q", "mailto:a@b", null],
  ["#frag", "mailto:a@b", "mailto:a@b#frag"],
  ["", undefined, null],
  ["x", undefined, null],
  ["//x/y", undefined, null],
  ["http://", undefined, null],
  ["http://[::1/", undefined, null],
  ["http://[::1]x/", undefined, null],
  ["http://a:99999/", undefined, null],
  ["http://a:8a/", undefined, null],
  ["http://a b/", undefined, null],
  ["https://%zz/", undefined, null],
  ["http://a<b/", undefined, null],
  ["http://user@/", undefined, null],
  ["https://a.b/", "not a url", null],
];

function testURL(t) {
  for (const [input, href] of RELATIVE_CASES) {
    t.eq(`URL ${JSON.stringify(input)} against ${RFC3986_BASE}`, () => new URL(input, RFC3986_BASE).href, href);
  }
  for (const [input, base, href] of ABSOLUTE_CASES) {
    const name = `URL ${JSON.stringify(input)}${base === undefined ? "" : ` against ${JSON.stringify(base)}`}`;
    if (href === null) {
      t.throws(`${name} is invalid`, () => new URL(input, base), "TypeError");
      t.eq(`URL.canParse(${JSON.stringify(input)}) is false`, URL.canParse(input, base), false);
    } else t.eq(name, () => new URL(input, base).href, href);
  }
  t.eq("URL invalid message", () => {
    try {
      new URL("nope");
    } catch (e) {
      return e.message;
    }
  }, "Invalid URL");
  t.eq("URL.canParse of a good URL", URL.canParse("https://x.y/"), true);
  t.eq("URL.canParse with base", URL.canParse("/p", "https://x.y/"), true);
  t.eq("URL.parse of a bad URL", URL.parse("::"), null);

  const u = new URL("https://user:pass@Sub.Example.com:8443/p/a/t/h?query=string&a=1#hash");
  t.eq("URL components", [u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash, u.origin],
    ["https:", "user", "pass", "sub.example.com:8443", "sub.example.com", "8443", "/p/a/t/h", "?query=string&a=1", "#hash", "https://sub.example.com:8443"]);
  t.eq("URL toString/toJSON", [String(u), u.toJSON(), JSON.stringify({ u })],
    [u.href, u.href, `{"u":"${u.href}"}`]);
  const v6 = new URL("http://[::1]:8080/");
  t.eq("IPv6 host keeps brackets", [v6.host, v6.hostname, v6.port], ["[::1]:8080", "[::1]", "8080"]);
  const m = new URL("mailto:someone@example.com?subject=hi");
  t.eq("opaque URL parts", [m.protocol, m.pathname, m.search, m.host, m.origin], ["mailto:", "someone@example.com", "?subject=hi", "", "null"]);
  t.eq("file origin is null", new URL("file:///x").origin, "null");
  t.eq("blob origin", new URL("blob:https://a.b:1/uuid").origin, "https://a.b:1");
  t.eq("empty path of a special URL is /", new URL("https://x.y").pathname, "/");
  t.eq("empty search and hash", [new URL("https://x.y/?#").search, new URL("https://x.y/?#").hash, new URL("https://x.y/?#").href], ["", "", "https://x.y/?#"]);

  const s = new URL("http://example.com/");
  s.protocol = "https";
  t.eq("protocol setter", s.href, "https://example.com/");
  s.protocol = "mailto";
  t.eq("protocol setter cannot switch special to non-special", s.protocol, "https:");
  s.port = "443";
  t.eq("port setter elides the default port", s.port, "");
  s.port = "8443";
  t.eq("port setter", s.host, "example.com:8443");
  s.port = "99999";
  t.eq("invalid port is ignored", s.port, "8443");
  s.hostname = "Other.ORG";
  t.eq("hostname setter", s.href, "https://other.org:8443/");
  s.host = "h.test:81";
  t.eq("host setter with port", s.href, "https://h.test:81/");
  s.host = "";
  t.eq("empty host is rejected for special URLs", s.host, "h.test:81");
  s.pathname = "a b/c";
  t.eq("pathname setter encodes", s.pathname, "/a%20b/c");
  s.search = "x=1 2";
  t.eq("search setter", s.search, "?x=1%202");
  s.hash = "#frag ment";
  t.eq("hash setter", s.hash, "#frag%20ment");
  s.username = "us er";
  s.password = "p@ss";
  t.eq("credential setters", s.href, "https://us%20er:p%40ss@h.test:81/a%20b/c?x=1%202#frag%20ment");
  s.href = "http://new.test/path?k=v";
  t.eq("href setter replaces everything", [s.href, s.searchParams.get("k")], ["http://new.test/path?k=v", "v"]);
  t.throws("href setter rejects invalid URLs", () => {
    s.href = "::bad";
  }, "TypeError");
  s.hash = "";
  s.search = "";
  t.eq("clearing search and hash", s.href, "http://new.test/path");

  const live = new URL("https://x.test/?a=1&b=2");
  const params = live.searchParams;
  t.eq("searchParams is the same object each time", live.searchParams === params, true);
  params.append("c", "3 4");
  t.eq("searchParams.append updates the URL", live.href, "https://x.test/?a=1&b=2&c=3+4");
  params.delete("a");
  t.eq("searchParams.delete updates the URL", live.search, "?b=2&c=3+4");
  live.search = "?z=9";
  t.eq("search setter updates searchParams", [...params], [["z", "9"]]);
  params.delete("z");
  t.eq("emptying searchParams clears the query", live.href, "https://x.test/");
  t.eq("query starting with ? keeps it in searchParams", [...new URL("http://a/??x=1").searchParams], [["?x", "1"]]);
}

function testURLSearchParams(t) {
  const p = new URLSearchParams("?a=1&b=2&a=3&c=x+y&d=%20%C3%A9&e&=f");
  t.eq("parse from string", [...p], [["a", "1"], ["b", "2"], ["a", "3"], ["c", "x y"], ["d", " é"], ["e", ""], ["", "f"]]);
  t.eq("get", [p.get("a"), p.get("zz")], ["1", null]);
  t.eq("getAll", p.getAll("a"), ["1", "3"]);
  t.eq("has / has(name, value)", [p.has("b"), p.has("a", "3"), p.has("a", "4")], [true, true, false]);
  t.eq("size", p.size, 7);
  p.delete("a", "1");
  t.eq("delete(name, value)", p.getAll("a"), ["3"]);
  p.set("b", "9");
  p.append("b", "10");
  p.set("b", "11");
  t.eq("set replaces every value", p.getAll("b"), ["11"]);
  t.eq("keys and values", [[...p.keys()].join(","), [...p.values()].join(",")], ["b,a,c,d,e,", "11,3,x y, é,,f"]);
  const sorted = new URLSearchParams("z=1&a=2&m=3&a=1&\u{1F600}=x&\uFFFD=y");
  sorted.sort();
  t.eq("sort is stable and by code units", sorted.toString(), "a=2&a=1&m=3&z=1&%F0%9F%98%80=x&%EF%BF%BD=y");
  t.eq("form serialization", new URLSearchParams({ q: "a b&c=d", e: "é!'()~*-._" }).toString(), "q=a+b%26c%3Dd&e=%C3%A9%21%27%28%29%7E*-._");
  t.eq("construct from pairs", new URLSearchParams([["x", 1], ["y", true]]).toString(), "x=1&y=true");
  t.eq("construct from a URLSearchParams", new URLSearchParams(new URLSearchParams("a=1&a=2")).toString(), "a=1&a=2");
  t.eq("construct from a Map", new URLSearchParams(new Map([["k", "v"]])).toString(), "k=v");
  t.throws("pairs must have two items", () => new URLSearchParams([["a", "b", "c"]]), "TypeError");
  t.eq("invalid percent-escapes stay", new URLSearchParams("a=%zz%4").get("a"), "%zz%4");
  t.eq("invalid UTF-8 becomes U+FFFD", new URLSearchParams("a=%FF").get("a"), "\uFFFD");
  t.eq("lone surrogates become U+FFFD", new URLSearchParams({ a: "\uD800" }).toString(), "a=%EF%BF%BD");
  const seen = [];
  new URLSearchParams("a=1&b=2").forEach((value, key, obj) => seen.push(key + value + (obj instanceof URLSearchParams)));
  t.eq("forEach", seen, ["a1true", "b2true"]);
  t.eq("empty", [new URLSearchParams().toString(), new URLSearchParams("").size, new URLSearchParams("&&").size], ["", 0, 0]);
  t.throws("append needs two arguments", () => new URLSearchParams().append("a"), "TypeError");
}

function testHeaders(t) {
  const h = new Headers({ "Content-Type": "text/plain", "X-B": " spaced\t" });
  t.eq("get is case-insensitive", h.get("content-TYPE"), "text/plain");
  t.eq("values are trimmed", h.get("x-b"), "spaced");
  t.eq("missing header is null", h.get("nope"), null);
  h.append("Accept", "a/b");
  h.append("accept", "c/d");
  t.eq("repeated values combine with comma-space", h.get("ACCEPT"), "a/b, c/d");
  t.eq("iteration is sorted and lower-cased", [...h], [["accept", "a/b, c/d"], ["content-type", "text/plain"], ["x-b", "spaced"]]);
  t.eq("keys", [...h.keys()], ["accept", "content-type", "x-b"]);
  t.eq("values", [...h.values()], ["a/b, c/d", "text/plain", "spaced"]);
  h.set("accept", "*/*");
  t.eq("set replaces", h.get("accept"), "*/*");
  h.delete("X-B");
  t.eq("delete / has", [h.has("x-b"), h.has("Content-Type")], [false, true]);
  const c = new Headers([["Set-Cookie", "a=1"], ["set-cookie", "b=2"], ["X", "1"]]);
  t.eq("getSetCookie", c.getSetCookie(), ["a=1", "b=2"]);
  t.eq("get combines set-cookie", c.get("set-cookie"), "a=1, b=2");
  t.eq("set-cookie is not combined when iterating", [...c], [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x", "1"]]);
  t.eq("construct from Headers", [...new Headers(c)], [...c]);
  t.throws("invalid name", () => new Headers({ "bad name": "x" }), "TypeError");
  t.throws("invalid name in append", () => new Headers().append("a:b", "x"), "TypeError");
  t.throws("empty name", () => new Headers().set("", "x"), "TypeError");
  t.throws("newline in value", () => new Headers().set("a", "x\ny"), "TypeError");
  t.throws("non-ByteString value", () => new Headers().set("a", "\u0100"), "TypeError");
  t.eq("Latin-1 value is allowed", new Headers({ a: "caf\u00e9" }).get("a"), "caf\u00e9");
  t.throws("pair of wrong length", () => new Headers([["a"]]), "TypeError");
  t.throws("primitive init", () => new Headers("a"), "TypeError");
  const calls = [];
  new Headers({ b: "2", a: "1" }).forEach((value, name) => calls.push(name + "=" + value));
  t.eq("forEach is sorted", calls, ["a=1", "b=2"]);
  t.throws("has validates names", () => new Headers().has("x y"), "TypeError");
}

async function testRequest(t) {
  const r = new Request("https://Example.com/a/../b?q#f");
  t.eq("Request defaults", [r.method, r.url, r.redirect, r.body, r.bodyUsed, r.signal.aborted],
    ["GET", "https://example.com/b?q#f", "follow", null, false, false]);
  t.eq("method normalisation", ["get", "post", "Delete", "hEaD", "options", "put", "patch"].map((m) => new Request("https://x/", { method: m }).method),
    ["GET", "POST", "DELETE", "HEAD", "OPTIONS", "PUT", "patch"]);
  t.throws("invalid method", () => new Request("https://x/", { method: "GE T" }), "TypeError");
  t.throws("forbidden method", () => new Request("https://x/", { method: "connect" }), "TypeError");
  t.throws("relative URL", () => new Request("/relative"), "TypeError");
  t.throws("URL with credentials", () => new Request("https://u:p@x/"), "TypeError");
  t.throws("GET with body", () => new Request("https://x/", { body: "x" }), "TypeError");
  t.throws("HEAD with body", () => new Request("https://x/", { method: "HEAD", body: "x" }), "TypeError");
  t.throws("invalid redirect mode", () => new Request("https://x/", { redirect: "nope" }), "TypeError");

  const post = new Request("https://x/", { method: "POST", body: "héllo" });
  t.eq("string body content-type", post.headers.get("content-type"), "text/plain;charset=UTF-8");
  t.ok("body is non-null", () => post.body !== null);
  await t.asyncEq("text()", () => post.text(), "héllo");
  t.eq("bodyUsed after text()", post.bodyUsed, true);
  await t.rejects("body used twice", () => post.text(), "TypeError");
  await t.rejects("arrayBuffer after use", () => post.arrayBuffer(), "TypeError");
  t.throws("clone after use", () => post.clone(), "TypeError");

  const json = new Request("https://x/", { method: "PUT", body: '{"a":[1,2]}', headers: { "content-type": "application/json" } });
  t.eq("explicit content-type wins", json.headers.get("content-type"), "application/json");
  await t.asyncEq("json()", () => json.json(), { a: [1, 2] });
  await t.rejects("json() of invalid JSON", () => new Request("https://x/", { method: "POST", body: "{" }).json(), "SyntaxError");

  const ab = new Uint8Array([1, 2, 3, 4, 5]);
  const fromView = new Request("https://x/", { method: "POST", body: ab.subarray(1, 4) });
  t.eq("typed array body has no content-type", fromView.headers.get("content-type"), null);
  await t.asyncEq("bytes() of a subarray body", () => fromView.bytes(), bytes(2, 3, 4));
  const fromBuffer = new Request("https://x/", { method: "POST", body: ab.buffer });
  ab[0] = 99; // the body was copied at construction
  await t.asyncEq("arrayBuffer() of an ArrayBuffer body", async () => new Uint8Array(await fromBuffer.arrayBuffer()), bytes(1, 2, 3, 4, 5));
  const fromDataView = new Request("https://x/", { method: "POST", body: new DataView(ab.buffer, 2, 2) });
  await t.asyncEq("DataView body", () => fromDataView.bytes(), bytes(3, 4));
  const form = new Request("https://x/", { method: "POST", body: new URLSearchParams({ a: "1 2", b: "é" }) });
  t.eq("URLSearchParams body content-type", form.headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8");
  await t.asyncEq("URLSearchParams body text", () => form.text(), "a=1+2&b=%C3%A9");
  await t.asyncEq("null body text() is empty and repeatable", async () => {
    const g = new Request("https://x/");
    return [await g.text(), await g.text(), g.bodyUsed];
  }, ["", "", false]);

  const original = new Request("https://x/orig", { method: "POST", body: "data", headers: { a: "1" } });
  const clone = original.clone();
  await t.asyncEq("clone() has its own body", async () => [await clone.text(), await original.text()], ["data", "data"]);
  const base = new Request("https://x/base", { method: "POST", body: "payload", headers: { a: "1" }, redirect: "manual" });
  const derived = new Request(base, { headers: { b: "2" } });
  t.eq("new Request(request, init) keeps url/method/redirect", [derived.url, derived.method, derived.redirect], ["https://x/base", "POST", "manual"]);
  t.eq("new Request(request, init) replaces headers", [...derived.headers], [["b", "2"]]);
  t.eq("new Request(request) takes the source body", base.bodyUsed, true);
  await t.asyncEq("derived request body", () => derived.text(), "payload");
  t.throws("new Request(usedRequest)", () => new Request(base), "TypeError");
  t.throws("new Request(request, {method: GET}) with a body", () => new Request(new Request("https://x/", { method: "POST", body: "b" }), { method: "GET" }), "TypeError");
  const headersCopied = new Request(new Request("https://x/", { headers: { k: "v" } }));
  t.eq("new Request(request) copies headers", headersCopied.headers.get("k"), "v");
  const ac = new AbortController();
  t.eq("signal from init", new Request("https://x/", { signal: ac.signal }).signal, ac.signal);

  const streamed = new Request("https://x/", { method: "POST", body: "abc" });
  await t.asyncEq("body.getReader().read()", async () => {
    const reader = streamed.body.getReader();
    const first = await reader.read();
    const second = await reader.read();
    return [new TextDecoder().decode(first.value), first.done, second.done, streamed.bodyUsed];
  }, ["abc", false, true, true]);
  const passed = new Request("https://x/", { method: "POST", body: "forward me" });
  const forwarded = new Request("https://y/", { method: "PUT", body: passed.body });
  await t.asyncEq("a request body can be passed on", () => forwarded.text(), "forward me");
  t.eq("the passed body counts as used", passed.bodyUsed, true);
}

async function testResponse(t) {
  const r = new Response();
  t.eq("Response defaults", [r.status, r.ok, r.statusText, r.type, r.url, r.redirected, r.body, r.bodyUsed],
    [200, true, "", "default", "", false, null, false]);
  const nf = new Response("missing", { status: 404, statusText: "Not Found", headers: [["X-A", "1"]] });
  t.eq("status/ok/statusText/headers", [nf.status, nf.ok, nf.statusText, nf.headers.get("x-a"), nf.headers.get("content-type")],
    [404, false, "Not Found", "1", "text/plain;charset=UTF-8"]);
  t.throws("status 199", () => new Response(null, { status: 199 }), "RangeError");
  t.throws("status 600", () => new Response(null, { status: 600 }), "RangeError");
  t.throws("status 0", () => new Response(null, { status: 0 }), "RangeError");
  t.eq("status 599 and 299", [new Response(null, { status: 599 }).ok, new Response(null, { status: 299 }).ok], [false, true]);
  t.throws("invalid statusText", () => new Response(null, { statusText: "a\nb" }), "TypeError");
  t.throws("204 with a body", () => new Response("x", { status: 204 }), "TypeError");
  t.eq("204 without a body", new Response(null, { status: 204 }).status, 204);
  await t.asyncEq("text()", () => new Response("héllo wörld").text(), "héllo wörld");
  await t.asyncEq("text() strips a UTF-8 BOM", () => new Response(bytes(0xef, 0xbb, 0xbf, 0x41)).text(), "A");
  await t.asyncEq("bytes()", () => new Response("abc").bytes(), bytes(97, 98, 99));
  await t.asyncEq("arrayBuffer()", async () => new Uint8Array(await new Response("ab").arrayBuffer()), bytes(97, 98));
  const used = new Response("x");
  await used.text();
  await t.rejects("body used twice", () => used.json(), "TypeError");
  t.eq("bodyUsed", used.bodyUsed, true);
  t.throws("clone after use", () => used.clone(), "TypeError");

  const j = Response.json({ a: 1, b: "é" }, { status: 201, headers: { "x-y": "z" } });
  t.eq("Response.json content-type", j.headers.get("content-type"), "application/json");
  t.eq("Response.json status/headers", [j.status, j.headers.get("x-y")], [201, "z"]);
  await t.asyncEq("Response.json body", () => j.json(), { a: 1, b: "é" });
  const jct = Response.json(1, { headers: { "content-type": "application/vnd.x+json" } });
  t.eq("Response.json keeps an explicit content-type", jct.headers.get("content-type"), "application/vnd.x+json");
  t.throws("Response.json of undefined", () => Response.json(undefined), "TypeError");
  t.throws("Response.json with a null body status", () => Response.json({}, { status: 204 }), "TypeError");

  const red = Response.redirect("https://example.com/next?x=1", 301);
  t.eq("Response.redirect", [red.status, red.headers.get("location"), red.body], [301, "https://example.com/next?x=1", null]);
  t.eq("Response.redirect default status", Response.redirect("https://example.com/").status, 302);
  t.throws("Response.redirect invalid status", () => Response.redirect("https://example.com/", 200), "RangeError");
  t.throws("Response.redirect invalid URL", () => Response.redirect("not a url"), "TypeError");
  t.throws("redirect headers are immutable", () => red.headers.set("a", "b"), "TypeError");

  const err = Response.error();
  t.eq("Response.error", [err.type, err.status, err.ok, err.body], ["error", 0, false, null]);
  t.throws("Response.error headers are immutable", () => err.headers.append("a", "b"), "TypeError");

  const orig = new Response("body!", { status: 202, headers: { a: "1" } });
  const cl = orig.clone();
  await t.asyncEq("clone()", async () => [cl.status, cl.headers.get("a"), await cl.text(), await orig.text()], [202, "1", "body!", "body!"]);
  const blobResponse = new Response(new Blob(["<p>"], { type: "Text/HTML" }));
  t.eq("Blob body content-type", blobResponse.headers.get("content-type"), "text/html");
  await t.asyncEq("blob()", async () => {
    const b = await new Response("xyz", { headers: { "content-type": "text/x" } }).blob();
    return [b.size, b.type, await b.text()];
  }, [3, "text/x", "xyz"]);
  const source = new Response("piped");
  const piped = new Response(source.body, { status: 203 });
  await t.asyncEq("new Response(response.body)", async () => [piped.status, await piped.text(), source.bodyUsed], [203, "piped", true]);
  await t.asyncEq("async iteration of body", async () => {
    const chunks = [];
    for await (const chunk of new Response("it").body) chunks.push(new TextDecoder().decode(chunk));
    return chunks;
  }, ["it"]);
  t.eq("number body becomes text", () => new Response(42).headers.get("content-type"), "text/plain;charset=UTF-8");
  t.eq("string status converts", new Response(null, { status: "418" }).status, 418);
}

function testEncoding(t) {
  const enc = new TextEncoder();
  t.eq("TextEncoder.encoding", enc.encoding, "utf-8");
  t.eq("encode ASCII", enc.encode("hi"), bytes(104, 105));
  t.eq("encode 2-byte", enc.encode("é"), bytes(0xc3, 0xa9));
  t.eq("encode 3-byte", enc.encode("€"), bytes(0xe2, 0x82, 0xac));
  t.eq("encode 4-byte", enc.encode("\u{1F600}"), bytes(0xf0, 0x9f, 0x98, 0x80));
  t.eq("encode lone surrogate", enc.encode("a\uD800b"), bytes(0x61, 0xef, 0xbf, 0xbd, 0x62));
  t.eq("encode empty / default", [enc.encode().length, enc.encode("").length], [0, 0]);
  t.eq("encode returns an exact buffer", enc.encode("é€").buffer.byteLength, 5);
  const dest = new Uint8Array(5);
  t.eq("encodeInto stops at a whole character", enc.encodeInto("ab€d", dest.subarray(0, 4)), { read: 2, written: 2 });
  t.eq("encodeInto counts UTF-16 units", enc.encodeInto("\u{1F600}x", dest), { read: 3, written: 5 });

  t.eq("decode UTF-8", decode([0x68, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]), "hé€\u{1F600}");
  t.eq("decode invalid byte", decode([0x61, 0xff, 0x62]), "a\uFFFDb");
  t.eq("decode truncated sequence", decode([0xe2, 0x82]), "\uFFFD");
  t.eq("decode truncated then ASCII", decode([0xe2, 0x82, 0x41]), "\uFFFDA");
  t.eq("decode overlong", decode([0xc0, 0x80]), "\uFFFD\uFFFD");
  t.eq("decode surrogate code point", decode([0xed, 0xa0, 0x80]), "\uFFFD\uFFFD\uFFFD");
  t.eq("decode above U+10FFFF", decode([0xf4, 0x90, 0x80, 0x80]), "\uFFFD\uFFFD\uFFFD\uFFFD");
  t.eq("decode stray continuation", decode([0x80, 0xbf]), "\uFFFD\uFFFD");
  t.throws("fatal decoder throws TypeError", () => decode([0x61, 0xff], { fatal: true }), "TypeError");
  t.throws("fatal decoder on truncated input", () => decode([0xe2, 0x82], { fatal: true }), "TypeError");
  t.eq("fatal decoder on valid input", decode([0xc3, 0xa9], { fatal: true }), "é");
  t.eq("BOM is stripped", decode([0xef, 0xbb, 0xbf, 0x41]), "A");
  t.eq("ignoreBOM keeps it", decode([0xef, 0xbb, 0xbf, 0x41], { ignoreBOM: true }), "\uFEFFA");
  t.eq("only one BOM is stripped", decode([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), "\uFEFF");
  const d = new TextDecoder();
  const streamed = d.decode(bytes(0xe2, 0x82), { stream: true }) + d.decode(bytes(0xac, 0xf0, 0x9f), { stream: true }) + d.decode(bytes(0x98, 0x80));
  t.eq("streaming decode across chunks", streamed, "€\u{1F600}");
  t.eq("decoder resets after a final call", d.decode(bytes(0x41)), "A");
  t.eq("labels", [new TextDecoder("utf8").encoding, new TextDecoder(" UTF-8 ").encoding, new TextDecoder("unicode-1-1-utf-8").encoding], ["utf-8", "utf-8", "utf-8"]);
  t.throws("unsupported label", () => new TextDecoder("latin1"), "RangeError");
  t.throws("unknown label", () => new TextDecoder("nope"), "RangeError");
  t.eq("decoder attributes", [new TextDecoder("utf-8", { fatal: true }).fatal, new TextDecoder().ignoreBOM], [true, false]);
  t.eq("decode ArrayBuffer and DataView", [new TextDecoder().decode(bytes(0x61).buffer), new TextDecoder().decode(new DataView(bytes(0x62, 0x63).buffer, 1))], ["a", "c"]);
  t.eq("decode() with no input", new TextDecoder().decode(), "");
  t.throws("decode of a non-buffer", () => new TextDecoder().decode("abc"), "TypeError");
  const big = "x€\u{1F600}".repeat(20000);
  t.eq("large round trip", new TextDecoder().decode(new TextEncoder().encode(big)) === big, true);
}

function testBase64(t) {
  t.eq("btoa", btoa("hello"), "aGVsbG8=");
  t.eq("btoa lengths", ["", "a", "ab", "abc"].map(btoa), ["", "YQ==", "YWI=", "YWJj"]);
  t.eq("atob", atob("aGVsbG8="), "hello");
  t.eq("atob without padding", atob("aGVsbG8"), "hello");
  t.eq("atob ignores ASCII whitespace", atob(" aGVs\nbG8=\t"), "hello");
  t.throws("atob of invalid characters", () => atob("!!!!"), "InvalidCharacterError");
  t.throws("atob of length 4n+1", () => atob("abcde"), "InvalidCharacterError");
  t.throws("atob with misplaced padding", () => atob("ab=c"), "InvalidCharacterError");
  t.throws("atob with too much padding", () => atob("a==="), "InvalidCharacterError");
  t.eq("atob error is a DOMException with code 5", () => {
    try {
      atob("*");
    } catch (e) {
      return [e instanceof DOMException, e.code];
    }
  }, [true, 5]);
  t.throws("btoa outside Latin-1", () => btoa("€"), "InvalidCharacterError");
  t.throws("atob needs an argument", () => atob(), "TypeError");
  let all = "";
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  t.eq("binary round trip", atob(btoa(all)) === all, true);
  t.eq("btoa of all bytes", btoa(all).slice(0, 12), "AAECAwQFBgcI");
  t.throws("atob(undefined) decodes the invalid 'undefined'", () => atob(undefined), "InvalidCharacterError");
  t.eq("atob(null) decodes 'null'", atob(null).length, 3);
}

function testStructuredClone(t) {
  t.eq("primitives", [1, "s", true, null, undefined, 10n, NaN].map((v) => structuredClone(v)), [1, "s", true, null, undefined, 10n, NaN]);
  const obj = { a: 1, nested: { list: [1, 2, { x: "y" }] } };
  const c = structuredClone(obj);
  t.eq("deep copy", c, obj);
  t.ok("deep copy is distinct", () => c !== obj && c.nested !== obj.nested && c.nested.list !== obj.nested.list);
  const cyc = { name: "root" };
  cyc.self = cyc;
  const cc = structuredClone(cyc);
  t.ok("cyclic object", () => cc.self === cc && cc !== cyc);
  const map = new Map();
  map.set("me", map);
  map.set(map, "key is me");
  const mc = structuredClone(map);
  t.ok("cyclic Map", () => mc instanceof Map && mc !== map && mc.get("me") === mc && mc.get(mc) === "key is me");
  const shared = { s: 1 };
  const sc = structuredClone([shared, shared]);
  t.ok("shared references stay shared", () => sc[0] === sc[1] && sc[0] !== shared);
  const set = structuredClone(new Set([1, "a", { b: 2 }]));
  t.ok("Set", () => set instanceof Set && set.size === 3 && set.has("a"));
  const date = new Date(1700000000000);
  t.ok("Date", () => { const d = structuredClone(date); return d instanceof Date && d !== date && d.getTime() === 1700000000000; });
  const re = structuredClone(/ab+c/gi);
  t.eq("RegExp", [re instanceof RegExp, re.source, re.flags], [true, "ab+c", "gi"]);
  const buf = new Uint8Array([1, 2, 3]).buffer;
  const bc = structuredClone(buf);
  new Uint8Array(bc)[0] = 9;
  t.eq("ArrayBuffer copy is independent", [new Uint8Array(buf)[0], new Uint8Array(bc)[0]], [1, 9]);
  const f64 = structuredClone(new Float64Array([1.5, -2]));
  t.eq("Float64Array", [f64 instanceof Float64Array, Array.from(f64)], [true, [1.5, -2]]);
  const whole = new Uint8Array([1, 2, 3, 4]);
  const views = structuredClone({ a: whole.subarray(1, 3), b: new DataView(whole.buffer, 2) });
  t.ok("views keep sharing one cloned buffer", () => views.a.buffer === views.b.buffer && views.a.buffer !== whole.buffer);
  t.eq("view offsets survive", [views.a.byteOffset, views.a.length, views.b.byteOffset, views.b.getUint8(0)], [1, 2, 2, 3]);
  const e = structuredClone(new TypeError("bad thing"));
  t.eq("Error type and message", [e instanceof TypeError, e.name, e.message], [true, "TypeError", "bad thing"]);
  t.eq("RangeError", structuredClone(new RangeError("r")) instanceof RangeError, true);
  const custom = new Error("c");
  custom.name = "CustomError";
  t.eq("unknown error names become Error", Object.getPrototypeOf(structuredClone(custom)) === Error.prototype, true);
  const dom = structuredClone(new DOMException("m", "AbortError"));
  t.eq("DOMException", [dom instanceof DOMException, dom.name, dom.message], [true, "AbortError", "m"]);
  const boxed = structuredClone([new Number(3), new String("s"), new Boolean(false), Object(5n)]);
  t.eq("boxed primitives", boxed.map((b) => [typeof b, b.valueOf()]), [["object", 3], ["object", "s"], ["object", false], ["object", 5n]]);
  t.throws("function", () => structuredClone(() => 1), "DataCloneError");
  t.throws("symbol", () => structuredClone(Symbol("s")), "DataCloneError");
  t.throws("nested function", () => structuredClone({ f() {} }), "DataCloneError");
  t.throws("WeakMap", () => structuredClone(new WeakMap()), "DataCloneError");
  t.throws("Headers are not cloneable", () => structuredClone(new Headers()), "DataCloneError");
  t.eq("DataCloneError code", () => {
    try {
      structuredClone(Symbol());
    } catch (err) {
      return [err instanceof DOMException, err.code];
    }
  }, [true, 25]);
  class Point {
    constructor() {
      this.x = 1;
    }
  }
  const pc = structuredClone(new Point());
  t.eq("class instances become plain objects", [Object.getPrototypeOf(pc) === Object.prototype, pc.x], [true, 1]);
  const holes = structuredClone([1, , 3]);
  t.eq("array holes survive", [holes.length, 1 in holes, holes[2]], [3, false, 3]);
  t.eq("non-enumerable and symbol keys are dropped", Object.keys(structuredClone(Object.defineProperty({ a: 1, [Symbol()]: 2 }, "h", { value: 3 }))), ["a"]);
  t.eq("__proto__ key stays an own property", () => {
    const o = JSON.parse('{"__proto__": {"polluted": true}}');
    const cl = structuredClone(o);
    return [Object.getPrototypeOf(cl) === Object.prototype, cl.polluted, Object.keys(cl)];
  }, [true, undefined, ["__proto__"]]);
  if (typeof ArrayBuffer.prototype.transfer === "function") {
    const tb = new Uint8Array([7, 8]).buffer;
    const moved = structuredClone({ tb }, { transfer: [tb] });
    t.eq("transfer detaches the original", [tb.byteLength, Array.from(new Uint8Array(moved.tb))], [0, [7, 8]]);
  } else {
    t.throws("transfer is refused where the engine cannot detach", () => structuredClone(1, { transfer: [new ArrayBuffer(1)] }), "DataCloneError");
  }
  t.throws("transfer of a non-ArrayBuffer", () => structuredClone(1, { transfer: [{}] }), "DataCloneError");
  t.throws("structuredClone needs an argument", () => structuredClone(), "TypeError");
}

function testCrypto(t) {
  const a = new Uint8Array(64);
  t.eq("getRandomValues returns its argument", crypto.getRandomValues(a) === a, true);
  t.ok("getRandomValues fills", () => a.some((b) => b !== 0));
  const u32 = crypto.getRandomValues(new Uint32Array(16));
  t.ok("Uint32Array", () => u32.some((v) => v > 0xffffff));
  t.ok("BigUint64Array", () => crypto.getRandomValues(new BigUint64Array(4)).some((v) => v > 0n));
  t.ok("Int8Array and Uint8ClampedArray", () => crypto.getRandomValues(new Int8Array(8)) && crypto.getRandomValues(new Uint8ClampedArray(8)));
  t.eq("65536 bytes are allowed", crypto.getRandomValues(new Uint8Array(65536)).length, 65536);
  t.throws("65537 bytes exceed the quota", () => crypto.getRandomValues(new Uint8Array(65537)), "QuotaExceededError");
  t.throws("16385 Uint32 exceed the quota", () => crypto.getRandomValues(new Uint32Array(16385)), "QuotaExceededError");
  t.throws("Float32Array is rejected", () => crypto.getRandomValues(new Float32Array(4)), "TypeMismatchError");
  t.throws("DataView is rejected", () => crypto.getRandomValues(new DataView(new ArrayBuffer(4))), "TypeMismatchError");
  t.throws("non-view is a TypeError", () => crypto.getRandomValues([1, 2, 3]), "TypeError");
  t.throws("ArrayBuffer is a TypeError", () => crypto.getRandomValues(new ArrayBuffer(4)), "TypeError");
  const view = new Uint8Array(16);
  crypto.getRandomValues(view.subarray(4, 8));
  t.ok("only the view's bytes are written", () => view.slice(0, 4).every((b) => b === 0) && view.slice(8).every((b) => b === 0));

  // Rough statistical sanity: 64 KiB of output should have near-uniform bytes.
  const sample = crypto.getRandomValues(new Uint8Array(65536));
  const counts = new Array(256).fill(0);
  for (const b of sample) counts[b]++;
  let chi = 0;
  for (const c of counts) chi += (c - 256) ** 2 / 256;
  t.ok(`byte distribution is plausible (chi-square ${chi.toFixed(1)})`, () => chi > 150 && chi < 400);
  t.ok("successive outputs differ", () => {
    const x = crypto.getRandomValues(new Uint8Array(32));
    const y = crypto.getRandomValues(new Uint8Array(32));
    return x.some((b, i) => b !== y[i]);
  });

  const uuid = crypto.randomUUID();
  t.ok(`randomUUID format (${uuid})`, () => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid));
  const many = new Set();
  for (let i = 0; i < 2000; i++) many.add(crypto.randomUUID());
  t.eq("randomUUID uniqueness", many.size, 2000);
  t.ok("every UUID is v4", () => [...many].every((u) => u[14] === "4" && "89ab".includes(u[19])));
  t.throws("Crypto is not constructible", () => new crypto.constructor(), "TypeError");
  t.eq("crypto is a Crypto", crypto instanceof Crypto, true);

  if (typeof globalThis.__edge_internal === "undefined") {
    t.eq("the generator's hooks are unreachable from Worker code", typeof globalThis.__edge_internal, "undefined");
    return;
  }
  // RFC 8439 section 2.3.2 known-answer test of the ChaCha20 block function.
  const key = new Uint8Array(32).map((_, i) => i);
  const nonce = bytes(0, 0, 0, 9, 0, 0, 0, 0x4a, 0, 0, 0, 0);
  const block = __edge_internal.chacha20Block(key, 1, nonce);
  const hex = Array.from(block, (b) => b.toString(16).padStart(2, "0")).join("");
  t.eq("ChaCha20 block (RFC 8439 2.3.2)", hex,
    "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e" +
    "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e");
  t.throws("reseedRandom needs 32 bytes", () => __edge_internal.reseedRandom(new Uint8Array(16)), "TypeError");
  t.eq("reseeding with zeros still yields fresh output", () => {
    const before = crypto.getRandomValues(new Uint8Array(16));
    __edge_internal.reseedRandom(new Uint8Array(32));
    const after = crypto.getRandomValues(new Uint8Array(16));
    return before.some((b, i) => b !== after[i]) && after.some((b) => b !== 0);
  }, true);
}

function testAbortAndEvents(t) {
  const ac = new AbortController();
  t.eq("new signal is not aborted", [ac.signal.aborted, ac.signal.reason], [false, undefined]);
  const log = [];
  ac.signal.addEventListener("abort", (e) => log.push(e.type));
  ac.signal.onabort = () => log.push("onabort");
  ac.abort();
  t.eq("abort()", [ac.signal.aborted, ac.signal.reason.name, log.sort()], [true, "AbortError", ["abort", "onabort"]]);
  ac.abort("again");
  t.eq("second abort is ignored", [ac.signal.reason.name, log.length], ["AbortError", 2]);
  t.throws("throwIfAborted", () => ac.signal.throwIfAborted(), "AbortError");
  const reasoned = AbortSignal.abort(new RangeError("why"));
  t.eq("AbortSignal.abort(reason)", [reasoned.aborted, reasoned.reason.message], [true, "why"]);
  t.throws("AbortSignal is not constructible", () => new AbortSignal(), "TypeError");
  const any = AbortSignal.any([new AbortController().signal, reasoned]);
  t.eq("AbortSignal.any", any.aborted, true);
  t.ok("AbortSignal is an EventTarget", () => ac.signal instanceof EventTarget);

  const target = new EventTarget();
  const seen = [];
  const once = () => seen.push("once");
  target.addEventListener("ping", once, { once: true });
  target.addEventListener("ping", { handleEvent: (e) => seen.push(e.type + ":" + (e.target === target)) });
  target.dispatchEvent(new Event("ping"));
  target.dispatchEvent(new Event("ping"));
  t.eq("EventTarget dispatch, once and handleEvent", seen, ["once", "ping:true", "ping:true"]);
  const cancelable = new Event("x", { cancelable: true });
  target.addEventListener("x", (e) => e.preventDefault());
  t.eq("preventDefault", [target.dispatchEvent(cancelable), cancelable.defaultPrevented], [false, true]);
}

async function testBlob(t) {
  const b = new Blob(["ab", new Uint8Array([99]), new Blob(["d"])], { type: "Text/Plain" });
  t.eq("Blob size and type", [b.size, b.type], [4, "text/plain"]);
  await t.asyncEq("Blob text", () => b.text(), "abcd");
  await t.asyncEq("Blob slice", () => b.slice(1, -1).text(), "bc");
  await t.asyncEq("Blob arrayBuffer", async () => new Uint8Array(await b.arrayBuffer()), bytes(97, 98, 99, 100));
  t.eq("Blob with non-ASCII type", new Blob([], { type: "ü" }).type, "");
  t.eq("empty Blob", new Blob().size, 0);
}

async function testWire(t) {
  const internal = globalThis.__edge_internal;
  if (typeof internal === "undefined") {
    t.eq("the runtime's entry points are unreachable from Worker code", typeof globalThis.__edge, "undefined");
    return;
  }
  t.eq("base64Encode", internal.base64Encode(bytes(0, 1, 2, 253, 254, 255)), "AAEC/f7/");
  t.eq("base64Decode", internal.base64Decode("AAEC/f7/"), bytes(0, 1, 2, 253, 254, 255));
  t.throws("base64Decode of garbage", () => internal.base64Decode("***"), "TypeError");
  const big = new Uint8Array(100003).map((_, i) => (i * 7) & 255);
  t.eq("base64 round trip of 100 KB", internal.base64Decode(internal.base64Encode(big)), big);
  t.eq("base64Encode agrees with btoa", internal.base64Encode(bytes(104, 105, 33)), btoa("hi!"));

  const req = internal.requestFromWire({
    method: "post",
    url: "https://example.com/path?x=1",
    headers: [["Content-Type", "text/plain"], ["X-Multi", "a"], ["x-multi", "b"]],
    body_base64: btoa("hello"),
  });
  t.ok("requestFromWire returns a Request", () => req instanceof Request);
  t.eq("requestFromWire fields", [req.method, req.url, req.headers.get("x-multi"), req.headers.get("content-type")],
    ["POST", "https://example.com/path?x=1", "a, b", "text/plain"]);
  await t.asyncEq("requestFromWire body", () => req.text(), "hello");
  t.throws("incoming headers are immutable", () => req.headers.set("a", "b"), "TypeError");
  const copy = new Request(internal.requestFromWire({ method: "GET", url: "https://e.com/", headers: [["a", "1"]], body_base64: "" }));
  copy.headers.set("b", "2");
  t.eq("a copied request has mutable headers", [...copy.headers], [["a", "1"], ["b", "2"]]);
  const get = internal.requestFromWire({ method: "GET", url: "https://e.com/", headers: [], body_base64: "" });
  t.eq("requestFromWire with an empty body", [get.body, get.method], [null, "GET"]);

  const wire = await internal.responseToWire(new Response("hi", { status: 201, headers: [["Set-Cookie", "a=1"], ["set-cookie", "b=2"]] }));
  t.eq("responseToWire", wire, {
    status: 201,
    headers: [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["content-type", "text/plain;charset=UTF-8"]],
    body_base64: btoa("hi"),
  });
  const empty = await internal.responseToWire(new Response(null, { status: 204 }));
  t.eq("responseToWire without a body", [empty.status, empty.body_base64], [204, ""]);
  await t.rejects("responseToWire of a non-Response", () => internal.responseToWire({ status: 200 }), "TypeError");
  await t.asyncEq("responseToWire error message", async () => {
    try {
      await internal.responseToWire("nope");
    } catch (e) {
      return e.message;
    }
  }, "fetch handler must return a Response");
  const consumed = new Response("x");
  await consumed.text();
  await t.rejects("responseToWire of a used body", () => internal.responseToWire(consumed), "TypeError");
  t.throws("hooks cannot be replaced", () => {
    internal.reseedRandom = () => {};
  }, "TypeError");
}

export default {
  async run() {
    const t = new Suite();
    const sections = [
      testGlobals, testDOMException, testURL, testURLSearchParams, testHeaders, testRequest, testResponse,
      testEncoding, testBase64, testStructuredClone, testCrypto, testAbortAndEvents, testBlob, testWire,
    ];
    for (const section of sections) {
      try {
        await section(t);
      } catch (e) {
        t.fail(section.name, `section crashed: ${describe(e)}`);
      }
    }
    return { passed: t.passed, failed: t.failed, failures: t.failures };
  },
};
