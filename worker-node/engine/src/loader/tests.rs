//! Compiles bundles and runs the generated script for real in Node (`node` v20+),
//! inside a fresh `vm.createContext({})`: an empty context has only JavaScript
//! builtins, like the engine's V8 global.

#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use super::{CompileError, compile_bundle};
use crate::types::{Bundle, Module};

/// Runs the script, awaits `__edge_main`, then runs `check` (the body of an async
/// function of `ns`, the main namespace, evaluated in the same context).
const HARNESS: &str = r#"
"use strict";
const vm = require("node:vm");
const fs = require("node:fs");
const [scriptPath, checkPath] = process.argv.slice(2);
const unhandled = [];
process.on("unhandledRejection", (e) => unhandled.push(String(e && e.message || e)));
const ctx = vm.createContext({});
const before = vm.runInContext("Object.getOwnPropertyNames(globalThis)", ctx);
const timer = setTimeout(() => finish({ timeout: true }), 5000);
function finish(out) {
  clearTimeout(timer);
  setImmediate(() => {
    const after = vm.runInContext("Object.getOwnPropertyNames(globalThis)", ctx);
    out.leaked = after.filter((n) => !before.includes(n));
    out.unhandled = unhandled;
    process.stdout.write("\n@@RESULT@@" + JSON.stringify(out) + "\n");
  });
}
(async () => {
  let ns;
  try {
    vm.runInContext(fs.readFileSync(scriptPath, "utf8"), ctx, { filename: "bundle.js" });
    ns = await ctx.__edge_main;
  } catch (e) {
    return finish({ threw: { name: e && e.name, message: String(e && e.message || e), code: e && e.code } });
  }
  try {
    const check = vm.runInContext("(async function (ns) {\n" + fs.readFileSync(checkPath, "utf8") + "\n})", ctx);
    const value = await check(ns);
    finish({ value: value === undefined ? null : JSON.parse(JSON.stringify(value)) });
  } catch (e) {
    finish({ check_threw: { name: e && e.name, message: String(e && e.message || e), code: e && e.code } });
  }
})();
"#;

fn bundle(modules: &[(&str, &str)], main: &str) -> Bundle {
    Bundle {
        modules: modules
            .iter()
            .map(|(name, source)| Module {
                name: (*name).to_owned(),
                source: (*source).to_owned(),
            })
            .collect(),
        main_module: main.to_owned(),
    }
}

/// Compiles and runs; returns the harness's result object.
fn run(bundle: &Bundle, check: &str) -> Value {
    let script = compile_bundle(bundle).unwrap_or_else(|e| panic!("compile failed: {e}"));
    run_script(&script, check)
}

fn run_script(script: &str, check: &str) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let harness = write("harness.cjs", HARNESS);
    let script_path = write("bundle.js", script);
    let check_path = write("check.js", check);
    let output = Command::new("node")
        .arg(&harness)
        .arg(&script_path)
        .arg(&check_path)
        .current_dir(dir.path())
        .output()
        .expect("node (v20+) must be installed to run the loader tests");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("@@RESULT@@")) else {
        panic!(
            "node produced no result (a hang exits Node with nothing pending)\nstatus: {}\nstdout: {stdout}\nstderr: {stderr}\nscript:\n{script}",
            output.status
        );
    };
    let result: Value = serde_json::from_str(line).expect("result JSON");
    assert_eq!(
        result["leaked"],
        json!(["__edge_main"]),
        "globals leaked: {result}"
    );
    assert_eq!(
        result["unhandled"],
        json!([]),
        "unhandled rejections: {result}"
    );
    assert!(
        result.get("timeout").is_none(),
        "timed out: {result}\nscript:\n{script}"
    );
    result
}

/// Runs and returns the check's value, failing on any error.
fn value(bundle: &Bundle, check: &str) -> Value {
    let result = run(bundle, check);
    assert!(result.get("value").is_some(), "no value: {result}");
    result["value"].clone()
}

fn compile_err(bundle: &Bundle) -> CompileError {
    match compile_bundle(bundle) {
        Ok(script) => panic!("expected a compile error, got a script:\n{script}"),
        Err(e) => e,
    }
}

#[test]
fn loader_multi_module_imports_and_resolution() {
    let b = bundle(
        &[
            (
                "main.js",
                r#"
import greet, { shout as loud } from "./lib/util";       // extension-less, default + renamed
import * as util from "./lib/util.js";                    // explicit extension, namespace
import "./lib/side.js";                                   // side effect only
import { log } from "./shared/log.js";
import dirDefault from "./dir";                           // ./dir/index.js
import { fromTs } from "./lib/typed.js";                  // .js specifier -> .ts module
export default { greeting: greet("you"), loud: loud("hi"), same: util.default === greet, fromTs, dirDefault, log };
"#,
            ),
            (
                "./lib/util.js",
                r#"
import { log } from "../shared/log.js";                   // ../
import { NAME } from "../shared/consts";
log.push("util");
export default function greet(who) { return `hello ${who} from ${NAME}`; }
export function shout(s) { return s.toUpperCase(); }
"#,
            ),
            (
                "lib/side.js",
                r#"import { log } from "../shared/log.js"; log.push("side");"#,
            ),
            ("shared/log.js", "export const log = []; log.push('log');"),
            ("shared/consts.js", "export const NAME = 'consts';"),
            ("dir/index.js", "export default 'dir index';"),
            ("lib/typed.ts", "export const fromTs: string = 'ts';"),
            (
                "unused.js",
                "throw new Error('must not be evaluated: not imported');",
            ),
        ],
        "./main.js",
    );
    let v = value(&b, "return ns.default;");
    assert_eq!(
        v,
        json!({
            "greeting": "hello you from consts",
            "loud": "HI",
            "same": true,
            "fromTs": "ts",
            "dirDefault": "dir index",
            // each module evaluated once, dependencies first, in import order
            "log": ["log", "util", "side"],
        })
    );
}

#[test]
fn loader_typescript() {
    let b = bundle(
        &[
            (
                "main.ts",
                r#"
import type { Env } from "@cloudflare/workers-types";     // type-only, external: erased
import type { Shape } from "./types.ts";                  // type-only, in the bundle: erased
import { Kind } from "./types.ts";                        // only used as a type: elided
import { Color, area, Box, type Point } from "./shapes";
interface Local<T> { value: T }
function id<T>(x: T): T { return x; }
const enum Flag { A = 1, B = 2 }
enum Dir { Up, Down = "down" }
abstract class Base { constructor(protected readonly n: number) {} abstract get(): number; }
class Impl extends Base { get(): number { return this.n * 2; } }
const p: Point = { x: 3, y: 4 } satisfies Point;
const shape = { kind: "square", side: 2 } as Shape;
const local: Local<number> = { value: id<number>(7) };
let maybe: string | undefined = "x";
export default {
  async run(_input: unknown, _env: Env): Promise<unknown> {
    const k: Kind | null = null;
    return {
      color: Color.Red, colorName: Color[Color.Green], area: area(shape), box: new Box<number>(5).get(),
      flags: Flag.A | Flag.B, up: Dir.Up, down: Dir.Down, impl: new Impl(21).get(), local: local.value,
      len: maybe!.length, p: p.x + p.y, k,
    };
  },
};
"#,
            ),
            (
                "types.ts",
                r#"
throw new Error("types.ts must not be evaluated: only its types are imported");
export interface Shape { kind: string; side: number }
export type Kind = "a" | "b";
"#,
            ),
            (
                "shapes.ts",
                r#"
import type { Shape } from "./types";
export type Point = { x: number; y: number };
export enum Color { Red, Green }
export function area(s: Shape): number { return s.side ** 2; }
export class Box<T> { constructor(private value: T) {} get(): T { return this.value; } }
export declare const ambient: number;
export namespace Util { export const two = 2; }
interface LocalOnly { a: number }
export { LocalOnly };
export type { Shape } from "./types";
export type * from "./types";
export type * as T from "./types";
export default interface DefaultIface { b: string }
"#,
            ),
        ],
        "main.ts",
    );
    let v = value(&b, "return await ns.default.run(null, {});");
    assert_eq!(
        v,
        json!({
            "color": 0, "colorName": "Green", "area": 4, "box": 5, "flags": 3, "up": 0,
            "down": "down", "impl": 42, "local": 7, "len": 1, "p": 7, "k": null,
        })
    );
}

#[test]
fn loader_every_export_form() {
    let b = bundle(
        &[
            (
                "main.js",
                r#"
import * as all from "./exports.js";
import defExpr from "./d_expr.js";
import defFn from "./d_fn.js";
import DefClass from "./d_class.js";
import defAnon from "./d_anon.js";
import DefAnonClass from "./d_anon_class.js";
import * as star from "./star.js";
import { counter, inc } from "./exports.js";
import more, { d1, d2, mDefault, "string name" as stringName, default as moreDefault } from "./more.js";
export default {
  namedLive: [counter, (inc(), counter)], more: [more, d1, d2, mDefault, stringName, moreDefault === more],
  keys: Object.keys(all).sort(),
  c: all.c, v: all.v, fn: all.fn(), cls: new all.Cls().x, renamed: all.renamed, fromM: all.fromM,
  fromMRenamed: all.fromMRenamed, starred: all.mOnly, nsM: all.nsM.mOnly, nsTag: Object.prototype.toString.call(all.nsM),
  defExpr, defFn: defFn(), defFnName: defFn.name, defClass: new DefClass().y, defAnon: defAnon(), defAnonClass: new DefAnonClass().z,
  live: [all.counter, (all.inc(), all.counter)],
  starNoDefault: "default" in star, starLocalWins: star.shadowed,
};
"#,
            ),
            (
                "exports.js",
                r#"
export const c = 1;
export let counter = 0;
export var v = "var";
export function fn() { return "fn"; }
export class Cls { x = "cls"; }
export function inc() { counter += 1; }
const local = "local";
export { local as renamed };
export { mValue as fromM, mOther as fromMRenamed } from "./m.js";
export * from "./m.js";
export * as nsM from "./m.js";
"#,
            ),
            (
                "m.js",
                "export const mValue = 'm'; export const mOther = 'o'; export const mOnly = 'only'; export default 'm default'; export const shadowed = 'from m';",
            ),
            (
                "star.js",
                "export * from './m.js'; export const shadowed = 'local';",
            ),
            (
                "more.js",
                r#"
export const { d1, nested: [d2] } = { d1: "d1", nested: ["d2"] };
export { default } from "./m.js";
export { default as mDefault, mValue as "string name" } from "./m.js";
"#,
            ),
            ("d_expr.js", "export default 40 + 2;"),
            (
                "d_fn.js",
                "export default function named() { return 'named fn'; }",
            ),
            (
                "d_class.js",
                "export default class Named { y = 'named class'; }",
            ),
            (
                "d_anon.js",
                "export default function () { return 'anon fn'; }",
            ),
            (
                "d_anon_class.js",
                "export default class { z = 'anon class'; }",
            ),
        ],
        "main.js",
    );
    let v = value(&b, "return ns.default;");
    assert_eq!(
        v,
        json!({
            "keys": ["Cls", "c", "counter", "fn", "fromM", "fromMRenamed", "inc", "mOnly", "mOther",
                     "mValue", "nsM", "renamed", "shadowed", "v"],
            "c": 1, "v": "var", "fn": "fn", "cls": "cls", "renamed": "local", "fromM": "m",
            "fromMRenamed": "o", "starred": "only", "nsM": "only", "nsTag": "[object Module]",
            "defExpr": 42, "defFn": "named fn", "defFnName": "named", "defClass": "named class",
            "defAnon": "anon fn", "defAnonClass": "anon class",
            // named imports and namespace members are both live bindings
            "namedLive": [0, 1], "live": [1, 2], "more": ["m default", "d1", "d2", "m default", "m", true],
            "starNoDefault": false, "starLocalWins": "local",
        })
    );
}

#[test]
fn loader_cycles_terminate() {
    let b = bundle(
        &[
            (
                "main.js",
                r#"
import { a, fromB } from "./a.js";
import * as self from "./main.js";              // self-import
export const mine = "main";
export default { a, fromB, selfHas: typeof self };
"#,
            ),
            (
                "a.js",
                r#"
import { b, hoisted } from "./b.js";
export const a = "a";
export function aFn() { return "aFn"; }
export const fromB = b + hoisted();
"#,
            ),
            (
                "b.js",
                r#"
import * as aNs from "./a.js";                 // cycle: a is still evaluating
export const b = "b";
export function hoisted() { return ":" + aNs.aFn(); }   // function exports are hoisted
export const sawA = "a" in aNs;
"#,
            ),
        ],
        "main.js",
    );
    let v = value(&b, "return ns.default;");
    assert_eq!(
        v,
        json!({ "a": "a", "fromB": "b:aFn", "selfHas": "object" })
    );
}

#[test]
fn loader_concurrent_dynamic_imports_into_a_cycle_terminate() {
    let b = bundle(
        &[
            (
                "main.js",
                r#"
const [b, c] = await Promise.all([import("./b.js"), import("./c.js")]);
const [c2, b2] = await Promise.all([import("./c.js"), import("./b.js")]);
export default { b: b.b, c: c.c, same: b === b2 && c === c2 };
"#,
            ),
            ("b.js", "import { c } from './c.js'; export const b = 'b';"),
            (
                "c.js",
                "import * as bNs from './b.js'; export const c = 'c';",
            ),
        ],
        "main.js",
    );
    let v = value(&b, "return ns.default;");
    assert_eq!(v, json!({ "b": "b", "c": "c", "same": true }));
}

/// Run-time resolution (non-literal `import(x)`) agrees with compile-time resolution.
#[test]
fn loader_runtime_resolution_matches_compile_time() {
    let names = [
        "main.js",
        "sub/probe.js",
        "sub/x.ts",
        "sub/y.js",
        "lib/z.mts",
        "dir/index.ts",
        "top.ts",
    ];
    let mut modules: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            (
                (*n).to_owned(),
                format!("export const name = {};", json!(n)),
            )
        })
        .collect();
    modules[0].1 = "export { probe as default } from './sub/probe.js';".to_owned();
    modules[1].1 = "export async function probe(spec) { try { return (await import(spec)).name; } catch { return null; } }".to_owned();
    let refs: Vec<(&str, &str)> = modules
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .collect();
    let b = bundle(&refs, "main.js");
    let specs = [
        "./x",
        "./x.ts",
        "./x.js",
        "./y",
        "./y.js",
        "../lib/z",
        "../lib/z.mjs",
        "../dir",
        "../dir/",
        "../dir/index",
        "/top",
        "/top.js",
        "bundle:///sub/x.ts",
        "../top.ts",
        "./nope",
        "../../top",
        "top.ts",
        "lodash",
        "node:fs",
        ".",
        "..",
        "../",
    ];
    let set: std::collections::BTreeSet<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let expected: Vec<Value> = specs
        .iter()
        .map(|s| super::resolve::resolve(s, "sub/probe.js", &set).map_or(Value::Null, Value::from))
        .collect();
    let check = format!(
        "const out = []; for (const s of {}) out.push(await ns.default(s)); return out;",
        json!(specs)
    );
    assert_eq!(value(&b, &check), Value::from(expected));
}

#[test]
fn loader_top_level_await_and_import_meta() {
    let b = bundle(
        &[
            (
                "main.ts",
                r#"
import { value, order } from "./lib/slow.ts";
order.push("main");
const later: number = await Promise.resolve(value + 1);
export default { value, later, order, url: import.meta.url, depUrl: (await import("./lib/slow.ts")).url, thisAtTop: this === undefined };
"#,
            ),
            (
                "./lib/slow.ts",
                r#"
export const order: string[] = [];
for (let i = 0; i < 3; i++) await null;
export const value: number = await new Promise<number>((resolve) => Promise.resolve().then(() => resolve(41)));
order.push("slow");
export const url = import.meta.url;
"#,
            ),
        ],
        "main.ts",
    );
    let v = value(&b, "return ns.default;");
    assert_eq!(
        v,
        json!({
            "value": 41, "later": 42, "order": ["slow", "main"], "url": "bundle:///main.ts",
            "depUrl": "bundle:///lib/slow.ts", "thisAtTop": true,
        })
    );
}

#[test]
fn loader_dynamic_import() {
    let b = bundle(
        &[
            (
                "main.js",
                r#"
export default {
  async literal() { return (await import("./lib/x.js")).x; },
  async computed(name) { return (await import("./lib/" + name)).x; },
  async fromSub() { return (await import("./lib/loader.js")).load("./x"); },
  async missing(spec) {
    try { await import(spec); return "resolved?"; }
    catch (e) { return { isError: e instanceof Error, message: e.message, code: e.code }; }
  },
};
"#,
            ),
            ("lib/x.js", "export const x = 'x';"),
            (
                "lib/loader.js",
                "export async function load(s) { return (await import(s)).x; }",
            ),
        ],
        "main.js",
    );
    let v = value(
        &b,
        r#"const w = ns.default;
        return [await w.literal(), await w.computed("x"), await w.fromSub(), await w.missing("./nope.js"), await w.missing("lodash")];"#,
    );
    assert_eq!(v[0], json!("x"));
    assert_eq!(v[1], json!("x"));
    assert_eq!(v[2], json!("x"));
    for (i, spec) in [(3, "./nope.js"), (4, "lodash")] {
        assert_eq!(v[i]["isError"], json!(true), "{v}");
        assert_eq!(v[i]["code"], json!("ERR_MODULE_NOT_FOUND"), "{v}");
        let message = v[i]["message"].as_str().unwrap();
        assert!(
            message.contains(spec) && message.contains("./main.js"),
            "{message}"
        );
        assert!(
            message.contains("only the bundle's own modules can be imported"),
            "{message}"
        );
    }
}

#[test]
fn loader_evaluation_errors_reject_main() {
    let b = bundle(
        &[
            ("main.js", "import './boom.js'; export default 1;"),
            (
                "boom.js",
                "class Boom extends Error { name = 'Boom' } throw new Boom('kaboom');",
            ),
        ],
        "main.js",
    );
    let r = run(&b, "return null;");
    assert_eq!(r["threw"]["name"], json!("Boom"), "{r}");
    assert_eq!(r["threw"]["message"], json!("kaboom"), "{r}");

    // A missing named import is an error, as with ES module linking.
    let b = bundle(
        &[
            (
                "main.js",
                "import { nope } from './m.js'; export default nope;",
            ),
            ("m.js", "export const yes = 1;"),
        ],
        "main.js",
    );
    let r = run(&b, "return null;");
    assert_eq!(r["threw"]["name"], json!("SyntaxError"), "{r}");
    assert!(
        r["threw"]["message"].as_str().unwrap().contains("nope"),
        "{r}"
    );
}

#[test]
fn loader_syntax_errors_have_original_positions() {
    let e = compile_err(&bundle(
        &[("main.js", "const a = 1;\n\nlet b = (;\n")],
        "main.js",
    ));
    assert_eq!(
        (e.module.as_str(), e.line, e.column),
        ("main.js", 3, 10),
        "{e}"
    );
    assert!(e.to_string().starts_with("main.js:3:10: "), "{e}");

    // TypeScript, in a module that is not the main one; error after a multi-byte char.
    let e = compile_err(&bundle(
        &[
            ("main.ts", "import './lib/t.ts';\nexport default 1;"),
            (
                "./lib/t.ts",
                "// é\ninterface A { x: number }\nconst v: A = { x: 1 } as A;\nfunction f(: number) {}\n",
            ),
        ],
        "main.ts",
    ));
    assert_eq!(
        (e.module.as_str(), e.line, e.column),
        ("./lib/t.ts", 4, 12),
        "{e}"
    );

    // Early errors V8 would raise too (caught here with their position).
    let e = compile_err(&bundle(
        &[("main.js", "let x = 1;\nlet x = 2;\n")],
        "main.js",
    ));
    assert_eq!((e.line, e.column), (2, 5), "{e}");
    assert!(e.message.contains('x'), "{e}");
}

#[test]
fn loader_rejects_imports_outside_the_bundle() {
    let modules = [
        (
            "main.js",
            "import './util.js';\nimport _ from \"lodash\";\n",
        ),
        ("util.js", ""),
    ];
    let e = compile_err(&bundle(&modules, "main.js"));
    assert_eq!(
        (e.module.as_str(), e.line, e.column),
        ("main.js", 2, 15),
        "{e}"
    );
    for needle in [
        "\"lodash\"",
        "main.js",
        "only the bundle's own modules can be imported",
        "./main.js, ./util.js",
    ] {
        assert!(e.message.contains(needle), "{needle}: {e}");
    }

    for (source, spec, line, column) in [
        ("import fs from 'node:fs';", "node:fs", 1, 16),
        (
            "export * from 'https://x.test/a.js';",
            "https://x.test/a.js",
            1,
            15,
        ),
        ("\n  export { x } from './missing';", "./missing", 2, 21),
        (
            "const m = await import('./missing.js');",
            "./missing.js",
            1,
            24,
        ),
        ("import x from '../outside.js';", "../outside.js", 1, 15),
    ] {
        let e = compile_err(&bundle(&[("main.js", source)], "main.js"));
        assert_eq!((e.line, e.column), (line, column), "{source}: {e}");
        assert!(e.message.contains(spec), "{e}");
    }

    // TypeScript: imports used only as types are erased and need not resolve;
    // value imports must.
    for (source, spec, line, column) in [
        (
            "import type { Env } from 'some-types';\nimport { readFile } from 'node:fs/promises';\nexport default readFile;",
            "node:fs/promises",
            2,
            26,
        ),
        (
            "import { x } from './missing.ts';\nexport default x as number;",
            "./missing.ts",
            1,
            19,
        ),
    ] {
        let e = compile_err(&bundle(&[("main.ts", source)], "main.ts"));
        assert_eq!((e.line, e.column), (line, column), "{source}: {e}");
        assert!(e.message.contains(spec), "{e}");
    }
}

#[test]
fn loader_bundle_level_errors() {
    let e = compile_err(&bundle(&[("main.js", "")], "index.js"));
    assert_eq!((e.module.as_str(), e.line, e.column), ("index.js", 0, 0));
    assert!(
        e.message.contains("not in the bundle") && e.message.contains("./main.js"),
        "{e}"
    );

    let e = compile_err(&bundle(&[("main.js", ""), ("./main.js", "")], "main.js"));
    assert_eq!((e.line, e.column), (0, 0));
    assert!(e.message.contains("duplicate"), "{e}");

    let e = compile_err(&bundle(&[], "main.js"));
    assert!(e.message.contains("no modules"), "{e}");

    let e = compile_err(&bundle(&[("../main.js", "")], "../main.js"));
    assert!(e.message.contains("invalid module name"), "{e}");

    let e = compile_err(&bundle(
        &[("main.jsx", "export default <div/>;")],
        "main.jsx",
    ));
    assert_eq!((e.line, e.column), (1, 16), "{e}");
    assert!(e.message.contains("JSX is not supported"), "{e}");

    let e = compile_err(&bundle(
        &[("main.ts", "import fs = require('fs');")],
        "main.ts",
    ));
    assert!(e.message.contains("require"), "{e}");

    let e = compile_err(&bundle(
        &[(
            "main.ts",
            "function dec(_: unknown) {}\n@dec class A {}\nexport default A;",
        )],
        "main.ts",
    ));
    assert_eq!((e.line, e.column), (2, 1), "{e}");
    assert!(e.message.contains("decorators are not supported"), "{e}");
}

#[test]
fn loader_main_module_names_are_normalised() {
    let b = bundle(
        &[(
            "./main.ts",
            "#!/usr/bin/env node\nexport default { ok: true as boolean };",
        )],
        "main.ts",
    );
    assert_eq!(value(&b, "return ns.default;"), json!({ "ok": true }));
}

fn big_module(lines: usize) -> String {
    let mut s = String::from("export interface Item { id: number; name: string }\n");
    let mut n = 1;
    while n < lines {
        let i = n;
        let _ = write!(
            s,
            "export function f{i}(items: Item[], k: number): number {{\n  let total = 0;\n  for (const it of items) {{\n    if (it.id % {m} === k) total += it.name.length * {i};\n  }}\n  return total;\n}}\n",
            m = i % 7 + 2
        );
        n += 7;
    }
    s.push_str("export default { run(): number { return f1([{ id: 1, name: 'ab' }], 1); } };\n");
    s
}

#[test]
fn loader_compile_time() {
    let small = Bundle::single("main.ts", "export default { run(): number { return 1; } };");
    let big_source = big_module(2000);
    let big = Bundle::single("main.ts", big_source.clone());
    for (what, b) in [("small module", &small), ("~2,000-line module", &big)] {
        compile_bundle(b).unwrap(); // warm up
        let runs = 5;
        let start = Instant::now();
        for _ in 0..runs {
            compile_bundle(b).unwrap();
        }
        let per = start.elapsed() / runs;
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        println!(
            "loader compile time ({profile}): {what} ({} lines, {} bytes): {per:?}",
            b.modules[0].source.lines().count(),
            b.modules[0].source.len()
        );
    }
    assert_eq!(value(&big, "return ns.default.run();"), json!(2));
}
