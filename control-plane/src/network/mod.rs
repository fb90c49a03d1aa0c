//! Raft messages and forwarded requests over tonic gRPC, in two halves:
//! [`client`] sends (peers, channels, openraft's network factory, forwarding
//! to the leader) and [`service`] receives (the `RaftTransport` server). The
//! wire format is [`crate::codec`]'s; snapshot chunks travel as raw bytes
//! beside the JSON.

mod client;
mod service;

pub(crate) use client::ForwardError;
pub(crate) use client::Network;
pub(crate) use client::Peers;
pub(crate) use service::RaftService;

/// Largest gRPC message between nodes (a batch of entries can carry bundles).
pub(crate) const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
