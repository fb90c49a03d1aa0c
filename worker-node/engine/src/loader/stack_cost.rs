//! What one unit of nesting costs on the compiler's stack, measured: the
//! deepest source of each hostile construct the loader accepts must compile
//! in a small part of `COMPILE_STACK_BYTES`, so an oxc upgrade that makes a
//! pass recurse more expensively fails here, not in production.
//!
//! `cargo test -p edge-engine --no-default-features --lib stack_cost -- --nocapture`
//! prints the cost per unit (`--release` for release builds; `MIX_RUNS=n`
//! for more random mixes of constructs; `--include-ignored` with
//! `CORPUS=a-file-listing-js-files` for how deeply real code nests).
//!
//! Measured when the limits were chosen (oxc 0.146), in bytes of stack per
//! unit, at the deepest nesting accepted: debug builds at most 1,548
//! (destructuring defaults in arrow parameters; 6.2 MB in all), 1,492 for
//! TypeScript namespaces, 1,424 for class heritage chains and parentheses,
//! 1,122 for random mixes; release builds at most 905 (nested templates;
//! 3.6 MB in all), 556 for random mixes.

#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;
use std::time::Instant;

use super::COMPILE_STACK_BYTES;
use super::deep_tests::CONSTRUCTS;
use super::deep_tests::deepest_accepted;
use super::nesting;
use super::transform;

/// The stack a compile may use, as a share of `COMPILE_STACK_BYTES`: the
/// rest is margin for what the measurements did not try.
const STACK_SHARE: usize = 16;

/// Resident bytes of the mapping that holds the calling thread's stack.
fn resident_stack_bytes() -> usize {
    let marker = 0u8;
    let here = std::ptr::addr_of!(marker) as usize;
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
    let mut inside = false;
    for line in smaps.lines() {
        let range = line.split_once(' ').and_then(|(r, _)| r.split_once('-'));
        if let Some((a, b)) = range
            && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            inside = a <= here && here < b;
            continue;
        }
        if inside && let Some(rest) = line.strip_prefix("Rss:") {
            let kib = rest.trim().trim_end_matches("kB").trim();
            return kib.parse::<usize>().expect("Rss in kB") * 1024;
        }
    }
    0
}

/// Compiles one module on a fresh thread with the compiler's stack: the
/// stack bytes it touched, whether it compiled, and how long it took.
pub(super) fn stack_used(module: &str, source: &str) -> (usize, bool, f64) {
    let (module, source) = (module.to_owned(), source.to_owned());
    std::thread::Builder::new()
        .stack_size(COMPILE_STACK_BYTES)
        .spawn(move || {
            let before = resident_stack_bytes();
            let modules: BTreeSet<String> = [module.clone()].into_iter().collect();
            let cx = transform::ModuleContext {
                name: &module,
                canonical: &module,
                modules: &modules,
            };
            let started = Instant::now();
            let compiled = transform::compile_module(&cx, &source).is_ok();
            let seconds = started.elapsed().as_secs_f64();
            (
                resident_stack_bytes().saturating_sub(before),
                compiled,
                seconds,
            )
        })
        .expect("thread")
        .join()
        .expect("the compile does not panic")
}

fn units(source: &str, typescript: bool) -> u32 {
    nesting::measure(source, typescript, u32::MAX)
        .expect("measurable")
        .deepest
}

#[test]
fn loader_stack_cost_leaves_a_wide_margin() {
    let budget = COMPILE_STACK_BYTES / STACK_SHARE;
    for nest in CONSTRUCTS {
        let typescript = nest.module.ends_with(".ts");
        let deepest = deepest_accepted(nest);
        let shallow = nest.source(deepest / 4);
        let deep = nest.source(deepest);
        let (low, _, _) = stack_used(nest.module, &shallow);
        let (high, compiled, seconds) = stack_used(nest.module, &deep);
        let per_unit = high.saturating_sub(low) as f64
            / f64::from(units(&deep, typescript) - units(&shallow, typescript)).max(1.0);
        println!(
            "{:>36}  {deepest:>5} levels  {high:>9} bytes  {per_unit:>5.0} B/unit  compiled {compiled:5}  {seconds:.3}s",
            format!("{}{}{}", nest.open, nest.middle, nest.close),
        );
        assert!(
            high <= budget,
            "{}{}: {high} bytes of stack at {deepest} levels, more than 1/{STACK_SHARE} of the compiler's",
            nest.open,
            nest.close
        );
    }
}

#[test]
fn loader_stack_cost_of_mixed_constructs() {
    let runs: u64 = std::env::var("MIX_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let budget = COMPILE_STACK_BYTES / STACK_SHARE;
    let (base, _, _) = stack_used("m.js", "export default 1;");
    let mut worst = 0f64;
    for seed in 1..=runs {
        for ts in [false, true] {
            let mut source = mix(seed * 7919, 400, ts);
            if !ts {
                source = source.replace(": any", "");
            }
            let (bytes, compiled, _) = stack_used(if ts { "m.ts" } else { "m.js" }, &source);
            assert!(compiled, "seed {seed}: {source:.200}");
            assert!(bytes <= budget, "seed {seed}: {bytes} bytes");
            let per_unit = bytes.saturating_sub(base) as f64 / f64::from(units(&source, ts));
            worst = worst.max(per_unit);
        }
    }
    println!("random mixes: at most {worst:.0} B/unit");
}

/// With `CORPUS` naming a file that lists JS/TS files: how deeply real code
/// nests, and that the scan reads to the end every file oxc parses.
#[test]
#[ignore = "needs CORPUS, a file listing JavaScript files"]
fn loader_nesting_of_a_corpus() {
    let Ok(list) =
        std::env::var("CORPUS").map(|path| std::fs::read_to_string(path).expect("CORPUS"))
    else {
        return;
    };
    let (mut files, mut deepest, mut forks) = (0, 0, 0);
    for path in list.lines() {
        let Ok(source) = std::fs::read_to_string(path) else {
            continue;
        };
        let typescript = path.ends_with(".ts");
        let found = nesting::measure(&source, typescript, u32::MAX);
        let allocator = oxc::allocator::Allocator::default();
        let source_type = if typescript {
            oxc::span::SourceType::ts().with_module(true)
        } else {
            oxc::span::SourceType::mjs()
        };
        let parsed = oxc::parser::Parser::new(&allocator, &source, source_type).parse();
        if parsed.diagnostics.errors().next().is_none() {
            let found = found.as_ref().expect("real code is measurable");
            assert!(found.reached_end, "{path}");
        }
        if let Ok(found) = found {
            files += 1;
            deepest = deepest.max(found.deepest);
            forks += found.forks;
        }
    }
    println!("{files} files: deepest {deepest} units, {forks} ambiguous `/`");
}

/// Expression templates: (template, `X` must be an operand, the result is one).
const EXPR: &[(&str, bool, bool)] = &[
    ("(X)", false, true),
    ("[X]", false, true),
    ("({a: X})", false, true),
    ("!X", true, false),
    ("a ? X : b", false, false),
    ("a ? b : X", false, false),
    ("X + a", true, false),
    ("a + X", true, false),
    ("X.b", true, true),
    ("X()", true, true),
    ("f(X)", false, true),
    ("`${X}`", false, true),
    ("a => (X)", false, false),
    ("((a) => { return X; })", false, true),
    ("(function () { return X; })", false, true),
    ("new (X)", false, false),
    ("typeof X", true, false),
    ("a = X", false, false),
    ("X ** a", true, false),
    ("a ** X", true, false),
    ("[...X]", false, true),
    ("({...X})", false, true),
    ("(class extends X {})", true, true),
    ("X`t`", true, true),
    ("(async () => await X)", true, true),
    ("a?.[X]", false, false),
    ("X?.b", true, false),
    ("-X", true, false),
    ("a || X", true, false),
    ("X && a", true, false),
    ("(a, X)", false, true),
    ("void X", true, false),
    ("[a, X]", false, true),
    ("({ get a() { return X; } })", false, true),
    ("(async () => X)", false, true),
    ("X[0]", true, true),
    ("/(a)/.test(X)", false, true),
    ("X.b.c.d", true, true),
    ("a + b + X", true, false),
    ("f(a, X, b)", false, true),
];
/// Statement templates around a statement `S`.
const STMT: &[&str] = &[
    "if (a) S",
    "if (a) {} else S",
    "l: S",
    "while (a) S",
    "do S while (a);",
    "{ S }",
    "for (;;) S",
    "try { S } catch {}",
    "switch (a) { case 1: S }",
    "{ function f() { S } }",
    "{ class C { m() { S } } }",
    "if (a) S else ;",
    "for (const x of a) S",
];
/// TypeScript expression templates, as [`EXPR`].
const TS_EXPR: &[(&str, bool, bool)] = &[
    ("X as any", true, false),
    ("X!", true, true),
    ("(<any>X)", true, true),
    ("f<T>(X)", false, true),
    ("((a: number): any => X)", false, true),
];
/// Type templates around a type `X`.
const TS_TYPE: &[&str] = &[
    "Array<X>",
    "keyof X",
    "X[]",
    "{ a: X }",
    "[X]",
    "(() => X)",
    "(X extends a ? b : c)",
    "(a extends b ? X : c)",
    "X | a",
    "readonly (X)[]",
    "(X)",
    "Map<a, X>",
];

/// xorshift64: reproducible without a dependency.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// What the source built so far is.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Expr { operand: bool },
    Stmt,
    Type,
}

/// A valid module nesting `levels` random constructs (TypeScript when `ts`).
fn mix(seed: u64, levels: usize, ts: bool) -> String {
    let mut state = seed.max(1);
    let mut out = String::from("a");
    let mut kind = if ts && seed % 2 == 1 {
        Kind::Type
    } else {
        Kind::Expr { operand: true }
    };
    for _ in 0..levels {
        let r = rng(&mut state) as usize;
        match kind {
            Kind::Type => {
                if r.is_multiple_of(40) {
                    out = format!("(null as any as {out})");
                    kind = Kind::Expr { operand: true };
                } else {
                    out = TS_TYPE[r % TS_TYPE.len()].replace('X', &out);
                }
            }
            Kind::Stmt => {
                if r.is_multiple_of(6) {
                    out = format!("(function () {{ {out} }})");
                    kind = Kind::Expr { operand: true };
                } else {
                    let label = format!("l{r}:");
                    out = STMT[r % STMT.len()]
                        .replace("l:", &label)
                        .replace('S', &out);
                }
            }
            Kind::Expr { operand } => {
                if r.is_multiple_of(7) {
                    out = format!("({out});");
                    kind = Kind::Stmt;
                    continue;
                }
                let (template, needs, gives) = if ts && r.is_multiple_of(5) {
                    TS_EXPR[(r / 5) % TS_EXPR.len()]
                } else {
                    EXPR[r % EXPR.len()]
                };
                let inner = if needs && !operand {
                    format!("({out})")
                } else {
                    out.clone()
                };
                out = template.replacen('X', &inner, 1);
                kind = Kind::Expr { operand: gives };
            }
        }
    }
    match kind {
        Kind::Type => format!("let a: any, b: any, c: any; type T = {out};"),
        Kind::Stmt => format!("let a: any, b: any, f: any; {out}"),
        Kind::Expr { .. } => format!("let a: any, b: any, f: any; export default ({out});"),
    }
}
