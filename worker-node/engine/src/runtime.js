// The host glue every isolate runs once, after webapi.js and before any
// Worker code. The host calls into it only through the `__edge` entry points
// below; each returns `drain()`, the JSON of the messages posted since.
//
// Worker code shares this global object and may replace any builtin or
// prototype method at any time, so everything this file relies on after
// set-up is captured here first (JSON, Atomics, TextEncoder, Map, WeakMap,
// Promise, String methods, Reflect.apply), no internal global stays
// reachable (`__edge_internal`, `__edge_notify` and the mailbox are taken
// and deleted). The entry points leave the global object too: the host's
// `seal` evaluation, before any Worker code, binds them to a global lexical
// `const` whose name holds a per-isolate secret. Such a binding is no
// property of any object, so no reflection lists it, and Worker code cannot
// name it without the secret, which only ever appears in the host's own
// evaluations (their source is not readable from JS).
// Nothing here uses spread, array destructuring or for-of after set-up: they
// go through iterator methods Worker code can replace.
//
// The host trusts none of this either: it validates every message, bounds
// every size and assigns every platform error kind itself (event_loop.rs).
//
// Messages posted later (from promise jobs, timers, host answers) travel
// through the mailbox: a SharedArrayBuffer the host reads directly, so they
// reach it even if the isolate's thread never becomes idle again (a Worker
// spinning in promise jobs). A batch too large for the mailbox stays in the
// outbox, flagged as pending, and the host evaluates a drain for it.
//
// Messages to the host: {t:"loaded"} | {t:"failed", kind, message, logs}
//   | {t:"done", inv, ok, value | kind+message, logs}
//   | {t:"call", inv, id, name, args} | {t:"timer", inv, id, ms}
(function () {
  "use strict";

  // ---- builtins, captured before any Worker code runs ------------------------

  const G = globalThis;
  const apply = Reflect.apply;
  const uncurry = (fn) => (self, ...args) => apply(fn, self, args);
  const jsonParse = JSON.parse;
  const jsonStringify = JSON.stringify;
  const atomicLoad = Atomics.load;
  const atomicStore = Atomics.store;
  const atomicCompareExchange = Atomics.compareExchange;
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const create = Object.create;
  const ObjectToString = uncurry(Object.prototype.toString);
  const MapCtor = Map;
  const mapGet = uncurry(Map.prototype.get);
  const mapSet = uncurry(Map.prototype.set);
  const mapDelete = uncurry(Map.prototype.delete);
  const mapClear = uncurry(Map.prototype.clear);
  const mapSize = uncurry(Object.getOwnPropertyDescriptor(Map.prototype, "size").get);
  const WeakMapCtor = WeakMap;
  const weakMapGet = uncurry(WeakMap.prototype.get);
  const weakMapSet = uncurry(WeakMap.prototype.set);
  const PromiseCtor = Promise;
  const promiseThen = uncurry(Promise.prototype.then);
  const resolveStatic = Promise.resolve;
  const rejectStatic = Promise.reject;
  const withResolversStatic = Promise.withResolvers;
  const promiseResolve = (value) => apply(resolveStatic, PromiseCtor, [value]);
  const promiseReject = (error) => apply(rejectStatic, PromiseCtor, [error]);
  const promiseWithResolvers = () => apply(withResolversStatic, PromiseCtor, []);
  const stringSlice = uncurry(String.prototype.slice);
  const stringStartsWith = uncurry(String.prototype.startsWith);
  const stringCharCodeAt = uncurry(String.prototype.charCodeAt);
  const toWellFormed = uncurry(String.prototype.toWellFormed);
  const StringCtor = String;
  const ErrorCtor = Error;
  const TypeErrorCtor = TypeError;
  const isError = (value) => value instanceof ErrorCtor;
  const mathMax = Math.max;
  const mathMin = Math.min;
  const ArrayIsArray = Array.isArray;
  const NumberCtor = Number;
  const arrayPush = uncurry(Array.prototype.push);
  const arrayJoin = uncurry(Array.prototype.join);
  const Int32ArrayCtor = Int32Array;
  const Uint8ArrayCtor = Uint8Array;
  const SharedArrayBufferCtor = SharedArrayBuffer;

  const notifyHost = G.__edge_notify;
  delete G.__edge_notify;
  const internal = G.__edge_internal;
  delete G.__edge_internal;
  const requestFromWire = internal.requestFromWire;
  const responseToWire = internal.responseToWire;
  const reseedRandom = internal.reseedRandom;

  // ---- limits (the host enforces its own as well) ----------------------------

  const MAX_LOG_LINES = 1000;
  const MAX_LOG_BYTES = 256 * 1024;
  const MAX_LOG_LINE = 16 * 1024;
  const MAX_ERROR_MESSAGE = 64 * 1024;
  const MAX_CALL_ARGS = 1024 * 1024;
  const MAX_CALLS = 1000;
  const MAX_TIMERS = 1000;

  // Mailbox layout, mirrored in ffi.rs (`Mailbox`): four i32 words
  // (state, notified, pending, length), then the UTF-8 batch.
  const MAILBOX_BYTES = 8 * 1024;
  const HEADER_BYTES = 16;
  // A constant, not `payload.length`: that getter lives on a prototype Worker
  // code can shadow, and it would hand over the mailbox.
  const PAYLOAD_BYTES = MAILBOX_BYTES - HEADER_BYTES;
  const STATE = 0;
  const NOTIFIED = 1;
  const PENDING = 2;
  const LENGTH = 3;
  const EMPTY = 0;
  const FULL = 1;
  const mailbox = new SharedArrayBufferCtor(MAILBOX_BYTES);
  const control = new Int32ArrayCtor(mailbox, 0, 4);
  const payload = new Uint8ArrayCtor(mailbox, HEADER_BYTES);
  // The host collects the buffer once, right after this script, and deletes it.
  defineProperty(G, "__edge_mailbox", { value: mailbox, configurable: true });

  // Messages waiting for the host, as JSON texts joined by commas. Messages
  // are written as text here (`wire` below), never by JSON.stringify over
  // objects, which would consult a `toJSON` Worker code can put on
  // Object.prototype or Array.prototype.
  let outbox = "";
  // True while the host's own evaluation runs: its drain() picks up what is
  // posted, so there is no need to ring the host.
  let inHostCall = false;
  let sealed = false;

  function post(message) {
    outbox = outbox === "" ? message : outbox + "," + message;
    atomicStore(control, PENDING, 1);
    if (!inHostCall) deliver();
  }

  // Writes `text` as UTF-8 into the mailbox's payload by index (no encoder
  // object, no typed-array method: Worker code may have replaced them);
  // returns the bytes written, or -1 if it does not fit. The text is
  // well-formed (every message is built from well-formed strings and
  // JSON.stringify escapes lone surrogates), so pairs are always complete.
  function writeUtf8(text) {
    let at = 0;
    for (let i = 0; i < text.length; i++) {
      let c = stringCharCodeAt(text, i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        c = 0x10000 + ((c - 0xd800) << 10) + (stringCharCodeAt(text, ++i) - 0xdc00);
      }
      const need = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
      if (at + need > PAYLOAD_BYTES) return -1;
      if (need === 1) {
        payload[at++] = c;
      } else if (need === 2) {
        payload[at++] = 0xc0 | (c >> 6);
        payload[at++] = 0x80 | (c & 0x3f);
      } else if (need === 3) {
        payload[at++] = 0xe0 | (c >> 12);
        payload[at++] = 0x80 | ((c >> 6) & 0x3f);
        payload[at++] = 0x80 | (c & 0x3f);
      } else {
        payload[at++] = 0xf0 | (c >> 18);
        payload[at++] = 0x80 | ((c >> 12) & 0x3f);
        payload[at++] = 0x80 | ((c >> 6) & 0x3f);
        payload[at++] = 0x80 | (c & 0x3f);
      }
    }
    return at;
  }

  // Moves the outbox into the mailbox when it is free and large enough, then
  // rings the host unless a ring is already unanswered.
  function deliver() {
    if (atomicLoad(control, STATE) === EMPTY) {
      const text = "[" + outbox + "]";
      const written = text.length <= PAYLOAD_BYTES ? writeUtf8(text) : -1;
      if (written >= 0) {
        outbox = "";
        atomicStore(control, PENDING, 0);
        atomicStore(control, LENGTH, written);
        atomicStore(control, STATE, FULL);
      }
    }
    if (atomicCompareExchange(control, NOTIFIED, 0, 1) === 0) notifyHost();
  }

  function drain() {
    const text = "[" + outbox + "]";
    outbox = "";
    atomicStore(control, PENDING, 0);
    return text;
  }

  // An entry point for the host.
  function entry(body) {
    return function (a, b) {
      inHostCall = true;
      try {
        body(a, b);
      } finally {
        inHostCall = false;
      }
      return drain();
    };
  }

  // ---- text that crosses to the host ------------------------------------------

  // Well-formed (no lone surrogates, which JSON parsers refuse) and at most
  // `max` characters, with the cut said explicitly.
  function bounded(text, max) {
    let s = toWellFormed(StringCtor(text));
    if (s.length > max) {
      s = toWellFormed(stringSlice(s, 0, max)) + `… (${s.length - max} more characters cut)`;
    }
    return s;
  }

  // JSON of a string or number primitive: JSON.stringify consults no
  // `toJSON` for primitives, so nothing of the Worker's runs here.
  function quote(text) {
    return jsonStringify(toWellFormed(StringCtor(text)));
  }

  function integer(n) {
    return typeof n === "number" && n === n ? "" + mathMax(0, n | 0) : "0";
  }

  // ---- errors --------------------------------------------------------------

  // Errors this runtime raised on purpose, with their kind. Only these carry
  // a kind other than "runtime": a property on an error object is the
  // Worker's to forge.
  const kindOf = new WeakMapCtor();

  function kindError(kind, message) {
    const error = new ErrorCtor(message);
    weakMapSet(kindOf, error, kind);
    return error;
  }

  function safeString(value) {
    try {
      if (typeof value === "string") return value;
      const json = jsonStringify(value);
      if (json !== undefined) return json;
    } catch (_) {
      // fall through to String()
    }
    try {
      return StringCtor(value);
    } catch (_) {
      return ObjectToString(value);
    }
  }

  // A description of anything thrown; never throws itself.
  function describe(error) {
    try {
      if (isError(error)) {
        const head = `${error.name}: ${error.message}`;
        const stack = typeof error.stack === "string" ? error.stack : "";
        return stringStartsWith(stack, head) ? stack : stack ? `${head}\n${stack}` : head;
      }
      return `Uncaught ${safeString(error)}`;
    } catch (_) {
      return "Uncaught exception (not describable)";
    }
  }

  function failure(error) {
    const kind = (error !== null && typeof error === "object" && weakMapGet(kindOf, error)) || "runtime";
    let message;
    try {
      message = kind === "runtime" ? describe(error) : StringCtor(error.message);
    } catch (_) {
      message = "Uncaught exception (not describable)";
    }
    return { kind, message: bounded(message, MAX_ERROR_MESSAGE) };
  }

  // ---- console ---------------------------------------------------------------

  // The lines logged since the last take, as JSON texts joined by commas.
  let logs = "";
  let logLines = 0;
  let logBytes = 0;
  let logsDropped = 0;

  function format(args) {
    const parts = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      arrayPush(parts, typeof a === "string" ? a : describeValue(a));
    }
    return arrayJoin(parts, " ");
  }

  function describeValue(value) {
    if (isError(value)) {
      const text = describe(value);
      return stringStartsWith(text, "Uncaught ") ? stringSlice(text, 9) : text;
    }
    if (typeof value === "function") return `[Function ${value.name || "anonymous"}]`;
    if (typeof value === "bigint") return `${value}n`;
    if (typeof value === "symbol") return apply(Symbol.prototype.toString, value, []);
    if (value === undefined) return "undefined";
    return safeString(value);
  }

  function log(level, args) {
    if (logLines >= MAX_LOG_LINES || logBytes >= MAX_LOG_BYTES) {
      logsDropped++;
      return;
    }
    let message;
    try {
      message = bounded(format(args), MAX_LOG_LINE);
    } catch (_) {
      message = "(a console message that could not be formatted)";
    }
    logBytes += message.length;
    appendLog(level, message);
  }

  function appendLog(level, message) {
    const line = `{"level":${quote(level)},"message":${quote(message)}}`;
    logs = logs === "" ? line : logs + "," + line;
    logLines++;
  }

  // The JSON array of the lines logged since the last take.
  function takeLogs() {
    if (logsDropped > 0) {
      appendLog("warn", `${logsDropped} further console lines were dropped`);
    }
    const taken = "[" + logs + "]";
    logs = "";
    logLines = 0;
    logBytes = 0;
    logsDropped = 0;
    return taken;
  }

  const console = {};
  const LEVELS = [
    ["log", "log"],
    ["info", "info"],
    ["debug", "debug"],
    ["warn", "warn"],
    ["error", "error"],
    ["trace", "debug"],
  ];
  for (const [name, level] of LEVELS) {
    console[name] = (...args) => log(level, args);
  }
  console.assert = (condition, ...args) => {
    if (!condition) log("error", ["Assertion failed", ...args]);
  };
  defineGlobal("console", console);

  // ---- invocations -----------------------------------------------------------

  // The one invocation in progress: its id, timers, pending host calls.
  let current = null;
  let worker = null;
  let nextTimer = 1;
  let nextCall = 1;

  function requireInvocation(what) {
    if (current === null) {
      throw new ErrorCtor(`${what} is only available while a request is being handled`);
    }
    return current;
  }

  function setTimer(callback, ms, args, repeat) {
    const invocation = requireInvocation("setTimeout");
    if (typeof callback !== "function") {
      throw new TypeErrorCtor("setTimeout expects a function");
    }
    if (mapSize(invocation.timers) >= MAX_TIMERS) {
      throw new ErrorCtor(`a request may have at most ${MAX_TIMERS} timers pending`);
    }
    const id = nextTimer++;
    const delay = mathMax(0, mathMin(NumberCtor(ms) || 0, 2 ** 31 - 1));
    mapSet(invocation.timers, id, { callback, args, repeat, delay });
    post(`{"t":"timer","inv":${integer(invocation.id)},"id":${integer(id)},"ms":${integer(delay)}}`);
    return id;
  }

  function clearTimer(id) {
    if (current !== null) mapDelete(current.timers, id);
  }

  const resolved = promiseResolve(undefined);
  defineGlobal("setTimeout", (callback, ms, ...args) => setTimer(callback, ms, args, false));
  defineGlobal("setInterval", (callback, ms, ...args) => setTimer(callback, ms, args, true));
  defineGlobal("clearTimeout", clearTimer);
  defineGlobal("clearInterval", clearTimer);
  defineGlobal("queueMicrotask", (callback) => {
    if (typeof callback !== "function") {
      throw new TypeErrorCtor("queueMicrotask expects a function");
    }
    promiseThen(resolved, () => callback());
  });

  const TOO_MANY_CALLS = freeze(new ErrorCtor(`a request may make at most ${MAX_CALLS} binding calls`));

  function hostCall(name, args) {
    const invocation = requireInvocation(`binding ${name}`);
    if (invocation.callsMade >= MAX_CALLS) {
      // One shared error: a flood of refused calls must not allocate per call.
      return promiseReject(TOO_MANY_CALLS);
    }
    let text;
    try {
      text = jsonStringify(args);
    } catch (error) {
      return promiseReject(error);
    }
    if (text === undefined || text.length > MAX_CALL_ARGS) {
      return promiseReject(
        new TypeErrorCtor(`binding ${name}: the arguments must be JSON of at most ${MAX_CALL_ARGS} characters`),
      );
    }
    invocation.callsMade++;
    const id = nextCall++;
    const pending = promiseWithResolvers();
    mapSet(invocation.calls, id, pending);
    post(
      `{"t":"call","inv":${integer(invocation.id)},"id":${integer(id)},"name":${quote(name)},"args":${quote(text)}}`,
    );
    return pending.promise;
  }

  function makeEnv(bindings) {
    const env = create(null);
    for (let i = 0; i < bindings.length; i++) {
      const name = bindings[i];
      env[name] = (...args) => hostCall(name, args);
    }
    return freeze(env);
  }

  // JSON text of a method's result, refusing to build anything larger than
  // `max` characters (a runaway result must not exhaust the heap first).
  // Strings are made well-formed: a lone surrogate becomes U+FFFD, since the
  // JSON parsers on the other side refuse it.
  function boundedJson(value, max) {
    const tooLarge = () =>
      kindError("output_too_large", `the result is larger than the ${max}-byte output limit`);
    if (typeof value === "string" && value.length > max) throw tooLarge();
    let budget = max;
    const text = jsonStringify(value, function (key, v) {
      budget -= key.length + 2;
      if (typeof v === "string") {
        budget -= v.length + 2;
        if (budget < 0) throw tooLarge();
        return toWellFormed(v);
      }
      if (v !== null && typeof v !== "object") budget -= 6;
      if (budget < 0) throw tooLarge();
      return v;
    });
    if (text === undefined) return "null";
    if (text.length > max) throw tooLarge();
    return text;
  }

  async function run(invocation, message) {
    if (worker === null) throw kindError("not_found", "no Worker is loaded in this isolate");
    const env = makeEnv(message.bindings);
    const ctx = freeze({
      waitUntil(promise) {
        const list = invocation.waitUntil;
        defineProperty(list, list.length, { value: promise, writable: true, enumerable: true, configurable: true });
      },
      passThroughOnException() {},
    });
    if (message.kind === "fetch") {
      if (typeof worker.fetch !== "function") {
        throw kindError("not_found", "the Worker's default export has no fetch handler");
      }
      const request = requestFromWire(message.request);
      const response = await worker.fetch(request, env, ctx);
      const wire = await responseToWire(response, message.maxOutput);
      if (wire.tooLarge !== undefined) {
        throw kindError(
          "output_too_large",
          `the response body is ${wire.tooLarge} bytes; the output limit is ${message.maxOutput} bytes`,
        );
      }
      return httpValue(wire);
    }
    const method = message.method;
    const handler = worker[method];
    if (typeof handler !== "function" || method === "constructor") {
      throw kindError("not_found", `the Worker's default export has no method '${bounded(method, 256)}'`);
    }
    const result = await apply(handler, worker, [jsonParse(message.input), env, ctx]);
    return `{"json":${quote(boundedJson(result, message.maxOutput))}}`;
  }

  // The wire form of a fetch handler's response, checked field by field (it
  // came through webapi.js methods Worker code can replace).
  function httpValue(wire) {
    const status = wire.status;
    const headers = wire.headers;
    const body = wire.body_base64;
    if (typeof status !== "number" || typeof body !== "string" || !ArrayIsArray(headers)) {
      throw new TypeErrorCtor("fetch handler must return a Response");
    }
    let list = "";
    for (let i = 0; i < headers.length; i++) {
      const pair = headers[i];
      const entry = "[" + quote(pair[0]) + "," + quote(pair[1]) + "]";
      list = i === 0 ? entry : list + "," + entry;
    }
    return `{"http":{"status":${integer(status)},"headers":[${list}],"body_base64":${quote(body)}}}`;
  }

  function finish(invocation, fields) {
    if (current !== invocation) return;
    current = null;
    mapClear(invocation.timers);
    mapClear(invocation.calls);
    post(`{"t":"done","inv":${integer(invocation.id)},${fields},"logs":${takeLogs()}}`);
  }

  function fail(invocation, error) {
    const f = failure(error);
    finish(invocation, `"ok":false,"kind":${quote(f.kind)},"message":${quote(f.message)}`);
  }

  // Awaits the handler, then every ctx.waitUntil promise, then reports.
  // `await` looks up no Promise statics, which Worker code may replace.
  async function complete(invocation, message) {
    let value;
    try {
      value = await run(invocation, message);
    } catch (error) {
      fail(invocation, error);
      return;
    }
    const pending = invocation.waitUntil;
    for (let i = 0; i < pending.length; i++) {
      try {
        await pending[i];
      } catch (_) {
        // a rejected waitUntil promise does not fail the request
      }
    }
    finish(invocation, `"ok":true,"value":${value}`);
  }

  function loadWorker() {
    // The loader's script ran just before this call, in the same
    // evaluation: what the modules logged so far belongs to the load.
    const main = G.__edge_main;
    delete G.__edge_main;
    awaitWorker(main);
  }

  async function awaitWorker(main) {
    let candidate;
    try {
      const namespace = await main;
      candidate = namespace && namespace.default;
      if (candidate === null || (typeof candidate !== "object" && typeof candidate !== "function")) {
        throw kindError(
          "not_found",
          "the main module has no default export object (expected `export default { async fetch(request, env, ctx) {...} }`)",
        );
      }
    } catch (error) {
      const f = failure(error);
      post(`{"t":"failed","kind":${quote(f.kind)},"message":${quote(f.message)},"logs":${takeLogs()}}`);
      return;
    }
    worker = candidate;
    post(`{"t":"loaded","logs":${takeLogs()}}`);
  }


  function startInvocation(text) {
    const message = jsonParse(text);
    const invocation = {
      id: message.inv,
      timers: new MapCtor(),
      calls: new MapCtor(),
      callsMade: 0,
      waitUntil: [],
    };
    current = invocation;
    takeLogs();
    reseedRandom(message.seed);
    complete(invocation, message);
  }

  // A host call's answer: {inv, id, ok, value (JSON text) | error}.
  function settle(text) {
    const message = jsonParse(text);
    if (current === null || current.id !== message.inv) return;
    const pending = mapGet(current.calls, message.id);
    if (!pending) return;
    mapDelete(current.calls, message.id);
    if (message.ok) pending.resolve(jsonParse(message.value));
    else pending.reject(new ErrorCtor(message.error));
  }

  function fire(inv, id) {
    if (current === null || current.id !== inv) return;
    const timer = mapGet(current.timers, id);
    if (!timer) return;
    if (timer.repeat) post(`{"t":"timer","inv":${integer(inv)},"id":${integer(id)},"ms":${integer(timer.delay)}}`);
    else mapDelete(current.timers, id);
    try {
      apply(timer.callback, undefined, timer.args);
    } catch (error) {
      log("error", ["Uncaught exception in timer:", error]);
    }
  }

  const api = freeze({
    load: entry(loadWorker),
    invoke: entry(startInvocation),
    settle: entry(settle),
    fire: entry(fire),
    drain: entry(() => {}),
  });

  function defineGlobal(name, value) {
    defineProperty(G, name, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }

  // Taken once, by the host's sealing evaluation, and gone from the global.
  defineProperty(G, "__edge", {
    value: freeze({
      seal() {
        if (sealed) throw new TypeErrorCtor("the runtime is sealed");
        sealed = true;
        delete G.__edge;
        return api;
      },
    }),
    writable: false,
    configurable: true,
    enumerable: false,
  });
})();
