//! `edgectl exec` against hostile Workers and odd flags: deep nesting is a
//! `compile` error (never an abort), out-of-range flags are usage errors,
//! modules never come from outside the bundle directory, and tricky results
//! print as their values.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::process::Output;

use serde_json::Value;

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgectl"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("edgectl runs")
}

/// Exit code, the one JSON object on stdout, stdout and stderr as text.
fn edgectl(args: &[&str], dir: &Path) -> (i32, Value, String, String) {
    let output = run(args, dir);
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 stdout");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one line on stdout, got {stdout:?} ({stderr})"
    );
    let value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    let code = output
        .status
        .code()
        .expect("exited, not killed by a signal");
    (code, value, stdout, stderr)
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn deep_nesting_is_a_compile_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    for (name, source) in [
        (
            "parens.js",
            format!(
                "export default {{ run() {{ return {}1{}; }} }};",
                "(".repeat(100_000),
                ")".repeat(100_000)
            ),
        ),
        (
            "concat.js",
            format!(
                "export default {{ run() {{ return {}\"a\"; }} }};",
                "\"a\" + ".repeat(100_000)
            ),
        ),
        (
            "hidden.js",
            format!("{{}} /'/; {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
        ),
    ] {
        write(dir.path(), name, &source);
        let (code, value, _, _) = edgectl(&["exec", "--file", name, "--call", "run"], dir.path());
        assert_eq!(code, 1, "{name}: {value}");
        assert_eq!(value["error"]["kind"], "compile", "{name}: {value}");
        let message = value["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("nests expressions deeper than"),
            "{message}"
        );
    }
}

#[test]
fn out_of_range_limits_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.js",
        "export default { run() { return 1; } };",
    );
    for flags in [
        ["--memory-mb", "17592186044415"],
        ["--memory-mb", "17592186044416"],
        ["--memory-mb", "18446744073709551615"],
        ["--memory-mb", "4097"],
        ["--memory-mb", "0"],
        ["--timeout-ms", "0"],
        ["--timeout-ms", "18446744073709551615"],
        ["--cpu-ms", "0"],
        ["--cpu-ms", "900001"],
    ] {
        let mut args = vec!["exec", "--file", "w.js", "--call", "run"];
        args.extend(flags);
        let (code, value, _, _) = edgectl(&args, dir.path());
        assert_eq!(code, 2, "{flags:?}: {value}");
        assert_eq!(value["error"]["kind"], "bad_request", "{flags:?}");
        let message = value["error"]["message"].as_str().unwrap();
        assert!(message.contains(flags[0]), "{flags:?}: {message}");
    }
    let (code, value, _, _) = edgectl(
        &[
            "exec",
            "--file",
            "w.js",
            "--call",
            "run",
            "--memory-mb",
            "4096",
        ],
        dir.path(),
    );
    assert_eq!((code, &value["value"]), (0, &Value::from(1)), "{value}");
}

#[test]
fn invalid_requests_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.js",
        "export default { fetch() { return new Response('ok'); } };",
    );
    for flags in [
        vec!["--method", "GE T"],
        vec!["--method", "GET\r\nX-Evil: 1"],
        vec!["--header", "x-a: 1\r\nx-evil: 2"],
        vec!["--header", "bad name: 1"],
        vec!["--header", ": empty"],
        vec!["--fetch", "/relative"],
        vec!["--fetch", "file:///etc/passwd"],
        vec!["--fetch", "http://x/\r\n"],
    ] {
        let mut args = vec!["exec", "--file", "w.js"];
        args.extend(flags.iter().copied());
        let output = run(&args, dir.path());
        let stdout = String::from_utf8(output.stdout).unwrap();
        let value: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {value}");
        assert_eq!(value["error"]["kind"], "bad_request", "{flags:?}");
    }
}

/// A host file's first line and a marker in a file outside the bundle
/// directory: neither may appear anywhere in what `edgectl exec` prints.
const PASSWD_LINE: &str = "root:x:0:0";
const OUTSIDE_MARKER: &str = "outside-the-bundle-4d1c9e";

fn assert_no_leak(stdout: &str, stderr: &str) {
    for secret in [PASSWD_LINE, OUTSIDE_MARKER] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked: {stdout} {stderr}"
        );
    }
}

#[test]
fn gathered_modules_never_come_from_outside_the_bundle_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "outside/secret.js",
        &format!("throw new Error('{OUTSIDE_MARKER}');\n"),
    );
    write(
        root,
        "outside/lib/x.js",
        &format!("throw new Error('{OUTSIDE_MARKER}');\n"),
    );
    write(root, "app/inside/real.js", "export const n = 41;\n");
    symlink("/etc/passwd", root.join("app/passwd.js")).unwrap();
    symlink(root.join("outside/secret.js"), root.join("app/secret.js")).unwrap();
    symlink("../outside/lib", root.join("app/lib")).unwrap();
    symlink("inside/real.js", root.join("app/alias.js")).unwrap();

    for import in ["./passwd.js", "./secret.js", "./lib/x.js", "./secret"] {
        let main = format!(
            "import * as m from '{import}';\nexport default {{ run() {{ return String(Object.keys(m)); }} }};\n"
        );
        write(root, "app/main.js", &main);
        let (code, value, stdout, stderr) =
            edgectl(&["exec", "--file", "app/main.js", "--call", "run"], root);
        assert_eq!(code, 2, "{import}: {value}");
        assert_eq!(value["error"]["kind"], "bad_request");
        assert!(
            value["error"]["message"]
                .as_str()
                .unwrap()
                .contains("outside"),
            "{value}"
        );
        assert_no_leak(&stdout, &stderr);
    }

    // A link that stays inside the directory is followed.
    write(
        root,
        "app/main.js",
        "import { n } from './alias.js';\nexport default { run() { return n + 1; } };\n",
    );
    let (code, value, _, _) = edgectl(&["exec", "--file", "app/main.js", "--call", "run"], root);
    assert_eq!((code, &value["value"]), (0, &Value::from(42)), "{value}");
}

#[test]
fn files_named_on_the_command_line_may_be_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "elsewhere/w.js",
        "import { n } from './n.js';\nexport default { run() { return n; } };\n",
    );
    write(root, "elsewhere/n.js", "export const n = 1;\n");
    write(root, "app/n.js", "export const n = 2;\n");
    write(root, "shared/m.js", "export const m = 3;\n");
    symlink(root.join("elsewhere/w.js"), root.join("app/main.js")).unwrap();
    // `--file` is read through its link; its imports come from the link's
    // directory, where the user pointed.
    let (code, value, _, _) = edgectl(&["exec", "--file", "app/main.js", "--call", "run"], root);
    assert_eq!((code, &value["value"]), (0, &Value::from(2)), "{value}");
    symlink(root.join("shared/m.js"), root.join("m-link.js")).unwrap();
    write(
        root,
        "main2.js",
        "import { m } from './m.js';\nexport default { run() { return m; } };\n",
    );
    let (code, value, _, _) = edgectl(
        &[
            "exec",
            "--file",
            "main2.js",
            "--module",
            "./m.js=m-link.js",
            "--call",
            "run",
        ],
        root,
    );
    assert_eq!((code, &value["value"]), (0, &Value::from(3)), "{value}");
}

#[test]
fn tricky_results_print_as_their_values() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.js",
        "export default {\n\
           lone() { return '\\ud800'; },\n\
           deep() { let v = 0; for (let i = 0; i < 300; i++) v = [v]; return v; },\n\
           deepObject() { let v = null; for (let i = 0; i < 250; i++) v = { a: v }; return v; },\n\
           fetch() { const h = new Headers(); h.append('set-cookie', 'a=1'); h.append('set-cookie', 'b=2'); h.set('x-one', '1'); return new Response('ok', { headers: h }); },\n\
         };\n",
    );
    let output = run(&["exec", "--file", "w.js", "--call", "lone"], dir.path());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    // The engine makes strings well-formed (U+FFFD); JSON text that kept
    // the escape would be printed as it is. Never the JSON text as a string.
    let kept = stdout.starts_with("{\"ok\":true,\"value\":\"\\ud800\",\"stats\":{");
    let replaced = serde_json::from_str::<Value>(&stdout).is_ok_and(|v| v["value"] == "\u{fffd}");
    assert!(kept || replaced, "{stdout}");

    let output = run(&["exec", "--file", "w.js", "--call", "deep"], dir.path());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let expected = format!(
        "{{\"ok\":true,\"value\":{}0{},",
        "[".repeat(300),
        "]".repeat(300)
    );
    assert!(stdout.starts_with(&expected), "{stdout:.400}");

    let output = run(
        &["exec", "--file", "w.js", "--call", "deepObject"],
        dir.path(),
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let expected = format!(
        "{{\"ok\":true,\"value\":{}null{},",
        "{\"a\":".repeat(250),
        "}".repeat(250)
    );
    assert!(stdout.starts_with(&expected), "{stdout:.400}");

    let (code, value, _, _) = edgectl(&["exec", "--file", "w.js"], dir.path());
    assert_eq!(code, 0, "{value}");
    assert_eq!(
        value["value"]["headers"]["set-cookie"],
        serde_json::json!(["a=1", "b=2"]),
        "{value}"
    );
    assert_eq!(value["value"]["headers"]["x-one"], "1");
}
