//! The sandbox's seccomp filter, built with `seccompiler` and installed on
//! every thread at once (TSYNC) after V8 is up.
//!
//! Two stacked filters (the kernel applies the strictest verdict):
//! 1. an allow list of what V8, its isolate threads and our IPC need, found
//!    with `strace -f` on a sandbox creating, loading, invoking and disposing
//!    isolates; anything else kills the process (SIGSYS), which the
//!    supervisor reports as kind `crashed`;
//! 2. the network family on that list answers EPERM instead, so a Worker's
//!    failed attempt is an ordinary error. (The sandbox has no network
//!    interface anyway; the socket it already holds keeps working.)
//!
//! `openat` stays allowed because the engine reads `/proc/self/task/*` for
//! per-isolate CPU time and V8 opens `/dev/urandom` for every isolate; files
//! are kept out of reach by the sandbox's own root filesystem (`rootfs`:
//! nothing else is in it) and by dropping root. Nothing that changes that
//! view is on the list, so it kills: `mount`, `umount2`, `pivot_root`,
//! `chroot`, `unshare`, `setns`, `open_tree`, `move_mount`, `fsopen`, ...

use std::collections::BTreeMap;

use seccompiler::BpfProgram;
use seccompiler::SeccompAction;
use seccompiler::SeccompFilter;
use seccompiler::SeccompRule;
use seccompiler::TargetArch;

/// Everything a running sandbox may call (besides [`REFUSED`]).
const ALLOWED: &[i64] = &[
    // I/O on descriptors it holds: the socket, /proc files it reads.
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_close,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_lseek,
    libc::SYS_openat,
    libc::SYS_getdents64,
    libc::SYS_fcntl,
    libc::SYS_ioctl,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    // Memory: heaps, code space, ArrayBuffers, thread stacks.
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_mremap,
    libc::SYS_brk,
    libc::SYS_membarrier,
    libc::SYS_pkey_alloc,
    libc::SYS_pkey_free,
    libc::SYS_pkey_mprotect,
    // Threads: isolates start and stop theirs.
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_getparam,
    libc::SYS_sched_getscheduler,
    libc::SYS_sched_setscheduler,
    libc::SYS_getpriority,
    libc::SYS_setpriority,
    libc::SYS_prctl,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_tgkill,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    // Signals and time.
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_restart_syscall,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_getrusage,
    libc::SYS_getrandom,
    libc::SYS_uname,
];

/// Calls that are answered EPERM rather than run (or kill the sandbox):
/// code that tries them gets an error it can handle.
const REFUSED: &[i64] = &[
    // ICU's time zone detection reads the /etc/localtime link, and then
    // falls back to UTC.
    libc::SYS_readlink,
    libc::SYS_readlinkat,
    // Networking: the sandbox has no network, and says so.
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_connect,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
];

/// Why the filter is not in place.
#[derive(Debug, thiserror::Error)]
pub(super) enum SeccompError {
    #[error("the filter is written for x86_64 only")]
    Architecture,
    #[error("cannot build the filter: {0}")]
    Build(#[from] seccompiler::BackendError),
    #[error("cannot install the filter: {0}")]
    Install(#[from] seccompiler::Error),
}

fn compile(
    calls: &[i64],
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, SeccompError> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> =
        calls.iter().map(|&call| (call, Vec::new())).collect();
    let filter = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)?;
    Ok(filter.try_into()?)
}

/// Installs both filters on every thread of the process.
pub(super) fn install() -> Result<(), SeccompError> {
    if !cfg!(target_arch = "x86_64") {
        return Err(SeccompError::Architecture);
    }
    // Refused calls must pass the kill filter to reach the refusing one.
    let passing: Vec<i64> = ALLOWED.iter().chain(REFUSED).copied().collect();
    let allow = compile(&passing, SeccompAction::KillProcess, SeccompAction::Allow)?;
    let refuse = compile(
        REFUSED,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
    )?;
    // The refusing filter first: once the allow list is in, `seccomp` itself is gone.
    seccompiler::apply_filter_all_threads(&refuse)?;
    seccompiler::apply_filter_all_threads(&allow)?;
    Ok(())
}
