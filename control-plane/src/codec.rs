//! What travels between control-plane nodes and how it is encoded: openraft's
//! serde types and the forwarded requests ([`Forwarded`], [`ForwardedReply`])
//! as JSON in `RaftPayload.data`. Both sides of the transport use these two
//! functions, so the wire format is defined once.

use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::ClusterStatus;
use crate::types::NodeId;
use crate::types::Request;
use crate::types::Response;

/// A payload is not JSON of the expected type (a peer of another version,
/// or a bug).
#[derive(Debug, thiserror::Error)]
#[error("malformed Raft payload (JSON expected): {0}")]
pub(crate) struct CodecError(#[from] serde_json::Error);

/// A request handed to the leader.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Forwarded {
    /// Propose a write.
    Write(Request),
    /// Confirm leadership and answer the read index.
    ReadBarrier,
    /// Add node `id` at `addr`, then make it a voter.
    Join {
        /// Raft node id.
        id: NodeId,
        /// host:port.
        addr: String,
    },
    /// Remove node `id` (voter or learner).
    Remove {
        /// Raft node id.
        id: NodeId,
    },
    /// The leader's view of the cluster.
    Status,
}

/// The leader's answer to a [`Forwarded`] request.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ForwardedReply {
    /// The state machine's answer to a write, and the write's log index.
    Write(Response, u64),
    /// Index a read must wait for.
    ReadBarrier(u64),
    /// A membership change is done.
    Done,
    /// The leader's view.
    Status(ClusterStatus),
}

/// Encodes a message. Every message here is plain data JSON can represent,
/// so failing is a bug.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("raft message serializes")
}

/// Decodes a message received from a peer.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    Ok(serde_json::from_slice(bytes)?)
}
