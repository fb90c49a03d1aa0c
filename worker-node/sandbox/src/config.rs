//! Sandbox settings and per-tenant budgets, part of the worker node's config.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::Serialize;

/// How sandboxes get their memory cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupMode {
    /// v2 if the host delegates the memory controller, else v1, else a
    /// resident-memory watchdog (with a warning).
    Auto,
    /// No cgroups: the watchdog only.
    Off,
    /// This directory (created if missing) holds the sandbox cgroups.
    At(PathBuf),
}

/// Sandbox settings and per-tenant budgets, part of the worker node's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// The binary to re-execute as a sandbox (default: this executable).
    pub executable: PathBuf,
    /// Sandboxes kept started and unassigned, ready for new tenants.
    pub warm_sandboxes: usize,
    /// Isolates each sandbox keeps pre-warmed (web APIs and runtime evaluated).
    pub prewarmed_isolates: usize,
    /// Most sandboxes on the node (warm ones included).
    pub max_sandboxes: usize,
    /// Most sandboxes one tenant may hold.
    pub max_sandboxes_per_tenant: usize,
    /// Most Workers (isolates) in one sandbox.
    pub max_isolates_per_sandbox: usize,
    /// Largest memory limit one isolate may ask for, bytes.
    pub memory_per_isolate: u64,
    /// Memory one tenant's sandboxes may commit in total, bytes.
    pub memory_per_tenant: u64,
    /// Memory allowed for a sandbox process beyond its isolates' limits
    /// (V8 itself, pre-warmed isolates, thread stacks), bytes.
    pub sandbox_overhead: u64,
    /// An assigned sandbox holding no Worker this long is stopped.
    pub idle_timeout: Duration,
    /// How often sandboxes are pinged; five missed intervals kill one.
    pub heartbeat: Duration,
    /// How long a new sandbox may take to come up.
    pub ready_timeout: Duration,
    /// Where sandbox memory cgroups come from.
    pub cgroup: CgroupMode,
    /// Put each sandbox in an empty network namespace.
    pub network_namespace: bool,
    /// Give each sandbox a mount namespace and a read-only root filesystem
    /// of its own holding only `/proc` (its own processes) and `/dev/urandom`,
    /// so no file of the host is within its reach.
    pub private_root: bool,
    /// Install the seccomp filter.
    pub seccomp: bool,
    /// Stop an invocation (kind `memory`) as soon as its sandbox grew by the
    /// isolate's memory limit while it ran, so the isolate's limit fires
    /// before the sandbox's cgroup kills every isolate in it. V8 checks its
    /// own heap limit only after a collection, and ArrayBuffers are outside
    /// it. The cgroup stays the backstop (a single allocation faster than
    /// the 5 ms poll can still reach it first).
    pub memory_watch: bool,
    /// Drop root for this uid/gid once V8 is up (`None`: keep the user).
    pub run_as_uid: Option<u32>,
    /// Where the supervisor makes its directory of the sandboxes' empty
    /// working directories (default: the system temp dir).
    pub workdir: Option<PathBuf>,
    /// Let sandboxes write to the node's stderr (debugging only).
    pub inherit_stderr: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            executable: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
            warm_sandboxes: 2,
            prewarmed_isolates: 2,
            max_sandboxes: 256,
            max_sandboxes_per_tenant: 4,
            max_isolates_per_sandbox: 64,
            memory_per_isolate: 512 << 20,
            memory_per_tenant: 2 << 30,
            sandbox_overhead: 64 << 20,
            idle_timeout: Duration::from_secs(300),
            heartbeat: Duration::from_secs(1),
            ready_timeout: Duration::from_secs(30),
            cgroup: CgroupMode::Auto,
            network_namespace: true,
            private_root: true,
            seccomp: true,
            memory_watch: true,
            run_as_uid: Some(65534),
            workdir: None,
            inherit_stderr: false,
        }
    }
}
