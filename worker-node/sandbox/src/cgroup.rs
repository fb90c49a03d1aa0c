//! Memory cgroups for sandboxes: v2 where the host's unified hierarchy has
//! the memory controller, else v1 (`/sys/fs/cgroup/memory`). Each sandbox
//! gets a directory of its own below one directory per supervisor, which is
//! itself below the supervisor's own cgroup (so whatever limit the host puts
//! on the node also covers its sandboxes).

use std::fs;
use std::io;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

/// How often removing a cgroup directory is tried while its last process exits.
const REMOVE_ATTEMPTS: u32 = 50;
/// The pause between those attempts.
const REMOVE_RETRY: Duration = Duration::from_millis(10);

/// Which cgroup interface is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The per-controller hierarchies (`/sys/fs/cgroup/memory`).
    V1,
    /// The unified hierarchy.
    V2,
}

/// Why no memory cgroup could be had.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Neither hierarchy is writable here; each reason says why.
    #[error("{}", .0.join("; "))]
    NoHierarchy(Vec<String>),
    /// A cgroup file or directory could not be written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// The memory controller is not delegated to us.
    #[error("cannot delegate the memory controller in {} ({source}); run the node in a cgroup of its own with memory delegated (systemd Delegate=yes)", path.display())]
    Delegation {
        /// The parent's `cgroup.subtree_control`.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CgroupError {
    let path = path.to_owned();
    move |source| CgroupError::Io { what, path, source }
}

/// The supervisor's directory of sandbox cgroups.
#[derive(Debug)]
pub(super) struct CgroupRoot {
    pub version: CgroupVersion,
    pub dir: PathBuf,
}

/// One sandbox's memory cgroup.
#[derive(Debug)]
pub(super) struct Cgroup {
    version: CgroupVersion,
    dir: PathBuf,
}

impl CgroupRoot {
    /// Finds a writable memory cgroup hierarchy and makes this supervisor's
    /// directory in it. `explicit` overrides discovery (a directory whose
    /// parent is a memory cgroup).
    pub fn create(explicit: Option<&Path>) -> Result<CgroupRoot, CgroupError> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("edge-sandboxes-{}-{serial}", std::process::id());
        if let Some(dir) = explicit {
            let version = if dir.join("cgroup.controllers").exists() || parent_is_v2(dir) {
                CgroupVersion::V2
            } else {
                CgroupVersion::V1
            };
            fs::create_dir_all(dir).map_err(io_error("cannot create", dir))?;
            if version == CgroupVersion::V2 {
                enable_memory_controller(dir)?;
            }
            return Ok(CgroupRoot {
                version,
                dir: dir.to_owned(),
            });
        }
        let mut reasons = Vec::new();
        match v2_base() {
            Ok(base) => {
                let dir = base.join(&name);
                match fs::create_dir(&dir)
                    .map_err(io_error("cannot create", &dir))
                    .and_then(|_| enable_memory_controller(&dir))
                {
                    Ok(()) => {
                        return Ok(CgroupRoot {
                            version: CgroupVersion::V2,
                            dir,
                        });
                    }
                    Err(e) => {
                        let _ = fs::remove_dir(&dir);
                        reasons.push(format!("v2 at {}: {e}", base.display()));
                    }
                }
            }
            Err(e) => reasons.push(e.to_owned()),
        }
        match v1_base() {
            Ok(base) => {
                let dir = base.join(&name);
                match fs::create_dir(&dir) {
                    Ok(()) => {
                        // Children account their usage upwards.
                        let _ = fs::write(dir.join("memory.use_hierarchy"), "1");
                        return Ok(CgroupRoot {
                            version: CgroupVersion::V1,
                            dir,
                        });
                    }
                    Err(e) => reasons.push(format!("v1 at {}: {e}", base.display())),
                }
            }
            Err(e) => reasons.push(e.to_owned()),
        }
        Err(CgroupError::NoHierarchy(reasons))
    }

    /// A cgroup for one sandbox, limited to `limit_bytes`.
    pub fn sandbox(&self, name: &str, limit_bytes: u64) -> Result<Cgroup, CgroupError> {
        let dir = self.dir.join(name);
        fs::create_dir(&dir).map_err(io_error("cannot create", &dir))?;
        let cgroup = Cgroup {
            version: self.version,
            dir,
        };
        if let Err(e) = cgroup.set_limit(limit_bytes) {
            // No process was ever in it, so it goes at once.
            let _ = fs::remove_dir(&cgroup.dir);
            return Err(io_error("cannot set the memory limit of", &cgroup.dir)(e));
        }
        Ok(cgroup)
    }
}

impl Cgroup {
    /// Opens `cgroup.procs` for the child to write itself into before exec.
    pub fn procs_file(&self) -> io::Result<fs::File> {
        fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.procs"))
    }

    /// Sets the hard limit (RAM; and RAM+swap on v1, none on v2) for the whole process.
    pub fn set_limit(&self, bytes: u64) -> io::Result<()> {
        match self.version {
            CgroupVersion::V2 => {
                fs::write(self.dir.join("memory.max"), bytes.to_string())?;
                let _ = fs::write(self.dir.join("memory.swap.max"), "0");
                let _ = fs::write(self.dir.join("memory.oom.group"), "1");
            }
            CgroupVersion::V1 => {
                let _ = fs::write(self.dir.join("memory.swappiness"), "0");
                let memsw = self.dir.join("memory.memsw.limit_in_bytes");
                let current: u64 = fs::read_to_string(self.dir.join("memory.limit_in_bytes"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(u64::MAX);
                // memsw must stay >= the memory limit: raise it first, lower it last.
                if bytes > current && memsw.exists() {
                    let _ = fs::write(&memsw, bytes.to_string());
                }
                fs::write(self.dir.join("memory.limit_in_bytes"), bytes.to_string())?;
                if memsw.exists() {
                    let _ = fs::write(&memsw, bytes.to_string());
                }
            }
        }
        Ok(())
    }

    /// How many times the kernel's OOM killer acted in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let (file, key) = match self.version {
            CgroupVersion::V2 => ("memory.events", "oom_kill"),
            CgroupVersion::V1 => ("memory.oom_control", "oom_kill"),
        };
        let text = fs::read_to_string(self.dir.join(file)).unwrap_or_default();
        text.lines()
            .filter_map(|line| line.split_once(' '))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Whether the cgroup's memory ever reached its limit (v1 `failcnt`, v2
    /// the `max` event). Counted when a charge fails, before any OOM kill,
    /// so it is settled by the time the killed process is reaped, which the
    /// OOM-kill counter is not always.
    pub fn hit_limit(&self) -> bool {
        let count = match self.version {
            CgroupVersion::V1 => fs::read_to_string(self.dir.join("memory.failcnt"))
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok()),
            CgroupVersion::V2 => fs::read_to_string(self.dir.join("memory.events"))
                .ok()
                .and_then(|text| {
                    text.lines()
                        .filter_map(|line| line.split_once(' '))
                        .find(|(k, _)| *k == "max")
                        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
                }),
        };
        count.unwrap_or(0) > 0
    }

    /// Removes the directory once its process is gone (the kernel refuses
    /// while a task remains; a short retry covers the exit in progress).
    pub async fn remove(&self) {
        if !remove_dir_patiently(&self.dir).await {
            tracing::warn!(dir = %self.dir.display(), "sandbox cgroup could not be removed");
        }
    }
}

/// Removes an empty cgroup directory, retrying while the kernel still
/// counts an exiting task in it; true once it is gone.
pub(crate) async fn remove_dir_patiently(dir: &Path) -> bool {
    for _ in 0..REMOVE_ATTEMPTS {
        match fs::remove_dir(dir) {
            Ok(()) => return true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
            Err(_) => tokio::time::sleep(REMOVE_RETRY).await,
        }
    }
    false
}

fn parent_is_v2(dir: &Path) -> bool {
    dir.parent()
        .map(|p| p.join("cgroup.controllers").exists())
        .unwrap_or(false)
}

/// This process's cgroup in the unified hierarchy, if it offers memory.
fn v2_base() -> Result<PathBuf, &'static str> {
    let mount = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .find(|m| {
            fs::read_to_string(m.join("cgroup.controllers"))
                .map(|c| c.split_whitespace().any(|c| c == "memory"))
                .unwrap_or(false)
        })
        .ok_or("no cgroup v2 hierarchy with the memory controller")?;
    let own = own_cgroup(|controllers| controllers.is_empty())
        .ok_or("no v2 entry in /proc/self/cgroup")?;
    Ok(mount.join(own.trim_start_matches('/')))
}

/// This process's v1 memory cgroup.
fn v1_base() -> Result<PathBuf, &'static str> {
    let mount = PathBuf::from("/sys/fs/cgroup/memory");
    if !mount.join("memory.limit_in_bytes").exists() {
        return Err("no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory");
    }
    let own = own_cgroup(|controllers| controllers.split(',').any(|c| c == "memory"))
        .ok_or("no memory entry in /proc/self/cgroup")?;
    Ok(mount.join(own.trim_start_matches('/')))
}

/// This process's cgroup in the hierarchy whose controllers `matches`.
pub(crate) fn own_cgroup(matches: impl Fn(&str) -> bool) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        matches(controllers).then(|| path.to_owned())
    })
}

/// v2 only lets a cgroup with no processes of its own hand controllers to
/// children; the supervisor's directory holds none, so enabling works once
/// the parent has delegated memory. If the parent has not, try to enable it
/// there (which fails while the parent has member processes — then we say so).
fn enable_memory_controller(dir: &Path) -> Result<(), CgroupError> {
    let parent_control = dir.parent().map(|p| p.join("cgroup.subtree_control"));
    if let Some(parent_control) = parent_control {
        let enabled = fs::read_to_string(&parent_control).unwrap_or_default();
        if !enabled.split_whitespace().any(|c| c == "memory") {
            fs::write(&parent_control, "+memory").map_err(|source| CgroupError::Delegation {
                path: parent_control.clone(),
                source,
            })?;
        }
    }
    let control = dir.join("cgroup.subtree_control");
    fs::write(&control, "+memory").map_err(io_error("cannot enable memory in", &control))
}

/// `dir` and every directory below it, parents before children.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![dir.to_owned()];
    let mut next = 0;
    while next < dirs.len() {
        if let Ok(entries) = fs::read_dir(&dirs[next]) {
            for entry in entries.flatten() {
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    dirs.push(entry.path());
                }
            }
        }
        next += 1;
    }
    dirs
}

/// Whether any cgroup in the tree under `dir` still holds a process.
pub(crate) fn has_processes(dir: &Path) -> bool {
    tree(dir).iter().any(|dir| {
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        !procs.trim().is_empty()
    })
}

/// Removes a directory of sandbox cgroups and everything below it, deepest first.
pub(super) async fn remove_tree(dir: &Path) {
    for dir in tree(dir).iter().rev() {
        remove_dir_patiently(dir).await;
    }
}

/// Removes the sandbox cgroup directories of supervisors that no longer run
/// (a node that was killed cannot clean up after itself).
pub(super) async fn sweep_stale() {
    for base in [v2_base(), v1_base()].into_iter().flatten() {
        sweep_stale_under(&base, "edge-sandboxes-").await;
    }
}

/// Removes the directories in `base` named `<prefix><pid>-...` whose
/// supervisor `pid` no longer runs (its janitor, which would have removed
/// them, was killed too).
pub(super) async fn sweep_stale_under(base: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove_tree(&entry.path()).await;
        }
    }
}
