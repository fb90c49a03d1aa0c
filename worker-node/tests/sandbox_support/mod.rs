//! Shared setup for the sandbox tests: a supervisor whose sandboxes are the
//! built `worker-node` binary, with real cgroups, namespaces and seccomp.

#![allow(dead_code)]

use std::time::Duration;

use worker_node::engine::Bundle;
use worker_node::engine::Invocation;
use worker_node::engine::Limits;
use worker_node::sandbox::SandboxConfig;
use worker_node::sandbox::Supervisor;

pub fn config() -> SandboxConfig {
    SandboxConfig {
        executable: env!("CARGO_BIN_EXE_worker-node").into(),
        warm_sandboxes: 1,
        prewarmed_isolates: 1,
        inherit_stderr: std::env::var_os("SANDBOX_STDERR").is_some(),
        ..SandboxConfig::default()
    }
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
