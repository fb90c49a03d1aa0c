//! The janitor: a small process each supervisor starts beside its sandboxes
//! (this binary re-executed with [`JANITOR_MARKER`], in a session of its
//! own). It holds one end of a socket pair whose other end only the
//! supervisor holds, and waits. When the supervisor's end closes — a clean
//! shutdown, or the supervisor killed with SIGKILL, which can clean up
//! nothing — the janitor waits for the sandboxes to go, removes the
//! supervisor's sandbox cgroups and working directory, and exits. A killed
//! `edgectl exec` or worker node leaves nothing behind.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use crate::sys;

/// The argument that turns the node's binary into a janitor.
pub(crate) const JANITOR_MARKER: &str = "__edge_janitor";

/// How long the janitor waits for the sandboxes to exit before it removes
/// what is left anyway (their cgroups then stay until the next sweep).
const SANDBOX_EXIT_WAIT: Duration = Duration::from_secs(10);
/// How often it looks whether they are gone.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// The supervisor's end of the janitor's socket: dropping it (or the
/// supervisor's death) sets the janitor to work.
pub(crate) struct Janitor {
    _link: std::os::unix::net::UnixStream,
}

impl Janitor {
    /// Starts the janitor for a supervisor whose sandboxes' directories are
    /// in `workdir` and whose sandbox memory and CPU cgroups (if any) are in
    /// `cgroups` and `cpu`.
    pub fn start(
        executable: &Path,
        workdir: &Path,
        cgroups: Option<&Path>,
        cpu: Option<&Path>,
    ) -> std::io::Result<Janitor> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let theirs = OwnedFd::from(theirs);
        let mut args = vec![JANITOR_MARKER.to_owned(), workdir.display().to_string()];
        let path = |dir: Option<&Path>| dir.map(|d| d.display().to_string()).unwrap_or_default();
        args.push(path(cgroups));
        args.push(path(cpu));
        let setup = sys::ChildSetup {
            socket: &theirs,
            cgroup_procs: None,
            cpu_procs: None,
            stderr: std::process::Stdio::null(),
        };
        let child = sys::spawn_sandbox(executable, &args, Path::new("/"), setup)?;
        // Not waited for: it outlives us by design, and init reaps it.
        std::mem::forget(child);
        Ok(Janitor { _link: ours })
    }
}

/// The janitor's `main`. Never returns.
pub(crate) fn run(args: &[String]) -> ! {
    let Ok(mut link) = sys::inherited_socket() else {
        std::process::exit(64);
    };
    // Out of the supervisor's session: a Ctrl-C to its terminal, or a kill
    // of its process group, must not take the janitor too.
    sys::new_session();
    let mut buffer = [0u8; 64];
    // Nothing is ever written; this returns when the supervisor's end closes.
    while matches!(link.read(&mut buffer), Ok(n) if n > 0) {}
    let dir = |i: usize| args.get(i).filter(|a| !a.is_empty()).map(PathBuf::from);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build();
    if let Ok(runtime) = runtime {
        runtime.block_on(clean_up(dir(0), dir(1), dir(2)));
    }
    std::process::exit(0);
}

async fn clean_up(workdir: Option<PathBuf>, cgroups: Option<PathBuf>, cpu: Option<PathBuf>) {
    for dir in [&cgroups, &cpu].into_iter().flatten() {
        let deadline = tokio::time::Instant::now() + SANDBOX_EXIT_WAIT;
        while crate::cgroup::has_processes(dir) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(EXIT_POLL).await;
        }
        crate::cgroup::remove_tree(dir).await;
    }
    if let Some(workdir) = &workdir
        && workdir.is_absolute()
    {
        let _ = std::fs::remove_dir_all(workdir);
    }
}
