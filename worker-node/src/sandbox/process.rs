//! One sandbox process as the supervisor sees it: spawn it into its cgroup,
//! speak the protocol, answer its binding calls, watch it (heartbeat, memory
//! watchdog where no cgroup exists), and when it dies, say why to everyone
//! still waiting on it.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use tokio::sync::Notify;
use tokio::sync::mpsc;
use tokio::sync::oneshot;

use super::cgroup::Cgroup;
use super::child::ChildOptions;
use super::proto;
use super::proto::FromSandbox;
use super::proto::ToSandbox;
use super::proto::from_sandbox::Body as Out;
use super::proto::to_sandbox::Body as In;
use crate::engine::ErrorKind;
use crate::engine::HostFunctions;
use crate::engine::WorkerError;
use crate::sys::sandbox as sys;

/// How a sandbox is started.
pub(super) struct SpawnSpec {
    pub executable: PathBuf,
    pub options: ChildOptions,
    pub workdir: PathBuf,
    pub cgroup: Option<Cgroup>,
    pub memory_limit: u64,
    pub inherit_stderr: bool,
    pub ready_timeout: Duration,
    pub heartbeat: Duration,
}

/// A live (or just-died) sandbox process.
pub(super) struct SandboxProcess {
    pub id: u64,
    pub pid: u32,
    pub cgroup: Option<Cgroup>,
    /// Memory limit of the whole process (cgroup or watchdog), bytes.
    pub memory_limit: AtomicU64,
    /// The tenant it serves, once assigned; never changes after that.
    pub tenant: OnceLock<String>,
    /// Isolates assigned here: isolate id → its memory limit.
    pub isolates: Mutex<HashMap<u64, u64>>,
    pub last_used: Mutex<Instant>,
    pub workdir: PathBuf,
    frames: mpsc::UnboundedSender<Vec<u8>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Out>>>,
    hosts: Mutex<HashMap<u64, Arc<dyn HostFunctions>>>,
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
    ) -> Result<Arc<SandboxProcess>, String> {
        let started = Instant::now();
        let (ours, theirs) =
            std::os::unix::net::UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        let theirs = OwnedFd::from(theirs);
        std::fs::create_dir_all(&spec.workdir)
            .map_err(|e| format!("cannot create {}: {e}", spec.workdir.display()))?;
        let procs = match &spec.cgroup {
            Some(cgroup) => Some(
                cgroup
                    .procs_file()
                    .map_err(|e| format!("cgroup.procs: {e}"))?,
            ),
            None => None,
        };
        let mut args = vec![super::CHILD_MARKER.to_owned()];
        args.extend(spec.options.to_args());
        let stderr = if spec.inherit_stderr {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::null()
        };
        let mut child = sys::spawn_sandbox(
            &spec.executable,
            &args,
            &spec.workdir,
            sys::ChildSetup {
                socket: &theirs,
                cgroup_procs: procs.as_ref(),
                stderr,
            },
        )
        .map_err(|e| format!("cannot start sandbox {}: {e}", spec.executable.display()))?;
        drop(theirs);
        drop(procs);
        let pid = child.id().unwrap_or(0);
        ours.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stream = tokio::net::UnixStream::from_std(ours).map_err(|e| e.to_string())?;
        let (mut reader, mut writer) = stream.into_split();

        let first = tokio::time::timeout(
            spec.ready_timeout,
            proto::read_async::<FromSandbox>(&mut reader),
        )
        .await;
        let ready = match first {
            Ok(Ok(Some(FromSandbox {
                body: Some(Out::Ready(ready)),
                ..
            }))) if ready.fatal.is_empty() => ready,
            Ok(Ok(Some(FromSandbox {
                body: Some(Out::Ready(ready)),
                ..
            }))) => {
                let _ = child.wait().await;
                if let Some(cgroup) = &spec.cgroup {
                    cgroup.remove();
                }
                let _ = std::fs::remove_dir(&spec.workdir);
                return Err(ready.fatal);
            }
            other => {
                let _ = child.start_kill();
                let status = child.wait().await.ok();
                if let Some(cgroup) = &spec.cgroup {
                    cgroup.remove();
                }
                let _ = std::fs::remove_dir(&spec.workdir);
                return Err(format!(
                    "sandbox did not become ready ({}; exit {:?})",
                    match other {
                        Err(_) => "timed out".to_owned(),
                        Ok(Err(e)) => e.to_string(),
                        Ok(Ok(_)) => "no Ready message".to_owned(),
                    },
                    status
                ));
            }
        };
        for warning in &ready.warnings {
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
        tracing::debug!(
            sandbox = id,
            pid,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "sandbox ready"
        );

        let (frames, mut frames_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let process = Arc::new(SandboxProcess {
            id,
            pid,
            cgroup: spec.cgroup,
            memory_limit: AtomicU64::new(spec.memory_limit),
            tenant: OnceLock::new(),
            isolates: Mutex::new(HashMap::new()),
            last_used: Mutex::new(Instant::now()),
            workdir: spec.workdir,
            frames,
            pending: Mutex::new(HashMap::new()),
            hosts: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            death: OnceLock::new(),
            kill_reason: Mutex::new(None),
            kill: Notify::new(),
            died: Notify::new(),
        });

        // Writer: frames go out in order.
        tokio::spawn(async move {
            while let Some(frame) = frames_rx.recv().await {
                if proto::write_async(&mut writer, &frame).await.is_err() {
                    break;
                }
            }
        });

        // Reader: route answers; a broken stream means the process is going.
        let weak = Arc::downgrade(&process);
        tokio::spawn(async move {
            loop {
                let message = proto::read_async::<FromSandbox>(&mut reader).await;
                let Some(process) = weak.upgrade() else { break };
                match message {
                    Ok(Some(message)) => process.route(message),
                    Ok(None) | Err(_) => {
                        process.kill.notify_one();
                        break;
                    }
                }
            }
        });

        // Reaper: waits for the exit, works out why, fails what is pending.
        let reaper = process.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = reaper.kill.notified() => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            reaper.finish(status.ok());
            let cleanup = reaper.clone();
            let _ = tokio::task::spawn_blocking(move || cleanup.clean_up()).await;
            let _ = on_exit.send(reaper.id);
        });

        // Heartbeat: a sandbox that stops answering is killed.
        let weak = Arc::downgrade(&process);
        let heartbeat = spec.heartbeat;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(heartbeat).await;
                let Some(process) = weak.upgrade() else { break };
                if process.is_dead() {
                    break;
                }
                let ping = process.request(In::Ping(proto::Ping {}), None);
                match tokio::time::timeout(heartbeat * 5, ping).await {
                    Ok(_) => {}
                    Err(_) => {
                        process.kill_because(WorkerError::new(
                            ErrorKind::Crashed,
                            format!(
                                "the sandbox stopped answering for {} ms and was killed",
                                (heartbeat * 5).as_millis()
                            ),
                        ));
                        break;
                    }
                }
            }
        });

        // Without a cgroup, the supervisor watches resident memory itself.
        if process.cgroup.is_none() {
            let weak = Arc::downgrade(&process);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let Some(process) = weak.upgrade() else { break };
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
            });
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
        if let Ok(mut slot) = self.kill_reason.lock() {
            slot.get_or_insert(reason);
        }
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
        body: In,
        host: Option<Arc<dyn HostFunctions>>,
    ) -> Result<Out, WorkerError> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        if let Some(host) = host {
            lock(&self.hosts).insert(id, host);
        }
        if let Some(death) = self.death.get() {
            lock(&self.pending).remove(&id);
            lock(&self.hosts).remove(&id);
            return Err(death.clone());
        }
        if !matches!(body, In::Ping(_)) {
            *lock(&self.last_used) = Instant::now();
        }
        let frame = proto::encode(&ToSandbox {
            id,
            body: Some(body),
        });
        let _ = self.frames.send(frame);
        let answer = rx.await;
        lock(&self.hosts).remove(&id);
        match answer {
            Ok(out) => Ok(out),
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
        match message.body {
            Some(Out::HostCall(call)) => {
                let host = lock(&self.hosts).get(&message.id).cloned();
                let frames = self.frames.clone();
                tokio::task::spawn_blocking(move || {
                    let result = match host {
                        Some(host) => host.call(&call.name, &call.args_json),
                        None => Err(format!("binding '{}' has no host", call.name)),
                    };
                    let (ok, value) = match result {
                        Ok(value) => (true, value),
                        Err(error) => (false, error),
                    };
                    let reply = ToSandbox {
                        id: 0,
                        body: Some(In::HostReply(proto::HostReply {
                            call: call.call,
                            ok,
                            value,
                        })),
                    };
                    let _ = frames.send(proto::encode(&reply));
                });
            }
            Some(Out::Disposed(disposed)) => {
                tracing::info!(
                    sandbox = self.id,
                    isolate = disposed.isolate,
                    "isolate disposed: {}",
                    disposed.reason
                );
            }
            Some(body) => {
                if let Some(waiter) = lock(&self.pending).remove(&message.id) {
                    let _ = waiter.send(body);
                }
            }
            None => {}
        }
    }

    /// Records why the process died, fails everything pending, cleans up.
    fn finish(&self, status: Option<std::process::ExitStatus>) {
        let oom_kills = self.cgroup.as_ref().map(|c| c.oom_kills()).unwrap_or(0);
        let limit = self.memory_limit.load(Ordering::Relaxed);
        let reason = lock(&self.kill_reason).take();
        let error = if let Some(reason) = reason {
            reason
        } else if oom_kills > 0 {
            memory_error(limit)
        } else {
            crashed(&describe_exit(status))
        };
        tracing::warn!(sandbox = self.id, pid = self.pid, kind = %error.kind, "sandbox died: {}", error.message);
        let _ = self.death.set(error);
        lock(&self.pending).clear();
        lock(&self.hosts).clear();
        self.died.notify_waiters();
    }

    /// Removes the cgroup and working directory (blocking: the kernel may
    /// need a moment to let go of the cgroup).
    fn clean_up(&self) {
        if let Some(cgroup) = &self.cgroup {
            cgroup.remove();
        }
        let _ = std::fs::remove_dir(&self.workdir);
    }

    /// Raises or lowers the process's memory limit.
    pub fn set_memory_limit(&self, bytes: u64) {
        self.memory_limit.store(bytes, Ordering::Relaxed);
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

/// Whether this process has not seen `warning` before: a missing wall is
/// the same news for every sandbox of a node, so it is said loudly once.
fn first_time(warning: &str) -> bool {
    static SEEN: Mutex<Option<std::collections::HashSet<String>>> = Mutex::new(None);
    lock(&SEEN)
        .get_or_insert_with(Default::default)
        .insert(warning.to_owned())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
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
