//! The loaded-Worker cache and the billing load events.
//!
//! A Worker is identified by (tenant, worker id, code hash): the same
//! (tenant, id) with other code is another Worker, loaded and billed apart.
//! Loaded Workers stay in their sandbox isolates, least recently used first
//! out when the node's memory budget (or a tenant's or sandbox's budget) is
//! full. The first use of a Worker on a UTC day emits a [`LoadEvent`] to the
//! node's [`LoadSink`] (the durable outbox), which the control plane bills
//! once per (tenant, worker, code hash, day).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::SystemTime;

use sha2::Digest;
use sha2::Sha256;

use crate::engine::Bundle;
use crate::engine::ErrorKind;
use crate::engine::HostFunctions;
use crate::engine::Invocation;
use crate::engine::InvocationStats;
use crate::engine::Limits;
use crate::engine::Outcome;
use crate::engine::WorkerError;
use crate::sandbox::IsolateHandle;
use crate::sandbox::LoadError;
use crate::sandbox::Supervisor;

/// What makes a Worker unique, for caching and for billing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerKey {
    pub tenant: String,
    pub worker_id: String,
    /// Hex sha256 of the bundle ([`code_hash`]).
    pub code_hash: String,
}

/// A billable load: the first load (or use) of a Worker on a UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadEvent {
    pub tenant: String,
    pub worker_id: String,
    pub code_hash: String,
    /// The UTC calendar day, `YYYY-MM-DD`.
    pub day: String,
    /// Unique per (tenant, worker id, code hash, day) and derived from them,
    /// so a repeat from any node or retry is recognised as the same load.
    pub load_id: String,
}

/// What a [`LoadSink`] returns: done once the event is durable.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Receives billing load events; the durable outbox implements it. The
/// invocation that caused the load waits for the future, so no Worker is
/// served before its billing record is durable.
pub trait LoadSink: Send + Sync {
    fn first_load_today(&self, event: LoadEvent) -> SinkFuture<'_>;
}

/// Discards load events (tools that bill nothing, like `edgectl exec`).
pub struct NoLoadSink;

impl LoadSink for NoLoadSink {
    fn first_load_today(&self, _event: LoadEvent) -> SinkFuture<'_> {
        Box::pin(async { Ok(()) })
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

/// The UTC calendar day of `time`, as `YYYY-MM-DD`.
pub fn utc_day(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn load_id(key: &WorkerKey, day: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [&key.tenant, &key.worker_id, &key.code_hash, &day.to_owned()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
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

/// A clock, so tests can cross midnight.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

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
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Acquired {
    /// Whether the Worker had to be loaded (false: cache hit).
    pub loaded: bool,
    /// Load time in the sandbox plus placement, ms (0 on a hit).
    pub load_ms: f64,
}

/// Loaded Workers of one node, over its [`Supervisor`].
pub struct Workers {
    supervisor: Arc<Supervisor>,
    config: CacheConfig,
    sink: Arc<dyn LoadSink>,
    clock: Clock,
    lru: Mutex<Lru>,
    /// The last day each Worker was billed.
    billed: Mutex<HashMap<WorkerKey, String>>,
    /// One load at a time per Worker, so concurrent first calls load once.
    loading: Mutex<HashMap<WorkerKey, Arc<tokio::sync::Mutex<()>>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Workers {
    pub fn new(
        supervisor: Arc<Supervisor>,
        config: CacheConfig,
        sink: Arc<dyn LoadSink>,
    ) -> Workers {
        Workers {
            supervisor,
            config,
            sink,
            clock: Arc::new(SystemTime::now),
            lru: Mutex::new(Lru::default()),
            billed: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the clock that decides the billing day.
    pub fn with_clock(mut self, clock: Clock) -> Workers {
        self.clock = clock;
        self
    }

    pub fn supervisor(&self) -> &Arc<Supervisor> {
        &self.supervisor
    }

    /// Number of loaded Workers.
    pub fn len(&self) -> usize {
        lock(&self.lru).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory charged to loaded Workers, bytes.
    pub fn charged_bytes(&self) -> u64 {
        lock(&self.lru).charged
    }

    /// Whether this exact Worker is loaded.
    pub fn contains(&self, key: &WorkerKey) -> bool {
        lock(&self.lru).entries.contains_key(key)
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
        let (handle, acquired) = match self.get(&key, bundle, limits).await {
            Ok(found) => found,
            Err(error) => {
                return Outcome {
                    result: Err(error),
                    logs: Vec::new(),
                    stats: InvocationStats::default(),
                };
            }
        };
        let mut outcome = self.supervisor.invoke(&handle, invocation, host).await;
        outcome.stats.load_ms += acquired.load_ms;
        let mut guard = lock(&self.lru);
        let lru = &mut *guard;
        if !handle.is_live() {
            lru.remove(&key);
        } else if outcome.stats.heap_used_bytes > 0 {
            let charge = self.config.isolate_overhead + outcome.stats.heap_used_bytes;
            if let Some(entry) = lru.entries.get_mut(&key) {
                lru.charged = lru.charged - entry.charge + charge;
                entry.charge = charge;
            }
        }
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
        let gate = lock(&self.loading).entry(key.clone()).or_default().clone();
        let _loading = gate.lock().await;
        let cached = {
            let mut lru = lock(&self.lru);
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
            None => self.load(key, bundle, limits).await?,
        };
        self.bill(key).await?;
        Ok((handle, acquired))
    }

    async fn load(
        &self,
        key: &WorkerKey,
        bundle: &Bundle,
        limits: Limits,
    ) -> Result<(IsolateHandle, Acquired), WorkerError> {
        for _ in 0..16 {
            match self.supervisor.load(&key.tenant, bundle, limits).await {
                Ok(loaded) => {
                    let charge = self.config.isolate_overhead + loaded.heap_used_bytes;
                    let evicted = {
                        let mut guard = lock(&self.lru);
                        let lru = &mut *guard;
                        lru.tick += 1;
                        let tick = lru.tick;
                        if let Some(old) = lru.remove(key) {
                            // A stale entry of a dead sandbox: nothing to unload.
                            drop(old);
                        }
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
                        while lru.charged > self.config.memory_budget {
                            let Some(victim) = lru.victim(None, Some(key)) else {
                                break;
                            };
                            if let Some(entry) = lru.remove(&victim) {
                                evicted.push(entry.handle);
                            }
                        }
                        evicted
                    };
                    for handle in evicted {
                        self.supervisor.unload(&handle).await;
                    }
                    let acquired = Acquired {
                        loaded: true,
                        load_ms: loaded.placement_ms + loaded.load_ms,
                    };
                    return Ok((loaded.handle, acquired));
                }
                Err(LoadError::NoCapacity(reason)) => {
                    // Make room: the tenant's own least recently used Worker
                    // first (its budget may be what is full), else anyone's.
                    let victim = {
                        let mut lru = lock(&self.lru);
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

    /// Records the Worker's first use of the UTC day with the sink; on
    /// failure the day is not marked, so the next use tries again.
    async fn bill(&self, key: &WorkerKey) -> Result<(), WorkerError> {
        let day = utc_day((self.clock)());
        let first = {
            let mut billed = lock(&self.billed);
            match billed.get(key) {
                Some(last) if *last == day => false,
                _ => {
                    billed.insert(key.clone(), day.clone());
                    true
                }
            }
        };
        if !first {
            return Ok(());
        }
        let event = LoadEvent {
            tenant: key.tenant.clone(),
            worker_id: key.worker_id.clone(),
            code_hash: key.code_hash.clone(),
            load_id: load_id(key, &day),
            day,
        };
        if let Err(reason) = self.sink.first_load_today(event).await {
            lock(&self.billed).remove(key);
            return Err(WorkerError::new(
                ErrorKind::Crashed,
                format!("the billing record of this load could not be written: {reason}"),
            ));
        }
        Ok(())
    }

    /// Unloads one Worker.
    pub async fn evict(&self, key: &WorkerKey) {
        let entry = lock(&self.lru).remove(key);
        if let Some(entry) = entry {
            self.supervisor.unload(&entry.handle).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn utc_days_follow_the_gregorian_calendar() {
        let at = |secs: u64| utc_day(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01");
        assert_eq!(at(86_399), "1970-01-01");
        assert_eq!(at(86_400), "1970-01-02");
        assert_eq!(at(951_782_400), "2000-02-29");
        assert_eq!(at(1_709_164_800), "2024-02-29");
        assert_eq!(at(1_735_689_599), "2024-12-31");
        assert_eq!(at(1_735_689_600), "2025-01-01");
    }

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
                .map(|(name, source)| crate::engine::Module {
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
    fn other_code_is_another_worker_and_load_ids_name_the_day() {
        let a = Bundle::single("./main.js", "export default {}");
        let b = Bundle::single("./main.js", "export default { }");
        assert_ne!(code_hash(&a), code_hash(&b));
        assert_eq!(code_hash(&a), code_hash(&a.clone()));
        let key = WorkerKey {
            tenant: "t".into(),
            worker_id: "w".into(),
            code_hash: code_hash(&a),
        };
        assert_eq!(load_id(&key, "2026-01-01"), load_id(&key, "2026-01-01"));
        assert_ne!(load_id(&key, "2026-01-01"), load_id(&key, "2026-01-02"));
    }
}
