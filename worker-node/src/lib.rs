//! `worker-node`: one per machine. It runs tenants' Workers in V8 isolates
//! inside sandbox processes (`edge-sandbox`, over `edge-engine`), keeps
//! loaded Workers warm, bills each unique Worker once per UTC day, and
//! serves `edge.v1.WorkerNode` to the gateway.
//!
//! # Layout
//!
//! - [`config`]: flags, `EDGE_*` variables and the TOML file, checked.
//! - [`node`]: [`Node::start`] puts the parts together on a bound listener;
//!   [`Node::drain`] stops them in order.
//! - [`service`]: the gRPC service (Invoke, NodeStatus, StreamLogs).
//! - [`cache`]: loaded Workers (LRU over the sandbox supervisor).
//! - [`bundles`]: stored Workers' code by hash, memory and disk, verified.
//! - [`billing`] and [`shipper`]: the durable outbox of billable loads and
//!   its shipping to the control plane.
//! - [`registration`]: RegisterNode and heartbeats; [`gauge`]: the load
//!   they report; [`cp_client`]: the control-plane client with failover.
//! - [`logs`]: console output fanned out to subscribers; [`convert`]:
//!   wire ↔ engine types.
//!
//! # The life of one invocation, hop by hop
//!
//! 1. [`service::NodeService`] checks the request and finds the code: the
//!    request's bundle, or [`bundles::BundleStore::get`] by code hash.
//! 2. [`cache::Workers::invoke_key`] names the Worker by
//!    [`cache::WorkerKey`] (tenant, id, [`cache::code_hash`]) and calls
//!    [`cache::Workers::get`]: a live isolate from the LRU, or
//!    [`edge_sandbox::Supervisor::load`], which places it
//!    (`Supervisor::place`: one of the tenant's sandboxes, a warm one
//!    assigned to the tenant, or a new one) and sends
//!    `protocol::Request::Load` over the sandbox's socket.
//! 3. In the sandbox, `child::serve` reads the request and hands it to the
//!    isolate's own thread, `child::slot::run`, which takes a pre-warmed
//!    [`edge_engine::Isolate`] and calls [`edge_engine::Isolate::load`].
//! 4. The first use of the day goes to [`billing`]: `Billing::record_use`
//!    hands a [`billing::LoadEvent`] to the [`billing::LoadSink`] (the
//!    durable [`billing::Outbox`]) and waits until it is on disk.
//! 5. [`edge_sandbox::Supervisor::invoke`] sends `Request::Invoke`;
//!    `Slot::invoke` runs [`edge_engine::Isolate::invoke`], which enforces
//!    the wall, CPU and memory limits.
//! 6. The [`edge_engine::Outcome`] comes back, is converted to the wire's
//!    `InvokeOutcome`, and its console lines go to [`logs::LogHub`].
//! 7. [`shipper::run`] sends pending load events to the control plane
//!    until they are acknowledged.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod billing;
pub mod bundles;
pub mod cache;
pub mod config;
pub mod convert;
pub mod cp_client;
pub mod gauge;
pub mod logs;
pub mod node;
pub mod registration;
pub mod service;
pub mod shipper;

pub use config::Args;
pub use config::ConfigError;
pub use config::NodeConfig;
pub use node::DrainReport;
pub use node::Node;
pub use node::StartError;
