//! Typed reads of the replicated state, shared by the state machine (which
//! also writes these trees) and the gRPC services (which only read).
//!
//! Trees: `nodes`, `workers` (tenant \x1f worker id → record), `bundles`
//! (code hash → bundle, so equal code is stored once), `tenants`, `api_keys`
//! (sha256 of the key → record), the ledger's `loads` and `ledger` (see
//! [`crate::ledger`]), and `cluster` (cluster-wide records such as the
//! init marker; added later, so older snapshots may lack it). A record that does not decode is an error, never
//! skipped.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use edge_proto::billing::KEY_SEPARATOR;
use edge_proto::billing::UtcDay;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;

use super::decode;
use crate::error::StoreError;
use crate::ledger;
use crate::ledger::BillingDetailRow;
use crate::ledger::BillingRow;
use crate::types::ApiKeyRecord;
use crate::types::BundleData;
use crate::types::InitRecord;
use crate::types::TenantRecord;
use crate::types::WorkerNodeRecord;
use crate::types::WorkerRecord;

/// Read access to the state. Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct StateReader {
    /// Worker nodes by node id.
    pub(super) nodes: sled::Tree,
    /// Workers by [`worker_key`].
    pub(super) workers: sled::Tree,
    /// Bundles by code hash.
    pub(super) bundles: sled::Tree,
    /// Tenants by name.
    pub(super) tenants: sled::Tree,
    /// API keys by the sha256 of the key, hex.
    pub(super) api_keys: sled::Tree,
    /// Load id → ledger key it counted towards.
    pub(super) loads: sled::Tree,
    /// Ledger key → first load that billed it.
    pub(super) ledger: sled::Tree,
    /// Cluster-wide records by name (see [`INIT_KEY`]).
    pub(super) cluster: sled::Tree,
    /// Unique Workers in the ledger (kept in memory for metrics).
    pub(super) ledger_size: Arc<AtomicU64>,
    /// When the current snapshot was built or installed here.
    pub(super) snapshot_at: Arc<Mutex<Option<Instant>>>,
}

/// Key of the [`InitRecord`] in tree `cluster`.
pub(super) const INIT_KEY: &[u8] = b"init";

/// Trees from this index of [`StateReader::trees`] on were added after the
/// first release: a snapshot that ends before them leaves them empty.
pub(super) const FIRST_OPTIONAL_TREE: usize = 7;

/// Key of a Worker in tree `workers`.
pub(super) fn worker_key(tenant: &str, worker_id: &str) -> String {
    format!("{tenant}{KEY_SEPARATOR}{worker_id}")
}

impl StateReader {
    /// Opens the data trees in `db`.
    pub(super) fn open(db: &sled::Db) -> sled::Result<Self> {
        let ledger = db.open_tree("ledger")?;
        Ok(Self {
            nodes: db.open_tree("nodes")?,
            workers: db.open_tree("workers")?,
            bundles: db.open_tree("bundles")?,
            tenants: db.open_tree("tenants")?,
            api_keys: db.open_tree("api_keys")?,
            loads: db.open_tree("loads")?,
            cluster: db.open_tree("cluster")?,
            ledger_size: Arc::new(AtomicU64::new(ledger.len() as u64)),
            ledger,
            snapshot_at: Arc::new(Mutex::new(None)),
        })
    }

    /// Trees of a fresh temporary database, for tests.
    #[cfg(test)]
    pub(super) fn temporary() -> Self {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .expect("temporary sled");
        Self::open(&db).expect("temporary trees")
    }

    /// The data trees with their names, in snapshot order (the order is
    /// part of the snapshot format; new trees go at the end).
    pub(super) fn trees(&self) -> [(&'static str, &sled::Tree); 8] {
        [
            ("nodes", &self.nodes),
            ("workers", &self.workers),
            ("bundles", &self.bundles),
            ("tenants", &self.tenants),
            ("api_keys", &self.api_keys),
            ("loads", &self.loads),
            ("ledger", &self.ledger),
            ("cluster", &self.cluster),
        ]
    }

    /// A tenant, if it exists.
    pub(crate) fn tenant(&self, tenant: &str) -> Result<Option<TenantRecord>, StoreError> {
        get(&self.tenants, "tenants", tenant.as_bytes())
    }

    /// A worker node, if registered.
    pub(crate) fn node(&self, node_id: &str) -> Result<Option<WorkerNodeRecord>, StoreError> {
        get(&self.nodes, "nodes", node_id.as_bytes())
    }

    /// Every registered worker node, by node id.
    pub(crate) fn nodes(&self) -> Result<Vec<WorkerNodeRecord>, StoreError> {
        self.nodes
            .iter()
            .map(|item| {
                let (k, v) = item?;
                decode("nodes", &k, &v)
            })
            .collect()
    }

    /// A tenant's Worker, if it exists.
    pub(crate) fn worker(
        &self,
        tenant: &str,
        worker_id: &str,
    ) -> Result<Option<WorkerRecord>, StoreError> {
        get(
            &self.workers,
            "workers",
            worker_key(tenant, worker_id).as_bytes(),
        )
    }

    /// A tenant's Workers with their ids, by id.
    pub(crate) fn workers(&self, tenant: &str) -> Result<Vec<(String, WorkerRecord)>, StoreError> {
        let prefix = worker_key(tenant, "");
        self.workers
            .scan_prefix(prefix.as_bytes())
            .map(|item| {
                let (k, v) = item?;
                let id = std::str::from_utf8(&k[prefix.len()..]).map_err(|_| {
                    StoreError::malformed_key("workers", &k, "tenant \\x1f worker id in UTF-8")
                })?;
                Ok((id.to_string(), decode("workers", &k, &v)?))
            })
            .collect()
    }

    /// Whether `tenant` has a Worker whose code hash is `code_hash` now.
    pub(crate) fn tenant_has_code(
        &self,
        tenant: &str,
        code_hash: &str,
    ) -> Result<bool, StoreError> {
        let prefix = worker_key(tenant, "");
        for item in self.workers.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            let record: WorkerRecord = decode("workers", &k, &v)?;
            if record.code_hash == code_hash {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// How the cluster was initialised, if it was.
    pub(crate) fn init_record(&self) -> Result<Option<InitRecord>, StoreError> {
        get(&self.cluster, "cluster", INIT_KEY)
    }

    /// The bundle stored under `code_hash`, if any.
    pub(crate) fn bundle(&self, code_hash: &str) -> Result<Option<BundleData>, StoreError> {
        get(&self.bundles, "bundles", code_hash.as_bytes())
    }

    /// The API key whose sha256 (hex) is `key_hash`, if any.
    pub(crate) fn api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        get(&self.api_keys, "api_keys", key_hash.as_bytes())
    }

    /// Billing rows for days `from..=to`, and the detail rows if asked.
    pub(crate) fn billing(
        &self,
        from: &UtcDay,
        to: &UtcDay,
        detail: bool,
    ) -> Result<(Vec<BillingRow>, Vec<BillingDetailRow>), StoreError> {
        ledger::export(&self.ledger, from, to, detail)
    }

    /// Unique Workers in the ledger.
    pub(crate) fn ledger_size(&self) -> u64 {
        self.ledger_size.load(Ordering::Relaxed)
    }

    /// Time since this node built or installed its current snapshot.
    pub(crate) fn snapshot_age(&self) -> Option<Duration> {
        self.snapshot_at.lock().map(|t| t.elapsed())
    }

    /// Records that a snapshot was just built or installed.
    pub(super) fn mark_snapshot(&self) {
        *self.snapshot_at.lock() = Some(Instant::now());
    }

    /// Recounts the ledger after its tree was replaced.
    pub(super) fn recount_ledger(&self) {
        self.ledger_size
            .store(self.ledger.len() as u64, Ordering::Relaxed);
    }
}

/// One record of `tree` (named `name`), decoded.
fn get<T: DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    match tree.get(key)? {
        Some(v) => Ok(Some(decode(name, key, &v)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undecodable_record_is_an_error_not_a_gap() {
        let state = StateReader::temporary();
        state.nodes.insert("n1", &b"not json"[..]).unwrap();
        assert!(matches!(
            state.nodes(),
            Err(StoreError::Undecodable { tree: "nodes", .. })
        ));
        assert!(matches!(
            state.node("n1"),
            Err(StoreError::Undecodable { .. })
        ));
    }
}
