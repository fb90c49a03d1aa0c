//! CPU fairness between tenants. Each sandbox gets a CPU cgroup of its own
//! (cgroup v1 `cpu` hierarchy), and a sandbox running a load or invocation
//! that has taken longer than [`LONG_RUNNING`] is demoted until it is done:
//! its group is marked idle (`cpu.idle`, the cgroup form of SCHED_IDLE) on
//! top of the smallest share. A tenant spinning in loops until its time
//! limits stop it then barely delays a tenant whose requests take a
//! fraction of a millisecond: each request crosses several threads, and
//! the scheduler lets a woken thread preempt an idle group at once, where
//! a merely light group may first finish its slice (EEVDF runs the current
//! task to parity). Busy but quick tenants are never demoted. Where the
//! hierarchy is missing or not writable, sandboxes share the CPU as
//! ordinary processes do; where `cpu.idle` is missing, the share alone
//! demotes.

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
    /// Makes `name` (one per supervisor, `edge-sandbox-<pid>-<n>`) under
    /// this process's own `cpu` cgroup, or `None` where there is no
    /// writable v1 `cpu` hierarchy. Groups left there by supervisors that
    /// died with their janitor are removed first.
    pub async fn create(name: &str) -> Option<CpuGroups> {
        let own =
            crate::cgroup::own_cgroup(|controllers| controllers.split(',').any(|c| c == "cpu"))?;
        let parent = Path::new(CPU_MOUNT).join(own.trim_start_matches('/'));
        crate::cgroup::sweep_stale_under(&parent, "edge-sandbox-").await;
        let dir = parent.join(name);
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
                changes.push(ShareChange {
                    group: sandbox.group,
                    demote: sandbox.long_running,
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

/// A demotion or restoration of one sandbox's cgroup.
pub(crate) struct ShareChange {
    group: PathBuf,
    demote: bool,
}

impl ShareChange {
    /// Writes it (blocking: two small cgroup files). The kernel refuses a
    /// share for an idle group, so the share is set while it is not idle.
    pub fn apply(&self) {
        let write = |file: &str, value: &str| fs::write(self.group.join(file), value);
        if self.demote {
            let _ = write("cpu.shares", &DEMOTED_SHARES.to_string());
            let _ = write("cpu.idle", "1");
        } else {
            let _ = write("cpu.idle", "0");
            let _ = write("cpu.shares", &NORMAL_SHARES.to_string());
        }
    }
}
