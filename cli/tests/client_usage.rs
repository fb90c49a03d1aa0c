//! The client commands' failures that need no cluster: usage errors exit 2
//! and an unreachable gateway exits 1, each with one JSON object on stdout.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Runs edgectl in `dir` with none of the client's EDGE_* settings.
fn edgectl(args: &[&str], dir: &Path) -> (i32, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_edgectl"))
        .args(args)
        .current_dir(dir)
        .env_remove("EDGE_GATEWAY")
        .env_remove("EDGE_API_KEY")
        .env_remove("EDGE_REGION")
        .output()
        .expect("edgectl runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stdout, got {stdout:?}");
    let value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    (output.status.code().unwrap(), value)
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn without_a_gateway_or_key_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (code, value) = edgectl(&["--api-key", "k", "list"], dir.path());
    assert_eq!(code, 2, "{value}");
    assert_eq!(value["error"]["kind"], "bad_request");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("EDGE_GATEWAY")
    );
    let (code, value) = edgectl(&["--gateway", "127.0.0.1:1", "list"], dir.path());
    assert_eq!(code, 2, "{value}");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("EDGE_API_KEY")
    );
}

#[test]
fn an_unreachable_gateway_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = format!("127.0.0.1:{}", closed_port());
    let (code, value) = edgectl(
        &["--gateway", &gateway, "--api-key", "k", "status"],
        dir.path(),
    );
    assert_eq!(code, 1, "{value}");
    assert_eq!(value["ok"], false);
    assert_eq!(value["error"]["kind"], "unavailable");
}

#[test]
fn bad_invocation_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = format!("127.0.0.1:{}", closed_port());
    let base = ["--gateway", gateway.as_str(), "--api-key", "k"];
    let cases: &[&[&str]] = &[
        &[
            "invoke",
            "--id",
            "w",
            "--fetch",
            "http://x/",
            "--header",
            "no-colon",
        ],
        &["invoke", "--id", "w", "--fetch", "not a url"],
        &["invoke", "--id", "w", "--call", "m", "--input", "{"],
        &["invoke", "--id", "w", "--call", "m", "--memory-mb", "0"],
        &["invoke", "--id", "w", "--call", "m", "--fetch", "http://x/"],
        &["run", "--file", "missing.ts", "--call", "m"],
        &["put", "--id", "w", "--file", "missing.ts"],
        &["--region", "é", "list"],
    ];
    for case in cases {
        let args: Vec<&str> = base.iter().chain(case.iter()).copied().collect();
        let (code, value) = edgectl(&args, dir.path());
        assert_eq!(code, 2, "{case:?}: {value}");
        assert_eq!(value["ok"], false, "{case:?}");
        assert_eq!(value["error"]["kind"], "bad_request", "{case:?}");
    }
}

#[test]
fn billing_export_needs_a_control_plane_or_a_gateway() {
    let output = Command::new(env!("CARGO_BIN_EXE_edgectl"))
        .args(["billing", "export", "--from", "2025-01-01"])
        .env_remove("EDGE_GATEWAY")
        .output()
        .expect("edgectl runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--control-plane"), "{stderr}");
    assert!(output.stdout.is_empty());
}
