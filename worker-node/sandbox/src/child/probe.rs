//! The sandbox probe: tries one thing the walls must forbid and reports
//! whether it worked. Only the supervisor can ask for it, and it can only
//! demonstrate a hole, never open one; release builds leave it out unless
//! built with the `sandbox-probe` feature.

use crate::protocol::Probe;
use crate::protocol::Reply;

/// Runs `probe` and says what happened.
#[cfg(any(debug_assertions, feature = "sandbox-probe"))]
pub(super) fn run(probe: &Probe) -> Reply {
    let (succeeded, detail) = match probe {
        Probe::TcpConnect(address) => tries::tcp_connect(address),
        Probe::ReadFile(path) => match std::fs::read(path) {
            Ok(bytes) => (true, format!("read {} bytes", bytes.len())),
            Err(e) => (false, e.to_string()),
        },
        Probe::ListFds => tries::list_fds(),
        Probe::Env => {
            let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
            (!vars.is_empty(), vars.join(","))
        }
        Probe::ListDir(path) => match tries::sorted_names(path) {
            Ok(names) => (true, names.join(",")),
            Err(e) => (false, e.to_string()),
        },
        Probe::WriteFile(path) => tries::write_file(path),
        Probe::ThreadRoots => tries::thread_roots(),
        Probe::NetInterfaces => tries::net_interfaces(),
        Probe::Uid => {
            let uid = crate::sys::euid();
            (uid == 0, uid.to_string())
        }
        Probe::ForbiddenSyscall(call) => tries::forbidden_syscall(*call),
    };
    Reply::ProbeResult { succeeded, detail }
}

/// Release builds without the `sandbox-probe` feature refuse every probe.
#[cfg(not(any(debug_assertions, feature = "sandbox-probe")))]
pub(super) fn run(_probe: &Probe) -> Reply {
    Reply::ProbeResult {
        succeeded: false,
        detail: "probes are not compiled into this build (feature sandbox-probe)".into(),
    }
}

#[cfg(any(debug_assertions, feature = "sandbox-probe"))]
mod tries {
    use std::io::Write;
    use std::time::Duration;

    use crate::protocol::Syscall;
    use crate::sys;

    /// How long a probe's TCP connection attempt may take.
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

    pub fn tcp_connect(address: &str) -> (bool, String) {
        let Ok(addr) = address.parse::<std::net::SocketAddr>() else {
            return (false, format!("bad address {address}"));
        };
        match std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => (true, format!("connected to {addr}")),
            Err(e) => (false, e.to_string()),
        }
    }

    /// Every open descriptor as `fd=what`, described by stat (seccomp
    /// refuses readlink).
    pub fn list_fds() -> (bool, String) {
        use std::os::unix::fs::FileTypeExt;
        use std::os::unix::fs::MetadataExt;
        let entries = match std::fs::read_dir("/proc/self/fd") {
            Ok(entries) => entries,
            Err(e) => return (false, e.to_string()),
        };
        let mut fds: Vec<(u32, String)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let fd = e.file_name().to_string_lossy().parse().ok()?;
                let target = match std::fs::metadata(e.path()) {
                    Ok(m) if m.file_type().is_socket() => format!("socket:{}", m.ino()),
                    Ok(m) if m.file_type().is_char_device() => format!("char:{}", m.rdev()),
                    Ok(m) if m.is_dir() => "dir".to_owned(),
                    Ok(m) if m.is_file() => format!("file:{}", m.ino()),
                    Ok(_) => "other".to_owned(),
                    Err(e) => format!("error:{e}"),
                };
                Some((fd, target))
            })
            .collect();
        fds.sort();
        let listing: Vec<String> = fds
            .iter()
            .map(|(fd, target)| format!("{fd}={target}"))
            .collect();
        (true, listing.join(","))
    }

    /// What a path shows, sorted by name.
    pub fn sorted_names(path: &str) -> std::io::Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn write_file(path: &str) -> (bool, String) {
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .and_then(|mut file| file.write_all(b"written by a sandbox"));
        match written {
            Ok(()) => (true, format!("wrote {path}")),
            Err(e) => (false, e.to_string()),
        }
    }

    /// Every thread's root, as `tid:entries` separated by `;`: V8's threads
    /// must be in the same root as the main one.
    pub fn thread_roots() -> (bool, String) {
        let tids = match sorted_names("/proc/self/task") {
            Ok(tids) => tids,
            Err(e) => return (false, e.to_string()),
        };
        let mut roots = Vec::new();
        for tid in tids {
            let root = format!("/proc/self/task/{tid}/root");
            match sorted_names(&root) {
                Ok(names) => roots.push(format!("{tid}:{}", names.join(","))),
                Err(e) => return (false, format!("{root}: {e}")),
            }
        }
        (true, roots.join(";"))
    }

    pub fn net_interfaces() -> (bool, String) {
        match std::fs::read_to_string("/proc/self/net/dev") {
            Ok(text) => {
                let names: Vec<&str> = text
                    .lines()
                    .skip(2)
                    .filter_map(|l| l.split(':').next())
                    .map(str::trim)
                    .collect();
                (names.iter().any(|n| *n != "lo"), names.join(","))
            }
            Err(e) => (false, e.to_string()),
        }
    }

    /// None of these is on the seccomp allow list: the filter kills us.
    pub fn forbidden_syscall(call: Syscall) -> (bool, String) {
        let root = std::path::Path::new("/");
        let outcome = match call {
            Syscall::Mount => sys::mount(Some("tmpfs"), root, Some("tmpfs"), 0, None),
            Syscall::Umount2 => sys::detach_mount(root),
            Syscall::PivotRoot => sys::pivot_root_here(),
            Syscall::Chroot => std::os::unix::fs::chroot("."),
        };
        (outcome.is_ok(), format!("{call:?} returned {outcome:?}"))
    }
}
