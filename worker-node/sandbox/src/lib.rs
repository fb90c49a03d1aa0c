//! `edge-sandbox`: V8 isolates run in child processes of the node's own
//! binary, one tenant per process, never in the supervisor.
//!
//! Each sandbox runs in its own memory cgroup (v2 or v1, whichever the host
//! offers; otherwise a resident-memory watchdog), in an empty network
//! namespace, in a root filesystem of its own that holds nothing of the host
//! but `/proc` (its own processes) and `/dev/urandom`, as an unprivileged
//! user, under a seccomp filter, with no descriptor but its socket and an
//! empty environment. The [`Supervisor`] keeps warm sandboxes with pre-warmed
//! isolates, assigns them to tenants on demand, and turns every way a sandbox
//! can die into an error kind (`memory` for a cgroup OOM kill, `crashed`
//! otherwise) for the invocations it was running, then replaces it.
//!
//! - `supervisor`: the pool, tenant assignment, budgets ([`Supervisor`]).
//! - `process`: one sandbox process seen from the supervisor: spawn,
//!   handshake, reader and writer tasks, reaper, heartbeat, watchdog.
//! - `protocol`: the typed, versioned messages and their one framing codec.
//! - `child`: the sandbox process's `main`: walls, then serving requests,
//!   one thread per isolate (`child::slot`).
//! - `cgroup`, `rootfs`, `seccomp`: the walls; `sys`: the system calls under
//!   them, the crate's only unsafe code.
//! - `cpu`: a CPU cgroup per sandbox; sandboxes that keep a core busy are
//!   demoted to the smallest share, so busy tenants barely delay quiet ones.
//! - `janitor`: a process beside the sandboxes that removes their cgroups
//!   and directories once the supervisor is gone, however it went.
//!
//! Every binary that hosts sandboxes calls [`run_child_if_requested`] first
//! thing in `main`.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod cgroup;
mod child;
mod config;
mod cpu;
mod error;
mod janitor;
mod process;
pub mod protocol;
mod rootfs;
mod seccomp;
mod supervisor;
mod sys;

pub use cgroup::CgroupVersion;
pub use config::CgroupMode;
pub use config::SandboxConfig;
pub use error::SpawnError;
pub use error::StartError;
pub use protocol::Probe;
pub use protocol::Syscall;
pub use supervisor::IsolateHandle;
pub use supervisor::LoadError;
pub use supervisor::Loaded;
pub use supervisor::PoolStats;
pub use supervisor::Supervisor;

/// The argument that turns the node's binary into a sandbox.
pub const CHILD_MARKER: &str = "__edge_sandbox";

/// If this process was started as a sandbox, runs it and never returns.
/// Call it first thing in `main` of every binary that hosts sandboxes.
pub fn run_child_if_requested() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(CHILD_MARKER) => child::run(&args[2..]),
        Some(janitor::JANITOR_MARKER) => janitor::run(&args[2..]),
        _ => {}
    }
}

/// Private (unshared) memory of a process in bytes, from
/// `/proc/PID/smaps_rollup` (what a sandbox really costs the node).
pub fn private_memory(pid: u32) -> Option<u64> {
    process::private_bytes(pid)
}

/// Resident memory of a process in bytes, from `/proc/PID/status` (what
/// the supervisor's own footprint is measured by).
pub fn resident_memory(pid: u32) -> Option<u64> {
    process::resident_bytes(pid)
}
