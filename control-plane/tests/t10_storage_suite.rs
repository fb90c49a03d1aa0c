//! The sled log store and state machine pass openraft's own storage suite.

use control_plane::LogStore;
use control_plane::StateMachine;
use control_plane::TypeConfig;
use openraft::StorageError;
use openraft::testing::StoreBuilder;
use openraft::testing::Suite;
use tempfile::TempDir;

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for SledBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = TempDir::new().expect("temporary directory");
        let (log, sm) = control_plane::open_store(dir.path()).expect("open sled");
        Ok((dir, log, sm))
    }
}

#[test]
#[allow(clippy::result_large_err)]
fn sled_stores_pass_the_openraft_storage_suite() -> Result<(), StorageError<u64>> {
    Suite::test_all(SledBuilder)
}
