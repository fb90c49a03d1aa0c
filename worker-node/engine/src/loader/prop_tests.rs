//! Property tests: whatever the bundle — mutated real Workers, token soup,
//! hostile module names, odd bundle shapes — `compile_bundle` returns a
//! script or a `CompileError`: it never panics, aborts or hangs. The default
//! run tries proptest's default number of cases (256) per property;
//! `PROPTEST_CASES=10000` runs longer.

use oxc::allocator::Allocator;
use oxc::parser::ParseOptions;
use oxc::parser::Parser;
use oxc::span::SourceType;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::compile_bundle;
use super::deep_tests::CONSTRUCTS;
use super::nesting;
use super::stack_cost::stack_used;
use crate::types::Bundle;
use crate::types::Module;

/// Real code to mutate: the example Workers, the engine's own JS, snippets
/// with every lexical corner the nesting scan reads.
const SEEDS: &[(&str, &str)] = &[
    ("hello.ts", include_str!("../../../../examples/hello.ts")),
    (
        "greeting.ts",
        include_str!("../../../../examples/greeting.ts"),
    ),
    ("runtime.js", include_str!("runtime.js")),
    ("webapi.js", include_str!("../webapi.js")),
    (
        "conformance.js",
        include_str!("../../tests/js/webapi_conformance.js"),
    ),
    (
        "corners.js",
        "#!/usr/bin/env node\nimport { a } from './a.js';\nlabel: for (const x of [1, 2]) { if (x) /re[/]x/g.test(`t${x}`) ? 1 : 2; else break label; }\n\
         const o = { get a() { return this.b?.c ?? 1 }, ['k' + 1]: 2, async *g() { yield* [1] } };\n\
         x = a\n/ 2 / b; y = {} / 1; z = '\\\r\n\u{2028}'; /* \u{2029} */ export default o;\n",
    ),
    (
        "corners.ts",
        "enum E { A = 1 }\nnamespace N.M { export const x: Array<Map<string, number>> = new Map<string, number>() as any; }\n\
         type T<X> = X extends string ? `s${X}` : keyof X;\nabstract class C<T,> { private readonly x!: T; abstract m(): void }\n\
         export default { run(i: unknown): number { return (i as number) >> 1 >>> 2 < 3 ? 1 : 0 } };\n",
    ),
];

/// Tokens to splice in: brackets, quotes, comment openers, regex and
/// template starts, line terminators, keywords that change how `/` reads.
const TOKENS: &[&str] = &[
    "(", ")", "[", "]", "{", "}", "${", "`", "'", "\"", "/", "//", "/*", "*/", "\\", "\n", "\r",
    "\u{2028}", "\u{feff}", "<!--", "-->", "#!", "<", ">", ">>", "=>", "?.", "...", "if", "else",
    "do", "while", "for", "of", "await", "yield", "let", "return", "typeof", "case", "default",
    "class", "extends", "function", "import", "export", "as", "x", "0", "1e+5", ".5", "#p", "@",
    ":", ";", ",", "=", "!", "?", "\u{fffd}", "\0", "é",
];

/// Prefixes that try to make the nesting scan misread what follows.
const HIDING_PREFIXES: &[&str] = &[
    "",
    "let a; if (a) /'/; ",
    "{} /'/; ",
    "let x\n/'/; ",
    "// \u{2028}",
    "a\n++/'/; ",
    "for (a of /'/) ; ",
    "`${'`'}`; ",
    "/[/]'/; ",
    "\n<!-- '\n",
    "x = {} /'/; ",
];

/// Stack a compile uses before any nesting, and the most one unit of
/// nesting may add (the costliest measured is 1.55 KB in a debug build).
const STACK_BASE_BYTES: usize = 512 * 1024;
const STACK_BYTES_PER_UNIT: usize = 2 * 1024;

/// Edits to a seed, applied in order.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
    Replace(usize, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), prop::sample::select(TOKENS)).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), 0usize..64).prop_map(|(at, n)| Edit::Delete(at, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 0usize..64).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        (any::<usize>(), any::<char>()).prop_map(|(at, c)| Edit::Replace(at, c)),
    ]
}

/// The char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, edit: &Edit) {
    match *edit {
        Edit::Insert(at, token) => text.insert_str(boundary(text, at), token),
        Edit::Delete(at, n) => {
            let start = boundary(text, at);
            let end = boundary(text, start + n).max(start);
            text.replace_range(start..end, "");
        }
        Edit::Truncate(at) => text.truncate(boundary(text, at)),
        Edit::Duplicate(at, n) => {
            let start = boundary(text, at);
            let end = boundary(text, start + n).max(start);
            let copy = text[start..end].to_owned();
            text.insert_str(end, &copy);
        }
        Edit::Replace(at, c) => {
            let start = boundary(text, at);
            if let Some(old) = text[start..].chars().next() {
                text.replace_range(start..start + old.len_utf8(), c.encode_utf8(&mut [0; 4]));
            }
        }
    }
}

/// Compiles, and checks what must hold of any source: no panic escapes,
/// and a module oxc parses is one the nesting scan read to its end.
fn compiles_or_fails_cleanly(bundle: &Bundle) -> Result<(), TestCaseError> {
    if let Err(error) = compile_bundle(bundle) {
        prop_assert!(!error.message.is_empty());
    }
    for module in &bundle.modules {
        let typescript = [".ts", ".mts", ".cts", ".tsx"]
            .iter()
            .any(|e| module.name.ends_with(e));
        if let Ok(found) = nesting::measure(&module.source, typescript, nesting::MAX_NESTING)
            && parses(&module.source, typescript)
        {
            prop_assert!(found.reached_end, "scan stopped early in {:?}", module.name);
        }
    }
    Ok(())
}

/// Whether oxc parses `source` as a module without error.
fn parses(source: &str, typescript: bool) -> bool {
    let allocator = Allocator::default();
    let source_type = if typescript {
        SourceType::ts().with_module(true)
    } else {
        SourceType::mjs()
    };
    let options = ParseOptions {
        parse_regular_expression: true,
        ..ParseOptions::default()
    };
    let parsed = Parser::new(&allocator, source, source_type)
        .with_options(options)
        .parse();
    parsed.diagnostics.errors().next().is_none()
}

fn bundle_of(name: &str, source: String) -> Bundle {
    Bundle::single(name, source)
}

proptest! {
    #[test]
    fn loader_mutated_workers_compile_or_fail_cleanly(
        seed in prop::sample::select(SEEDS),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        let mut source = seed.1.to_owned();
        for edit in &edits {
            apply(&mut source, edit);
        }
        compiles_or_fails_cleanly(&bundle_of(seed.0, source))?;
    }

    #[test]
    fn loader_token_soup_compiles_or_fails_cleanly(
        tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..200),
        separators in prop::collection::vec(prop::sample::select(&[" ", "", "\n"][..]), 200),
        typescript in any::<bool>(),
    ) {
        let source: String = tokens
            .iter()
            .zip(&separators)
            .flat_map(|(token, separator)| [*token, *separator])
            .collect();
        let name = if typescript { "main.ts" } else { "main.js" };
        compiles_or_fails_cleanly(&bundle_of(name, source))?;
    }

    #[test]
    fn loader_stack_use_is_bounded_by_the_scan(
        construct in 0..CONSTRUCTS.len(),
        depth in 1usize..600,
        prefix in prop::sample::select(HIDING_PREFIXES),
        edits in prop::collection::vec(edit(), 0..4),
    ) {
        let nest = &CONSTRUCTS[construct];
        let mut source = format!("{prefix}{}", nest.source(depth));
        for edit in &edits {
            apply(&mut source, edit);
        }
        let typescript = nest.module.ends_with(".ts");
        let (bytes, compiled, _) = stack_used(nest.module, &source);
        if compiled {
            let units = nesting::measure(&source, typescript, u32::MAX)
                .map_or(0, |found| found.deepest);
            let bound = STACK_BASE_BYTES + units as usize * STACK_BYTES_PER_UNIT;
            prop_assert!(bytes <= bound, "{bytes} bytes of stack for {units} units: {source:.200}");
        }
    }

    #[test]
    fn loader_any_bundle_shape_compiles_or_fails_cleanly(
        names in prop::collection::vec(module_name(), 0..6),
        sources in prop::collection::vec(prop::sample::select(SEEDS), 6),
        main in module_name(),
        main_is_first in any::<bool>(),
    ) {
        let modules: Vec<Module> = names
            .iter()
            .zip(&sources)
            .map(|(name, seed)| Module { name: name.clone(), source: seed.1.to_owned() })
            .collect();
        let main_module = match modules.first() {
            Some(first) if main_is_first => first.name.clone(),
            _ => main,
        };
        compiles_or_fails_cleanly(&Bundle { modules, main_module })?;
    }
}

/// Module names, ordinary and not: `..`, absolute paths, NUL, backslashes,
/// line separators, empty, very long.
fn module_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "main.js",
                "./main.ts",
                "lib/util.ts",
                "/abs/x.js",
                "../up.js",
                "a/../../b.js",
                ".",
                "..",
                "",
                " ",
                "a\0b.js",
                "a\\b.js",
                "x\u{2028}.js",
                "./a/./b/../c.mts",
                "bundle:///x.js",
                "main.jsx",
                "main.tsx",
                "index",
            ][..]
        )
        .prop_map(str::to_owned),
        "[a-z./\\\\\u{0}-\u{1f}é]{0,40}",
        (1usize..5_000).prop_map(|n| format!("{}.js", "a/".repeat(n))),
    ]
}
