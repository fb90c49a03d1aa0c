//! The Raft log on sled: entries keyed by big-endian index in tree
//! `raft_log`, vote / committed / last purged id in tree `raft_meta`. Every
//! write awaits `flush_async()` before it is reported durable.

use std::fmt::Debug;
use std::ops::Bound;
use std::ops::RangeBounds;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use openraft::Entry;
use openraft::LogId;
use openraft::LogState;
use openraft::OptionalSend;
use openraft::RaftLogId;
use openraft::RaftLogReader;
use openraft::StorageError;
use openraft::StorageIOError;
use openraft::Vote;
use openraft::storage::LogFlushed;
use openraft::storage::RaftLogStorage;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::decode;
use super::encode;
use crate::error::OpenError;
use crate::error::StoreError;
use crate::types::NodeId;
use crate::types::TypeConfig;

type StorageResult<T> = Result<T, StorageError<NodeId>>;

/// The last vote, in `raft_meta`.
const VOTE: &[u8] = b"vote";
/// The last committed log id openraft reported, in `raft_meta`.
const COMMITTED: &[u8] = b"committed";
/// The last purged log id, in `raft_meta`.
const LAST_PURGED: &[u8] = b"last_purged";

/// The sled-backed Raft log. Cheap to clone (the reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    /// The database, for flushes.
    db: sled::Db,
    /// Tree `raft_log`: entries by big-endian index.
    log: sled::Tree,
    /// Tree `raft_meta`.
    meta: sled::Tree,
    /// Last committed index openraft told us about (for metrics).
    committed: Arc<AtomicU64>,
}

impl LogStore {
    /// Opens the log trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, OpenError> {
        let store = Self {
            db: db.clone(),
            log: db.open_tree("raft_log")?,
            meta: db.open_tree("raft_meta")?,
            committed: Arc::new(AtomicU64::new(0)),
        };
        if let Some(bytes) = store.meta.get(COMMITTED)? {
            let committed: Option<LogId<NodeId>> = decode("raft_meta", COMMITTED, &bytes)?;
            if let Some(c) = committed {
                store.committed.store(c.index, Ordering::Relaxed);
            }
        }
        Ok(store)
    }

    /// Shared view of the committed index.
    pub fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> StorageResult<Option<T>> {
        match self.meta.get(key).map_err(|e| StorageIOError::read(&e))? {
            Some(v) => Ok(Some(
                decode("raft_meta", key, &v).map_err(|e| StorageIOError::read(&e))?,
            )),
            None => Ok(None),
        }
    }

    async fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), sled::Error> {
        self.meta.insert(key, encode(value))?;
        self.db.flush_async().await?;
        Ok(())
    }
}

/// Key of the entry at `index`: big-endian, so keys sort by index.
fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The index a key of `raft_log` stands for.
fn key_index(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError::malformed_key("raft_log", key, "an 8-byte big-endian index"))?;
    Ok(u64::from_be_bytes(bytes))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        for item in self.log.range(index_key(start)..) {
            let (k, v) = item.map_err(|e| StorageIOError::read_logs(&e))?;
            let index = key_index(&k).map_err(|e| StorageIOError::read_logs(&e))?;
            if !range.contains(&index) {
                break;
            }
            let entry: Entry<TypeConfig> =
                serde_json::from_slice(&v).map_err(|e| StorageIOError::read_logs(&e))?;
            out.push(entry);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let last_purged: Option<LogId<NodeId>> = self.get_meta(LAST_PURGED)?;
        let last = match self.log.last().map_err(|e| StorageIOError::read_logs(&e))? {
            Some((_, v)) => {
                let entry: Entry<TypeConfig> =
                    serde_json::from_slice(&v).map_err(|e| StorageIOError::read_logs(&e))?;
                Some(*entry.get_log_id())
            }
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        self.put_meta(VOTE, vote)
            .await
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        if let Some(c) = committed {
            self.committed.store(c.index, Ordering::Relaxed);
        }
        // A hint for faster restarts, not a durability promise: it rides on
        // the next flush instead of costing one of its own.
        let bytes = serde_json::to_vec(&committed).map_err(|e| StorageIOError::write(&e))?;
        self.meta
            .insert(COMMITTED, bytes)
            .map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(self.get_meta::<Option<LogId<NodeId>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).map_err(|e| StorageIOError::write_logs(&e))?;
            batch.insert(&index_key(entry.log_id.index), bytes);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        // Durable only once sled has flushed; only then tell openraft.
        let flushed = self
            .db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(std::io::Error::other);
        let failed = flushed.as_ref().err().map(StorageIOError::write_logs);
        callback.log_io_completed(flushed);
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        self.remove_durably(index_key(log_id.index)..).await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        // Record the purge point first: a crash in between leaves extra
        // entries, never a hole.
        self.put_meta(LAST_PURGED, &log_id)
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.remove_durably(..=index_key(log_id.index)).await
    }
}

impl LogStore {
    /// Removes the log entries whose keys fall in `range` in one batch and
    /// flushes, so the removal is durable when this returns.
    async fn remove_durably<R>(&self, range: R) -> StorageResult<()>
    where
        R: std::ops::RangeBounds<[u8; 8]>,
    {
        let mut batch = sled::Batch::default();
        for item in self.log.range(range) {
            let (k, _) = item.map_err(|e| StorageIOError::write_logs(&e))?;
            batch.remove(k);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.db
            .flush_async()
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}
