//! The replicated state machine on sled: openraft's `RaftStateMachine` over
//! the data trees of [`StateReader`], plus tree `sm_meta` holding the last
//! applied log id, the last membership and the current snapshot.
//!
//! Each `apply` call writes its entries (see `apply`), then the last applied
//! log id, then awaits one `flush_async()`. A crash in between re-applies a
//! suffix of entries on restart; every request is written so that
//! re-applying it over a state that already contains it changes nothing.

use std::io::Cursor;
use std::time::Instant;

use openraft::BasicNode;
use openraft::Entry;
use openraft::EntryPayload;
use openraft::LogId;
use openraft::OptionalSend;
use openraft::RaftSnapshotBuilder;
use openraft::Snapshot;
use openraft::StorageError;
use openraft::StorageIOError;
use openraft::StoredMembership;
use openraft::storage::RaftStateMachine;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::apply::apply_request;
use super::decode;
use super::encode;
use super::reader::StateReader;
use super::snapshot;
use super::snapshot::Meta;
use crate::error::OpenError;
use crate::error::SnapshotError;
use crate::error::StoreError;
use crate::types::NodeId;
use crate::types::Response;
use crate::types::TypeConfig;

type StorageResult<T> = Result<T, StorageError<NodeId>>;

/// Last applied log id, in `sm_meta`.
const LAST_APPLIED: &[u8] = b"last_applied";
/// Last membership, in `sm_meta`.
const MEMBERSHIP: &[u8] = b"membership";
/// The current snapshot in its stored form, in `sm_meta`.
const SNAPSHOT: &[u8] = b"snapshot";
/// Present while a received snapshot is being loaded into the data trees.
const INSTALLING: &[u8] = b"installing";

/// The sled state machine.
pub struct StateMachine {
    /// The database, for flushes.
    db: sled::Db,
    /// Tree `sm_meta`.
    meta: sled::Tree,
    /// The data trees.
    state: StateReader,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(&e).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(&e).into()
}

/// A failed apply: sled failures are write errors, undecodable records are
/// read errors. Either stops this node's Raft, which is the point: a replica
/// that cannot read its state must not keep answering from it.
fn apply_err(e: StoreError) -> StorageError<NodeId> {
    match e {
        StoreError::Sled(_) => write_err(e),
        StoreError::Undecodable { .. } | StoreError::MalformedKey { .. } => read_err(e),
    }
}

impl StateMachine {
    /// Opens the state machine trees in `db`, finishing a snapshot install
    /// that a crash interrupted.
    pub fn open(db: &sled::Db) -> Result<Self, OpenError> {
        let sm = Self {
            db: db.clone(),
            meta: db.open_tree("sm_meta")?,
            state: StateReader::open(db)?,
        };
        sm.finish_interrupted_install()?;
        Ok(sm)
    }

    /// A crash while loading a received snapshot leaves the data trees half
    /// replaced; the snapshot itself was flushed first, so load it again.
    fn finish_interrupted_install(&self) -> Result<(), OpenError> {
        if self.meta.get(INSTALLING)?.is_none() {
            return Ok(());
        }
        let stored = self.meta.get(SNAPSHOT)?.ok_or(OpenError::MissingSnapshot)?;
        let (meta, data) = snapshot::split(&stored).map_err(OpenError::Install)?;
        tracing::warn!(last = ?meta.last_log_id, "finishing a snapshot install interrupted by a crash");
        snapshot::load(&self.state, data).map_err(OpenError::Install)?;
        self.meta.insert(LAST_APPLIED, encode(&meta.last_log_id))?;
        self.meta
            .insert(MEMBERSHIP, encode(&meta.last_membership))?;
        self.meta.remove(INSTALLING)?;
        self.db.flush()?;
        Ok(())
    }

    /// Handle for reads.
    pub(crate) fn reader(&self) -> StateReader {
        self.state.clone()
    }

    /// A second handle on the same trees, for the snapshot builder.
    fn handle(&self) -> StateMachine {
        StateMachine {
            db: self.db.clone(),
            meta: self.meta.clone(),
            state: self.state.clone(),
        }
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &'static [u8]) -> StorageResult<Option<T>> {
        match self.meta.get(key).map_err(read_err)? {
            Some(v) => Ok(Some(decode("sm_meta", key, &v).map_err(read_err)?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> StorageResult<()> {
        self.meta.insert(key, encode(value)).map_err(write_err)?;
        Ok(())
    }

    /// Applies one entry's payload (not yet flushed).
    fn apply_entry(&self, entry: &Entry<TypeConfig>) -> StorageResult<Response> {
        match &entry.payload {
            EntryPayload::Blank => Ok(Response::Ok),
            EntryPayload::Normal(req) => apply_request(&self.state, req).map_err(apply_err),
            EntryPayload::Membership(m) => {
                let stored = StoredMembership::new(Some(entry.log_id), m.clone());
                self.put_meta(MEMBERSHIP, &stored)?;
                Ok(Response::Ok)
            }
        }
    }

    fn current_snapshot(&self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let Some(bytes) = self.meta.get(SNAPSHOT).map_err(read_err)? else {
            return Ok(None);
        };
        let (meta, data) = snapshot::split(&bytes).map_err(read_err)?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.to_vec())),
        }))
    }

    async fn save_snapshot(&self, meta: &Meta, data: &[u8]) -> StorageResult<()> {
        self.meta
            .insert(SNAPSHOT, snapshot::stored(meta, data))
            .map_err(write_err)?;
        self.db.flush_async().await.map_err(write_err)?;
        self.state.mark_snapshot();
        Ok(())
    }

    /// Copies what a snapshot needs; runs between applies, so the copy is
    /// consistent with the last applied log id.
    async fn capture(&mut self) -> StorageResult<Captured> {
        let (last_applied, membership) = self.applied_state().await?;
        let data = snapshot::dump(&self.state).map_err(read_err)?;
        Ok(Captured {
            last_applied,
            membership,
            data,
        })
    }
}

/// The state copied for one snapshot.
struct Captured {
    /// Last log id the copy includes.
    last_applied: Option<LogId<NodeId>>,
    /// Membership as of `last_applied`.
    membership: StoredMembership<NodeId, BasicNode>,
    /// The data trees in the snapshot format.
    data: Vec<u8>,
}

/// Builds a snapshot from a copy of the state taken while applies are paused.
pub struct SnapshotBuilder {
    /// Where the snapshot is stored.
    sm: StateMachine,
    /// The copy, or why it could not be taken (reported by `build_snapshot`:
    /// an empty snapshot would erase followers' state). `None` once built.
    captured: Option<StorageResult<Captured>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let captured = self
            .captured
            .take()
            .unwrap_or_else(|| Err(read_err(SnapshotError::AlreadyBuilt)))?;
        let snapshot_id = match captured.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, rand::random::<u32>()),
            None => format!("none-{}", rand::random::<u32>()),
        };
        let meta = Meta {
            last_log_id: captured.last_applied,
            last_membership: captured.membership,
            snapshot_id,
        };
        self.sm.save_snapshot(&meta, &captured.data).await?;
        tracing::info!(bytes = captured.data.len(), last = ?meta.last_log_id, "snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(captured.data)),
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
            out.push(self.apply_entry(&entry)?);
        }
        if let Some(last) = last {
            self.put_meta(LAST_APPLIED, &Some(last))?;
            self.db.flush_async().await.map_err(write_err)?;
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let captured = self.capture().await;
        if let Err(e) = &captured {
            tracing::error!(error = %e, "copying the state for a snapshot failed");
        }
        SnapshotBuilder {
            sm: self.handle(),
            captured: Some(captured),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let started = Instant::now();
        let data = snapshot.into_inner();
        // Keep the snapshot and an install marker durable before touching the
        // data trees, so a crash in the middle is finished on the next open.
        self.meta.insert(INSTALLING, &b"1"[..]).map_err(write_err)?;
        self.save_snapshot(meta, &data).await?;
        snapshot::load(&self.state, &data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.put_meta(LAST_APPLIED, &meta.last_log_id)?;
        self.put_meta(MEMBERSHIP, &meta.last_membership)?;
        self.meta.remove(INSTALLING).map_err(write_err)?;
        self.db.flush_async().await.map_err(write_err)?;
        tracing::info!(bytes = data.len(), elapsed_ms = started.elapsed().as_millis() as u64, last = ?meta.last_log_id, "snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        self.current_snapshot()
    }
}
