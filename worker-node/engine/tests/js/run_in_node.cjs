#!/usr/bin/env node
// Dev harness for webapi.js: runs the conformance Worker in an empty node vm
// context (only ECMAScript builtins, like bare V8), then cross-checks the
// implementation against node's own URL, URLSearchParams, TextEncoder,
// TextDecoder, Headers, Buffer (base64) and crypto (ChaCha20) on tables of
// cases and random inputs. Prints a JSON summary; exits non-zero on any failure.
//
//   node worker-node/tests/js/run_in_node.cjs
"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");
const nodeCrypto = require("crypto");

const WEBAPI = path.join(__dirname, "../../src/engine/webapi.js");
const CONFORMANCE = path.join(__dirname, "webapi_conformance.js");

const webapiSource = fs.readFileSync(WEBAPI, "utf8");

function freshContext() {
  const context = vm.createContext({});
  vm.runInContext(webapiSource, context, { filename: "webapi.js" });
  return context;
}

function seed(context) {
  const seedBase64 = nodeCrypto.randomBytes(32).toString("base64");
  vm.runInContext(`__edge_internal.reseedRandom(__edge_internal.base64Decode(${JSON.stringify(seedBase64)}))`, context);
}

// Evaluation time of webapi.js in fresh contexts (the per-isolate cost).
function measureEvaluation() {
  const times = [];
  for (let i = 0; i < 30; i++) {
    const context = vm.createContext({});
    const start = process.hrtime.bigint();
    vm.runInContext(webapiSource, context, { filename: `webapi-${i}.js` });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const sorted = times.slice().sort((a, b) => a - b);
  return { first_ms: +times[0].toFixed(3), median_ms: +sorted[sorted.length >> 1].toFixed(3), min_ms: +sorted[0].toFixed(3) };
}

async function runConformance() {
  const context = freshContext();
  const unseeded = vm.runInContext(
    `(() => { try { crypto.getRandomValues(new Uint8Array(1)); return "no error"; } catch (e) { return e.message; } })()`,
    context,
  );
  seed(context);
  const source = fs.readFileSync(CONFORMANCE, "utf8");
  const exportLine = /^export default /m;
  if (!exportLine.test(source)) throw new Error("the conformance file has no `export default` line");
  // Module code is strict; keep it strict as a script.
  vm.runInContext(`"use strict";\n${source.replace(exportLine, "globalThis.__conformance = ")}`, context, { filename: "webapi_conformance.js" });
  const json = await vm.runInContext("__conformance.run().then((r) => JSON.stringify(r))", context);
  const result = JSON.parse(json);
  result.passed += unseeded === "crypto is not seeded" ? 1 : 0;
  if (unseeded !== "crypto is not seeded") {
    result.failed++;
    result.failures.push(`unseeded getRandomValues: expected "crypto is not seeded", got ${JSON.stringify(unseeded)}`);
  }
  return result;
}

// ---- Cross-checks against node ------------------------------------------------------

const URL_FIELDS = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];

const URL_INPUTS = [
  "https://example.com", "HTTPS://EXAMPLE.COM:443/A/B?C#D", "http://a.b:80/", "http://a.b:081/x", "ws://h:80/", "wss://h:443/x",
  "ftp://h:21/", "http://user:pass@host:1/p", "http://user@host/", "http://:pass@host/", "http://a@b@c/", "http://@host/",
  "http://h/a/b/../../c/./d/", "http://h/%2e/%2E%2e/x", "http://h/a b/c\"d<e>f`g{h}i|j^k", "http://h/?a b\"#c d'",
  "http://h/?q=é&r=%ZZ", "http://h/#a b\"<>`", "http://h/\u{1F600}?\u{1F600}#\u{1F600}", "http://[::]/", "http://[::1]/",
  "http://[1:2:3:4:5:6:7:8]/", "http://[1:2:3:4:5:6:7::]/", "http://[1::]/", "http://[0:0:1:0:0:1:0:0]/", "http://[::1.2.3.4]/",
  "http://[::ffff:1.2.3.4]/", "http://[1:2::3:4:5.6.7.8]/", "http://[FFFF::1]/", "http://[::1:2:3:4:5:6:7:8]/", "http://[1:2:3]/",
  "http://[::1.2.3]/", "http://[::1.2.3.04]/", "http://[1::2::3]/", "http://[:1]/", "http://[1:]/", "http://[0:0::0:0:0:0:0]/",
  "http://127.0.0.1/", "http://127.1/", "http://0x7f000001/", "http://017700000001/", "http://1.2.3.4./", "http://1.2.3.4../",
  "http://4294967295/", "http://4294967296/", "http://0x100000000/", "http://1.2.3.09/", "http://1.2.3.0x/", "http://09.com/",
  "http://1.2.3.a/", "http://a.1/", "http://a.0x1/", "http://0xg/", "http://..1/", "http://256.0.0.1/", "http://1.256/",
  "http://EXAMPLE.com/", "http://exa%2Emple.com/", "http://exa%00mple.com/", "http://ex ample/", "http://%41.com/",
  "http://ex%25ample/", "http://münchen.de/", "http://MÜNCHEN.de/", "http://faß.de/", "http://\u4f8b\u3048.\u30c6\u30b9\u30c8/",
  "http://ｅｘａｍｐｌｅ．com/", "http://xn--mnchen-3ya.de/", "http://a.b.c.d.e.f/", "http://h:/", "http://h:0/", "http://h:65535/",
  "http://h:65536/", "http://h:-1/", "http://h:1.5/", "http:h", "http:/h", "http:\\\\h\\p", "http://\\h/", "http:///h/",
  "http://h?q", "http://h#f", "http://h\\p\\q", "http://h/p?q\\r#s\\t", "file:///c:/a/b", "file:///C|/a", "file://host/share",
  "file://LOCALHOST/x", "file:x", "file:/x", "file:c:/x/../../..", "file:///./y", "file://h:80/", "file://u@h/", "file:",
  "file:///?q#f", "file://[::1]/x", "mailto:a@b.c", "mailto:A@B.C?subject=Hi There", "data:,Hello%2C%20World!",
  "data:text/html,<b>hi</b> x", "urn:isbn:0451450523", "javascript:void(0)", "about:blank", "blob:https://a.b/uuid",
  "blob:file:///x", "blob:foo", "sc://h/p", "sc://H:1/%41", "sc://u:p@h/", "sc://h", "sc:/a/../b", "sc:a/../b",
  "sc://[::1]:1/", "sc://a b/", "sc://h%20/", "sc://h/a b", "sc:\\x", "sc:// /", "SC://Host", "a+b-c.d://h/",
  "1http://h/", "http ://h/", " \t http://h/ \n", "http://h/\u0000x", "http://h/\u007f", "non-spec:/.//p", "non-spec:/..//p",
  "web+demo:/.//not-a-host/", "http://h/a/%2e%2e/b", "http://h/.%2e/x", "http://h/x/%2e.", "https://h/./", "http://h/../",
  "http://h/a?b?c", "http://h/a#b#c", "http://h/?#", "http://h/a/..", "http://h/a/.", "http://h//a//b", "http://h/a;b=c/d",
  "http://h/\u00e9/%C3%A9", "http://h/?\u00e9=\u00e9", "foo:\u00e9", "foo://h/\u00e9", "foo://\u00e9/", "http://h/\ud83d",
];

const URL_BASES = [undefined, "http://a/b/c/d;p?q", "https://h.test:8080/dir/file?x#y", "file:///C:/dir/file", "sc://host/a/b", "mailto:x@y", "about:blank"];
const RELATIVE_INPUTS = [
  "", "g", "./g", "../g", "../../../g", "/g", "//g", "//g:81/x", "?y", "#s", "g?y#s", ";x", ".", "..", "../", "\\g", "\\\\g\\h",
  "/..", "g/./h", "g/../h", "C:/x", "C|/x", "/C:/x", "//host/share", "file:g", "http:g", "https:g", "http:/g", "sc:g", "h:g",
  "  g  ", "g\th", "%2e%2e/g", "?", "#", "a b", "\u00e9", "//[::1]/", "///x", "/\\x",
];

// Where node 20's URL parser (ada) departs from the URL Standard, the standard wins.
const NODE_URL_DIVERGENCES = new Map([
  // Path state: ".." on an empty path still appends an empty segment, giving "sc://host/".
  [JSON.stringify(["/..", "sc://host/a/b"]), "sc://host/"],
  // A base with an opaque path accepts only a "#fragment" relative reference.
  [JSON.stringify(["g?y#s", "mailto:x@y"]), "failure"],
  [JSON.stringify(["g?y#s", "about:blank"]), "failure"],
]);

function describeNodeURL(input, base) {
  try {
    const u = base === undefined ? new URL(input) : new URL(input, base);
    return Object.fromEntries(URL_FIELDS.map((f) => [f, u[f]]));
  } catch (_) {
    return "failure";
  }
}

function crossCheckURL(context, failures) {
  const cases = URL_INPUTS.map((input) => [input, undefined]);
  for (const base of URL_BASES) for (const input of RELATIVE_INPUTS) cases.push([input, base]);
  const ours = JSON.parse(
    vm.runInContext(
      `JSON.stringify(${JSON.stringify(cases)}.map(([input, base]) => {
        try {
          const u = base === null ? new URL(input) : new URL(input, base);
          return Object.fromEntries(${JSON.stringify(URL_FIELDS)}.map((f) => [f, u[f]]));
        } catch (e) { return e instanceof TypeError ? "failure" : "threw " + e; }
      }))`,
      context,
    ),
  );
  let checked = 0;
  cases.forEach(([input, base], i) => {
    let expected = describeNodeURL(input, base ?? undefined);
    const divergence = NODE_URL_DIVERGENCES.get(JSON.stringify([input, base ?? null]));
    if (divergence !== undefined) expected = divergence === "failure" ? "failure" : describeNodeURL(divergence);
    checked++;
    if (JSON.stringify(expected) !== JSON.stringify(ours[i])) {
      failures.push(`URL ${JSON.stringify(input)} base ${JSON.stringify(base)}: node ${JSON.stringify(expected)}, ours ${JSON.stringify(ours[i])}`);
    }
  });
  return checked;
}

const SETTER_URLS = ["https://u:p@h.test:8080/a/b?q=1#f", "http://h/", "file:///x/y", "sc://h/p?q", "mailto:a@b", "sc:opaque ?q#f"];
const SETTERS = [
  ["protocol", "http"], ["protocol", "HTTPS:"], ["protocol", "ws"], ["protocol", "file"], ["protocol", "sc"], ["protocol", "1x"],
  ["username", "a b@c"], ["username", ""], ["password", "p:w/é"], ["host", "other.test:99"], ["host", "[::1]"], ["host", "a b"],
  ["host", ""], ["host", "x:y"], ["hostname", "Other.Test"], ["hostname", "a:1"], ["hostname", ""], ["port", "81"], ["port", ""],
  ["port", "443"], ["port", "12ab"], ["port", "70000"], ["pathname", "/a b/../c"], ["pathname", "x"], ["pathname", ""],
  ["pathname", "\\a\\b"], ["pathname", "?#"], ["search", "a=1 2"], ["search", "?"], ["search", ""], ["search", "#x"],
  ["hash", "h i"], ["hash", "#"], ["hash", ""], ["href", "http://new.test/"],
];

function crossCheckSetters(context, failures) {
  const cases = [];
  for (const url of SETTER_URLS) for (const [field, value] of SETTERS) cases.push([url, field, value]);
  const ours = JSON.parse(
    vm.runInContext(
      `JSON.stringify(${JSON.stringify(cases)}.map(([url, field, value]) => {
        const u = new URL(url);
        try { u[field] = value; } catch (e) { return "threw " + e.name; }
        return [u.href, [...u.searchParams].join("|")];
      }))`,
      context,
    ),
  );
  cases.forEach(([url, field, value], i) => {
    const u = new URL(url);
    let expected;
    try {
      u[field] = value;
      expected = [u.href, [...u.searchParams].join("|")];
    } catch (e) {
      expected = "threw " + e.name;
    }
    if (JSON.stringify(expected) !== JSON.stringify(ours[i])) {
      failures.push(`URL setter ${field}=${JSON.stringify(value)} on ${url}: node ${JSON.stringify(expected)}, ours ${JSON.stringify(ours[i])}`);
    }
  });
  return cases.length;
}

function crossCheckSearchParams(context, failures) {
  const inputs = [
    "a=1&b=2", "?a=1", "??a=1", "a", "=", "&&a=&=b&", "a+b=c+d", "%41%4a=%zz", "%E2%82%AC=%E2%82", "a=b=c", "é=ü",
    "a=%F0%9F%98%80", "x=%2B%20+", "q=!*'();:@&=+$,/?#[]", "\u{1F600}=\ud800",
  ];
  const ours = JSON.parse(
    vm.runInContext(
      `JSON.stringify(${JSON.stringify(inputs)}.map((s) => {
        const p = new URLSearchParams(s); const entries = [...p]; p.sort();
        return [entries, p.toString()];
      }))`,
      context,
    ),
  );
  inputs.forEach((s, i) => {
    const p = new URLSearchParams(s);
    const entries = [...p];
    p.sort();
    const expected = [entries, p.toString()];
    if (JSON.stringify(expected) !== JSON.stringify(ours[i])) {
      failures.push(`URLSearchParams ${JSON.stringify(s)}: node ${JSON.stringify(expected)}, ours ${JSON.stringify(ours[i])}`);
    }
  });
  return inputs.length;
}

// Random byte strings biased towards UTF-8 structure, so every decoder path is exercised.
function randomUtf8ish(length) {
  const pool = [0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f, 0xbb];
  const r = nodeCrypto.randomBytes(length * 2);
  return Array.from({ length }, (_, i) => (r[2 * i] & 1 ? pool[r[2 * i + 1] % pool.length] : r[2 * i + 1]));
}

function crossCheckEncoding(context, failures) {
  const samples = [];
  for (let i = 0; i < 400; i++) samples.push(randomUtf8ish(1 + (i % 40)));
  const ours = JSON.parse(
    vm.runInContext(
      `JSON.stringify(${JSON.stringify(samples)}.map((b) => {
        const bytes = new Uint8Array(b);
        let fatal;
        try { fatal = new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch (e) { fatal = e.name; }
        const d = new TextDecoder();
        let streamed = "";
        for (let i = 0; i < bytes.length; i += 3) streamed += d.decode(bytes.subarray(i, i + 3), { stream: true });
        streamed += d.decode();
        return [new TextDecoder().decode(bytes), fatal, streamed];
      }))`,
      context,
    ),
  );
  samples.forEach((b, i) => {
    const bytes = new Uint8Array(b);
    let fatal;
    try {
      fatal = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (e) {
      fatal = e.name;
    }
    const plain = new TextDecoder().decode(bytes);
    const expected = [plain, fatal, plain];
    if (JSON.stringify(expected) !== JSON.stringify(ours[i])) {
      failures.push(`TextDecoder [${b.join(",")}]: node ${JSON.stringify(expected)}, ours ${JSON.stringify(ours[i])}`);
    }
  });

  const strings = [];
  const units = [0x41, 0xe9, 0x20ac, 0xd83d, 0xde00, 0xdbff, 0xdc00, 0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0xfeff];
  for (let i = 0; i < 200; i++) {
    const r = nodeCrypto.randomBytes(12);
    strings.push(String.fromCharCode(...Array.from(r, (x) => units[x % units.length])));
  }
  const encoded = JSON.parse(vm.runInContext(`JSON.stringify(${JSON.stringify(strings)}.map((s) => Array.from(new TextEncoder().encode(s))))`, context));
  strings.forEach((s, i) => {
    const expected = Array.from(new TextEncoder().encode(s));
    if (JSON.stringify(expected) !== JSON.stringify(encoded[i])) failures.push(`TextEncoder ${JSON.stringify(s)}: node ${expected}, ours ${encoded[i]}`);
  });
  return samples.length + strings.length;
}

function crossCheckBase64(context, failures) {
  const samples = Array.from({ length: 100 }, (_, i) => Array.from(nodeCrypto.randomBytes(i)));
  const ours = JSON.parse(
    vm.runInContext(
      `JSON.stringify(${JSON.stringify(samples)}.map((b) => {
        const s = __edge_internal.base64Encode(new Uint8Array(b));
        return [s, Array.from(__edge_internal.base64Decode(s)), btoa(String.fromCharCode(...b))];
      }))`,
      context,
    ),
  );
  samples.forEach((b, i) => {
    const s = Buffer.from(b).toString("base64");
    const expected = [s, b, s];
    if (JSON.stringify(expected) !== JSON.stringify(ours[i])) failures.push(`base64 of ${b.length} bytes: node ${JSON.stringify(expected)}, ours ${JSON.stringify(ours[i])}`);
  });
  const atobInputs = ["", "=", "==", "a", "ab", "abc", "abcd", "ab==", "ab=", "abc=", "a===", "ab=c", " a b c d ", "\fab\r\n", "a\u00a0b", "ab\u0100", "////", "-_", "AAAA===="];
  const ourAtob = JSON.parse(
    vm.runInContext(`JSON.stringify(${JSON.stringify(atobInputs)}.map((s) => { try { return atob(s); } catch (e) { return e.name; } }))`, context),
  );
  atobInputs.forEach((s, i) => {
    let expected;
    try {
      expected = atob(s);
    } catch (e) {
      expected = e.name;
    }
    if (expected !== ourAtob[i]) failures.push(`atob(${JSON.stringify(s)}): node ${JSON.stringify(expected)}, ours ${JSON.stringify(ourAtob[i])}`);
  });
  return samples.length + atobInputs.length;
}

function crossCheckChaCha(context, failures) {
  let checked = 0;
  for (let i = 0; i < 20; i++) {
    const key = nodeCrypto.randomBytes(32);
    const nonce = nodeCrypto.randomBytes(12);
    const counter = nodeCrypto.randomBytes(4).readUInt32LE(0);
    const iv = Buffer.alloc(16);
    iv.writeUInt32LE(counter, 0);
    nonce.copy(iv, 4);
    const cipher = nodeCrypto.createCipheriv("chacha20", key, iv);
    const expected = cipher.update(Buffer.alloc(64)).toString("hex");
    const ours = vm.runInContext(
      `Array.from(__edge_internal.chacha20Block(new Uint8Array(${JSON.stringify([...key])}), ${counter}, new Uint8Array(${JSON.stringify([...nonce])})), (b) => b.toString(16).padStart(2, "0")).join("")`,
      context,
    );
    checked++;
    if (ours !== expected) failures.push(`ChaCha20 block ${i}: node ${expected}, ours ${ours}`);
  }
  return checked;
}

function crossCheckHeaders(context, failures) {
  const scripts = [
    [["append", "B", "1"], ["append", "a", "2"], ["append", "b", "3"]],
    [["append", "Set-Cookie", "x=1"], ["append", "Set-Cookie", "y=2"], ["append", "Z", " padded "]],
    [["set", "a", "1"], ["append", "A", "2"], ["set", "a", "3"], ["append", "c", "\t"]],
    [["append", "x", "1"], ["delete", "X"], ["append", "y", "caf\u00e9"]],
    [["append", "bad name", "1"]], [["append", "a", "x\ny"]], [["append", "a", "\u0100"]], [["append", "", "v"]],
  ];
  const run = (H) =>
    scripts.map((ops) => {
      try {
        const h = new H();
        for (const [op, name, value] of ops) h[op](name, value);
        return [[...h], h.get("a"), h.get("set-cookie"), h.getSetCookie()];
      } catch (e) {
        return e.name;
      }
    });
  const ours = JSON.parse(vm.runInContext(`JSON.stringify((${run.toString()})(Headers))`.replace("scripts", JSON.stringify(scripts)), context));
  const expected = run(Headers);
  scripts.forEach((ops, i) => {
    if (JSON.stringify(expected[i]) !== JSON.stringify(ours[i])) {
      failures.push(`Headers ${JSON.stringify(ops)}: node ${JSON.stringify(expected[i])}, ours ${JSON.stringify(ours[i])}`);
    }
  });
  return scripts.length;
}

// Random IPv6-like hosts, mostly near-valid, so every branch of the IPv6 parser is hit.
function crossCheckIPv6(context, failures) {
  const groups = ["0", "1", "ff", "FFFF", "0db8", "12345", "g1", ""];
  const v4s = ["1.2.3.4", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "0.0.0.0", "1.2.3.4.5", "1..2.3"];
  const inputs = [];
  for (let i = 0; i < 3000; i++) {
    const r = nodeCrypto.randomBytes(16);
    const parts = [];
    for (let j = 0; j < 1 + (r[0] % 9); j++) parts.push(r[j + 1] % 8 < 6 ? groups[r[j + 1] % 5] : groups[r[j + 1] % groups.length]);
    if (r[10] % 3 === 0) parts.push(v4s[r[11] % v4s.length]);
    let s = parts.join(":");
    // Insert "::" (sometimes twice, sometimes a stray ":") at random group boundaries.
    for (let k = 0; k < (r[12] % 4 === 0 ? 2 : 1); k++) {
      if (r[13 + k] % 4 === 0) continue;
      const cut = r[14] % (s.length + 1);
      const colon = s.lastIndexOf(":", cut) + 1;
      s = s.slice(0, colon) + (r[15] % 5 === 0 ? ":" : "::") + s.slice(colon);
    }
    inputs.push(`http://[${s}]/`);
  }
  const ours = JSON.parse(vm.runInContext(
    `JSON.stringify(${JSON.stringify(inputs)}.map((u) => { try { return new URL(u).host; } catch (e) { return e.name; } }))`, context));
  inputs.forEach((u, i) => {
    let expected;
    try {
      expected = new URL(u).host;
    } catch (e) {
      expected = e.name;
    }
    if (expected !== ours[i]) failures.push(`IPv6 ${u}: node ${expected}, ours ${ours[i]}`);
  });
  return inputs.length;
}

async function main() {
  const evaluation = measureEvaluation();
  const conformance = await runConformance();
  const context = freshContext();
  seed(context);
  const crossFailures = [];
  const crossChecked =
    crossCheckURL(context, crossFailures) +
    crossCheckSetters(context, crossFailures) +
    crossCheckIPv6(context, crossFailures) +
    crossCheckSearchParams(context, crossFailures) +
    crossCheckEncoding(context, crossFailures) +
    crossCheckBase64(context, crossFailures) +
    crossCheckChaCha(context, crossFailures) +
    crossCheckHeaders(context, crossFailures);
  const summary = {
    conformance,
    cross_check: { checked: crossChecked, failed: crossFailures.length, failures: crossFailures },
    webapi_evaluation: evaluation,
    webapi_lines: webapiSource.split("\n").length,
  };
  console.log(JSON.stringify(summary, null, 2));
  process.exit(conformance.failed === 0 && crossFailures.length === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
