//! The service side of the transport: the gRPC `RaftTransport` server that
//! hands Raft messages to the local `Raft` and forwarded requests to the
//! local [`Node`] (which only receives them while it leads).

use std::sync::Arc;

use edge_proto::v1::RaftPayload;
use edge_proto::v1::raft_transport_server::RaftTransport;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::InstallSnapshotRequest;
use openraft::raft::VoteRequest;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::Request;
use tonic::Response;
use tonic::Status;

use crate::codec::Forwarded;
use crate::codec::decode;
use crate::codec::encode;
use crate::node::Node;
use crate::types::NodeId;
use crate::types::TypeConfig;

/// Inbound Raft messages and forwarded requests.
pub struct RaftService {
    /// The local node.
    pub(crate) node: Arc<Node>,
}

/// Decodes a peer's message; a malformed one is the peer's bug.
fn message<T: DeserializeOwned>(payload: &RaftPayload) -> Result<T, Status> {
    decode(&payload.data).map_err(|e| Status::invalid_argument(e.to_string()))
}

/// Wraps an answer (openraft's `Result` included) for the wire.
fn reply<T: Serialize>(value: &T) -> Result<Response<RaftPayload>, Status> {
    Ok(Response::new(RaftPayload {
        data: encode(value),
        blob: Vec::new(),
    }))
}

#[tonic::async_trait]
impl RaftTransport for RaftService {
    #[tracing::instrument(level = "trace", skip_all)]
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let req: AppendEntriesRequest<TypeConfig> = message(request.get_ref())?;
        reply(&self.node.raft.append_entries(req).await)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let req: VoteRequest<NodeId> = message(request.get_ref())?;
        reply(&self.node.raft.vote(req).await)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let payload = request.into_inner();
        let mut req: InstallSnapshotRequest<TypeConfig> = message(&payload)?;
        req.data = payload.blob;
        reply(&self.node.raft.install_snapshot(req).await)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn forward(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let req: Forwarded = message(request.get_ref())?;
        reply(&self.node.handle_forwarded(req).await)
    }
}
