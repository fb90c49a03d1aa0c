//! The supervisor: a pool of warm sandboxes, their assignment to tenants,
//! per-tenant budgets, and the requests that reach isolates through them.

use std::collections::HashMap;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use edge_engine::Bundle;
use edge_engine::ErrorKind;
use edge_engine::HostFunctions;
use edge_engine::Invocation;
use edge_engine::InvocationStats;
use edge_engine::Limits;
use edge_engine::LogLine;
use edge_engine::Outcome;
use edge_engine::WorkerError;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::sync::mpsc;
use tokio::sync::watch;

use crate::cgroup::CgroupRoot;
use crate::cgroup::CgroupVersion;
use crate::child::ChildOptions;
use crate::config::CgroupMode;
use crate::config::SandboxConfig;
use crate::error::SpawnError;
use crate::error::StartError;
use crate::process::SandboxProcess;
use crate::process::SpawnSpec;
use crate::protocol::Probe;
use crate::protocol::Reply;
use crate::protocol::Request;

/// Slack on top of a load's wall-time limit before the supervisor gives up
/// on the sandbox doing it (the sandbox enforces the limit itself).
const LOAD_SLACK: Duration = Duration::from_secs(10);
/// Slack on top of twice an invocation's wall-time limit, likewise.
const INVOKE_SLACK: Duration = Duration::from_secs(10);
/// How long an unload may take before it is abandoned.
const UNLOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for each sandbox to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often `wait_warm` looks at the pool.
const WARM_POLL: Duration = Duration::from_millis(10);
/// The pause after a failed spawn before the pool tries again.
const SPAWN_RETRY: Duration = Duration::from_secs(1);
/// How often the pool's loop wakes with nothing to do (reaping idle sandboxes).
const MAINTAIN_TICK: Duration = Duration::from_secs(1);

/// Why a load could not be placed or did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The node or the tenant has no room; unloading another Worker may help.
    #[error("no capacity: {0}")]
    NoCapacity(String),
    /// The Worker itself failed to load (or its sandbox died meanwhile).
    #[error(transparent)]
    Worker(#[from] WorkerError),
}

impl LoadError {
    /// The error a client sees.
    pub fn into_worker_error(self) -> WorkerError {
        match self {
            LoadError::NoCapacity(message) => WorkerError::new(ErrorKind::Memory, message),
            LoadError::Worker(error) => error,
        }
    }
}

/// A Worker loaded into an isolate of some sandbox.
#[derive(Clone)]
pub struct IsolateHandle {
    sandbox: Arc<SandboxProcess>,
    isolate: u64,
    limits: Limits,
}

impl IsolateHandle {
    /// Whether its sandbox still runs.
    pub fn is_live(&self) -> bool {
        !self.sandbox.is_dead()
    }

    /// The sandbox process's pid (operators, tests).
    pub fn sandbox_pid(&self) -> u32 {
        self.sandbox.pid
    }

    /// The tenant the sandbox serves.
    pub fn tenant(&self) -> &str {
        self.sandbox.tenant.get().map(String::as_str).unwrap_or("")
    }

    /// The limits the Worker was loaded with.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

impl std::fmt::Debug for IsolateHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IsolateHandle")
            .field("sandbox", &self.sandbox.id)
            .field("pid", &self.sandbox.pid)
            .field("isolate", &self.isolate)
            .finish()
    }
}

/// What a successful load returns.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Where the Worker now lives.
    pub handle: IsolateHandle,
    /// Time the sandbox spent loading (isolate taken or made, bundle evaluated).
    pub load_ms: f64,
    /// Time spent before that finding a sandbox (0 when the tenant had one;
    /// a spawn's duration when none was warm).
    pub placement_ms: f64,
    /// What the Worker's top-level code logged.
    pub logs: Vec<LogLine>,
    /// V8 heap in use after the load: measured for a sandbox's first load;
    /// for later ones the previous load's figure, since the sandbox measures
    /// after answering and the Worker's first invocation reports the
    /// measured heap.
    pub heap_used_bytes: u64,
    /// Whether the isolate was pre-warmed.
    pub prewarmed_isolate: bool,
    /// Whether the tenant got a sandbox from the warm pool for this load.
    pub took_warm_sandbox: bool,
}

/// Counts for operators and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Sandboxes started and not yet assigned.
    pub warm: usize,
    /// Sandboxes being started.
    pub spawning: usize,
    /// Sandboxes assigned to tenants.
    pub assigned: usize,
    /// Isolates holding Workers, over all sandboxes.
    pub isolates: usize,
    /// Tenants holding sandboxes.
    pub tenants: usize,
    /// Sandboxes that died other than by being reaped or shut down.
    pub died: u64,
    /// Sandboxes started since the supervisor began.
    pub spawned: u64,
}

/// Supervises the sandbox processes of one node.
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    config: SandboxConfig,
    cgroups: Option<CgroupRoot>,
    /// CPU cgroups of the sandboxes, where the host offers them.
    cpu: Option<crate::cpu::CpuGroups>,
    workdir: PathBuf,
    state: Mutex<State>,
    refill: Arc<Notify>,
    next_sandbox: AtomicU64,
    next_isolate: AtomicU64,
    exits: mpsc::UnboundedSender<u64>,
    shutdown: watch::Sender<bool>,
    died: AtomicU64,
    spawned: AtomicU64,
    /// Cleans up after us if we die without doing it ourselves.
    _janitor: Option<crate::janitor::Janitor>,
}

#[derive(Default)]
struct State {
    warm: Vec<Arc<SandboxProcess>>,
    spawning: usize,
    /// Every assigned sandbox by id.
    assigned: HashMap<u64, Arc<SandboxProcess>>,
    /// A tenant's sandboxes.
    tenants: HashMap<String, Vec<u64>>,
    /// Ids being retired on purpose (reaped or shut down), not counted as deaths.
    retiring: HashSet<u64>,
}

impl State {
    /// Hands `sandbox` to `tenant` for good (a sandbox never changes tenant).
    fn assign(&mut self, sandbox: &Arc<SandboxProcess>, tenant: &str) {
        let _ = sandbox.tenant.set(tenant.to_owned());
        self.assigned.insert(sandbox.id, sandbox.clone());
        self.tenants
            .entry(tenant.to_owned())
            .or_default()
            .push(sandbox.id);
    }

    fn total(&self) -> usize {
        self.warm.len() + self.spawning + self.assigned.len()
    }
}

impl Supervisor {
    /// Starts the supervisor: finds a memory cgroup hierarchy (or warns and
    /// falls back to a resident-memory watchdog) and begins filling the warm
    /// pool in the background. Must be called inside a tokio runtime.
    pub async fn start(config: SandboxConfig) -> Result<Supervisor, StartError> {
        let cgroups = match &config.cgroup {
            CgroupMode::Off => None,
            mode => {
                let explicit = match mode {
                    CgroupMode::At(path) => Some(path.as_path()),
                    _ => None,
                };
                crate::cgroup::sweep_stale().await;
                let created = CgroupRoot::create(explicit);
                match created {
                    Ok(root) => Some(root),
                    Err(e) => {
                        tracing::warn!(
                            "no writable memory cgroup ({e}); sandboxes are held to their memory limits by a resident-memory watchdog, which reacts within ~20 ms instead of at once"
                        );
                        None
                    }
                }
            }
        };
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        let name = format!(
            "edge-sandbox-{}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        );
        let base = config.workdir.clone().unwrap_or_else(std::env::temp_dir);
        sweep_stale_workdirs(&base);
        let workdir = base.join(&name);
        std::fs::create_dir_all(&workdir).map_err(|source| StartError::Workdir {
            path: workdir.clone(),
            source,
        })?;
        let cpu = crate::cpu::CpuGroups::create(&name).await;
        if cpu.is_none() {
            tracing::debug!("no writable cpu cgroup: busy tenants are not demoted");
        }
        let janitor = crate::janitor::Janitor::start(
            &config.executable,
            &workdir,
            cgroups.as_ref().map(|c| c.dir.as_path()),
            cpu.as_ref().map(|c| c.dir.as_path()),
        )
        .inspect_err(|e| {
            tracing::warn!("no janitor ({e}): a killed supervisor leaves its sandbox cgroups until the next start");
        })
        .ok();
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            config,
            cgroups,
            cpu,
            workdir,
            state: Mutex::new(State::default()),
            refill: Arc::new(Notify::new()),
            next_sandbox: AtomicU64::new(1),
            next_isolate: AtomicU64::new(1),
            exits: exits_tx,
            shutdown,
            died: AtomicU64::new(0),
            spawned: AtomicU64::new(0),
            _janitor: janitor,
        });
        tokio::spawn(maintain(Arc::downgrade(&inner), exits_rx, shutdown_rx));
        if inner.cpu.is_some() {
            tokio::spawn(balance_cpu(Arc::downgrade(&inner)));
        }
        inner.refill.notify_one();
        Ok(Supervisor { inner })
    }

    /// The cgroup interface sandboxes are limited by (`None`: watchdog only).
    pub fn cgroup_version(&self) -> Option<CgroupVersion> {
        self.inner.cgroups.as_ref().map(|c| c.version)
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// Counts of sandboxes and isolates right now.
    pub fn stats(&self) -> PoolStats {
        let state = self.inner.state.lock();
        PoolStats {
            warm: state.warm.len(),
            spawning: state.spawning,
            assigned: state.assigned.len(),
            isolates: state
                .assigned
                .values()
                .map(|s| s.isolates.lock().len())
                .sum(),
            tenants: state.tenants.len(),
            died: self.inner.died.load(Ordering::Relaxed),
            spawned: self.inner.spawned.load(Ordering::Relaxed),
        }
    }

    /// Waits (bounded by `timeout`) until the warm pool holds `count` sandboxes.
    pub async fn wait_warm(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.inner.state.lock().warm.len() >= count {
                return true;
            }
            self.inner.refill.notify_one();
            tokio::time::sleep(WARM_POLL).await;
        }
        false
    }

    /// Loads a Worker for `tenant` into an isolate of one of the tenant's
    /// sandboxes, assigning a warm sandbox to the tenant if it needs one.
    pub async fn load(
        &self,
        tenant: &str,
        bundle: &Bundle,
        limits: Limits,
    ) -> Result<Loaded, LoadError> {
        let config = &self.inner.config;
        limits.validate()?;
        if limits.memory_bytes > config.memory_per_isolate {
            return Err(LoadError::Worker(WorkerError::new(
                ErrorKind::BadRequest,
                format!(
                    "a memory limit of {} MiB exceeds the node's per-isolate maximum of {} MiB",
                    limits.memory_bytes >> 20,
                    config.memory_per_isolate >> 20
                ),
            )));
        }
        let placement_started = Instant::now();
        let isolate = self.inner.next_isolate.fetch_add(1, Ordering::Relaxed);
        let (sandbox, took_warm) = self.place(tenant, isolate, limits.memory_bytes).await?;
        sandbox.apply_memory_limit();
        let placement_ms = placement_started.elapsed().as_secs_f64() * 1e3;
        let request = Request::Load {
            isolate,
            limits,
            bundle: bundle.clone(),
        };
        let answer = tokio::time::timeout(
            limits.wall_time + LOAD_SLACK,
            sandbox.request(request, None),
        )
        .await;
        let loaded = match answer {
            Ok(Ok(Reply::Loaded(Ok(loaded)))) => loaded,
            Ok(Ok(Reply::Loaded(Err(error)))) | Ok(Err(error)) => {
                self.inner.release(&sandbox, isolate);
                return Err(LoadError::Worker(edge_engine::bounded_error(error)));
            }
            Ok(Ok(_)) => {
                self.inner.release(&sandbox, isolate);
                return Err(LoadError::Worker(out_of_turn()));
            }
            Err(_) => {
                let error = WorkerError::new(
                    ErrorKind::Crashed,
                    "the sandbox did not finish a load in time",
                );
                sandbox.kill_because(error.clone());
                self.inner.release(&sandbox, isolate);
                return Err(LoadError::Worker(error));
            }
        };
        Ok(Loaded {
            handle: IsolateHandle {
                sandbox,
                isolate,
                limits,
            },
            load_ms: loaded.load_ms,
            placement_ms,
            logs: edge_engine::bounded_logs(loaded.logs),
            heap_used_bytes: loaded.heap_used_bytes,
            prewarmed_isolate: loaded.prewarmed,
            took_warm_sandbox: took_warm,
        })
    }

    /// Finds (or makes) room for one isolate of `tenant` and reserves it.
    /// Also says whether a warm sandbox was assigned for it.
    async fn place(
        &self,
        tenant: &str,
        isolate: u64,
        memory: u64,
    ) -> Result<(Arc<SandboxProcess>, bool), LoadError> {
        let inner = &self.inner;
        match inner.place_now(tenant, isolate, memory)? {
            Placement::Tenants(sandbox) => return Ok((sandbox, false)),
            Placement::Warm(sandbox) => return Ok((sandbox, true)),
            Placement::Spawn => {}
        }
        // Nothing warm: start one now (the slow path the pool exists to
        // avoid) and assign it straight to this tenant.
        let spawned = inner.spawn_one().await;
        let mut state = inner.state.lock();
        state.spawning -= 1;
        match spawned {
            Ok(sandbox) => {
                state.assign(&sandbox, tenant);
                inner.reserve(&sandbox, isolate, memory);
                Ok((sandbox, false))
            }
            Err(e) => Err(LoadError::Worker(WorkerError::new(
                ErrorKind::Crashed,
                e.to_string(),
            ))),
        }
    }

    /// Runs one invocation. `host` answers the Worker's binding calls; they
    /// run here in the supervisor, never in the sandbox.
    pub async fn invoke(
        &self,
        handle: &IsolateHandle,
        invocation: &Invocation,
        host: Arc<dyn HostFunctions>,
    ) -> Outcome {
        self.invoke_within(handle, invocation, host, None).await
    }

    /// [`Supervisor::invoke`] with the Worker's wall-time limit lowered to
    /// `wall_cap` for this call (a caller's nearer deadline): the sandbox
    /// stops the Worker then instead of running on for nobody.
    pub async fn invoke_within(
        &self,
        handle: &IsolateHandle,
        invocation: &Invocation,
        host: Arc<dyn HostFunctions>,
        wall_cap: Option<Duration>,
    ) -> Outcome {
        let fail = |error: WorkerError| Outcome {
            result: Err(error),
            logs: Vec::new(),
            stats: InvocationStats::default(),
        };
        let request = Request::Invoke {
            isolate: handle.isolate,
            invocation: invocation.clone(),
            bindings: host.bindings(),
            // Below a millisecond the call is as good as expired; a cap
            // beyond u32 ms (49 days) is no cap.
            wall_cap_ms: wall_cap
                .filter(|cap| *cap < handle.limits.wall_time)
                .and_then(|cap| u32::try_from(cap.as_millis().max(1)).ok()),
        };
        // The sandbox enforces the limits itself; this only catches a sandbox
        // that stopped answering altogether.
        let wall_time = wall_cap.map_or(handle.limits.wall_time, |cap| {
            cap.min(handle.limits.wall_time)
        });
        let patience = wall_time * 2 + INVOKE_SLACK;
        match tokio::time::timeout(patience, handle.sandbox.request(request, Some(host))).await {
            // Checked again: the sandbox runs the Worker and is not trusted.
            Ok(Ok(Reply::Invoked(outcome))) => edge_engine::bound_outcome(outcome, &handle.limits),
            Ok(Ok(_)) => fail(out_of_turn()),
            Ok(Err(error)) => fail(error),
            Err(_) => {
                let error = WorkerError::new(
                    ErrorKind::Crashed,
                    "the sandbox stopped answering and was killed",
                );
                handle.sandbox.kill_because(error.clone());
                handle.sandbox.wait_dead().await;
                fail(handle.sandbox.death().cloned().unwrap_or(error))
            }
        }
    }

    /// Unloads a Worker, freeing its isolate and its share of the budgets.
    pub async fn unload(&self, handle: &IsolateHandle) {
        if handle.is_live() {
            let request = Request::Unload {
                isolate: handle.isolate,
            };
            let _ =
                tokio::time::timeout(UNLOAD_TIMEOUT, handle.sandbox.request(request, None)).await;
        }
        self.inner.release(&handle.sandbox, handle.isolate);
    }

    /// The V8 heap the Worker's isolate uses right now, bytes (`None` if it
    /// did not answer in time). Outcomes carry the figure measured when the
    /// isolate last fell idle, since measuring costs about 0.5 ms; this asks
    /// for a fresh one.
    pub async fn heap_used(&self, handle: &IsolateHandle) -> Result<Option<u64>, WorkerError> {
        let request = Request::HeapUsed {
            isolate: handle.isolate,
        };
        match handle.sandbox.request(request, None).await? {
            Reply::HeapUsed(bytes) => Ok(bytes),
            _ => Err(out_of_turn()),
        }
    }

    /// Asks the sandbox holding `handle` to try something forbidden (test
    /// builds of the sandbox only); see `child::probe`. Returns whether it
    /// succeeded (a breach) and what happened.
    #[doc(hidden)]
    pub async fn probe(
        &self,
        handle: &IsolateHandle,
        probe: Probe,
    ) -> Result<(bool, String), WorkerError> {
        match handle.sandbox.request(Request::Probe(probe), None).await? {
            Reply::ProbeResult { succeeded, detail } => Ok((succeeded, detail)),
            _ => Err(out_of_turn()),
        }
    }

    /// The pids of every sandbox process (warm and assigned).
    pub fn sandbox_pids(&self) -> Vec<u32> {
        let state = self.inner.state.lock();
        state
            .warm
            .iter()
            .chain(state.assigned.values())
            .map(|s| s.pid)
            .collect()
    }

    /// Stops every sandbox and removes the cgroups, waiting (bounded) for them to go.
    pub async fn shutdown(self) {
        let _ = self.inner.shutdown.send(true);
        let all: Vec<Arc<SandboxProcess>> = {
            let mut state = self.inner.state.lock();
            let mut all: Vec<_> = state.warm.drain(..).collect();
            all.extend(state.assigned.drain().map(|(_, s)| s));
            state.tenants.clear();
            for sandbox in &all {
                state.retiring.insert(sandbox.id);
            }
            all
        };
        for sandbox in &all {
            sandbox.kill_because(WorkerError::new(
                ErrorKind::Crashed,
                "the worker node is shutting down",
            ));
        }
        for sandbox in &all {
            let _ = tokio::time::timeout(EXIT_TIMEOUT, sandbox.wait_dead()).await;
        }
        if let Some(root) = &self.inner.cgroups {
            // Reapers may still be removing their cgroups: retries cover it.
            crate::cgroup::remove_tree(&root.dir).await;
        }
        if let Some(cpu) = &self.inner.cpu {
            crate::cgroup::remove_tree(&cpu.dir).await;
        }
        let _ = std::fs::remove_dir_all(&self.inner.workdir);
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.inner.shutdown.send(true);
        let state = self.inner.state.lock();
        for sandbox in state.warm.iter().chain(state.assigned.values()) {
            sandbox.kill_because(WorkerError::new(
                ErrorKind::Crashed,
                "the worker node is shutting down",
            ));
        }
    }
}

/// Removes the working directories of supervisors that no longer run.
fn sweep_stale_workdirs(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("edge-sandbox-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn tenant_budget(tenant: &str, budget: u64) -> String {
    format!(
        "tenant '{tenant}' has committed its memory budget of {} MiB",
        budget >> 20
    )
}

/// Where a new isolate goes.
enum Placement {
    /// Into one of the tenant's sandboxes (reserved).
    Tenants(Arc<SandboxProcess>),
    /// Into a warm sandbox, now the tenant's (reserved).
    Warm(Arc<SandboxProcess>),
    /// Into a sandbox to be started (counted as spawning).
    Spawn,
}

/// The error for an answer that does not fit the request.
fn out_of_turn() -> WorkerError {
    WorkerError::new(ErrorKind::Crashed, "the sandbox answered out of turn")
}

impl Inner {
    /// Under the state lock: the tenant's sandbox with room, else a warm one,
    /// else a spawn, within the tenant's and the node's budgets.
    fn place_now(&self, tenant: &str, isolate: u64, memory: u64) -> Result<Placement, LoadError> {
        let config = &self.config;
        let mut state = self.state.lock();
        let live: Vec<Arc<SandboxProcess>> = state
            .tenants
            .get(tenant)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| state.assigned.get(id).cloned())
                    .filter(|s| !s.is_dead())
                    .collect()
            })
            .unwrap_or_default();
        let committed: u64 = live.iter().map(|s| s.committed()).sum();
        let over_budget = || LoadError::NoCapacity(tenant_budget(tenant, config.memory_per_tenant));
        if let Some(sandbox) = live
            .iter()
            .find(|s| s.isolates.lock().len() < config.max_isolates_per_sandbox)
        {
            if committed + memory > config.memory_per_tenant {
                return Err(over_budget());
            }
            self.reserve(sandbox, isolate, memory);
            return Ok(Placement::Tenants(sandbox.clone()));
        }
        if committed + memory + config.sandbox_overhead > config.memory_per_tenant {
            return Err(over_budget());
        }
        if live.len() >= config.max_sandboxes_per_tenant {
            return Err(LoadError::NoCapacity(format!(
                "tenant '{tenant}' has {} sandboxes of {} isolates, the most it may have",
                live.len(),
                config.max_isolates_per_sandbox
            )));
        }
        state.warm.retain(|s| !s.is_dead());
        if let Some(sandbox) = state.warm.pop() {
            state.assign(&sandbox, tenant);
            self.reserve(&sandbox, isolate, memory);
            drop(state);
            self.refill.notify_one();
            return Ok(Placement::Warm(sandbox));
        }
        if state.total() >= config.max_sandboxes {
            return Err(LoadError::NoCapacity(format!(
                "the node runs {} sandboxes, its maximum",
                config.max_sandboxes
            )));
        }
        state.spawning += 1;
        Ok(Placement::Spawn)
    }

    /// Records an isolate's memory against its sandbox (under the state
    /// lock); the caller then applies the new limit outside it.
    fn reserve(&self, sandbox: &Arc<SandboxProcess>, isolate: u64, memory: u64) {
        sandbox.isolates.lock().insert(isolate, memory);
    }

    fn release(&self, sandbox: &Arc<SandboxProcess>, isolate: u64) {
        if sandbox.isolates.lock().remove(&isolate).is_some() {
            sandbox.apply_memory_limit();
        }
    }

    async fn spawn_one(&self) -> Result<Arc<SandboxProcess>, SpawnError> {
        let config = &self.config;
        let id = self.next_sandbox.fetch_add(1, Ordering::Relaxed);
        let name = format!("s-{id}");
        let cgroup = match &self.cgroups {
            Some(root) => Some(root.sandbox(&name, config.sandbox_overhead)?),
            None => None,
        };
        let spec = SpawnSpec {
            executable: config.executable.clone(),
            options: ChildOptions {
                prewarm: config.prewarmed_isolates,
                max_isolates: config.max_isolates_per_sandbox,
                network_namespace: config.network_namespace,
                private_root: config.private_root,
                seccomp: config.seccomp,
                memory_watch: config.memory_watch,
                run_as: config.run_as_uid,
                v8_dir: Some(edge_engine::library_dir()),
            },
            workdir: self.workdir.join(&name),
            cgroup,
            cpu_group: self.cpu.as_ref().and_then(|cpu| cpu.sandbox(&name)),
            overhead: config.sandbox_overhead,
            inherit_stderr: config.inherit_stderr,
            ready_timeout: config.ready_timeout,
            heartbeat: config.heartbeat,
        };
        let sandbox = SandboxProcess::spawn(id, spec, self.exits.clone()).await?;
        self.spawned.fetch_add(1, Ordering::Relaxed);
        Ok(sandbox)
    }

    fn forget(&self, id: u64) {
        let mut state = self.state.lock();
        let retired = state.retiring.remove(&id);
        state.warm.retain(|s| s.id != id);
        if let Some(sandbox) = state.assigned.remove(&id)
            && let Some(tenant) = sandbox.tenant.get()
            && let Some(ids) = state.tenants.get_mut(tenant)
        {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                state.tenants.remove(tenant);
            }
        }
        if !retired {
            self.died.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether the warm pool is short of a sandbox and the node has room;
    /// if so, counts one as spawning.
    fn claim_warm_spawn(&self) -> bool {
        let mut state = self.state.lock();
        let wanted = state.warm.len() + state.spawning < self.config.warm_sandboxes
            && state.total() < self.config.max_sandboxes;
        if wanted {
            state.spawning += 1;
        }
        wanted
    }

    /// Starts the sandbox [`Inner::claim_warm_spawn`] counted and puts it in
    /// the warm pool (or stops it again if the supervisor is shutting down).
    async fn spawn_warm(&self, shutdown: &watch::Receiver<bool>) -> Result<(), SpawnError> {
        let spawned = self.spawn_one().await;
        let mut state = self.state.lock();
        state.spawning -= 1;
        let sandbox = spawned?;
        if *shutdown.borrow() {
            sandbox.kill_because(WorkerError::new(ErrorKind::Crashed, "shutting down"));
        } else {
            state.warm.push(sandbox);
        }
        Ok(())
    }

    /// Retires assigned sandboxes that have held no isolate for the idle timeout.
    fn reap_idle(&self) {
        let mut state = self.state.lock();
        let idle: Vec<Arc<SandboxProcess>> = state
            .assigned
            .values()
            .filter(|s| {
                s.isolates.lock().is_empty()
                    && s.last_used.lock().elapsed() >= self.config.idle_timeout
            })
            .cloned()
            .collect();
        for sandbox in idle {
            state.retiring.insert(sandbox.id);
            sandbox.kill_because(WorkerError::new(
                ErrorKind::Crashed,
                "the sandbox was idle and reaped",
            ));
        }
    }
}

/// Every window: demotes the sandboxes running long work, restores the
/// others (see `cpu`). Ends with the supervisor.
async fn balance_cpu(inner: std::sync::Weak<Inner>) {
    let mut balancer = crate::cpu::Balancer::default();
    loop {
        tokio::time::sleep(crate::cpu::WINDOW).await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let tracked: Vec<crate::cpu::Tracked> = {
            let state = strong.state.lock();
            state
                .warm
                .iter()
                .chain(state.assigned.values())
                .filter(|s| !s.is_dead())
                .filter_map(|s| {
                    Some(crate::cpu::Tracked {
                        pid: s.pid,
                        group: s.cpu_group.clone()?,
                        long_running: s.working_longer_than(crate::cpu::LONG_RUNNING),
                    })
                })
                .collect()
        };
        drop(strong);
        let changes = balancer.plan(tracked);
        if !changes.is_empty() {
            let _ =
                tokio::task::spawn_blocking(move || changes.iter().for_each(|c| c.apply())).await;
        }
    }
}

/// The background loop: forgets dead sandboxes, reaps idle ones, keeps the
/// warm pool filled (one spawn at a time, so a refill never floods the CPU).
async fn maintain(
    inner: std::sync::Weak<Inner>,
    mut exits: mpsc::UnboundedReceiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(refill) = inner.upgrade().map(|i| i.refill.clone()) else {
        return;
    };
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if *shutdown.borrow() {
            return;
        }
        while let Ok(id) = exits.try_recv() {
            strong.forget(id);
        }
        strong.reap_idle();
        if strong.claim_warm_spawn() {
            if let Err(e) = strong.spawn_warm(&shutdown).await {
                tracing::error!("cannot spawn a sandbox: {e}");
                drop(strong);
                tokio::time::sleep(SPAWN_RETRY).await;
            }
            continue;
        }
        drop(strong);
        tokio::select! {
            _ = refill.notified() => {}
            Some(id) = exits.recv() => {
                if let Some(strong) = inner.upgrade() {
                    strong.forget(id);
                }
            }
            _ = tokio::time::sleep(MAINTAIN_TICK) => {}
            _ = shutdown.changed() => return,
        }
    }
}
