// The host glue every isolate runs once, after webapi.js and before any
// Worker code. The host calls into it only through the `__edge` entry points
// below; each returns `drain()`, the JSON of the messages posted since.
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

  const notifyHost = globalThis.__edge_notify;
  delete globalThis.__edge_notify;
  const internal = globalThis.__edge_internal;

  const MAX_LOG_LINES = 1000;
  const MAX_LOG_BYTES = 256 * 1024;

  // Mailbox layout, mirrored in ffi.rs (`Mailbox`): four i32 words
  // (state, notified, pending, length), then the UTF-8 batch.
  const MAILBOX_BYTES = 8 * 1024;
  const HEADER_BYTES = 16;
  const STATE = 0;
  const NOTIFIED = 1;
  const PENDING = 2;
  const LENGTH = 3;
  const EMPTY = 0;
  const FULL = 1;
  const mailbox = new SharedArrayBuffer(MAILBOX_BYTES);
  const control = new Int32Array(mailbox, 0, 4);
  const payload = new Uint8Array(mailbox, HEADER_BYTES);
  const encoder = new TextEncoder();
  // The host collects the buffer once, right after this script, and deletes it.
  Object.defineProperty(globalThis, "__edge_mailbox", { value: mailbox, configurable: true });

  let outbox = [];
  // True while the host's own evaluation runs: its drain() picks up what is
  // posted, so there is no need to ring the host.
  let inHostCall = false;

  function post(message) {
    outbox.push(message);
    Atomics.store(control, PENDING, 1);
    if (!inHostCall) deliver();
  }

  // Moves the outbox into the mailbox when it is free and large enough, then
  // rings the host unless a ring is already unanswered.
  function deliver() {
    if (Atomics.load(control, STATE) === EMPTY) {
      const text = JSON.stringify(outbox);
      if (text.length <= payload.length) {
        const { read, written } = encoder.encodeInto(text, payload);
        if (read === text.length) {
          outbox = [];
          Atomics.store(control, PENDING, 0);
          Atomics.store(control, LENGTH, written);
          Atomics.store(control, STATE, FULL);
        }
      }
    }
    if (Atomics.compareExchange(control, NOTIFIED, 0, 1) === 0) notifyHost();
  }

  function drain() {
    const text = JSON.stringify(outbox);
    outbox = [];
    Atomics.store(control, PENDING, 0);
    return text;
  }

  function entry(body) {
    return function (...args) {
      inHostCall = true;
      try {
        body(...args);
      } finally {
        inHostCall = false;
      }
      return drain();
    };
  }

  // ---- errors --------------------------------------------------------------

  function kindError(kind, message) {
    const error = new Error(message);
    error.edgeKind = kind;
    return error;
  }

  function safeString(value) {
    try {
      if (typeof value === "string") return value;
      const json = JSON.stringify(value);
      if (json !== undefined) return json;
    } catch (_) {
      // fall through to String()
    }
    try {
      return String(value);
    } catch (_) {
      return Object.prototype.toString.call(value);
    }
  }

  // A description of anything thrown; never throws itself.
  function describe(error) {
    try {
      if (error instanceof Error) {
        const head = `${error.name}: ${error.message}`;
        const stack = typeof error.stack === "string" ? error.stack : "";
        return stack.startsWith(head) ? stack : stack ? `${head}\n${stack}` : head;
      }
      return `Uncaught ${safeString(error)}`;
    } catch (_) {
      return "Uncaught exception (not describable)";
    }
  }

  function failure(error) {
    let kind = "runtime";
    try {
      if (error && typeof error.edgeKind === "string") kind = error.edgeKind;
    } catch (_) {
      // a hostile getter: keep "runtime"
    }
    const message =
      kind === "runtime" ? describe(error) : String(error && error.message);
    return { kind, message };
  }

  // ---- console ---------------------------------------------------------------

  let logs = [];
  let logBytes = 0;
  let logsDropped = 0;

  function format(args) {
    return args.map((a) => (typeof a === "string" ? a : describeValue(a))).join(" ");
  }

  function describeValue(value) {
    if (value instanceof Error) return describe(value).replace(/^Uncaught /, "");
    if (typeof value === "function") return `[Function ${value.name || "anonymous"}]`;
    if (typeof value === "bigint") return `${value}n`;
    if (typeof value === "symbol") return value.toString();
    if (value === undefined) return "undefined";
    return safeString(value);
  }

  function log(level, args) {
    if (logs.length >= MAX_LOG_LINES || logBytes >= MAX_LOG_BYTES) {
      logsDropped++;
      return;
    }
    let message = format(args);
    if (message.length > 16 * 1024) message = message.slice(0, 16 * 1024) + "…";
    logBytes += message.length;
    logs.push({ level, message });
  }

  function takeLogs() {
    if (logsDropped > 0) {
      logs.push({ level: "warn", message: `${logsDropped} further console lines were dropped` });
    }
    const taken = logs;
    logs = [];
    logBytes = 0;
    logsDropped = 0;
    return taken;
  }

  const console = {};
  for (const [name, level] of [
    ["log", "log"],
    ["info", "info"],
    ["debug", "debug"],
    ["warn", "warn"],
    ["error", "error"],
    ["trace", "debug"],
  ]) {
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
      throw new Error(`${what} is only available while a request is being handled`);
    }
    return current;
  }

  function setTimer(callback, ms, args, repeat) {
    const invocation = requireInvocation("setTimeout");
    if (typeof callback !== "function") {
      throw new TypeError("setTimeout expects a function");
    }
    const id = nextTimer++;
    const delay = Math.max(0, Math.min(Number(ms) || 0, 2 ** 31 - 1));
    invocation.timers.set(id, { callback, args, repeat, delay });
    post({ t: "timer", inv: invocation.id, id, ms: delay });
    return id;
  }

  function clearTimer(id) {
    if (current !== null) current.timers.delete(id);
  }

  defineGlobal("setTimeout", (callback, ms, ...args) => setTimer(callback, ms, args, false));
  defineGlobal("setInterval", (callback, ms, ...args) => setTimer(callback, ms, args, true));
  defineGlobal("clearTimeout", clearTimer);
  defineGlobal("clearInterval", clearTimer);
  defineGlobal("queueMicrotask", (callback) => Promise.resolve().then(callback));

  function hostCall(name, args) {
    const invocation = requireInvocation(`binding ${name}`);
    const id = nextCall++;
    const pending = Promise.withResolvers();
    invocation.calls.set(id, pending);
    post({ t: "call", inv: invocation.id, id, name, args: JSON.stringify(args) });
    return pending.promise;
  }

  function makeEnv(bindings) {
    const env = {};
    for (const name of bindings) {
      env[name] = (...args) => hostCall(name, args);
    }
    return Object.freeze(env);
  }

  // JSON text of a method's result, refusing to build anything larger than
  // `max` characters (a runaway result must not exhaust the heap first).
  function boundedJson(value, max) {
    const tooLarge = () =>
      kindError("output_too_large", `the result is larger than the ${max}-byte output limit`);
    if (typeof value === "string" && value.length > max) throw tooLarge();
    let budget = max;
    const text = JSON.stringify(value, function (key, v) {
      budget -= key.length + 2;
      if (typeof v === "string") budget -= v.length + 2;
      else if (v !== null && typeof v !== "object") budget -= 6;
      if (budget < 0) throw tooLarge();
      return v;
    });
    if (text === undefined) return "null";
    if (text.length > max) throw tooLarge();
    return text;
  }

  async function run(invocation, message) {
    if (worker === null) throw kindError("not_found", "no Worker is loaded in this isolate");
    const env = makeEnv(message.bindings || []);
    const ctx = Object.freeze({
      waitUntil(promise) {
        invocation.waitUntil.push(Promise.resolve(promise));
      },
      passThroughOnException() {},
    });
    if (message.kind === "fetch") {
      if (typeof worker.fetch !== "function") {
        throw kindError("not_found", "the Worker's default export has no fetch handler");
      }
      const request = internal.requestFromWire(message.request);
      const response = await worker.fetch(request, env, ctx);
      const wire = await internal.responseToWire(response);
      if (wire.body_base64.length > Math.ceil(message.maxOutput / 3) * 4) {
        throw kindError(
          "output_too_large",
          `the response body is larger than the ${message.maxOutput}-byte output limit`,
        );
      }
      return { http: wire };
    }
    const method = message.method;
    const handler = worker[method];
    if (typeof handler !== "function" || method === "constructor") {
      throw kindError("not_found", `the Worker's default export has no method '${method}'`);
    }
    const result = await handler.call(worker, JSON.parse(message.input), env, ctx);
    return { json: boundedJson(result, message.maxOutput) };
  }

  function finish(invocation, outcome) {
    if (current !== invocation) return;
    current = null;
    post({ t: "done", inv: invocation.id, ...outcome, logs: takeLogs() });
  }

  const api = {
    // Resolves the loader's `__edge_main` into the Worker object.
    load: entry(() => {
      // The loader's script ran just before this call, in the same
      // evaluation: what the modules logged so far belongs to the load.
      Promise.resolve(globalThis.__edge_main)
        .then((namespace) => {
          const candidate = namespace && namespace.default;
          if (candidate === null || (typeof candidate !== "object" && typeof candidate !== "function")) {
            throw kindError(
              "not_found",
              "the main module has no default export object (expected `export default { async fetch(request, env, ctx) {...} }`)",
            );
          }
          worker = candidate;
          post({ t: "loaded", logs: takeLogs() });
        })
        .catch((error) => post({ t: "failed", ...failure(error), logs: takeLogs() }));
    }),

    invoke: entry((message) => {
      const invocation = { id: message.inv, timers: new Map(), calls: new Map(), waitUntil: [] };
      current = invocation;
      takeLogs();
      internal.reseedRandom(internal.base64Decode(message.seed));
      run(invocation, message)
        .then(
          async (value) => {
            await Promise.allSettled(invocation.waitUntil);
            finish(invocation, { ok: true, value });
          },
          (error) => finish(invocation, { ok: false, ...failure(error) }),
        )
        .catch((error) => finish(invocation, { ok: false, ...failure(error) }));
    }),

    // A host call's answer: {inv, id, ok, value (JSON text) | error}.
    settle: entry((message) => {
      if (current === null || current.id !== message.inv) return;
      const pending = current.calls.get(message.id);
      if (!pending) return;
      current.calls.delete(message.id);
      if (message.ok) pending.resolve(JSON.parse(message.value));
      else pending.reject(new Error(message.error));
    }),

    fire: entry((inv, id) => {
      if (current === null || current.id !== inv) return;
      const timer = current.timers.get(id);
      if (!timer) return;
      if (timer.repeat) post({ t: "timer", inv, id, ms: timer.delay });
      else current.timers.delete(id);
      try {
        timer.callback(...timer.args);
      } catch (error) {
        log("error", ["Uncaught exception in timer:", error]);
      }
    }),

    drain,
  };

  function defineGlobal(name, value) {
    Object.defineProperty(globalThis, name, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }

  Object.defineProperty(globalThis, "__edge", {
    value: Object.freeze(api),
    writable: false,
    configurable: false,
    enumerable: false,
  });
})();
