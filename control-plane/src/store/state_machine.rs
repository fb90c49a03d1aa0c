//! The replicated state machine on sled.
//!
//! Data trees: `nodes`, `workers` (tenant \x1f worker id → record),
//! `bundles` (code hash → bundle, so equal code is stored once), `tenants`,
//! `api_keys` (sha256 of the key → record), and the ledger's `loads` and
//! `ledger` (see [`crate::ledger`]). Tree `sm_meta` holds the last applied
//! log id, the last membership and the current snapshot.
//!
//! Each `apply` call writes its entries, then the last applied log id, then
//! awaits one `flush_async()`. A crash in between re-applies a suffix of
//! entries on restart; every request is written so that re-applying it over
//! a state that already contains it changes nothing (absolute values, and
//! the ledger is idempotent by load id).

use std::io::Cursor;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Instant;

use openraft::BasicNode;
use openraft::Entry;
use openraft::EntryPayload;
use openraft::LogId;
use openraft::OptionalSend;
use openraft::RaftSnapshotBuilder;
use openraft::Snapshot;
use openraft::SnapshotMeta;
use openraft::StorageError;
use openraft::StorageIOError;
use openraft::StoredMembership;
use openraft::storage::RaftStateMachine;
use serde::Deserialize;
use serde::Serialize;

use crate::ledger;
use crate::types::ApiKeyRecord;
use crate::types::NodeId;
use crate::types::RejectCode;
use crate::types::Request;
use crate::types::Response;
use crate::types::TenantRecord;
use crate::types::TypeConfig;
use crate::types::WorkerNodeRecord;
use crate::types::WorkerRecord;

type StorageResult<T> = Result<T, StorageError<NodeId>>;

/// Data trees, in snapshot order.
const DATA_TREES: [&str; 7] = [
    "nodes", "workers", "bundles", "tenants", "api_keys", "loads", "ledger",
];

const LAST_APPLIED: &[u8] = b"last_applied";
const MEMBERSHIP: &[u8] = b"membership";
const SNAPSHOT: &[u8] = b"snapshot";
/// Present while a received snapshot is being loaded into the data trees.
const INSTALLING: &[u8] = b"installing";

/// Read access to the state, shared with the gRPC services.
#[derive(Clone)]
pub struct StateView {
    pub(crate) nodes: sled::Tree,
    pub(crate) workers: sled::Tree,
    pub(crate) bundles: sled::Tree,
    pub(crate) tenants: sled::Tree,
    pub(crate) api_keys: sled::Tree,
    pub(crate) loads: sled::Tree,
    pub(crate) ledger: sled::Tree,
    /// Unique Workers in the ledger.
    pub(crate) ledger_size: Arc<AtomicU64>,
    /// When the current snapshot was built or installed here.
    pub(crate) snapshot_at: Arc<Mutex<Option<Instant>>>,
}

impl StateView {
    fn trees(&self) -> [&sled::Tree; 7] {
        [
            &self.nodes,
            &self.workers,
            &self.bundles,
            &self.tenants,
            &self.api_keys,
            &self.loads,
            &self.ledger,
        ]
    }

    pub(crate) fn tenant(&self, tenant: &str) -> sled::Result<Option<TenantRecord>> {
        Ok(self
            .tenants
            .get(tenant.as_bytes())?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    pub(crate) fn node(&self, node_id: &str) -> sled::Result<Option<WorkerNodeRecord>> {
        Ok(self
            .nodes
            .get(node_id.as_bytes())?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }
}

/// Key of a Worker in tree `workers`.
pub(crate) fn worker_key(tenant: &str, worker_id: &str) -> String {
    format!("{tenant}\u{1f}{worker_id}")
}

/// The sled state machine.
pub struct StateMachine {
    db: sled::Db,
    meta: sled::Tree,
    view: StateView,
}

/// A snapshot as stored in `sm_meta` and as sent between nodes.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(&e).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(&e).into()
}

impl StateMachine {
    /// Opens the state machine trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        let t = |name: &str| db.open_tree(name);
        let ledger = t("ledger")?;
        let view = StateView {
            nodes: t("nodes")?,
            workers: t("workers")?,
            bundles: t("bundles")?,
            tenants: t("tenants")?,
            api_keys: t("api_keys")?,
            loads: t("loads")?,
            ledger_size: Arc::new(AtomicU64::new(ledger.len() as u64)),
            ledger,
            snapshot_at: Arc::new(Mutex::new(None)),
        };
        let sm = Self {
            db: db.clone(),
            meta: t("sm_meta")?,
            view,
        };
        sm.finish_interrupted_install()?;
        Ok(sm)
    }

    /// A crash while loading a received snapshot leaves the data trees half
    /// replaced; the snapshot itself was flushed first, so load it again.
    fn finish_interrupted_install(&self) -> Result<(), sled::Error> {
        if self.meta.get(INSTALLING)?.is_none() {
            return Ok(());
        }
        let stored = self
            .meta
            .get(SNAPSHOT)?
            .expect("an install marker implies a stored snapshot");
        let (meta, data) = split_snapshot(&stored).map_err(sled::Error::Unsupported)?;
        tracing::warn!(last = ?meta.last_log_id, "finishing a snapshot install interrupted by a crash");
        self.load(data).map_err(sled::Error::Unsupported)?;
        self.meta.insert(
            LAST_APPLIED,
            serde_json::to_vec(&meta.last_log_id).expect("log id serializes"),
        )?;
        self.meta.insert(
            MEMBERSHIP,
            serde_json::to_vec(&meta.last_membership).expect("membership serializes"),
        )?;
        self.meta.remove(INSTALLING)?;
        self.db.flush()?;
        Ok(())
    }

    /// Handle for reads.
    pub fn view(&self) -> StateView {
        self.view.clone()
    }

    fn get_meta<T: for<'de> Deserialize<'de>>(&self, key: &[u8]) -> StorageResult<Option<T>> {
        match self.meta.get(key).map_err(read_err)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(read_err)?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> StorageResult<()> {
        self.meta
            .insert(key, serde_json::to_vec(value).map_err(write_err)?)
            .map_err(write_err)?;
        Ok(())
    }

    /// Applies one request; `Err` only for storage failures.
    fn apply_request(&self, req: &Request) -> sled::Result<Response> {
        let v = &self.view;
        Ok(match req {
            Request::RegisterNode(node) => {
                v.nodes.insert(node.node_id.as_bytes(), json(node))?;
                Response::Ok
            }
            Request::Heartbeat {
                node_id,
                load,
                now_unix_ms,
            } => match v.node(node_id)? {
                None => reject(
                    RejectCode::NotFound,
                    format!("worker node {node_id:?} is not registered; call RegisterNode first"),
                ),
                Some(mut node) => {
                    node.load = *load;
                    node.last_heartbeat_unix_ms = node.last_heartbeat_unix_ms.max(*now_unix_ms);
                    v.nodes.insert(node_id.as_bytes(), json(&node))?;
                    Response::Ok
                }
            },
            Request::SetNodeHealth { node_id, health } => match v.node(node_id)? {
                None => reject(
                    RejectCode::NotFound,
                    format!("worker node {node_id:?} is not registered; see ListNodes"),
                ),
                Some(mut node) => {
                    node.health = *health;
                    v.nodes.insert(node_id.as_bytes(), json(&node))?;
                    Response::Ok
                }
            },
            Request::PutWorker {
                tenant,
                worker_id,
                bundle,
                now_unix_ms,
            } => {
                if v.tenant(tenant)?.is_none() {
                    return Ok(unknown_tenant(tenant));
                }
                let code_hash = bundle.code_hash();
                v.bundles.insert(code_hash.as_bytes(), json(bundle))?;
                let record = WorkerRecord {
                    code_hash: code_hash.clone(),
                    bundle_bytes: bundle.size() as u64,
                    updated_unix_ms: *now_unix_ms,
                };
                v.workers
                    .insert(worker_key(tenant, worker_id).as_bytes(), json(&record))?;
                Response::WorkerStored { code_hash }
            }
            Request::DeleteWorker { tenant, worker_id } => {
                let existed = v
                    .workers
                    .remove(worker_key(tenant, worker_id).as_bytes())?
                    .is_some();
                Response::WorkerDeleted { existed }
            }
            Request::CreateTenant { tenant, admin } => {
                v.tenants
                    .insert(tenant.as_bytes(), json(&TenantRecord { admin: *admin }))?;
                Response::Ok
            }
            Request::CreateApiKey {
                tenant,
                key_hash,
                expires_unix_ms,
            } => {
                if v.tenant(tenant)?.is_none() {
                    return Ok(unknown_tenant(tenant));
                }
                let record = ApiKeyRecord {
                    tenant: tenant.clone(),
                    expires_unix_ms: *expires_unix_ms,
                };
                v.api_keys.insert(key_hash.as_bytes(), json(&record))?;
                Response::Ok
            }
            Request::RecordLoads(loads) => {
                // Validate the whole batch first: a bad record writes nothing.
                for load in loads {
                    if let Err(message) = crate::types::validate_load(load) {
                        return Ok(reject(RejectCode::InvalidArgument, message));
                    }
                    if v.tenant(&load.tenant)?.is_none() {
                        return Ok(unknown_tenant(&load.tenant));
                    }
                }
                let applied = ledger::apply(&v.loads, &v.ledger, loads)?;
                v.ledger_size
                    .fetch_add(applied.new_unique as u64, Ordering::Relaxed);
                Response::Loads {
                    applied: applied.new_unique,
                    duplicates: applied.duplicates,
                }
            }
        })
    }

    /// Serializes the data trees: for each tree its name, entry count and
    /// length-prefixed keys and values.
    fn dump(&self) -> sled::Result<Vec<u8>> {
        let mut out = Vec::new();
        for (name, tree) in DATA_TREES.iter().zip(self.view.trees()) {
            put_bytes(&mut out, name.as_bytes());
            let entries: Vec<(sled::IVec, sled::IVec)> = tree.iter().collect::<Result<_, _>>()?;
            out.extend_from_slice(&(entries.len() as u64).to_be_bytes());
            for (k, v) in entries {
                put_bytes(&mut out, &k);
                put_bytes(&mut out, &v);
            }
        }
        Ok(out)
    }

    fn load(&self, data: &[u8]) -> Result<(), String> {
        let mut cur = data;
        for (name, tree) in DATA_TREES.iter().zip(self.view.trees()) {
            let got = take_bytes(&mut cur)?;
            if got != name.as_bytes() {
                return Err(format!(
                    "snapshot has tree {:?} where {name:?} was expected",
                    String::from_utf8_lossy(got)
                ));
            }
            let count = u64::from_be_bytes(take(&mut cur, 8)?.try_into().expect("8 bytes"));
            tree.clear().map_err(|e| e.to_string())?;
            let mut batch = sled::Batch::default();
            for _ in 0..count {
                let k = take_bytes(&mut cur)?;
                let v = take_bytes(&mut cur)?;
                batch.insert(k, v);
            }
            tree.apply_batch(batch).map_err(|e| e.to_string())?;
        }
        if !cur.is_empty() {
            return Err(format!("snapshot has {} trailing bytes", cur.len()));
        }
        self.view
            .ledger_size
            .store(self.view.ledger.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn current_snapshot(&self) -> StorageResult<Option<StoredSnapshot>> {
        match self.meta.get(SNAPSHOT).map_err(read_err)? {
            None => Ok(None),
            Some(bytes) => {
                let (meta, data) =
                    split_snapshot(&bytes).map_err(|e| read_err(std::io::Error::other(e)))?;
                Ok(Some(StoredSnapshot {
                    meta,
                    data: data.to_vec(),
                }))
            }
        }
    }

    async fn save_snapshot(
        &self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        data: &[u8],
    ) -> StorageResult<()> {
        let meta_json = serde_json::to_vec(meta).map_err(write_err)?;
        let mut bytes = Vec::with_capacity(data.len() + meta_json.len() + 8);
        put_bytes(&mut bytes, &meta_json);
        bytes.extend_from_slice(data);
        self.meta.insert(SNAPSHOT, bytes).map_err(write_err)?;
        self.db.flush_async().await.map_err(write_err)?;
        *self.view.snapshot_at.lock().expect("snapshot clock") = Some(Instant::now());
        Ok(())
    }
}

fn reject(code: RejectCode, message: String) -> Response {
    Response::Rejected { code, message }
}

fn unknown_tenant(tenant: &str) -> Response {
    reject(
        RejectCode::NotFound,
        format!("tenant {tenant:?} does not exist; create it first (CreateTenant)"),
    )
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("state record serializes")
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn take<'a>(cur: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if cur.len() < n {
        return Err("snapshot is truncated".to_string());
    }
    let (head, tail) = cur.split_at(n);
    *cur = tail;
    Ok(head)
}

fn take_bytes<'a>(cur: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let len = u32::from_be_bytes(take(cur, 4)?.try_into().expect("4 bytes")) as usize;
    take(cur, len)
}

fn split_snapshot(bytes: &[u8]) -> Result<(SnapshotMeta<NodeId, BasicNode>, &[u8]), String> {
    let mut cur = bytes;
    let meta_json = take_bytes(&mut cur)?;
    let meta = serde_json::from_slice(meta_json).map_err(|e| e.to_string())?;
    Ok((meta, cur))
}

/// Builds a snapshot from a copy of the state taken while applies are paused.
pub struct SnapshotBuilder {
    sm: StateMachineHandle,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    data: Vec<u8>,
}

/// What the builder needs to persist the snapshot.
#[derive(Clone)]
struct StateMachineHandle {
    db: sled::Db,
    meta: sled::Tree,
    view: StateView,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let snapshot_id = match self.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, rand::random::<u32>()),
            None => format!("none-{}", rand::random::<u32>()),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let sm = StateMachine {
            db: self.sm.db.clone(),
            meta: self.sm.meta.clone(),
            view: self.sm.view.clone(),
        };
        let data = std::mem::take(&mut self.data);
        sm.save_snapshot(&meta, &data).await?;
        tracing::info!(bytes = data.len(), last = ?self.last_applied, "snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let last = self
            .get_meta::<Option<LogId<NodeId>>>(LAST_APPLIED)?
            .flatten();
        let membership = self.get_meta(MEMBERSHIP)?.unwrap_or_default();
        Ok((last, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Response>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let mut last = None;
        for entry in entries {
            let span = tracing::debug_span!("raft_apply", index = entry.log_id.index);
            let _guard = span.enter();
            last = Some(entry.log_id);
            let response = match &entry.payload {
                EntryPayload::Blank => Response::Ok,
                EntryPayload::Normal(req) => self.apply_request(req).map_err(write_err)?,
                EntryPayload::Membership(m) => {
                    self.put_meta(
                        MEMBERSHIP,
                        &StoredMembership::new(Some(entry.log_id), m.clone()),
                    )?;
                    Response::Ok
                }
            };
            out.push(response);
        }
        if let Some(last) = last {
            self.put_meta(LAST_APPLIED, &Some(last))?;
            self.db.flush_async().await.map_err(write_err)?;
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Runs between applies, so the copy is consistent with last_applied.
        let (last_applied, membership) = self.applied_state().await.unwrap_or_default();
        let data = self.dump().unwrap_or_else(|e| {
            tracing::error!(error = %e, "reading the state for a snapshot failed");
            Vec::new()
        });
        SnapshotBuilder {
            sm: StateMachineHandle {
                db: self.db.clone(),
                meta: self.meta.clone(),
                view: self.view.clone(),
            },
            last_applied,
            membership,
            data,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let started = Instant::now();
        let data = snapshot.into_inner();
        // Keep the snapshot and an install marker durable before touching the
        // data trees, so a crash in the middle is finished on the next open.
        self.meta.insert(INSTALLING, &b"1"[..]).map_err(write_err)?;
        self.save_snapshot(meta, &data).await?;
        self.load(&data).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), &std::io::Error::other(e))
        })?;
        self.put_meta(LAST_APPLIED, &meta.last_log_id)?;
        self.put_meta(MEMBERSHIP, &meta.last_membership)?;
        self.meta.remove(INSTALLING).map_err(write_err)?;
        self.db.flush_async().await.map_err(write_err)?;
        tracing::info!(bytes = data.len(), elapsed_ms = started.elapsed().as_millis() as u64, last = ?meta.last_log_id, "snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        Ok(self.current_snapshot()?.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
