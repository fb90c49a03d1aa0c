//! The system calls that build a sandbox, which std and our safe crates do
//! not wrap. Each block says why it is sound. Nothing here decides policy;
//! the callers in `child`, `process` and `rootfs` do.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::fd::FromRawFd;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Stdio;

/// The descriptor number a sandbox finds its socket at.
pub const SANDBOX_FD: i32 = 3;

/// What the child must do between `fork` and `exec`.
pub struct ChildSetup<'a> {
    /// The child's end of the socket pair; becomes descriptor 3.
    pub socket: &'a OwnedFd,
    /// `cgroup.procs` of the sandbox's memory cgroup, opened by the parent;
    /// the child moves itself in by writing "0" before it execs, so every
    /// page it ever touches is charged to the cgroup.
    pub cgroup_procs: Option<&'a std::fs::File>,
    /// `cgroup.procs` of its CPU cgroup, joined the same way: a process with
    /// one thread moves cheaply, and moving a running, many-threaded one
    /// stalls thread creation in every process of the host meanwhile.
    pub cpu_procs: Option<&'a std::fs::File>,
    /// Where the child's stderr goes (null unless debugging).
    pub stderr: Stdio,
}

/// Starts `exe args...` as a sandbox: empty environment, working directory
/// `workdir`, stdin/stdout on /dev/null, no descriptor but its socket (3)
/// and stdio, already inside its cgroup when it execs.
pub fn spawn_sandbox(
    exe: &Path,
    args: &[String],
    workdir: &Path,
    setup: ChildSetup<'_>,
) -> io::Result<tokio::process::Child> {
    let socket_fd = setup.socket.as_raw_fd();
    let procs_fds = [
        setup.cgroup_procs.map(|f| f.as_raw_fd()),
        setup.cpu_procs.map(|f| f.as_raw_fd()),
    ];
    let mut command = tokio::process::Command::new(exe);
    command
        .args(args)
        .env_clear()
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(setup.stderr)
        .kill_on_drop(true);
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed. It calls only write, dup2, fcntl
    // and close_range (raw system calls, no allocation, no locks) on
    // descriptors the parent opened and keeps open until spawn returns.
    unsafe {
        command.pre_exec(move || {
            for fd in procs_fds.into_iter().flatten() {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            if socket_fd == SANDBOX_FD {
                // dup2 onto itself keeps close-on-exec: clear it instead.
                if libc::fcntl(SANDBOX_FD, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(socket_fd, SANDBOX_FD) != SANDBOX_FD {
                return Err(io::Error::last_os_error());
            }
            // Everything above 3 goes, whatever the parent had open.
            if libc::syscall(
                libc::SYS_close_range,
                (SANDBOX_FD + 1) as u32,
                u32::MAX,
                0u32,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

/// The socket a sandbox inherited at descriptor 3. Call once, at the start
/// of the child's `main`.
pub fn inherited_socket() -> io::Result<UnixStream> {
    // SAFETY: F_GETFD only inspects the descriptor table.
    if unsafe { libc::fcntl(SANDBOX_FD, libc::F_GETFD) } < 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no socket at descriptor 3",
        ));
    }
    // SAFETY: descriptor 3 is open (checked above) and, by the spawn
    // contract, the sandbox socket nothing else in this process owns; this is
    // called once, so ownership is taken exactly once.
    let fd = unsafe { OwnedFd::from_raw_fd(SANDBOX_FD) };
    let stream = UnixStream::from(fd);
    // Nothing spawned from here may inherit it.
    // SAFETY: sets a flag on a descriptor we own.
    unsafe { libc::fcntl(SANDBOX_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(stream)
}

/// Moves the (still single-threaded) process into a new network namespace,
/// which has no interface but a loopback that is down.
pub fn unshare_network() -> io::Result<()> {
    // SAFETY: unshare takes flags only; called before any thread exists.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the process into a mount namespace of its own and makes every
/// mount in it private, so nothing mounted from now on propagates to the
/// host (and nothing the host mounts later propagates in). Refuses unless
/// the process is single-threaded: `unshare(CLONE_NEWNS)` would move only
/// the calling thread, leaving the others with the host's view.
pub fn unshare_mounts() -> io::Result<()> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads != 1 {
        return Err(io::Error::other(format!(
            "the process already has {threads} threads"
        )));
    }
    // SAFETY: unshare takes flags only; the process is single-threaded
    // (checked above), so every thread created later inherits the namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(io::Error::last_os_error());
    }
    mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )
}

/// `mount(2)`: `source`, `fstype` and `data` may be absent (null).
pub fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(c_string).transpose()?;
    let target = path_c_string(target)?;
    let fstype = fstype.map(c_string).transpose()?;
    let data = data.map(c_string).transpose()?;
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is either null (which mount accepts for source,
    // fstype and data) or points to a NUL-terminated string that lives until
    // the call returns; data is a string because every caller passes
    // text options (tmpfs, proc) or none.
    let rc = unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `pivot_root(".", ".")`: the mount at the working directory becomes the
/// root of this mount namespace for every thread whose root was the old
/// one, and the old root is stacked on top of it at the same place, to be
/// detached next with [`detach_mount`]`(".")` (the idiom pivot_root(2)
/// documents; it needs no directory for the old root).
pub fn pivot_root_here() -> io::Result<()> {
    let dot = c".";
    // SAFETY: raw system call (glibc has no wrapper) with two pointers to a
    // static NUL-terminated string.
    if unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `umount2(path, MNT_DETACH)`: detaches the topmost mount at `path`.
pub fn detach_mount(path: &Path) -> io::Result<()> {
    let path = path_c_string(path)?;
    // SAFETY: passes a NUL-terminated string that outlives the call.
    if unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn c_string(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a string"))
}

fn path_c_string(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

/// No core files: a crashing sandbox must not write a tenant's heap to disk.
pub fn disable_core_dumps() -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: passes a valid pointer to a stack value.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

/// Drops root for `uid`/`gid` (all threads: glibc broadcasts set*id calls),
/// with no supplementary groups, then marks the process dumpable again so it
/// can still read its own `/proc/self/task/*` (CPU accounting).
pub fn drop_privileges(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain system calls with integer arguments; setgroups gets a
    // null list of length 0.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setresgid(gid, gid, gid) != 0
            || libc::setresuid(uid, uid, uid) != 0
        {
            return Err(io::Error::last_os_error());
        }
        libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
    }
    Ok(())
}

/// Puts the calling process in a session (and process group) of its own, so
/// signals sent to the group it was started in do not reach it.
pub fn new_session() {
    // SAFETY: setsid takes no arguments; failure (already a group leader)
    // leaves the process as it was.
    unsafe { libc::setsid() };
}
