//! Sources that nest without bound: each is a compile error, never a crash
//! of the process compiling it; and the deepest nesting the loader accepts
//! compiles on its thread, however small the caller's stack.

use super::compile_bundle;
use super::nesting;
use crate::types::Bundle;

/// How deeply the hostile sources nest (arrays and templates: half).
const DEEP: usize = 100_000;

/// A construct nested `n` times: `prefix`, `open` repeated, `middle`,
/// `close` repeated, `suffix`.
pub(super) struct Nest {
    pub(super) module: &'static str,
    prefix: &'static str,
    pub(super) open: &'static str,
    pub(super) middle: &'static str,
    pub(super) close: &'static str,
    suffix: &'static str,
}

impl Nest {
    pub(super) fn source(&self, n: usize) -> String {
        format!(
            "{}{}{}{}{}",
            self.prefix,
            self.open.repeat(n),
            self.middle,
            self.close.repeat(n),
            self.suffix,
        )
    }
}

const fn js(
    prefix: &'static str,
    open: &'static str,
    middle: &'static str,
    close: &'static str,
) -> Nest {
    Nest {
        module: "main.js",
        prefix,
        open,
        middle,
        close,
        suffix: "",
    }
}

const fn ts(
    prefix: &'static str,
    open: &'static str,
    middle: &'static str,
    close: &'static str,
    suffix: &'static str,
) -> Nest {
    Nest {
        module: "main.ts",
        prefix,
        open,
        middle,
        close,
        suffix,
    }
}

pub(super) const CONSTRUCTS: &[Nest] = &[
    js("export default ", "(", "1", ")"),
    js("export default ", "", "\"a\"", " + \"a\""),
    js("export default ", "!", "1", ""),
    js("export default ", "[", "", "]"),
    js("export default ", "{a: ", "1", "}"),
    js("export default ", "`${", "1", "}`"),
    js("let a, b, c; export default ", "a ? b : ", "c", ""),
    js("let a, b, c; export default ", "a ? ", "b", " : c"),
    js("let a; export default a", "", "", ".b"),
    js("let a; export default a", "", "", "()"),
    js("let a; export default a", "", "", "?.b"),
    js("let a; export default a", "", "", "``"),
    js("export default ", "a => ", "1", ""),
    js("export default ", "async () => ", "1", ""),
    js("let a; ", "a = ", "1", ";"),
    js("let a; export default ", "a ** ", "1", ""),
    js("export default ", "new ", "Object", ""),
    js("export default ", "typeof ", "1", ""),
    js("export default ", "class extends ", "Object", " {}"),
    js("let a; ", "if (a) ", ";", ""),
    js("let a; if (a) {} ", "else if (a) {} ", "", ""),
    js("", "while (0) ", ";", ""),
    js("", "do ", ";", " while (0);"),
    js("", "{", "", "}"),
    js("", "function f() {", "", "}"),
    Nest {
        module: "main.js",
        prefix: "let ",
        open: "[",
        middle: "a",
        close: "]",
        suffix: " = [];",
    },
    Nest {
        module: "main.js",
        prefix: "export default /",
        open: "(",
        middle: "",
        close: ")",
        suffix: "/",
    },
    ts("let x: ", "Array<", "number", ">", ";"),
    ts("let x: ", "keyof ", "number", "", ";"),
    ts("let x: number", "", "", "[]", ";"),
    ts("type X<A> = ", "A extends number ? 1 : ", "2", "", ";"),
    ts("type X = ", "() => ", "1", "", ";"),
    ts("let a: any; export default ", "a < ", "a", "", ";"),
    ts("let a: any; export default a", "", "", " as any", ";"),
    ts("let a: any; export default a", "", "", "!", ";"),
    ts("namespace a", "", "", ".b", " {}"),
    ts("let x: a", "", "", ".b", ";"),
    ts("", "namespace a { ", "", "}", ""),
    ts("let x = ", "class { x: number = ", "1", " }", ";"),
    js("export default ", "class { static x = ", "1", " }"),
    js("export default ", "function* () { yield ", "1", " }"),
    js("let a; export default ", "a?.(", "", ")"),
    js(
        "export default ",
        "async function () { for await (const x of ",
        "[]",
        ") {} }",
    ),
    js("export default ", "({ a = ", "1", " } = {}) => 1"),
    // Hidden behind what a careless scan reads as a string or comment.
    js("let a; if (a) /'/; ", "(", "1", ")"),
    js("{} /'/; ", "(", "1", ")"),
    js("// \u{2028}", "(", "1", ")"),
];

fn bundle(module: &str, source: String) -> Bundle {
    Bundle::single(module, source)
}

#[test]
fn loader_deep_nesting_is_a_compile_error_not_a_crash() {
    for (i, nest) in CONSTRUCTS.iter().enumerate() {
        let n = if nest.open.contains('[') || nest.open.contains('`') {
            DEEP / 2
        } else {
            DEEP
        };
        let source = nest.source(n);
        let error = compile_bundle(&bundle(nest.module, source))
            .expect_err("a module nesting this deep must not compile");
        assert!(
            error.message.contains("nests expressions deeper than"),
            "construct {i} ({}{}): {error}",
            nest.open,
            nest.close
        );
        assert!(error.line >= 1 && error.column >= 1, "{error}");
    }
}

/// The largest `n` whose source the scan accepts.
pub(super) fn deepest_accepted(nest: &Nest) -> usize {
    let typescript = nest.module.ends_with(".ts");
    let (mut low, mut high) = (0, 4 * nesting::MAX_NESTING as usize);
    while low < high {
        let mid = (low + high).div_ceil(2);
        if nesting::check(&nest.source(mid), typescript).is_ok() {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

#[test]
fn loader_deepest_accepted_nesting_compiles() {
    for nest in CONSTRUCTS {
        let n = deepest_accepted(nest);
        assert!(n >= 100, "{}{}: only {n} levels", nest.open, nest.close);
        let result = compile_bundle(&bundle(nest.module, nest.source(n)));
        if let Err(error) = &result {
            // Some constructs are not valid code at all (`/` alone, `a = 1`
            // nested, TypeScript namespaces in a module...): those must fail
            // with the parser's error, not the nesting one.
            assert!(
                !error.message.contains("nests expressions deeper"),
                "{}{} at {n}: {error}",
                nest.open,
                nest.close
            );
        }
    }
}

#[test]
fn loader_compiles_deep_real_code() {
    let concatenation = format!("export default {}\"a\";", "\"a\" + ".repeat(1_000));
    let json = format!(
        "export default {}1{};",
        "{\"a\": [".repeat(300),
        "]}".repeat(300)
    );
    let ternaries = format!(
        "export default (x) => {}0;",
        (0..1_000)
            .map(|i| format!("x === {i} ? {i} : "))
            .collect::<String>()
    );
    for source in [concatenation, json, ternaries] {
        let script = compile_bundle(&bundle("main.js", source.clone()));
        assert!(script.is_ok(), "{:?}: {source:.60}", script.err());
    }
}

#[test]
fn loader_compiles_deep_code_from_a_small_stack() {
    let nest = &CONSTRUCTS[0];
    let source = nest.source(deepest_accepted(nest));
    let result = std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(move || compile_bundle(&bundle("main.js", source)).map(|_| ()))
        .expect("thread")
        .join()
        .expect("the caller's small stack is never used for compiling");
    assert_eq!(result, Ok(()));
}
