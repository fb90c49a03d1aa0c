//! Every unsafe block of the sandbox: the system calls that std and our safe
//! crates do not wrap. Each block says why it is sound. Nothing here decides
//! policy; the callers in `child.rs` and `process.rs` do.

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
    let procs_fd = setup.cgroup_procs.map(|f| f.as_raw_fd());
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
            if let Some(fd) = procs_fd
                && libc::write(fd, b"0".as_ptr().cast(), 1) != 1
            {
                return Err(io::Error::last_os_error());
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

/// Points the engine at the V8 library directory the supervisor uses
/// (`EDGE_V8_DIR`), since the sandbox starts with an empty environment.
/// Call while the process is still single-threaded.
pub fn set_v8_dir(dir: &Path) {
    // SAFETY: called from the sandbox's main thread before V8 or any other
    // thread exists, so no other thread can read the environment concurrently.
    unsafe { std::env::set_var("EDGE_V8_DIR", dir) };
}

/// Takes `EDGE_V8_DIR` out of the environment again once V8 is loaded, if
/// the process is still single-threaded; returns whether it did.
pub fn clear_v8_dir() -> bool {
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0);
    if threads != 1 {
        return false;
    }
    // SAFETY: this is the only thread of the process (checked just above, and
    // only this thread could start another), so nothing reads the
    // environment concurrently.
    unsafe { std::env::remove_var("EDGE_V8_DIR") };
    true
}
