//! CPU fairness between tenants. Each sandbox gets a CPU cgroup of its own
//! (cgroup v1 `cpu` hierarchy), and a sandbox running a load or invocation
//! that has taken longer than [`LONG_RUNNING`] is demoted to the smallest
//! share until it is done: a tenant spinning in loops until its time limits
//! stop it then barely delays a tenant whose requests take a fraction of a
//! millisecond (each request crosses several threads, and behind
//! equal-weight busy threads every hop waits for a scheduler slice). Busy
//! but quick tenants are never demoted. Where the hierarchy is missing or
//! not writable, sandboxes share the CPU as ordinary processes do.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

/// Where the v1 `cpu` controller is mounted.
const CPU_MOUNT: &str = "/sys/fs/cgroup/cpu";
/// How often sandboxes' work is looked at.
pub(crate) const WINDOW: Duration = Duration::from_millis(5);
/// How long a load or invocation may run before its sandbox is demoted.
pub(crate) const LONG_RUNNING: Duration = Duration::from_millis(10);
/// The share of a sandbox in good standing (the kernel's default).
const NORMAL_SHARES: u32 = 1024;
/// The share of a busy sandbox (the kernel's minimum).
const DEMOTED_SHARES: u32 = 2;

/// This supervisor's directory of sandbox CPU cgroups.
#[derive(Debug)]
pub(crate) struct CpuGroups {
    /// The directory.
    pub dir: PathBuf,
}

impl CpuGroups {
    /// Makes `name` (one per supervisor) under this process's own `cpu`
    /// cgroup, or `None` where there is no writable v1 `cpu` hierarchy.
    pub fn create(name: &str) -> Option<CpuGroups> {
        let own =
            crate::cgroup::own_cgroup(|controllers| controllers.split(',').any(|c| c == "cpu"))?;
        let dir = Path::new(CPU_MOUNT)
            .join(own.trim_start_matches('/'))
            .join(name);
        fs::create_dir(&dir).ok()?;
        Some(CpuGroups { dir })
    }

    /// A CPU cgroup for one sandbox, which the sandbox joins before it
    /// execs (see `sys::ChildSetup`).
    pub fn sandbox(&self, name: &str) -> Option<PathBuf> {
        let dir = self.dir.join(name);
        fs::create_dir(&dir).ok()?;
        Some(dir)
    }
}

/// One sandbox as the balancer sees it.
pub(crate) struct Tracked {
    /// Its process.
    pub pid: u32,
    /// Its CPU cgroup.
    pub group: PathBuf,
    /// Whether a load or invocation of it has run longer than [`LONG_RUNNING`].
    pub long_running: bool,
}

/// Demotes sandboxes with long-running work and restores the others.
#[derive(Default)]
pub(crate) struct Balancer {
    /// The sandbox processes demoted now.
    demoted: HashSet<u32>,
}

impl Balancer {
    /// The share changes `sandboxes` need (usually none); forgets
    /// sandboxes no longer listed.
    pub fn plan(&mut self, sandboxes: Vec<Tracked>) -> Vec<ShareChange> {
        let mut demoted = HashSet::with_capacity(self.demoted.len());
        let mut changes = Vec::new();
        for sandbox in sandboxes {
            if sandbox.long_running != self.demoted.contains(&sandbox.pid) {
                let shares = if sandbox.long_running {
                    DEMOTED_SHARES
                } else {
                    NORMAL_SHARES
                };
                changes.push(ShareChange {
                    group: sandbox.group,
                    shares,
                });
            }
            if sandbox.long_running {
                demoted.insert(sandbox.pid);
            }
        }
        self.demoted = demoted;
        changes
    }
}

/// A new CPU share for one sandbox's cgroup.
pub(crate) struct ShareChange {
    group: PathBuf,
    shares: u32,
}

impl ShareChange {
    /// Writes it (blocking: one small cgroup file).
    pub fn apply(&self) {
        let _ = fs::write(self.group.join("cpu.shares"), self.shares.to_string());
    }
}
