//! The sandbox process: the node's own binary re-executed with
//! [`super::CHILD_MARKER`]. It raises its walls in order (socket only, no core
//! files, empty network namespace, private mount namespace, V8 up and
//! isolates pre-warmed, a root filesystem of its own, root dropped, seccomp
//! filter), says `Ready`, then serves the supervisor.
//!
//! Threads: the main thread reads requests; each isolate is driven by a
//! thread of its own (so one slow Worker never holds up another's request);
//! one refill thread keeps pre-warmed isolates ready.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant;

use super::proto;
use super::proto::FromSandbox;
use super::proto::ToSandbox;
use super::proto::from_sandbox::Body as Out;
use super::proto::to_sandbox::Body as In;
use super::rootfs;
use super::seccomp;
use crate::engine::Bundle;
use crate::engine::ErrorKind;
use crate::engine::HostFunctions;
use crate::engine::Invocation;
use crate::engine::Isolate;
use crate::engine::Limits;
use crate::engine::V8;
use crate::engine::WorkerError;
use crate::sys::sandbox as sys;

/// How long an isolate may sit after an invocation before it is checked for
/// CPU still burning (a promise-job loop that outlived its handler).
const IDLE_PROBE_AFTER: Duration = Duration::from_millis(20);
/// Share of one core an idle isolate's thread may use before it counts as burning.
const BURNING_SHARE: f64 = 0.5;
/// CPU an isolate may use in a window after its result without being suspect.
const POST_RESULT_CPU: Duration = Duration::from_millis(1);
/// Consecutive busy windows after which an isolate is disposed regardless.
const MAX_BUSY_WINDOWS: u32 = 10;

/// Options the supervisor passes on the command line.
#[derive(Debug, Clone)]
pub(super) struct ChildOptions {
    pub prewarm: usize,
    pub max_isolates: usize,
    pub network_namespace: bool,
    /// A mount namespace and a root filesystem of its own ([`rootfs`]).
    pub private_root: bool,
    pub seccomp: bool,
    /// Drop root for this uid (and gid) once V8 is up; `None` keeps the user.
    pub run_as: Option<u32>,
    /// Where the V8 library is (the supervisor's `engine::library_dir()`,
    /// since the sandbox's environment is empty).
    pub v8_dir: Option<std::path::PathBuf>,
}

impl ChildOptions {
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--prewarm={}", self.prewarm),
            format!("--max-isolates={}", self.max_isolates),
            format!("--netns={}", self.network_namespace),
            format!("--private-root={}", self.private_root),
            format!("--seccomp={}", self.seccomp),
        ];
        if let Some(uid) = self.run_as {
            args.push(format!("--uid={uid}"));
        }
        if let Some(dir) = &self.v8_dir {
            args.push(format!("--v8-dir={}", dir.display()));
        }
        args
    }

    fn parse(args: &[String]) -> ChildOptions {
        let mut options = ChildOptions {
            prewarm: 1,
            max_isolates: 64,
            network_namespace: true,
            private_root: true,
            seccomp: true,
            run_as: None,
            v8_dir: None,
        };
        for arg in args {
            let Some((key, value)) = arg.split_once('=') else {
                continue;
            };
            match key {
                "--prewarm" => options.prewarm = value.parse().unwrap_or(options.prewarm),
                "--max-isolates" => {
                    options.max_isolates = value.parse().unwrap_or(options.max_isolates)
                }
                "--netns" => options.network_namespace = value == "true",
                "--private-root" => options.private_root = value == "true",
                "--seccomp" => options.seccomp = value == "true",
                "--uid" => options.run_as = value.parse().ok(),
                "--v8-dir" => options.v8_dir = Some(value.into()),
                _ => {}
            }
        }
        options
    }
}

/// The sandbox's `main`. Never returns.
pub(super) fn run(args: &[String]) -> ! {
    let options = ChildOptions::parse(args);
    let socket = match sys::inherited_socket() {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("sandbox: {e}; this entry point is only for the worker node's supervisor");
            std::process::exit(64);
        }
    };
    let mut warnings = Vec::new();
    if let Err(e) = sys::disable_core_dumps() {
        warnings.push(format!("core dumps not disabled: {e}"));
    }
    let mut network_namespace = false;
    if options.network_namespace {
        match sys::unshare_network() {
            Ok(()) => network_namespace = true,
            Err(e) => warnings.push(format!(
                "no network namespace ({e}): the sandbox shares the host's network; run the node as root or with CAP_SYS_ADMIN"
            )),
        }
    }
    // While still single-threaded: every thread V8 starts inherits it.
    let mut mount_namespace = false;
    if options.private_root {
        match rootfs::unshare() {
            Ok(()) => mount_namespace = true,
            Err(e) => warnings.push(format!(
                "no private root filesystem (mount namespace: {e}): the sandbox can read every world-readable file of the host; run the node as root or with CAP_SYS_ADMIN"
            )),
        }
    }
    // The supervisor made it empty for this sandbox; the new root goes there.
    let workdir = std::env::current_dir();
    let fatal = |message: String| -> ! {
        let ready = proto::Ready {
            pid: std::process::id(),
            fatal: message,
            ..Default::default()
        };
        let mut socket = &socket;
        let _ = socket.write_all(&proto::encode(&FromSandbox {
            id: 0,
            body: Some(Out::Ready(ready)),
        }));
        std::process::exit(65);
    };
    if let Some(dir) = &options.v8_dir {
        sys::set_v8_dir(dir);
    }
    let v8 = match V8::get() {
        Ok(v8) => v8,
        Err(e) => fatal(e.to_string()),
    };
    if options.v8_dir.is_some() && !sys::clear_v8_dir() {
        warnings.push("EDGE_V8_DIR stays in the environment: V8 had started threads".into());
    }
    let mut prewarmed = Vec::new();
    for _ in 0..options.prewarm.min(options.max_isolates) {
        match Isolate::new(Limits::default()) {
            Ok(isolate) => prewarmed.push(isolate),
            Err(e) => fatal(format!("cannot create an isolate: {e}")),
        }
    }
    // V8 is loaded (library and ICU data mapped), so the host's tree can go.
    let mut private_root = false;
    if mount_namespace {
        match workdir
            .map_err(|e| format!("no working directory: {e}"))
            .and_then(|dir| rootfs::enter(&dir))
        {
            Ok(()) => private_root = true,
            Err(e) => warnings.push(format!(
                "no private root filesystem ({e}): the sandbox can read every world-readable file of the host"
            )),
        }
    }
    if let Some(uid) = options.run_as
        && sys::euid() == 0
        && let Err(e) = sys::drop_privileges(uid, uid)
    {
        warnings.push(format!("still root: dropping to uid {uid} failed: {e}"));
    }
    let mut seccomp_on = false;
    if options.seccomp {
        match seccomp::install() {
            Ok(()) => seccomp_on = true,
            Err(e) => warnings.push(format!("no seccomp filter: {e}")),
        }
    }
    let shared = Arc::new(Shared {
        out: Mutex::new(
            socket
                .try_clone()
                .unwrap_or_else(|_| std::process::exit(67)),
        ),
        prewarmed: Mutex::new(prewarmed),
        host_calls: Mutex::new(HashMap::new()),
        next_call: AtomicU64::new(1),
        live_isolates: AtomicUsize::new(0),
        options: options.clone(),
    });
    let ready = proto::Ready {
        pid: std::process::id(),
        prewarmed: shared.prewarmed_count() as u32,
        network_namespace,
        private_root,
        seccomp: seccomp_on,
        uid: sys::euid(),
        warnings,
        v8_version: v8.version().to_owned(),
        fatal: String::new(),
    };
    shared.send(0, Out::Ready(ready));
    let refill = spawn_refill(shared.clone());
    serve(socket, shared, refill)
}

struct Shared {
    out: Mutex<UnixStream>,
    prewarmed: Mutex<Vec<Isolate>>,
    host_calls: Mutex<HashMap<u64, mpsc::Sender<proto::HostReply>>>,
    next_call: AtomicU64,
    /// Isolates assigned to Workers (not counting pre-warmed ones).
    live_isolates: AtomicUsize,
    options: ChildOptions,
}

impl Shared {
    fn send(&self, id: u64, body: Out) {
        let frame = proto::encode(&FromSandbox {
            id,
            body: Some(body),
        });
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if out.write_all(&frame).is_err() {
            // The supervisor is gone; nothing here outlives it.
            std::process::exit(0);
        }
    }

    fn prewarmed_count(&self) -> usize {
        self.prewarmed.lock().map(|p| p.len()).unwrap_or(0)
    }

    fn take_prewarmed(&self) -> Option<Isolate> {
        self.prewarmed.lock().ok()?.pop()
    }
}

fn spawn_refill(shared: Arc<Shared>) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    let _ = std::thread::Builder::new()
        .name("prewarm".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                loop {
                    let live = shared.live_isolates.load(Ordering::Relaxed);
                    let warm = shared.prewarmed_count();
                    if warm >= shared.options.prewarm || live + warm >= shared.options.max_isolates
                    {
                        break;
                    }
                    match Isolate::new(Limits::default()) {
                        Ok(isolate) => {
                            if let Ok(mut pool) = shared.prewarmed.lock() {
                                pool.push(isolate);
                            }
                        }
                        Err(_) => break,
                    }
                }
            }
        });
    let _ = tx.send(());
    tx
}

enum SlotCmd {
    Load {
        id: u64,
        limits: Limits,
        bundle: Bundle,
    },
    Invoke {
        id: u64,
        invocation: Invocation,
        bindings: Vec<String>,
    },
    Unload {
        id: u64,
    },
}

fn serve(socket: UnixStream, shared: Arc<Shared>, refill: mpsc::Sender<()>) -> ! {
    let mut reader = std::io::BufReader::new(socket);
    let mut slots: HashMap<u64, mpsc::Sender<SlotCmd>> = HashMap::new();
    loop {
        let request: ToSandbox = match proto::read_blocking(&mut reader) {
            Ok(Some(request)) => request,
            // The supervisor closed the socket or sent garbage: stop at once.
            Ok(None) | Err(_) => std::process::exit(0),
        };
        let id = request.id;
        match request.body {
            Some(In::Load(load)) => {
                let parsed = serde_json::from_str::<Limits>(&load.limits_json).and_then(|limits| {
                    Ok((limits, serde_json::from_str::<Bundle>(&load.bundle_json)?))
                });
                let (limits, bundle) = match parsed {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        let error = WorkerError::new(
                            ErrorKind::BadRequest,
                            format!("unreadable load request: {e}"),
                        );
                        shared.send(id, load_failed(&error));
                        continue;
                    }
                };
                if let Some(old) = slots.remove(&load.isolate) {
                    let _ = old.send(SlotCmd::Unload { id: 0 });
                }
                let (tx, rx) = mpsc::channel();
                let slot_shared = shared.clone();
                let slot_refill = refill.clone();
                let isolate_id = load.isolate;
                let spawned = std::thread::Builder::new()
                    .name(format!("isolate-{isolate_id}"))
                    .spawn(move || slot_main(isolate_id, slot_shared, slot_refill, rx));
                if spawned.is_err() {
                    let error = WorkerError::new(
                        ErrorKind::Crashed,
                        "the sandbox cannot start another thread",
                    );
                    shared.send(id, load_failed(&error));
                    continue;
                }
                let _ = tx.send(SlotCmd::Load { id, limits, bundle });
                slots.insert(isolate_id, tx);
            }
            Some(In::Invoke(invoke)) => {
                let invocation = match serde_json::from_str::<Invocation>(&invoke.invocation_json) {
                    Ok(invocation) => invocation,
                    Err(e) => {
                        let error = WorkerError::new(
                            ErrorKind::BadRequest,
                            format!("unreadable invocation: {e}"),
                        );
                        shared.send(id, invoked(&failed_outcome(error)));
                        continue;
                    }
                };
                let cmd = SlotCmd::Invoke {
                    id,
                    invocation,
                    bindings: invoke.bindings,
                };
                let sent = slots
                    .get(&invoke.isolate)
                    .map(|slot| slot.send(cmd).is_ok());
                if sent != Some(true) {
                    slots.remove(&invoke.isolate);
                    let error = WorkerError::new(
                        ErrorKind::NotFound,
                        format!("isolate {} is not loaded", invoke.isolate),
                    );
                    shared.send(id, invoked(&failed_outcome(error)));
                }
            }
            Some(In::Unload(unload)) => match slots.remove(&unload.isolate) {
                Some(slot) if slot.send(SlotCmd::Unload { id }).is_ok() => {}
                _ => shared.send(id, Out::Unloaded(proto::Unloaded {})),
            },
            Some(In::Ping(_)) => shared.send(
                id,
                Out::Pong(proto::Pong {
                    isolates: shared.live_isolates.load(Ordering::Relaxed) as u32,
                    prewarmed: shared.prewarmed_count() as u32,
                }),
            ),
            Some(In::HostReply(reply)) => {
                let waiter = shared
                    .host_calls
                    .lock()
                    .ok()
                    .and_then(|mut calls| calls.remove(&reply.call));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(reply);
                }
            }
            Some(In::Probe(probe)) => shared.send(id, Out::ProbeResult(run_probe(&probe))),
            None => {}
        }
    }
}

fn load_failed(error: &WorkerError) -> Out {
    Out::Loaded(proto::Loaded {
        ok: false,
        error_json: serde_json::to_string(error).unwrap_or_default(),
        ..Default::default()
    })
}

fn failed_outcome(error: WorkerError) -> crate::engine::Outcome {
    crate::engine::Outcome {
        result: Err(error),
        logs: Vec::new(),
        stats: Default::default(),
    }
}

fn invoked(outcome: &crate::engine::Outcome) -> Out {
    Out::Invoked(proto::Invoked {
        outcome_json: serde_json::to_string(outcome).unwrap_or_default(),
    })
}

/// One isolate's thread: loads, invokes, and watches the isolate between
/// invocations.
fn slot_main(
    isolate_id: u64,
    shared: Arc<Shared>,
    refill: mpsc::Sender<()>,
    rx: mpsc::Receiver<SlotCmd>,
) {
    let mut isolate: Option<Isolate> = None;
    let mut worker: Option<(Bundle, Limits)> = None;
    // After an invocation, until its isolate is seen idle.
    let mut watch: Option<Watch> = None;
    // V8 heap in use as last measured (after the load, or while idle).
    let mut last_heap = 0;
    shared.live_isolates.fetch_add(1, Ordering::Relaxed);
    loop {
        let cmd = match watch {
            Some(_) => match rx.recv_timeout(IDLE_PROBE_AFTER) {
                Ok(cmd) => Some(cmd),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(cmd) => Some(cmd),
                Err(_) => break,
            },
        };
        if let (Some(watching), Some(live)) = (watch.take(), isolate.as_ref()) {
            match watching.judge(live) {
                Verdict::Idle => {}
                // A command arrived: the invocation's own limits take over.
                Verdict::Busy(next) if cmd.is_none() => watch = Some(next),
                Verdict::Busy(_) => {}
                Verdict::Dispose(reason) => {
                    isolate = None; // frees the context, terminating its JavaScript
                    shared.send(
                        0,
                        Out::Disposed(proto::Disposed {
                            isolate: isolate_id,
                            reason,
                        }),
                    );
                }
            }
        }
        let Some(cmd) = cmd else {
            // Seen idle: measure the heap now, off any request's path
            // (asking V8 costs a round trip to the isolate's thread).
            if watch.is_none()
                && let Some(heap) = isolate.as_ref().and_then(Isolate::heap_stats)
            {
                last_heap = heap.used_heap_size;
            }
            continue;
        };
        match cmd {
            SlotCmd::Load { id, limits, bundle } => {
                let started = Instant::now();
                let (mut fresh, prewarmed) = match shared.take_prewarmed() {
                    Some(isolate) => (isolate, true),
                    None => match Isolate::new(limits) {
                        Ok(isolate) => (isolate, false),
                        Err(e) => {
                            shared.send(
                                id,
                                load_failed(&WorkerError::new(ErrorKind::Crashed, e.to_string())),
                            );
                            break;
                        }
                    },
                };
                let _ = refill.send(());
                fresh.set_limits(limits);
                match fresh.load(&bundle) {
                    Ok(report) => {
                        let heap = fresh.heap_stats().map(|h| h.used_heap_size).unwrap_or(0);
                        last_heap = heap;
                        shared.send(
                            id,
                            Out::Loaded(proto::Loaded {
                                ok: true,
                                error_json: String::new(),
                                load_ms: started.elapsed().as_secs_f64() * 1e3,
                                logs_json: serde_json::to_string(&report.logs).unwrap_or_default(),
                                heap_used_bytes: heap,
                                prewarmed,
                            }),
                        );
                        isolate = Some(fresh);
                        worker = Some((bundle, limits));
                    }
                    Err(error) => {
                        shared.send(id, load_failed(&error));
                        break;
                    }
                }
            }
            SlotCmd::Invoke {
                id,
                invocation,
                bindings,
            } => {
                let host = RemoteHost {
                    shared: shared.clone(),
                    request: id,
                    bindings,
                    wait: worker
                        .as_ref()
                        .map(|(_, l)| l.wall_time)
                        .unwrap_or(Duration::from_secs(30)),
                };
                let mut reload_ms = 0.0;
                if isolate.is_none() {
                    // Disposed after a previous invocation: bring the Worker back.
                    if let Some((bundle, limits)) = &worker {
                        let started = Instant::now();
                        let fresh = shared
                            .take_prewarmed()
                            .map(Ok)
                            .unwrap_or_else(|| Isolate::new(*limits));
                        let _ = refill.send(());
                        match fresh {
                            Ok(mut fresh) => {
                                fresh.set_limits(*limits);
                                match fresh.load(bundle) {
                                    Ok(_) => isolate = Some(fresh),
                                    Err(error) => {
                                        shared.send(id, invoked(&failed_outcome(error)));
                                        continue;
                                    }
                                }
                            }
                            Err(e) => {
                                let error = WorkerError::new(ErrorKind::Crashed, e.to_string());
                                shared.send(id, invoked(&failed_outcome(error)));
                                continue;
                            }
                        }
                        reload_ms = started.elapsed().as_secs_f64() * 1e3;
                    }
                }
                let Some(live) = isolate.as_mut() else {
                    let error = WorkerError::new(
                        ErrorKind::NotFound,
                        "no Worker is loaded in this isolate",
                    );
                    shared.send(id, invoked(&failed_outcome(error)));
                    continue;
                };
                let mut outcome = live.invoke(&invocation, &host);
                outcome.stats.load_ms += reload_ms;
                if outcome.stats.heap_used_bytes == 0 {
                    outcome.stats.heap_used_bytes = last_heap;
                }
                shared.send(id, invoked(&outcome));
                watch = Watch::start(live);
            }
            SlotCmd::Unload { id } => {
                drop(isolate.take());
                if id != 0 {
                    shared.send(id, Out::Unloaded(proto::Unloaded {}));
                }
                break;
            }
        }
    }
    drop(isolate);
    shared.live_isolates.fetch_sub(1, Ordering::Relaxed);
    let _ = refill.send(());
}

/// Watching an isolate after its invocation: its thread should fall idle,
/// since JavaScript only runs when the host asks. One that keeps using CPU
/// (a promise-job loop that outlived its handler) is disposed.
struct Watch {
    since: Instant,
    cpu_then: Duration,
    /// Windows already seen busy.
    busy_windows: u32,
}

enum Verdict {
    Idle,
    /// Used CPU, but not enough to condemn it yet: watch another window.
    Busy(Watch),
    Dispose(String),
}

impl Watch {
    fn start(isolate: &Isolate) -> Option<Watch> {
        Some(Watch {
            since: Instant::now(),
            cpu_then: isolate.isolate_cpu_time()?,
            busy_windows: 0,
        })
    }

    fn judge(self, isolate: &Isolate) -> Verdict {
        let Some(now) = isolate.isolate_cpu_time() else {
            return Verdict::Idle;
        };
        let elapsed = self.since.elapsed();
        let cpu = now.saturating_sub(self.cpu_then);
        // A few microseconds of promise-job bookkeeping after the result are
        // normal; no need to wake the isolate with a probe.
        if cpu < POST_RESULT_CPU {
            return Verdict::Idle;
        }
        let burning = elapsed >= IDLE_PROBE_AFTER / 2
            && cpu.as_secs_f64() >= elapsed.as_secs_f64() * BURNING_SHARE;
        // On a loaded machine a spinning thread may get less than its share
        // in any one window, but it never falls idle: that is enough too.
        if burning || self.busy_windows + 1 >= MAX_BUSY_WINDOWS {
            return Verdict::Dispose(format!(
                "its thread kept running after the invocation ({:.1} ms CPU in {:.1} ms)",
                cpu.as_secs_f64() * 1e3,
                elapsed.as_secs_f64() * 1e3
            ));
        }
        Verdict::Busy(Watch {
            since: Instant::now(),
            cpu_then: now,
            busy_windows: self.busy_windows + 1,
        })
    }
}

/// Bindings as seen from inside the sandbox: every call goes to the
/// supervisor, which runs it and answers; the isolate's driver waits.
struct RemoteHost {
    shared: Arc<Shared>,
    /// The invocation's request id, so the supervisor knows whose bindings to run.
    request: u64,
    bindings: Vec<String>,
    wait: Duration,
}

impl HostFunctions for RemoteHost {
    fn bindings(&self) -> Vec<String> {
        self.bindings.clone()
    }

    fn call(&self, name: &str, args_json: &str) -> Result<String, String> {
        let call = self.shared.next_call.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        if let Ok(mut calls) = self.shared.host_calls.lock() {
            calls.insert(call, tx);
        }
        self.shared.send(
            self.request,
            Out::HostCall(proto::HostCall {
                call,
                name: name.to_owned(),
                args_json: args_json.to_owned(),
            }),
        );
        let reply = rx.recv_timeout(self.wait);
        if let Ok(mut calls) = self.shared.host_calls.lock() {
            calls.remove(&call);
        }
        match reply {
            Ok(reply) if reply.ok => Ok(reply.value),
            Ok(reply) => Err(reply.value),
            Err(_) => Err(format!("binding '{name}' did not answer in time")),
        }
    }
}

/// The sandbox probe: tries one thing the walls must forbid and reports
/// whether it worked. Only the supervisor can ask for it, and it can only
/// demonstrate a hole, never open one; release builds leave it out unless
/// built with the `sandbox-probe` feature.
#[cfg(any(debug_assertions, feature = "sandbox-probe"))]
fn run_probe(probe: &proto::Probe) -> proto::ProbeResult {
    let result = |succeeded: bool, detail: String| proto::ProbeResult { succeeded, detail };
    match probe.action.as_str() {
        "tcp_connect" => {
            let Ok(addr) = probe.arg.parse::<std::net::SocketAddr>() else {
                return result(false, format!("bad address {}", probe.arg));
            };
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                Ok(_) => result(true, format!("connected to {addr}")),
                Err(e) => result(false, e.to_string()),
            }
        }
        "read_file" => match std::fs::read(&probe.arg) {
            Ok(bytes) => result(true, format!("read {} bytes", bytes.len())),
            Err(e) => result(false, e.to_string()),
        },
        "list_fds" => match std::fs::read_dir("/proc/self/fd") {
            Ok(entries) => {
                let mut fds: Vec<(u32, String)> = entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let fd = e.file_name().to_string_lossy().parse().ok()?;
                        // Described by stat (seccomp refuses readlink).
                        use std::os::unix::fs::FileTypeExt;
                        use std::os::unix::fs::MetadataExt;
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
                result(true, listing.join(","))
            }
            Err(e) => result(false, e.to_string()),
        },
        "env" => {
            let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
            result(!vars.is_empty(), vars.join(","))
        }
        "list_dir" => match std::fs::read_dir(&probe.arg) {
            // What a path shows, sorted by name (`.` is the working directory).
            Ok(dir) => {
                let mut names: Vec<String> = dir
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                result(true, names.join(","))
            }
            Err(e) => result(false, e.to_string()),
        },
        "write_file" => {
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&probe.arg)
                .and_then(|mut file| file.write_all(b"written by a sandbox"));
            match written {
                Ok(()) => result(true, format!("wrote {}", probe.arg)),
                Err(e) => result(false, e.to_string()),
            }
        }
        "thread_roots" => {
            // Every thread's root, as `tid:entries` (sorted) separated by
            // `;`: V8's threads must be in the same root as the main one.
            let tids: Vec<String> = match std::fs::read_dir("/proc/self/task") {
                Ok(dir) => dir
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect(),
                Err(e) => return result(false, e.to_string()),
            };
            let mut roots = Vec::new();
            for tid in tids {
                let root = format!("/proc/self/task/{tid}/root");
                match std::fs::read_dir(&root) {
                    Ok(dir) => {
                        let mut names: Vec<String> = dir
                            .filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect();
                        names.sort();
                        roots.push(format!("{tid}:{}", names.join(",")));
                    }
                    Err(e) => return result(false, format!("{root}: {e}")),
                }
            }
            result(true, roots.join(";"))
        }
        "net_interfaces" => match std::fs::read_to_string("/proc/self/net/dev") {
            Ok(text) => {
                let names: Vec<&str> = text
                    .lines()
                    .skip(2)
                    .filter_map(|l| l.split(':').next())
                    .map(str::trim)
                    .collect();
                result(names.iter().any(|n| *n != "lo"), names.join(","))
            }
            Err(e) => result(false, e.to_string()),
        },
        "uid" => result(sys::euid() == 0, sys::euid().to_string()),
        "forbidden_syscall" => {
            // None of these is on the seccomp allow list: the filter kills us.
            let root = std::path::Path::new("/");
            let outcome = match probe.arg.as_str() {
                "mount" => sys::mount(Some("tmpfs"), root, Some("tmpfs"), 0, None),
                "umount2" => sys::detach_mount(root),
                "pivot_root" => sys::pivot_root_here(),
                _ => std::os::unix::fs::chroot("."),
            };
            result(
                outcome.is_ok(),
                format!("{} returned {outcome:?}", probe.arg),
            )
        }
        other => result(false, format!("unknown probe {other}")),
    }
}

#[cfg(not(any(debug_assertions, feature = "sandbox-probe")))]
fn run_probe(_probe: &proto::Probe) -> proto::ProbeResult {
    proto::ProbeResult {
        succeeded: false,
        detail: "probes are not compiled into this build (feature sandbox-probe)".into(),
    }
}
