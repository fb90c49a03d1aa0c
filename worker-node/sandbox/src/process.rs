//! One sandbox process as the supervisor sees it: spawn it into its cgroup,
//! shake hands, speak the protocol, answer its binding calls, watch it
//! (heartbeat, memory watchdog where no cgroup exists), and when it dies,
//! say why to everyone still waiting on it.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::Weak;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use bytes::BytesMut;
use edge_engine::ErrorKind;
use edge_engine::HostFunctions;
use edge_engine::WorkerError;
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;
use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Child;
use tokio::sync::Notify;
use tokio::sync::mpsc;
use tokio::sync::oneshot;
use tokio_util::codec::FramedRead;

use crate::cgroup::Cgroup;
use crate::child::ChildOptions;
use crate::error::SpawnError;
use crate::protocol::FromSandbox;
use crate::protocol::MAX_FRAME;
use crate::protocol::MAX_REPLY_FRAME;
use crate::protocol::PROTOCOL_VERSION;
use crate::protocol::ProtocolError;
use crate::protocol::Ready;
use crate::protocol::Reply;
use crate::protocol::Request;
use crate::protocol::SupervisorCodec;
use crate::protocol::ToSandbox;
use crate::protocol::encode_frame;
use crate::sys;

/// Most binding calls one request may make (the engine allows 1,000).
const MAX_HOST_CALLS_PER_REQUEST: u32 = 1000;
/// Largest JSON arguments of one binding call, bytes (as in the engine).
const MAX_HOST_CALL_ARGS: usize = 1024 * 1024;
/// Missed heartbeats after which a sandbox counts as hung and is killed.
const MISSED_HEARTBEATS: u32 = 5;
/// How often the watchdog looks at the resident memory of a sandbox that
/// has no cgroup.
const WATCHDOG_INTERVAL: Duration = Duration::from_millis(20);

/// What the supervisor reads from a sandbox: replies of bounded size.
type Replies = FramedRead<OwnedReadHalf, SupervisorCodec>;

/// The host functions of one request, and how many binding calls it made.
type RequestHost = (Arc<dyn HostFunctions>, u32);

/// How a sandbox is started.
pub(crate) struct SpawnSpec {
    pub executable: PathBuf,
    pub options: ChildOptions,
    pub workdir: PathBuf,
    pub cgroup: Option<Cgroup>,
    /// Its CPU cgroup (see `cpu`), if the host offers them.
    pub cpu_group: Option<PathBuf>,
    /// Memory for the process beyond its isolates' limits, bytes.
    pub overhead: u64,
    pub inherit_stderr: bool,
    pub ready_timeout: Duration,
    pub heartbeat: Duration,
}

/// A live (or just-died) sandbox process.
pub(crate) struct SandboxProcess {
    pub id: u64,
    pub pid: u32,
    pub cgroup: Option<Cgroup>,
    /// Its CPU cgroup (see `cpu`), if any.
    pub cpu_group: Option<PathBuf>,
    /// Memory for the process beyond its isolates' limits, bytes.
    overhead: u64,
    /// Memory limit of the whole process (cgroup or watchdog), bytes.
    memory_limit: AtomicU64,
    /// Serialises writes of the limit, so the last write is the current total.
    limit_write: Mutex<()>,
    /// The tenant it serves, once assigned; never changes after that.
    pub tenant: OnceLock<String>,
    /// Isolates assigned here: isolate id → its memory limit.
    pub isolates: Mutex<HashMap<u64, u64>>,
    pub last_used: Mutex<Instant>,
    pub workdir: PathBuf,
    /// Encoded frames for the writer task, in order.
    outgoing: mpsc::UnboundedSender<BytesMut>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// When each load or invocation in flight was sent.
    working_since: Mutex<HashMap<u64, Instant>>,
    /// The host functions of each request in flight.
    hosts: Mutex<HashMap<u64, RequestHost>>,
    next_request: AtomicU64,
    /// Set once, when the process is gone: what to tell its callers.
    death: OnceLock<WorkerError>,
    /// Why the supervisor killed it, if it did.
    kill_reason: Mutex<Option<WorkerError>>,
    kill: Notify,
    died: Notify,
}

impl SandboxProcess {
    /// Starts a sandbox and waits until it reports `Ready`. `on_exit` hears
    /// its id when it dies.
    pub async fn spawn(
        id: u64,
        spec: SpawnSpec,
        on_exit: mpsc::UnboundedSender<u64>,
    ) -> Result<Arc<SandboxProcess>, SpawnError> {
        let started = Instant::now();
        let (mut child, stream) = start_process(&spec)?;
        let pid = child.id().unwrap_or(0);
        let (reader, writer) = stream.into_split();
        let mut replies = FramedRead::new(reader, SupervisorCodec::with_max_frame(MAX_REPLY_FRAME));
        let ready = match handshake(&mut replies, &mut child, spec.ready_timeout).await {
            Ok(ready) => ready,
            Err(mut error) => {
                let exit = abandon(child, &spec).await;
                if let SpawnError::NotReady { status, .. } = &mut error {
                    *status = format!("{exit:?}");
                }
                return Err(error);
            }
        };
        log_missing_walls(id, pid, &ready.warnings);
        tracing::debug!(
            sandbox = id,
            pid,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "sandbox ready"
        );
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let process = Arc::new(SandboxProcess {
            id,
            pid,
            cgroup: spec.cgroup,
            cpu_group: spec.cpu_group.clone(),
            overhead: spec.overhead,
            memory_limit: AtomicU64::new(spec.overhead),
            limit_write: Mutex::new(()),
            tenant: OnceLock::new(),
            isolates: Mutex::new(HashMap::new()),
            last_used: Mutex::new(Instant::now()),
            workdir: spec.workdir,
            outgoing,
            pending: Mutex::new(HashMap::new()),
            working_since: Mutex::new(HashMap::new()),
            hosts: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            death: OnceLock::new(),
            kill_reason: Mutex::new(None),
            kill: Notify::new(),
            died: Notify::new(),
        });
        tokio::spawn(write_frames(writer, outgoing_rx));
        tokio::spawn(read_messages(replies, Arc::downgrade(&process)));
        tokio::spawn(reap(process.clone(), child, on_exit));
        tokio::spawn(heartbeat(Arc::downgrade(&process), spec.heartbeat));
        if process.cgroup.is_none() {
            tokio::spawn(watch_memory(Arc::downgrade(&process)));
        }
        Ok(process)
    }

    pub fn is_dead(&self) -> bool {
        self.death.get().is_some()
    }

    /// What callers are told about this sandbox's death, once dead.
    pub fn death(&self) -> Option<&WorkerError> {
        self.death.get()
    }

    /// Kills the process, reporting `reason` to whatever is in flight.
    pub fn kill_because(&self, reason: WorkerError) {
        self.kill_reason.lock().get_or_insert(reason);
        self.kill.notify_one();
    }

    /// Waits until the process is gone.
    pub async fn wait_dead(&self) {
        loop {
            let died = self.died.notified();
            if self.is_dead() {
                return;
            }
            died.await;
        }
    }

    /// Sends a request and waits for its answer. `host` answers the binding
    /// calls made while it runs.
    pub async fn request(
        &self,
        request: Request,
        host: Option<Arc<dyn HostFunctions>>,
    ) -> Result<Reply, WorkerError> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        if let Some(host) = host {
            self.hosts.lock().insert(id, (host, 0));
        }
        if let Some(death) = self.death.get() {
            self.pending.lock().remove(&id);
            self.hosts.lock().remove(&id);
            return Err(death.clone());
        }
        if !matches!(request, Request::Ping) {
            *self.last_used.lock() = Instant::now();
        }
        let work = matches!(request, Request::Load { .. } | Request::Invoke { .. });
        if work {
            self.working_since.lock().insert(id, Instant::now());
        }
        let frame = match encode_frame::<(), _>(ToSandbox { id, request }) {
            Ok(frame) => frame,
            Err(e) => {
                self.pending.lock().remove(&id);
                self.hosts.lock().remove(&id);
                return Err(WorkerError::new(
                    ErrorKind::BadRequest,
                    format!(
                        "the request cannot be sent to a sandbox ({e}; at most {MAX_FRAME} bytes)"
                    ),
                ));
            }
        };
        let _ = self.outgoing.send(frame);
        let answer = rx.await;
        self.hosts.lock().remove(&id);
        if work {
            self.working_since.lock().remove(&id);
        }
        match answer {
            Ok(reply) => Ok(reply),
            Err(_) => {
                // The reaper dropped the sender after recording the death.
                self.wait_dead().await;
                Err(self
                    .death
                    .get()
                    .cloned()
                    .unwrap_or_else(|| crashed("the sandbox went away")))
            }
        }
    }

    fn route(&self, message: FromSandbox) {
        match message.reply {
            Reply::HostCall {
                call,
                name,
                args_json,
            } => self.run_host_call(message.id, call, name, args_json),
            Reply::Disposed { isolate, reason } => {
                tracing::info!(sandbox = self.id, isolate, "isolate disposed: {reason}");
            }
            reply => {
                if let Some(waiter) = self.pending.lock().remove(&message.id) {
                    let _ = waiter.send(reply);
                }
            }
        }
    }

    /// The host functions a binding call of request `request` may run, once
    /// the call is checked: a request in flight, within its call budget, to a
    /// binding it was granted, with bounded arguments. The sandbox checked
    /// all of this too, but it runs the Worker and is not trusted.
    fn host_for_call(
        &self,
        request: u64,
        name: &str,
        args_json: &str,
    ) -> Result<Arc<dyn HostFunctions>, String> {
        let mut hosts = self.hosts.lock();
        let Some((host, calls)) = hosts.get_mut(&request) else {
            return Err(format!("binding '{name}' called outside a request"));
        };
        *calls += 1;
        if *calls > MAX_HOST_CALLS_PER_REQUEST {
            return Err(format!(
                "more than {MAX_HOST_CALLS_PER_REQUEST} binding calls in one request"
            ));
        }
        if args_json.len() > MAX_HOST_CALL_ARGS {
            return Err(format!(
                "binding '{name}': the arguments are larger than {MAX_HOST_CALL_ARGS} bytes"
            ));
        }
        if !host.bindings().iter().any(|granted| granted == name) {
            return Err(format!("binding '{name}' is not granted to this Worker"));
        }
        Ok(host.clone())
    }

    /// Runs a binding call of request `request` off the async threads and
    /// sends the answer back.
    fn run_host_call(&self, request: u64, call: u64, name: String, args_json: String) {
        let host = self.host_for_call(request, &name, &args_json);
        let outgoing = self.outgoing.clone();
        tokio::task::spawn_blocking(move || {
            let result = host.and_then(|host| host.call(&name, &args_json));
            let reply = |result| ToSandbox {
                id: 0,
                request: Request::HostReply { call, result },
            };
            let frame = encode_frame::<(), _>(reply(result)).or_else(|e| {
                encode_frame::<(), _>(reply(Err(format!(
                    "binding '{name}' answered too much: {e}"
                ))))
            });
            if let Ok(frame) = frame {
                let _ = outgoing.send(frame);
            }
        });
    }

    /// Records why the process died and fails everything pending.
    fn finish(&self, status: Option<std::process::ExitStatus>) {
        let oom_kills = self.cgroup.as_ref().map(|c| c.oom_kills()).unwrap_or(0);
        // The OOM-kill counter may lag the death; a SIGKILL in a cgroup that
        // hit its limit is the OOM killer too.
        let killed_at_limit =
            killed_by_sigkill(status) && self.cgroup.as_ref().is_some_and(|c| c.hit_limit());
        let limit = self.memory_limit.load(Ordering::Relaxed);
        let reason = self.kill_reason.lock().take();
        let error = if let Some(reason) = reason {
            reason
        } else if oom_kills > 0 || killed_at_limit {
            memory_error(limit)
        } else {
            crashed(&describe_exit(status))
        };
        tracing::warn!(sandbox = self.id, pid = self.pid, kind = %error.kind, "sandbox died: {}", error.message);
        let _ = self.death.set(error);
        self.pending.lock().clear();
        self.hosts.lock().clear();
        self.died.notify_waiters();
    }

    /// Removes the cgroup and working directory.
    async fn clean_up(&self) {
        if let Some(cgroup) = &self.cgroup {
            cgroup.remove().await;
        }
        if let Some(group) = &self.cpu_group {
            crate::cgroup::remove_dir_patiently(group).await;
        }
        let _ = std::fs::remove_dir(&self.workdir);
    }

    /// Whether a load or invocation sent to this sandbox has been running
    /// for longer than `age`.
    pub fn working_longer_than(&self, age: Duration) -> bool {
        self.working_since
            .lock()
            .values()
            .any(|since| since.elapsed() > age)
    }

    /// Memory this sandbox commits: its overhead plus its isolates' limits.
    pub fn committed(&self) -> u64 {
        self.overhead + self.isolates.lock().values().sum::<u64>()
    }

    /// Sets the process's memory limit (cgroup or watchdog) to what it
    /// commits now. Called after its isolates change, outside any
    /// supervisor lock; concurrent callers write in turn, each the total
    /// current at its write, so the last write is never stale.
    pub fn apply_memory_limit(&self) {
        let _turn = self.limit_write.lock();
        let bytes = self.committed();
        if self.memory_limit.swap(bytes, Ordering::Relaxed) == bytes || self.is_dead() {
            return;
        }
        if let Some(cgroup) = &self.cgroup
            && let Err(e) = cgroup.set_limit(bytes)
        {
            tracing::debug!(
                sandbox = self.id,
                "cgroup limit not changed to {bytes}: {e}"
            );
        }
    }
}

/// Makes the socket pair and the working directory, and starts the process
/// already inside its cgroup.
fn start_process(spec: &SpawnSpec) -> Result<(Child, UnixStream), SpawnError> {
    let (ours, theirs) =
        std::os::unix::net::UnixStream::pair().map_err(SpawnError::setup("socketpair"))?;
    let theirs = OwnedFd::from(theirs);
    std::fs::create_dir_all(&spec.workdir).map_err(SpawnError::setup(format!(
        "cannot create {}",
        spec.workdir.display()
    )))?;
    let cpu_procs = spec.cpu_group.as_ref().and_then(|dir| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .ok()
    });
    let procs = match &spec.cgroup {
        Some(cgroup) => Some(
            cgroup
                .procs_file()
                .map_err(SpawnError::setup("cgroup.procs"))?,
        ),
        None => None,
    };
    let mut args = vec![crate::CHILD_MARKER.to_owned()];
    args.extend(spec.options.to_args());
    let stderr = if spec.inherit_stderr {
        std::process::Stdio::inherit()
    } else {
        std::process::Stdio::null()
    };
    let setup = sys::ChildSetup {
        socket: &theirs,
        cgroup_procs: procs.as_ref(),
        cpu_procs: cpu_procs.as_ref(),
        stderr,
    };
    let child =
        sys::spawn_sandbox(&spec.executable, &args, &spec.workdir, setup).map_err(|source| {
            SpawnError::Exec {
                executable: spec.executable.clone(),
                source,
            }
        })?;
    ours.set_nonblocking(true)
        .map_err(SpawnError::setup("non-blocking socket"))?;
    let stream = UnixStream::from_std(ours).map_err(SpawnError::setup("async socket"))?;
    Ok((child, stream))
}

/// Waits for the sandbox's `Ready` and checks it: a fatal start or another
/// protocol version is refused.
async fn handshake(
    replies: &mut Replies,
    child: &mut Child,
    timeout: Duration,
) -> Result<Ready, SpawnError> {
    let first = tokio::time::timeout(timeout, replies.next()).await;
    let not_ready = |why: String| SpawnError::NotReady {
        why,
        status: String::new(),
    };
    let ready = match first {
        Ok(Some(Ok(FromSandbox {
            reply: Reply::Ready(ready),
            ..
        }))) => ready,
        Err(_) => return Err(not_ready("timed out".into())),
        Ok(Some(Err(e))) => return Err(not_ready(e.to_string())),
        Ok(Some(Ok(_))) | Ok(None) => return Err(not_ready("no Ready message".into())),
    };
    if ready.protocol != PROTOCOL_VERSION {
        return Err(SpawnError::Version {
            theirs: ready.protocol,
            ours: PROTOCOL_VERSION,
        });
    }
    if let Some(fatal) = ready.fatal {
        let _ = child.wait().await;
        return Err(SpawnError::Fatal(fatal));
    }
    Ok(ready)
}

/// Ends a sandbox that never became ready and removes what it had; returns
/// how the process ended.
async fn abandon(mut child: Child, spec: &SpawnSpec) -> Option<std::process::ExitStatus> {
    let _ = child.start_kill();
    let status = child.wait().await.ok();
    if let Some(cgroup) = &spec.cgroup {
        cgroup.remove().await;
    }
    if let Some(group) = &spec.cpu_group {
        crate::cgroup::remove_dir_patiently(group).await;
    }
    let _ = std::fs::remove_dir(&spec.workdir);
    status
}

fn log_missing_walls(id: u64, pid: u32, warnings: &[String]) {
    for warning in warnings {
        if first_time(warning) {
            tracing::warn!(
                sandbox = id,
                pid,
                "sandbox wall missing: {warning} (said once; later sandboxes log it at debug)"
            );
        } else {
            tracing::debug!(sandbox = id, pid, "sandbox wall missing: {warning}");
        }
    }
}

/// Writer: frames go out in order.
async fn write_frames(mut writer: OwnedWriteHalf, mut outgoing: mpsc::UnboundedReceiver<BytesMut>) {
    while let Some(frame) = outgoing.recv().await {
        if writer.write_all(&frame).await.is_err() {
            break;
        }
    }
}

/// Reader: routes answers; a broken stream means the process is going.
async fn read_messages(mut stream: Replies, process: Weak<SandboxProcess>) {
    loop {
        let message = stream.next().await;
        let Some(process) = process.upgrade() else {
            break;
        };
        match message {
            Some(Ok(message)) => process.route(message),
            // A broken socket is a process going away (an OOM kill resets
            // it): why it died is worked out when it is reaped.
            Some(Err(ProtocolError::Io(e))) if e.kind() != std::io::ErrorKind::InvalidData => {
                process.kill.notify_one();
                break;
            }
            Some(Err(e)) => {
                process.kill_because(crashed(&format!("the sandbox broke the protocol: {e}")));
                break;
            }
            None => {
                process.kill.notify_one();
                break;
            }
        }
    }
}

/// Reaper: waits for the exit, works out why, fails what is pending.
async fn reap(process: Arc<SandboxProcess>, mut child: Child, on_exit: mpsc::UnboundedSender<u64>) {
    let status = tokio::select! {
        status = child.wait() => status,
        _ = process.kill.notified() => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    process.finish(status.ok());
    process.clean_up().await;
    let _ = on_exit.send(process.id);
}

/// Heartbeat: a sandbox that stops answering is killed.
async fn heartbeat(process: Weak<SandboxProcess>, interval: Duration) {
    let patience = interval * MISSED_HEARTBEATS;
    loop {
        tokio::time::sleep(interval).await;
        let Some(process) = process.upgrade() else {
            break;
        };
        if process.is_dead() {
            break;
        }
        let ping = process.request(Request::Ping, None);
        if tokio::time::timeout(patience, ping).await.is_err() {
            process.kill_because(crashed(&format!(
                "the sandbox stopped answering for {} ms and was killed",
                patience.as_millis()
            )));
            break;
        }
    }
}

/// Without a cgroup, the supervisor watches resident memory itself.
async fn watch_memory(process: Weak<SandboxProcess>) {
    loop {
        tokio::time::sleep(WATCHDOG_INTERVAL).await;
        let Some(process) = process.upgrade() else {
            break;
        };
        if process.is_dead() {
            break;
        }
        let limit = process.memory_limit.load(Ordering::Relaxed);
        if let Some(rss) = resident_bytes(process.pid)
            && rss > limit
        {
            process.kill_because(memory_error(limit));
            break;
        }
    }
}

/// Whether this process has not seen `warning` before: a missing wall is
/// the same news for every sandbox of a node, so it is said loudly once.
fn first_time(warning: &str) -> bool {
    static SEEN: Mutex<Option<std::collections::HashSet<String>>> = Mutex::new(None);
    SEEN.lock()
        .get_or_insert_with(Default::default)
        .insert(warning.to_owned())
}

fn crashed(message: &str) -> WorkerError {
    WorkerError::new(ErrorKind::Crashed, message)
}

fn memory_error(limit: u64) -> WorkerError {
    WorkerError::new(
        ErrorKind::Memory,
        format!(
            "the Worker's sandbox exceeded its memory limit of {} MiB and was killed",
            limit / (1024 * 1024)
        ),
    )
}

fn killed_by_sigkill(status: Option<std::process::ExitStatus>) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.and_then(|s| s.signal()) == Some(libc::SIGKILL)
}

fn describe_exit(status: Option<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let Some(status) = status else {
        return "the sandbox process vanished".into();
    };
    match (status.code(), status.signal()) {
        (_, Some(libc::SIGSYS)) => "the sandbox broke its seccomp filter and was killed".into(),
        (_, Some(libc::SIGABRT)) => "the sandbox aborted (a V8 fatal error)".into(),
        (_, Some(libc::SIGKILL)) => "the sandbox was killed (SIGKILL)".into(),
        (_, Some(libc::SIGSEGV)) => "the sandbox crashed (SIGSEGV)".into(),
        (_, Some(signal)) => format!("the sandbox died of signal {signal}"),
        (Some(code), _) => format!("the sandbox exited with code {code}"),
        _ => "the sandbox ended".into(),
    }
}

/// Resident set size of a process, from `/proc/PID/status`.
pub(super) fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Private (unshared) memory of a process, from `/proc/PID/smaps_rollup`.
pub(super) fn private_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let mut total = 0;
    for line in text.lines() {
        if line.starts_with("Private_Clean:") || line.starts_with("Private_Dirty:") {
            total += line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024;
        }
    }
    Some(total)
}
