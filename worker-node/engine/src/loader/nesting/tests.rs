//! The scan on its own: what real code measures, and sources that try to
//! hide their nesting from it.

use super::MAX_NESTING;
use super::NestingError;
use super::check;
use super::measure;

fn units(source: &str) -> u32 {
    measure(source, source.contains(": "), u32::MAX)
        .unwrap_or_else(|e| panic!("{e:?} in {source:.200}"))
        .deepest
}

fn too_deep(source: &str, typescript: bool) -> bool {
    matches!(check(source, typescript), Err(NestingError::TooDeep { .. }))
}

/// `open` repeated `n` times, then `middle`, then `close` repeated.
fn nest(open: &str, middle: &str, close: &str, n: usize) -> String {
    format!("{}{middle}{}", open.repeat(n), close.repeat(n))
}

#[test]
fn nesting_of_real_code_is_far_below_the_limit() {
    let concatenation = format!("export const s = {}\"a\";", "\"a\" + ".repeat(1_000));
    assert!(units(&concatenation) < 1_100);
    let json = nest("{\"a\": [", "1", "]}", 250);
    assert!(
        units(&format!("export default {json};")) < 1_600,
        "{}",
        units(&json)
    );
    let else_ifs = format!(
        "let a; if (a) {{}}{}",
        "else if (a) { a(); } ".repeat(1_000)
    );
    assert!(units(&else_ifs) <= 2_010, "{}", units(&else_ifs));
    // Siblings never add up: statements, members, arguments, elements.
    let statements = "if (a) { b(c + d.e); } let x = f(g, h) * 2;\n".repeat(5_000);
    assert!(units(&statements) < 20);
    let class = format!(
        "class A {{ {} }}",
        "m(a) { return a + 1 } static n = 1;\n".repeat(2_000)
    );
    assert!(units(&class) < 20);
    let asi = "let a = b\nc()\nd = e + f\n".repeat(5_000);
    assert!(units(&asi) < 20);
    let switch = format!("switch (a) {{ {} }}", "case 1: case 2: f(); ".repeat(3_000));
    assert!(units(&switch) < 20);
    let object = format!("({{ {} }})", "a: b ? c : d, ".repeat(5_000));
    assert!(units(&object) < 20);
}

#[test]
fn nesting_every_construct_counts() {
    for (open, middle, close) in [
        ("(", "1", ")"),
        ("[", "", "]"),
        ("{a:", "1", "}"),
        ("!", "1", ""),
        ("typeof ", "1", ""),
        ("new ", "a", ""),
        ("a?b:", "c", ""),
        ("a?", "b", ":c"),
        ("a=", "1", ""),
        ("a=>", "1", ""),
        ("a**", "1", ""),
        ("a+", "a", ""),
        ("", "a", ".b"),
        ("", "a", "()"),
        ("", "a", "``"),
        ("`${", "1", "}`"),
        ("if(a)", ";", ""),
        ("if(a){}else ", ";", ""),
        ("do ", ";", "while(0);"),
        ("{", "", "}"),
        ("class extends ", "a", "{}"),
        ("async a=>", "1", ""),
        ("l:", ";", ""),
        ("/(", "", ")/"),
    ] {
        let shallow = units(&nest(open, middle, close, 100));
        let deep = units(&nest(open, middle, close, 1_000));
        assert!(
            deep >= shallow + 900,
            "{open}{middle}{close}: {shallow} -> {deep}"
        );
    }
    for (open, middle, close) in [
        ("A<", "T", ">"),
        ("keyof ", "T", ""),
        ("", "T", "[]"),
        ("", "a", ".b"),
        ("A extends B ? C : ", "T", ""),
        ("() => ", "T", ""),
        ("", "a", " as any"),
        ("", "a", "!"),
        ("a<", "a", ""),
        ("", "a", "<a>a"),
    ] {
        let source = |n| format!("let x: {};", nest(open, middle, close, n));
        let shallow = units(&source(100));
        let deep = units(&source(1_000));
        assert!(deep >= shallow + 900, "{open}{middle}{close}");
    }
}

#[test]
fn nesting_labels_and_statement_bodies_survive_commas_and_semicolons() {
    let labels: String = (0..5_000).map(|i| format!("l{i}:")).collect();
    assert!(too_deep(&format!("{labels} a, b;"), false));
    // `else` attaches to the innermost `if`: the depth carries over `;`.
    let chain = "if (a) x, y; else ".repeat(3_000);
    assert!(too_deep(&chain, false));
    let dos = format!("{} x; {}", "do ".repeat(3_000), "while (a); ".repeat(3_000));
    assert!(too_deep(&dos, false));
}

/// Each tries to make the scan read as a string, comment or regular
/// expression what the parser reads as code (or the other way round), to
/// hide deep nesting from it.
#[test]
fn nesting_cannot_be_hidden_from_the_scan() {
    let parens = "(".repeat(5_000);
    for (source, typescript) in [
        // `/'/` after the head of an `if` is a regular expression.
        (format!("if (a) /'/; {parens} '"), false),
        (format!("while (a) /'/; {parens} '"), false),
        (format!("for await (a of b) /'/; {parens} '"), false),
        // After `}`: a block (regex) or an object (division): both read.
        (format!("{{}} /'/; {parens} '"), false),
        (format!("x = {{}} /'/; {parens} '"), false),
        // After a line break, automatic semicolon insertion may apply.
        (format!("let x\n/'/; {parens} '"), false),
        (format!("let x: any\n/'/; {parens} '"), true),
        (format!("a\n++/'/; {parens} '"), false),
        // Words that may or may not be keywords.
        (format!("for (a of /'/) ; {parens} '"), false),
        (
            format!("async function f() {{ await /'/; {parens} ' }}"),
            false,
        ),
        (format!("\\u0069f (a) /'/; {parens} '"), false),
        (format!("i\\u0066 (a) /'/; {parens} '"), false),
        (format!("return\u{a0}/'/; {parens} '"), false),
        (format!("return\u{feff}/'/; {parens} '"), false),
        // TypeScript `>`: the end of type arguments, or a comparison.
        (format!("let y = a as Array<T> /'/; {parens} '"), true),
        (format!("f<T>\n/'/; {parens} '"), true),
        // Comments end where oxc ends them.
        (format!("// c\u{2028}{parens}"), false),
        (format!("// c\u{2029}{parens}"), false),
        (format!("// c\r{parens}"), false),
        (format!("/* c */{parens}"), false),
        (format!("a\n-->{parens}"), false),
        (format!("a <!-- b\n{parens}"), false),
        // Strings, templates and regular expressions end where oxc ends them.
        (format!("'\\\r\n'; {parens}"), false),
        (format!("'\u{2028}'; {parens}"), false),
        (format!("`${{'`'}}`; {parens}"), false),
        (format!("/[/]/; {parens}"), false),
        (format!("/\\//; {parens}"), false),
        (format!("`\\${{`; {parens}"), false),
    ] {
        assert!(
            too_deep(&source, typescript),
            "hidden: {:.80}",
            source.escape_debug()
        );
    }
}

#[test]
fn nesting_ends_where_the_parser_stops() {
    // The parser stops at the first unterminated string, and at the first
    // bracket that closes nothing; so does the scan.
    let parens = "(".repeat(5_000);
    for source in [
        format!("'abc\n{parens}"),
        format!(") {parens}"),
        format!("(] {parens}"),
        format!("/* {parens}"),
        format!("\n<!-- {parens}"),
    ] {
        assert_eq!(check(&source, false), Ok(()), "{source:.20}");
    }
}

#[test]
fn nesting_readings_of_slash_merge_again() {
    let source = "function f() {}\n/a/.test(b) && c / 2 / d;\nx = {} / 2;\n".repeat(2_000);
    let found = measure(&source, false, MAX_NESTING).unwrap();
    assert!(found.reached_end);
    assert!(found.forks >= 2_000, "{found:?}");
    assert!(found.most_readings <= 3, "{found:?}");
}

#[test]
fn nesting_error_points_at_the_place() {
    let source = format!("let a;\n{}", "(".repeat(100_000));
    let error = check(&source, false).unwrap_err();
    let offset = error.offset() as usize;
    assert!(offset > 7 && offset < 7 + 3_000, "{offset}");
    assert!(
        error
            .message()
            .contains(&format!("deeper than {MAX_NESTING} levels")),
        "{}",
        error.message()
    );
}

#[test]
fn nesting_too_many_live_readings_is_an_error() {
    // `({}/(/ 1 /)` reads as `({} / (/ 1 /)` (a `(` left open) and as
    // `({} /(/ 1 / )`; each repetition adds a reading one frame deeper.
    let source = "({}/(/ 1 /)".repeat(40);
    assert!(matches!(
        check(&source, false),
        Err(NestingError::TooAmbiguous { .. })
    ));
    assert!(check(&"({}/(/ 1 /)".repeat(4), false).is_ok());
}
