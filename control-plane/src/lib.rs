//! The control plane: 3 or 5 nodes replicating one state machine with
//! openraft 0.9, stored on sled, talking Raft over tonic gRPC.
//!
//! A tour, in the order a request travels:
//!
//! - `service` — the public gRPC services `ControlPlane` (worker-node
//!   registry, Worker registry, placement, tenants and API keys, billing
//!   ledger) and `ClusterAdmin` (init, join, remove, status). Input is
//!   validated here; every error is a gRPC status with an actionable message.
//!   Reads go through the state machine's typed reader.
//! - `node` — one node's [`Node`]: writes, linearizable read barriers and
//!   membership changes go to the leader (forwarded over the Raft transport
//!   when this node is not the leader).
//! - `network` — the transport, in two halves: `client` (peers, one reused
//!   channel each, openraft's network, forwarding) and `service` (the
//!   `RaftTransport` server). `codec` defines what travels: openraft's
//!   messages and the forwarded requests, as JSON.
//! - `store` — the Raft log and the state machine on one sled database;
//!   every acknowledged write has been flushed. Snapshots are built from the
//!   state machine; the log is compacted behind them.
//! - `ledger` — unique Workers per tenant per UTC day, idempotent by load id,
//!   keyed with the shared [`edge_proto::billing`] vocabulary.
//! - `placement` — healthy nodes with capacity, ranked by rendezvous hashing.
//! - `server` — [`run`]: serve on a bound listener until a shutdown future.
//! - `config` and `error` — [`Config`], and one error type per concern.
//!
//! Billing rule: a unique Worker is (tenant, worker id, code hash, UTC day)
//! and costs [`MICRO_USD_PER_UNIQUE_WORKER`] micro-dollars. A Worker run
//! inline without an id is shipped by the worker node under the worker id
//! `inline:<load id>`, so every such run counts as its own unique Worker.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// openraft's StorageError and ConfigError are large by design; storage
// functions return them as openraft's traits require.
#![allow(clippy::result_large_err)]

mod codec;
mod config;
mod error;
mod ledger;
mod network;
mod node;
mod placement;
mod server;
mod service;
mod store;
mod types;

pub use config::Config;
pub use error::ApiCode;
pub use error::ApiError;
pub use error::OpenError;
pub use error::SnapshotError;
pub use error::StartError;
pub use error::StoreError;
pub use ledger::BillingDetailRow;
pub use ledger::BillingRow;
pub use node::Deadline;
pub use node::Node;
pub use placement::effective_health;
pub use placement::rank;
pub use server::run;
pub use service::MAX_LOADS_PER_BATCH;
pub use store::LogStore;
pub use store::StateMachine;
pub use store::open as open_store;
pub use types::BundleData;
pub use types::ClusterStatus;
pub use types::GrantsData;
pub use types::Health;
pub use types::InitRecord;
pub use types::LimitsData;
pub use types::LoadRecord;
pub use types::MAX_BUNDLE_BYTES;
pub use types::MAX_GRANTS_BYTES;
pub use types::MICRO_USD_PER_UNIQUE_WORKER;
pub use types::MemberStatus;
pub use types::ModuleData;
pub use types::NodeId;
pub use types::RejectCode;
pub use types::Request;
pub use types::Response;
pub use types::TypeConfig;
pub use types::WorkerNodeRecord;
