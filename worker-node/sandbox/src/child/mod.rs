//! The sandbox process: the node's own binary re-executed with
//! [`crate::CHILD_MARKER`]. It raises its walls in order (socket only, no core
//! files, empty network namespace, private mount namespace, V8 up and
//! isolates pre-warmed, a root filesystem of its own, root dropped, seccomp
//! filter), says `Ready`, then serves the supervisor.
//!
//! Threads: the main thread reads requests (`serve`); each isolate is driven
//! by a thread of its own (`slot`), so one slow Worker never holds up
//! another's request; one refill thread keeps pre-warmed isolates ready
//! (`shared`).

mod host;
mod options;
mod probe;
mod serve;
mod shared;
mod slot;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;

use edge_engine::Isolate;
use edge_engine::Limits;
use edge_engine::V8;
pub(crate) use options::ChildOptions;

use crate::protocol::FromSandbox;
use crate::protocol::PROTOCOL_VERSION;
use crate::protocol::Ready;
use crate::protocol::Reply;
use crate::protocol::encode_frame;
use crate::rootfs;
use crate::seccomp;
use crate::sys;

/// Exit code: started without the supervisor's socket.
const EXIT_NO_SOCKET: i32 = 64;
/// Exit code: V8 or the first isolates could not start (after a fatal `Ready`).
const EXIT_FATAL: i32 = 65;

/// The sandbox's `main`. Never returns.
pub(crate) fn run(args: &[String]) -> ! {
    let options = ChildOptions::parse(args);
    let socket = match sys::inherited_socket() {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("sandbox: {e}; this entry point is only for the worker node's supervisor");
            std::process::exit(EXIT_NO_SOCKET);
        }
    };
    let mut walls = Walls::default();
    walls.before_v8(&options);
    // The supervisor made it empty for this sandbox; the new root goes there.
    let workdir = std::env::current_dir();
    let v8_dir = options
        .v8_dir
        .clone()
        .unwrap_or_else(edge_engine::library_dir);
    let v8 = V8::start(&v8_dir).unwrap_or_else(|e| fatal(&socket, e.to_string()));
    let prewarmed = (0..options.prewarm.min(options.max_isolates))
        .map(|_| {
            Isolate::new(Limits::default())
                .unwrap_or_else(|e| fatal(&socket, format!("cannot create an isolate: {e}")))
        })
        .collect();
    walls.after_v8(&options, workdir);
    let shared = Arc::new(shared::Shared::new(&socket, prewarmed, options));
    shared.send(0, Reply::Ready(walls.ready(shared.prewarmed_count(), v8)));
    let refill = shared::spawn_refill(shared.clone());
    serve::serve(socket, shared, refill)
}

/// Tells the supervisor why this sandbox cannot start, and exits.
fn fatal(socket: &UnixStream, message: String) -> ! {
    let ready = Ready {
        protocol: PROTOCOL_VERSION,
        pid: std::process::id(),
        fatal: Some(message),
        ..Default::default()
    };
    let frame = encode_frame::<(), _>(FromSandbox {
        id: 0,
        reply: Reply::Ready(ready),
    });
    if let Ok(frame) = frame {
        let mut socket = socket;
        let _ = socket.write_all(&frame);
    }
    std::process::exit(EXIT_FATAL);
}

/// Which walls stand, and what is missing.
#[derive(Default)]
struct Walls {
    network_namespace: bool,
    mount_namespace: bool,
    private_root: bool,
    seccomp: bool,
    warnings: Vec<String>,
}

impl Walls {
    /// The walls that must go up while the process is single-threaded:
    /// every thread V8 starts inherits them.
    fn before_v8(&mut self, options: &ChildOptions) {
        if let Err(e) = sys::disable_core_dumps() {
            self.warnings.push(format!("core dumps not disabled: {e}"));
        }
        if options.network_namespace {
            match sys::unshare_network() {
                Ok(()) => self.network_namespace = true,
                Err(e) => self.warnings.push(format!(
                    "no network namespace ({e}): the sandbox shares the host's network; run the node as root or with CAP_SYS_ADMIN"
                )),
            }
        }
        if options.private_root {
            match rootfs::unshare() {
                Ok(()) => self.mount_namespace = true,
                Err(e) => self.warnings.push(format!(
                    "no private root filesystem (mount namespace: {e}): the sandbox can read every world-readable file of the host; run the node as root or with CAP_SYS_ADMIN"
                )),
            }
        }
    }

    /// The walls that go up once V8 is loaded (library and ICU data mapped):
    /// the host's tree goes, root is dropped, the filter goes in last.
    fn after_v8(&mut self, options: &ChildOptions, workdir: std::io::Result<PathBuf>) {
        if self.mount_namespace {
            let entered = match workdir {
                Ok(dir) => rootfs::enter(&dir).map_err(|e| e.to_string()),
                Err(e) => Err(format!("no working directory: {e}")),
            };
            match entered {
                Ok(()) => self.private_root = true,
                Err(e) => self.warnings.push(format!(
                    "no private root filesystem ({e}): the sandbox can read every world-readable file of the host"
                )),
            }
        }
        if let Some(uid) = options.run_as
            && sys::euid() == 0
            && let Err(e) = sys::drop_privileges(uid, uid)
        {
            self.warnings
                .push(format!("still root: dropping to uid {uid} failed: {e}"));
        }
        if options.seccomp {
            match seccomp::install() {
                Ok(()) => self.seccomp = true,
                Err(e) => self.warnings.push(format!("no seccomp filter: {e}")),
            }
        }
    }

    fn ready(self, prewarmed: usize, v8: &V8) -> Ready {
        Ready {
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
            prewarmed: prewarmed as u32,
            network_namespace: self.network_namespace,
            private_root: self.private_root,
            seccomp: self.seccomp,
            uid: sys::euid(),
            warnings: self.warnings,
            v8_version: v8.version().to_owned(),
            fatal: None,
        }
    }
}
