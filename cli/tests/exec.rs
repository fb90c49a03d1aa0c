//! `edgectl exec` as a user runs it: one JSON object on stdout, exit codes
//! 0 (success), 1 (the Worker failed), 2 (usage error).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn edgectl(args: &[&str], dir: &Path) -> (i32, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_edgectl"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("edgectl runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stdout, got {stdout:?}");
    let value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    (
        output.status.code().unwrap(),
        value,
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn call_prints_value_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "main.ts",
        "import { double } from './lib.ts';\nexport default { async run(input: { n: number }) { console.log('running'); return double(input.n); } };\n",
    );
    write(
        dir.path(),
        "src/lib.ts",
        "export const double = (n: number): number => n * 2;\n",
    );
    let (code, value, stderr) = edgectl(
        &[
            "exec",
            "--file",
            "main.ts",
            "--module",
            "./lib.ts=src/lib.ts",
            "--call",
            "run",
            "--input",
            r#"{"n":21}"#,
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["ok"], true);
    assert_eq!(value["value"], 42);
    for stat in ["load_ms", "run_ms", "cpu_ms", "heap_used_bytes"] {
        assert!(
            value["stats"][stat].as_f64().is_some_and(|x| x > 0.0),
            "{stat} in {value}"
        );
    }
    assert!(
        stderr.contains("running"),
        "console output goes to stderr: {stderr:?}"
    );
}

#[test]
fn fetch_prints_status_headers_and_body() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "worker.js",
        "export default { async fetch(req) { return new Response(`${req.method} ${new URL(req.url).pathname} ${req.headers.get('x-a')} ${await req.text()}`, { status: 202, headers: { 'x-b': '2' } }); } };",
    );
    let (code, value, _) = edgectl(
        &[
            "exec",
            "--file",
            "worker.js",
            "--fetch",
            "https://w.test/p",
            "--method",
            "PUT",
            "--header",
            "x-a: 1",
            "--body",
            "data",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["value"]["status"], 202);
    assert_eq!(value["value"]["headers"]["x-b"], "2");
    assert_eq!(value["value"]["body"], "PUT /p 1 data");
}

#[test]
fn worker_failures_exit_1_with_kind() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "loop.js",
        "export default { run() { while (true) {} } };",
    );
    let (code, value, _) = edgectl(
        &[
            "exec",
            "--file",
            "loop.js",
            "--call",
            "run",
            "--timeout-ms",
            "50",
        ],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert_eq!(value["ok"], false);
    assert_eq!(value["error"]["kind"], "timeout");

    write(
        dir.path(),
        "bad.js",
        "export default { run() { return 1 +; } };",
    );
    let (code, value, _) = edgectl(&["exec", "--file", "bad.js", "--call", "run"], dir.path());
    assert_eq!(code, 1);
    assert_eq!(value["error"]["kind"], "compile");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad.js:1:"),
        "{value}"
    );

    write(
        dir.path(),
        "mem.js",
        "export default { run() { const a = []; for (;;) a.push(new Array(1e4).fill(1)); } };",
    );
    let (code, value, _) = edgectl(
        &[
            "exec",
            "--file",
            "mem.js",
            "--call",
            "run",
            "--memory-mb",
            "32",
        ],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert_eq!(value["error"]["kind"], "memory");
}

#[test]
fn usage_errors_exit_2_with_one_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let (code, value, _) = edgectl(&["exec", "--file", "missing.js"], dir.path());
    assert_eq!(code, 2);
    assert_eq!(value["error"]["kind"], "bad_request");

    write(
        dir.path(),
        "w.js",
        "export default { run() { return 1; } };",
    );
    let (code, value, _) = edgectl(
        &[
            "exec", "--file", "w.js", "--call", "run", "--input", "{nope",
        ],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--input")
    );

    let (code, value, _) = edgectl(
        &[
            "exec",
            "--file",
            "w.js",
            "--call",
            "run",
            "--fetch",
            "http://x/",
        ],
        dir.path(),
    );
    assert_eq!(code, 2, "{value}");
    let (code, _, _) = edgectl(&["exec", "--bogus-flag"], dir.path());
    assert_eq!(code, 2);
}

#[test]
fn missing_engine_library_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.js",
        "export default { run() { return 1; } };",
    );
    let output = Command::new(env!("CARGO_BIN_EXE_edgectl"))
        .args(["exec", "--file", "w.js", "--call", "run"])
        .current_dir(dir.path())
        .env("EDGE_V8_DIR", dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    let message = value["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("libmini_racer.so") && message.contains("EDGE_V8_DIR"),
        "{message}"
    );
}

#[test]
fn imported_modules_are_found_next_to_the_main_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app/main.ts",
        "import { twice } from './lib/math';\nimport type { Shape } from './types.ts';\nexport default { run(n: number): number { return twice(n); } };\n",
    );
    write(
        dir.path(),
        "app/lib/math.ts",
        "import { one } from '../one.js';\nexport const twice = (n: number): number => 2 * n + one - 1;\n",
    );
    write(dir.path(), "app/one.ts", "export const one = 1;\n");
    // Outside the main module's directory: never read, even if imported.
    write(dir.path(), "secret.ts", "export const s = 1;\n");
    let (code, value, _) = edgectl(
        &[
            "exec",
            "--file",
            "app/main.ts",
            "--call",
            "run",
            "--input",
            "21",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["value"], 42);

    write(
        dir.path(),
        "app/escape.ts",
        "import { s } from '../secret.ts';\nexport default { run() { return s; } };\n",
    );
    let (code, value, _) = edgectl(
        &["exec", "--file", "app/escape.ts", "--call", "run"],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert_eq!(value["error"]["kind"], "compile", "{value}");
}
