//! Storage on sled: one database per node holding the Raft log
//! ([`LogStore`]) and the state machine ([`StateMachine`]), whose state the
//! services read through a [`StateReader`].
//!
//! - `log` — the Raft log, vote and committed id.
//! - `reader` — the data trees and their typed reads.
//! - `apply` — one write per request kind.
//! - `snapshot` — the snapshot format: dump and load of the data trees.
//! - `state_machine` — openraft's state machine and snapshot builder.

mod apply;
mod log;
mod reader;
mod snapshot;
mod state_machine;

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::OpenError;
use crate::error::StoreError;

pub use log::LogStore;
pub use reader::StateReader;
pub use state_machine::StateMachine;

/// Opens (or creates) the node's sled database at `dir` and both stores.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachine), OpenError> {
    let db = sled::Config::new().path(dir).open()?;
    Ok((LogStore::open(&db)?, StateMachine::open(&db)?))
}

/// Decodes the record at `key` of tree `tree`; one that does not decode is
/// reported (and logged), never skipped.
fn decode<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    value: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(value).map_err(|e| StoreError::undecodable(tree, key, e))
}

/// Encodes a record. Records are plain data JSON can represent, so failing
/// is a bug.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("state record serializes")
}
