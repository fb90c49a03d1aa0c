//! The sandbox's own root filesystem: nothing of the host but what V8 needs
//! once it is loaded.
//!
//! Two steps, because a mount namespace can only take the whole process
//! along while it is single-threaded, but the new root must wait until V8
//! (its library and ICU data, mapped from the host's files) is up:
//!
//! 1. [`unshare`], first thing in the sandbox: a mount namespace of its own,
//!    every mount private, so nothing below ever reaches the host's mount
//!    table (the namespace and its mounts vanish with the process).
//! 2. [`enter`], after V8 is up and isolates are pre-warmed, before root is
//!    dropped and seccomp goes on: a small tmpfs on the sandbox's empty
//!    working directory becomes the root of every thread (`pivot_root`), the
//!    host's tree is detached. The root holds only
//!    - `/proc/PID`: the sandbox's own process directory, bound read-only
//!      from the host's procfs, and `/proc/self`, a plain link to it. The
//!      engine reads `/proc/self/task/TID/schedstat` (per-isolate CPU time),
//!      glibc `/proc/self/maps`. No other process is there, whatever its
//!      user (so neither another tenant's sandbox, which runs as the same
//!      unprivileged user, nor its `root` link), and nothing of the kernel's
//!      (`/proc/sys`, `/proc/kcore`, ...). Kernel magic links still lead
//!      where they lead: `/proc/self/exe` opens the node's own executable;
//!    - `/dev/urandom`: the host's device node, bound read-only, which V8
//!      opens for every new isolate (a device ignores the read-only mount
//!      for writes; writing only mixes bytes into the kernel's pool).
//!
//!    The tmpfs is read-only (nothing can be written anywhere), `nosuid`,
//!    `nodev`, `noexec`, and sized for its six inodes. What V8 and glibc look
//!    for and no longer find falls back by itself: no `/etc/localtime` or
//!    zoneinfo makes the local time zone UTC whatever the host's; no
//!    `/sys/devices/system/cpu/online` or `/proc/stat` makes glibc count
//!    CPUs with `sched_getaffinity`.

use std::path::Path;

use crate::sys;

/// The root's tmpfs: a handful of inodes, nothing else will ever fit.
const ROOT_OPTIONS: &str = "size=64k,nr_inodes=16,mode=755";
/// Host device nodes bound into the root.
const DEVICES: &[&str] = &["dev/urandom"];

const LOCKED: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// Step 1: a private mount namespace. Call while the process is
/// single-threaded.
pub(super) fn unshare() -> Result<(), RootfsError> {
    sys::unshare_mounts().map_err(step("unshare the mount namespace"))
}

/// A step of building the private root that failed.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub(super) struct RootfsError {
    step: String,
    source: std::io::Error,
}

fn step(what: &str) -> impl FnOnce(std::io::Error) -> RootfsError {
    let step = what.to_owned();
    move |source| RootfsError { step, source }
}

/// Step 2: builds the root on `dir` (the sandbox's working directory, an
/// empty directory of the supervisor) and makes it the root of every thread.
/// On error the sandbox still sees the host's tree (never a half-built
/// root: the host's root is detached last).
pub(super) fn enter(dir: &Path) -> Result<(), RootfsError> {
    sys::mount(
        Some("sandbox-root"),
        dir,
        Some("tmpfs"),
        LOCKED,
        Some(ROOT_OPTIONS),
    )
    .map_err(step("mount a tmpfs on the working directory"))?;
    let proc_dir = dir.join("proc");
    let dev_dir = dir.join("dev");
    for made in [&proc_dir, &dev_dir] {
        std::fs::create_dir(made).map_err(step("mkdir in the new root"))?;
        // Whatever the inherited umask, the unprivileged user must traverse.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(made, std::fs::Permissions::from_mode(0o755))
            .map_err(step("chmod in the new root"))?;
    }

    for device in DEVICES {
        let target = dir.join(device);
        std::fs::File::create(&target).map_err(step("create a device mount point"))?;
        let host = Path::new("/").join(device);
        sys::mount(host.to_str(), &target, None, libc::MS_BIND, None)
            .map_err(step(&format!("bind {}", host.display())))?;
        // Read-only, but not nodev: the node must stay a usable device.
        sys::mount(
            None,
            &target,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NOEXEC,
            None,
        )
        .map_err(step(&format!("make {} read-only", host.display())))?;
    }

    // Its own process directory only (the pid never changes, so a plain
    // link serves as /proc/self, for every thread).
    let pid = std::process::id().to_string();
    let own = proc_dir.join(&pid);
    std::fs::create_dir(&own).map_err(step("mkdir in the new root"))?;
    std::os::unix::fs::symlink(&pid, proc_dir.join("self")).map_err(step("link /proc/self"))?;
    let host = Path::new("/proc").join(&pid);
    sys::mount(host.to_str(), &own, None, libc::MS_BIND, None)
        .map_err(step(&format!("bind {}", host.display())))?;
    sys::mount(
        None,
        &own,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | LOCKED,
        None,
    )
    .map_err(step(&format!("make {} read-only", host.display())))?;

    sys::mount(
        None,
        dir,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | LOCKED,
        None,
    )
    .map_err(step("make the new root read-only"))?;

    // Through the absolute path, so the working directory is the tmpfs, not
    // the directory underneath it.
    std::env::set_current_dir(dir).map_err(step("chdir into the new root"))?;
    sys::pivot_root_here().map_err(step("pivot_root"))?;
    // The host's tree now sits on top of the new root: detach it (lazily,
    // so files V8 still has mapped stay valid).
    sys::detach_mount(Path::new(".")).map_err(step("detach the host's root"))?;
    std::env::set_current_dir("/").map_err(step("chdir /"))
}
