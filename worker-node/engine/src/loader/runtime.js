// Module registry of a compiled Worker bundle (see loader/mod.rs).
// Runs inside the bundle's wrapper function, after `__edge_modules` is defined:
//   __edge_modules = { "<canonical name>": [isTypeScript, async function (
//       __vite_ssr_exports__, __vite_ssr_import__, __vite_ssr_dynamic_import__,
//       __vite_ssr_exportAll__, __vite_ssr_import_meta__) { <module body> }], ... }
// Every name here starts with `__edge_` so module code cannot collide with it.
// Resolution mirrors loader/resolve.rs; keep the two in step.
const __edge_Object = Object;
const __edge_Promise = Promise;
const __edge_Map = Map;
const __edge_Set = Set;
const __edge_Error = Error;
const __edge_SyntaxError = SyntaxError;
const __edge_String = String;
const __edge_hasOwn = Object.prototype.hasOwnProperty;
const __edge_URL_PREFIX = "bundle:///";
const __edge_EXTENSIONS = [".ts", ".mts", ".js", ".mjs", ".cts", ".cjs"];
const __edge_records = new __edge_Map();

function __edge_normalize(path) {
  const out = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (out.length === 0) return undefined;
      out.pop();
    } else {
      out.push(segment);
    }
  }
  return out.join("/");
}

function __edge_isModule(name) {
  return __edge_hasOwn.call(__edge_modules, name);
}

function __edge_resolve(specifier, importer) {
  let joined;
  if (specifier.startsWith(__edge_URL_PREFIX)) {
    joined = specifier.slice(__edge_URL_PREFIX.length);
  } else if (specifier.startsWith("./") || specifier.startsWith("../") || specifier === "." || specifier === "..") {
    const slash = importer.lastIndexOf("/");
    joined = (slash < 0 ? "" : importer.slice(0, slash + 1)) + specifier;
  } else if (specifier.startsWith("/")) {
    joined = specifier;
  } else {
    return undefined;
  }
  const base = __edge_normalize(joined);
  if (base === undefined) return undefined;
  const candidates = [];
  let indexPrefix = "";
  if (base !== "") {
    candidates.push(base);
    for (const [js, ts] of [[".js", ".ts"], [".mjs", ".mts"], [".cjs", ".cts"]]) {
      if (base.endsWith(js)) candidates.push(base.slice(0, base.length - js.length) + ts);
    }
    for (const ext of __edge_EXTENSIONS) candidates.push(base + ext);
    indexPrefix = base + "/";
  }
  for (const ext of __edge_EXTENSIONS) candidates.push(indexPrefix + "index" + ext);
  for (const candidate of candidates) {
    if (__edge_isModule(candidate)) return candidate;
  }
  return undefined;
}

function __edge_notFound(specifier, importer) {
  const names = __edge_Object.keys(__edge_modules).map((n) => "./" + n);
  const err = new __edge_Error(
    "Cannot import '" + specifier + "' from './" + importer + "': it is not a module of this bundle " +
      "(only the bundle's own modules can be imported; modules: " + names.join(", ") + ")",
  );
  err.code = "ERR_MODULE_NOT_FOUND";
  return err;
}

function __edge_record(name) {
  let rec = __edge_records.get(name);
  if (rec === undefined) {
    const ns = __edge_Object.create(null);
    __edge_Object.defineProperty(ns, Symbol.toStringTag, { value: "Module" });
    // state: 0 new, 1 evaluating, 2 evaluated, 3 threw
    rec = { name, ns, state: 0, error: undefined, promise: undefined, waiting: new __edge_Set() };
    __edge_records.set(name, rec);
  }
  return rec;
}

// Is `from` (transitively) waiting for `to` to finish evaluating?
function __edge_waitsFor(from, to) {
  const seen = new __edge_Set();
  const stack = [from];
  while (stack.length > 0) {
    const rec = stack.pop();
    if (rec === to) return true;
    if (seen.has(rec)) continue;
    seen.add(rec);
    for (const next of rec.waiting) stack.push(next);
  }
  return false;
}

function __edge_evaluate(rec) {
  if (rec.promise !== undefined) return rec.promise;
  let resolve, reject;
  rec.promise = new __edge_Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Importers observe the rejection; don't also report it as unhandled.
  rec.promise.catch(() => {});
  rec.state = 1;
  const entry = __edge_modules[rec.name];
  const isTypeScript = entry[0];
  const factory = entry[1];
  const meta = { url: __edge_URL_PREFIX + rec.name };
  const staticImport = (specifier, options) => __edge_import(rec, specifier, options, isTypeScript);
  const dynamicImport = (specifier) => __edge_dynamicImport(rec, specifier);
  const exportAll = (source) => __edge_exportAll(rec.ns, source);
  let running;
  try {
    running = factory.call(undefined, rec.ns, staticImport, dynamicImport, exportAll, meta);
  } catch (e) {
    running = __edge_Promise.reject(e);
  }
  running.then(
    () => {
      rec.state = 2;
      __edge_Object.preventExtensions(rec.ns);
      resolve(rec.ns);
    },
    (e) => {
      rec.state = 3;
      rec.error = e;
      reject(e);
    },
  );
  return rec.promise;
}

// Loads the module `name` for `importer`; a cycle gets the partially filled namespace.
async function __edge_require(importer, name) {
  const target = __edge_record(name);
  if (target.state === 2) return target.ns;
  if (target.state === 3) throw target.error;
  if (target.state === 1 && __edge_waitsFor(target, importer)) return target.ns;
  importer.waiting.add(target);
  try {
    return await __edge_evaluate(target);
  } finally {
    importer.waiting.delete(target);
  }
}

// `import ... from "<specifier>"`: the compiler resolved it to `bundle:///<name>`.
async function __edge_import(importer, specifier, options, isTypeScript) {
  const name = __edge_resolve(specifier, importer.name);
  if (name === undefined) throw __edge_notFound(specifier, importer.name);
  const target = __edge_record(name);
  const ns = await __edge_require(importer, name);
  // Like ES linking: a missing named import is an error (not for TypeScript
  // importers, whose imports of types may survive type stripping).
  if (!isTypeScript && target.state === 2 && options !== undefined && options.importedNames) {
    for (const imported of options.importedNames) {
      if (!(imported in ns)) {
        throw new __edge_SyntaxError(
          "The requested module './" + name + "' does not provide an export named '" + imported +
            "' (imported by './" + importer.name + "')",
        );
      }
    }
  }
  return ns;
}

// `import(specifier)`: resolved at run time against the bundle.
async function __edge_dynamicImport(importer, specifier) {
  const text = __edge_String(specifier);
  const name = __edge_resolve(text, importer.name);
  if (name === undefined) throw __edge_notFound(text, importer.name);
  return __edge_require(importer, name);
}

// `export * from "..."`: every export but `default`; local exports win.
function __edge_exportAll(exports, source) {
  if (source === exports || source === null || typeof source !== "object") return;
  for (const key in source) {
    if (key !== "default" && !(key in exports)) {
      __edge_Object.defineProperty(exports, key, {
        enumerable: true,
        configurable: true,
        get() {
          return source[key];
        },
      });
    }
  }
}
