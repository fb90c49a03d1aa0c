//! Storage on sled: one database per node holding the Raft log
//! ([`log::LogStore`]) and the state machine ([`state_machine::StateMachine`]).

pub(crate) mod log;
pub(crate) mod state_machine;

use std::path::Path;

pub use log::LogStore;
pub use state_machine::StateMachine;
pub use state_machine::StateView;

/// Opens (or creates) the node's sled database at `dir` and both stores.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachine), sled::Error> {
    let db = sled::Config::new().path(dir).open()?;
    Ok((LogStore::open(&db)?, StateMachine::open(&db)?))
}
