//! Shared setup for the sandbox tests (here and in `worker-node`'s): a
//! supervisor whose sandboxes are a built binary of the package under test,
//! with real cgroups, namespaces and seccomp.

#![allow(dead_code)]

use std::time::Duration;

use edge_engine::Bundle;
use edge_engine::Invocation;
use edge_engine::Limits;
use edge_sandbox::SandboxConfig;
use edge_sandbox::Supervisor;

pub fn config() -> SandboxConfig {
    SandboxConfig {
        executable: sandbox_executable().into(),
        warm_sandboxes: 1,
        prewarmed_isolates: 1,
        inherit_stderr: std::env::var_os("SANDBOX_STDERR").is_some(),
        ..SandboxConfig::default()
    }
}

/// The binary sandboxes re-execute: the package's own (`edge-sandbox`, or
/// `worker-node` for the cache tests that include this file).
pub fn sandbox_executable() -> &'static str {
    option_env!("CARGO_BIN_EXE_edge-sandbox")
        .or(option_env!("CARGO_BIN_EXE_worker-node"))
        .expect("the test's package builds a binary that hosts sandboxes")
}

pub async fn supervisor() -> Supervisor {
    supervisor_with(config()).await
}

pub async fn supervisor_with(config: SandboxConfig) -> Supervisor {
    let supervisor = Supervisor::start(config).await.expect("supervisor starts");
    println!("cgroup: {:?}", supervisor.cgroup_version());
    supervisor
}

pub fn limits(memory_mb: u64) -> Limits {
    Limits {
        memory_bytes: memory_mb << 20,
        wall_time: Duration::from_secs(10),
        cpu_time: Duration::from_secs(10),
        ..Limits::default()
    }
}

pub fn worker(source: &str) -> Bundle {
    Bundle::single("./main.js", source)
}

pub fn call(method: &str, input_json: &str) -> Invocation {
    Invocation::Call {
        method: method.into(),
        input_json: input_json.into(),
    }
}

/// A Worker with a `run` method returning `input + 1`.
pub const ADDER: &str = "export default { async run(n) { return n + 1; } };";
