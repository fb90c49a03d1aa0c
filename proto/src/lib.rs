//! The gRPC contract of the edge isolate platform, package `edge.v1`.
//!
//! - `Gateway`: the client-facing service (Workers, invocations, logs).
//! - `WorkerNode`: what the gateway calls on each worker node.
//! - `ControlPlane` and `ClusterAdmin`: the replicated registry, placement,
//!   tenants, billing ledger and cluster membership.
//! - `RaftTransport`: Raft messages between control-plane nodes.
//!
//! The code is generated at build time from `edge/v1/*.proto`.

#![forbid(unsafe_code)]

/// Package `edge.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("edge.v1");
}
