//! The loaded-Worker cache.
//!
//! A Worker is identified by (tenant, worker id, code hash): the same
//! (tenant, id) with other code is another Worker, loaded and billed apart.
//! Loaded Workers stay in their sandbox isolates, least recently used first
//! out when the node's memory budget (or a tenant's or sandbox's budget) is
//! full. Every use goes through [`crate::billing`], which records a Worker's
//! first use of a UTC day before the invocation is served.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use edge_engine::Bundle;
use edge_engine::HostFunctions;
use edge_engine::Invocation;
use edge_engine::InvocationStats;
use edge_engine::Limits;
use edge_engine::LogLine;
use edge_engine::Outcome;
use edge_engine::WorkerError;
use edge_sandbox::IsolateHandle;
use edge_sandbox::LoadError;
use edge_sandbox::Supervisor;
use parking_lot::Mutex;

use crate::billing::Billing;
use crate::billing::Clock;
use crate::billing::LoadSink;

/// How many times a load makes room (evicting one Worker each time) before
/// it gives up.
const MAX_EVICTIONS_PER_LOAD: usize = 16;

/// What makes a Worker unique, for caching and for billing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerKey {
    /// The tenant that owns it.
    pub tenant: String,
    /// Its id, chosen by the tenant.
    pub worker_id: String,
    /// Hex sha256 of the bundle ([`code_hash`]).
    pub code_hash: String,
}

impl WorkerKey {
    /// The unique Worker billing counts this as.
    pub fn unique_worker(&self) -> edge_proto::UniqueWorker<'_> {
        edge_proto::UniqueWorker {
            tenant: &self.tenant,
            worker_id: &self.worker_id,
            code_hash: &self.code_hash,
        }
    }
}

/// The hash that tells two versions of a Worker apart; the same function
/// the control plane's registry uses ([`edge_proto::code_hash`]).
pub fn code_hash(bundle: &Bundle) -> String {
    edge_proto::code_hash(
        &bundle.main_module,
        bundle
            .modules
            .iter()
            .map(|m| (m.name.as_str(), m.source.as_str())),
    )
}

/// Cache settings, part of the worker node's config.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// Memory the node lets loaded Workers hold, bytes.
    pub memory_budget: u64,
    /// What one loaded Worker is charged beyond its V8 heap (the isolate
    /// itself, its thread, its share of the sandbox), bytes.
    pub isolate_overhead: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            memory_budget: 20 << 30,
            isolate_overhead: 2 << 20,
        }
    }
}

struct Entry {
    handle: IsolateHandle,
    charge: u64,
    last_used: u64,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<WorkerKey, Entry>,
    tick: u64,
    charged: u64,
}

impl Lru {
    fn touch(&mut self, key: &WorkerKey) -> Option<IsolateHandle> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(key)?;
        entry.last_used = tick;
        Some(entry.handle.clone())
    }

    fn remove(&mut self, key: &WorkerKey) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.charged -= entry.charge;
        Some(entry)
    }

    /// The least recently used key, preferring `tenant`'s, never `except`.
    fn victim(&self, tenant: Option<&str>, except: Option<&WorkerKey>) -> Option<WorkerKey> {
        self.entries
            .iter()
            .filter(|(k, _)| Some(*k) != except)
            .filter(|(k, _)| tenant.is_none_or(|t| k.tenant == t))
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone())
    }
}

/// What [`Workers::get`] did to produce a handle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Acquired {
    /// Whether the Worker had to be loaded (false: cache hit).
    pub loaded: bool,
    /// Load time in the sandbox plus placement, ms (0 on a hit).
    pub load_ms: f64,
    /// What the Worker's top-level code logged while loading (empty on a hit).
    pub load_logs: Vec<LogLine>,
}

/// An invocation's outcome and whether the Worker was already loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoked {
    /// The outcome; its logs start with what a load logged.
    pub outcome: Outcome,
    /// True when the Worker was loaded before this call.
    pub warm: bool,
}

/// Loaded Workers of one node, over its [`Supervisor`].
pub struct Workers {
    supervisor: Arc<Supervisor>,
    config: CacheConfig,
    billing: Billing,
    /// Most Workers kept loaded, whatever their memory.
    max_isolates: usize,
    lru: Mutex<Lru>,
    /// One load at a time per Worker, so concurrent first calls load once;
    /// a gate is dropped when its last user is done, so the map holds only
    /// Workers being fetched right now.
    loading: Mutex<HashMap<WorkerKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl Workers {
    /// A cache over `supervisor` that bills first loads of the day to `sink`.
    pub fn new(
        supervisor: Arc<Supervisor>,
        config: CacheConfig,
        sink: Arc<dyn LoadSink>,
    ) -> Workers {
        Workers {
            supervisor,
            config,
            billing: Billing::new(sink),
            max_isolates: usize::MAX,
            lru: Mutex::new(Lru::default()),
            loading: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the clock that decides the billing day.
    pub fn with_clock(mut self, clock: Clock) -> Workers {
        self.billing.set_clock(clock);
        self
    }

    /// Keeps at most `max` Workers loaded (least recently used out).
    pub fn with_max_isolates(mut self, max: usize) -> Workers {
        self.max_isolates = max.max(1);
        self
    }

    /// The supervisor whose sandboxes hold the Workers.
    pub fn supervisor(&self) -> &Arc<Supervisor> {
        &self.supervisor
    }

    /// Number of loaded Workers.
    pub fn len(&self) -> usize {
        self.lru.lock().entries.len()
    }

    /// Whether no Worker is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory charged to loaded Workers, bytes.
    pub fn charged_bytes(&self) -> u64 {
        self.lru.lock().charged
    }

    /// Whether this exact Worker is loaded.
    pub fn contains(&self, key: &WorkerKey) -> bool {
        self.lru.lock().entries.contains_key(key)
    }

    /// Runs one invocation of a Worker, loading it first if it is not
    /// loaded (or its sandbox died). `stats.load_ms` includes that load.
    pub async fn invoke(
        &self,
        tenant: &str,
        worker_id: &str,
        bundle: &Bundle,
        limits: Limits,
        invocation: &Invocation,
        host: Arc<dyn HostFunctions>,
    ) -> Outcome {
        let key = WorkerKey {
            tenant: tenant.to_owned(),
            worker_id: worker_id.to_owned(),
            code_hash: code_hash(bundle),
        };
        self.invoke_key(&key, bundle, limits, invocation, host, None)
            .await
            .outcome
    }

    /// [`Workers::invoke`] for a caller that knows the key already
    /// (`key.code_hash` must be `bundle`'s hash), saying whether it was warm.
    pub async fn invoke_key(
        &self,
        key: &WorkerKey,
        bundle: &Bundle,
        limits: Limits,
        invocation: &Invocation,
        host: Arc<dyn HostFunctions>,
        wall_cap: Option<Duration>,
    ) -> Invoked {
        let (handle, acquired) = match self.get(key, bundle, limits).await {
            Ok(found) => found,
            Err(error) => {
                return Invoked {
                    outcome: failed(error),
                    warm: false,
                };
            }
        };
        let mut outcome = self
            .supervisor
            .invoke_within(&handle, invocation, host, wall_cap)
            .await;
        outcome.stats.load_ms += acquired.load_ms;
        if !acquired.load_logs.is_empty() {
            let mut logs = acquired.load_logs;
            logs.append(&mut outcome.logs);
            outcome.logs = logs;
        }
        let mut guard = self.lru.lock();
        let lru = &mut *guard;
        if !handle.is_live() {
            lru.remove(key);
        } else if outcome.stats.heap_used_bytes > 0 {
            let charge = self.config.isolate_overhead + outcome.stats.heap_used_bytes;
            if let Some(entry) = lru.entries.get_mut(key) {
                lru.charged = lru.charged - entry.charge + charge;
                entry.charge = charge;
            }
        }
        Invoked {
            outcome,
            warm: !acquired.loaded,
        }
    }

    /// Runs a Worker once in a fresh isolate that is unloaded right after
    /// and never cached; every run is billed as its own unique Worker
    /// `key` (a one-off's id is random). Room is made as for any load.
    pub async fn invoke_one_off(
        &self,
        key: &WorkerKey,
        bundle: &Bundle,
        limits: Limits,
        invocation: &Invocation,
        host: Arc<dyn HostFunctions>,
    ) -> Outcome {
        let loaded = match self.load_making_room(key, bundle, limits).await {
            Ok(loaded) => loaded,
            Err(error) => return failed(error),
        };
        if let Err(error) = self.billing.record_each(key).await {
            self.supervisor.unload(&loaded.handle).await;
            return failed(error);
        }
        let mut outcome = self
            .supervisor
            .invoke(&loaded.handle, invocation, host)
            .await;
        self.supervisor.unload(&loaded.handle).await;
        outcome.stats.load_ms += loaded.placement_ms + loaded.load_ms;
        let mut logs = loaded.logs;
        logs.append(&mut outcome.logs);
        outcome.logs = logs;
        outcome
    }

    /// The loaded Worker for `key`, loading `bundle` if needed (evicting
    /// least recently used Workers to make room), and billing its first use
    /// of the day.
    pub async fn get(
        &self,
        key: &WorkerKey,
        bundle: &Bundle,
        limits: Limits,
    ) -> Result<(IsolateHandle, Acquired), WorkerError> {
        let gate = self.loading.lock().entry(key.clone()).or_default().clone();
        let fetched = {
            let _turn = gate.lock().await;
            self.fetch(key, bundle, limits).await
        };
        let mut loading = self.loading.lock();
        // Ours and the map's: nobody else waits on this gate (taking one
        // needs the map's lock, which we hold).
        if Arc::strong_count(&gate) <= 2 {
            loading.remove(key);
        }
        fetched
    }

    /// [`Workers::get`] once the Worker's gate is held.
    async fn fetch(
        &self,
        key: &WorkerKey,
        bundle: &Bundle,
        limits: Limits,
    ) -> Result<(IsolateHandle, Acquired), WorkerError> {
        let cached = {
            let mut lru = self.lru.lock();
            match lru.touch(key) {
                Some(handle) if handle.is_live() && handle.limits() == limits => Some(handle),
                Some(_) => {
                    lru.remove(key);
                    None
                }
                None => None,
            }
        };
        let (handle, acquired) = match cached {
            Some(handle) => (handle, Acquired::default()),
            None => {
                let loaded = self.load_making_room(key, bundle, limits).await?;
                let evicted = self.insert_loaded(key, &loaded);
                for handle in evicted {
                    self.supervisor.unload(&handle).await;
                }
                let acquired = Acquired {
                    loaded: true,
                    load_ms: loaded.placement_ms + loaded.load_ms,
                    load_logs: loaded.logs,
                };
                (loaded.handle, acquired)
            }
        };
        self.billing.record_use(key).await?;
        Ok((handle, acquired))
    }

    /// Loads `bundle` for `key`'s tenant, unloading least recently used
    /// Workers while the node or the tenant has no room.
    async fn load_making_room(
        &self,
        key: &WorkerKey,
        bundle: &Bundle,
        limits: Limits,
    ) -> Result<edge_sandbox::Loaded, WorkerError> {
        for _ in 0..MAX_EVICTIONS_PER_LOAD {
            match self.supervisor.load(&key.tenant, bundle, limits).await {
                Ok(loaded) => return Ok(loaded),
                Err(LoadError::NoCapacity(reason)) => {
                    // Make room: the tenant's own least recently used Worker
                    // first (its budget may be what is full), else anyone's.
                    let victim = {
                        let mut lru = self.lru.lock();
                        let victim = lru
                            .victim(Some(&key.tenant), Some(key))
                            .or_else(|| lru.victim(None, Some(key)));
                        victim.and_then(|v| lru.remove(&v))
                    };
                    match victim {
                        Some(entry) => self.supervisor.unload(&entry.handle).await,
                        None => return Err(LoadError::NoCapacity(reason).into_worker_error()),
                    }
                }
                Err(LoadError::Worker(error)) => return Err(error),
            }
        }
        Err(LoadError::NoCapacity("could not make room for the Worker".into()).into_worker_error())
    }

    /// Puts a freshly loaded Worker in the LRU and picks what must leave to
    /// keep the node's memory budget and isolate count (never the new
    /// Worker itself).
    fn insert_loaded(&self, key: &WorkerKey, loaded: &edge_sandbox::Loaded) -> Vec<IsolateHandle> {
        let charge = self.config.isolate_overhead + loaded.heap_used_bytes;
        let mut guard = self.lru.lock();
        let lru = &mut *guard;
        lru.tick += 1;
        let tick = lru.tick;
        // A stale entry of a dead sandbox: nothing to unload.
        lru.remove(key);
        lru.entries.insert(
            key.clone(),
            Entry {
                handle: loaded.handle.clone(),
                charge,
                last_used: tick,
            },
        );
        lru.charged += charge;
        let mut evicted = Vec::new();
        while lru.charged > self.config.memory_budget || lru.entries.len() > self.max_isolates {
            let Some(victim) = lru.victim(None, Some(key)) else {
                break;
            };
            if let Some(entry) = lru.remove(&victim) {
                evicted.push(entry.handle);
            }
        }
        evicted
    }

    /// Unloads one Worker.
    pub async fn evict(&self, key: &WorkerKey) {
        let entry = self.lru.lock().remove(key);
        if let Some(entry) = entry {
            self.supervisor.unload(&entry.handle).await;
        }
    }
}

/// An outcome that is only `error`.
fn failed(error: WorkerError) -> Outcome {
    Outcome {
        result: Err(error),
        logs: Vec::new(),
        stats: InvocationStats::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_and_the_control_plane_agree_on_code_hashes() {
        let modules = [
            ("./main.ts", "import './b.ts'; export default {}"),
            ("./b.ts", "export {}"),
        ];
        let node = Bundle {
            modules: modules
                .iter()
                .rev()
                .map(|(name, source)| edge_engine::Module {
                    name: (*name).into(),
                    source: (*source).into(),
                })
                .collect(),
            main_module: "./main.ts".into(),
        };
        let registry = control_plane::BundleData {
            modules: modules
                .iter()
                .map(|(name, source)| control_plane::ModuleData {
                    name: (*name).into(),
                    source: (*source).into(),
                })
                .collect(),
            main_module: "./main.ts".into(),
        };
        assert_eq!(code_hash(&node), registry.code_hash());
    }

    #[test]
    fn other_code_is_another_worker_and_billing_keys_name_the_day() {
        let a = Bundle::single("./main.js", "export default {}");
        let b = Bundle::single("./main.js", "export default { }");
        assert_ne!(code_hash(&a), code_hash(&b));
        assert_eq!(code_hash(&a), code_hash(&a.clone()));
        let key = WorkerKey {
            tenant: "t".into(),
            worker_id: "w".into(),
            code_hash: code_hash(&a),
        };
        let billed = key.unique_worker();
        assert_eq!(billed.key("2026-01-01"), billed.key("2026-01-01"));
        assert_ne!(billed.key("2026-01-01"), billed.key("2026-01-02"));
    }
}
