//! Raft messages over tonic gRPC.
//!
//! Outbound: [`Network`] implements openraft's `RaftNetworkFactory`; one
//! tonic `Channel` per peer address is created lazily and reused by every
//! RPC ([`Peers`]). Payloads are openraft's serde types as JSON; snapshot
//! chunks travel as raw bytes beside the JSON. Inbound: [`RaftService`]
//! hands messages to the local `Raft` and serves forwarded requests.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use edge_proto::v1::RaftPayload;
use edge_proto::v1::raft_transport_client::RaftTransportClient;
use edge_proto::v1::raft_transport_server::RaftTransport;
use openraft::BasicNode;
use openraft::RaftNetwork;
use openraft::RaftNetworkFactory;
use openraft::error::InstallSnapshotError;
use openraft::error::NetworkError;
use openraft::error::RPCError;
use openraft::error::RaftError;
use openraft::error::RemoteError;
use openraft::error::Unreachable;
use openraft::network::Backoff;
use openraft::network::RPCOption;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::AppendEntriesResponse;
use openraft::raft::InstallSnapshotRequest;
use openraft::raft::InstallSnapshotResponse;
use openraft::raft::VoteRequest;
use openraft::raft::VoteResponse;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;
use tonic::transport::Endpoint;

use crate::node::Node;
use crate::types::NodeId;
use crate::types::TypeConfig;

/// Largest gRPC message between nodes (a batch of entries can carry bundles).
pub(crate) const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// One lazily connected, reused channel per peer address.
#[derive(Clone, Default)]
pub struct Peers {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Peers {
    /// The channel to `addr` (host:port), created on first use.
    pub fn channel(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut map = self.channels.lock().expect("peer map");
        if let Some(ch) = map.get(addr) {
            return Ok(ch.clone());
        }
        let ch = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .connect_lazy();
        map.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }

    /// A Raft transport client for `addr`.
    pub fn client(
        &self,
        addr: &str,
    ) -> Result<RaftTransportClient<Channel>, tonic::transport::Error> {
        Ok(RaftTransportClient::new(self.channel(addr)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }
}

/// openraft's network factory.
#[derive(Clone)]
pub struct Network {
    pub(crate) peers: Peers,
    /// Pause before retrying a peer that was unreachable, doubling per failure.
    pub(crate) retry: RetryPolicy,
}

/// How soon replication retries a peer after an unreachable error.
///
/// openraft's default is a flat 500 ms. That delays a restarted follower's
/// catch-up by up to 500 ms, and a follower still behind when the leader
/// dies cannot win the election (and, in openraft 0.9, saddles the other
/// survivor with a sticky 2 × election_timeout_max penalty once it sees the
/// greater log; see `Config::raft_config`). Retrying from one heartbeat
/// interval, doubling up to half the minimum election timeout, reaches a
/// restarted node within about a heartbeat while a long-dead peer costs a
/// refused connect every few hundred milliseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    pub(crate) first: Duration,
    pub(crate) max: Duration,
}

impl RetryPolicy {
    fn backoff(self) -> Backoff {
        let RetryPolicy { first, max } = self;
        Backoff::new(std::iter::successors(Some(first), move |d| {
            Some((*d * 2).min(max))
        }))
    }
}

/// Connection to one peer.
pub struct PeerConnection {
    target: NodeId,
    addr: String,
    peers: Peers,
    retry: RetryPolicy,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerConnection {
        PeerConnection {
            target,
            addr: node.addr.clone(),
            peers: self.peers.clone(),
            retry: self.retry,
        }
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("raft message serializes")
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, tonic::Status> {
    serde_json::from_slice(bytes).map_err(|e| {
        tonic::Status::invalid_argument(format!("malformed Raft payload (JSON expected): {e}"))
    })
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

impl PeerConnection {
    /// Sends one payload; `Err` is a transport failure (no answer).
    async fn call(
        &self,
        kind: &'static str,
        payload: RaftPayload,
        timeout: Duration,
    ) -> Result<RaftPayload, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        let mut client = self
            .peers
            .client(&self.addr)
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let mut req = tonic::Request::new(payload);
        req.set_timeout(timeout);
        let result = match kind {
            "append" => client.append_entries(req).await,
            "vote" => client.vote(req).await,
            _ => client.install_snapshot(req).await,
        };
        match result {
            Ok(resp) => Ok(resp.into_inner()),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                Err(RPCError::Unreachable(Unreachable::new(&TransportError(
                    format!("{} ({}): {}", self.target, self.addr, status.message()),
                ))))
            }
            Err(status) => Err(RPCError::Network(NetworkError::new(&TransportError(
                format!(
                    "{kind} to node {} at {}: {}",
                    self.target,
                    self.addr,
                    status.message()
                ),
            )))),
        }
    }
}

/// Narrows the install-snapshot error type of a transport failure.
fn narrow<E: std::error::Error>(
    e: RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    match e {
        RPCError::Unreachable(u) => RPCError::Unreachable(u),
        RPCError::Network(n) => RPCError::Network(n),
        other => RPCError::Network(NetworkError::new(&TransportError(other.to_string()))),
    }
}

fn malformed<E: std::error::Error>(
    e: serde_json::Error,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::Network(NetworkError::new(&e))
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    fn backoff(&self) -> Backoff {
        self.retry.backoff()
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let payload = RaftPayload {
            data: encode(&rpc),
            blob: Vec::new(),
        };
        let resp = self
            .call("append", payload, option.hard_ttl())
            .await
            .map_err(narrow)?;
        let result: Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> =
            serde_json::from_slice(&resp.data).map_err(malformed)?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        mut rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let blob = std::mem::take(&mut rpc.data);
        let payload = RaftPayload {
            data: encode(&rpc),
            blob,
        };
        let resp = self.call("snapshot", payload, option.hard_ttl()).await?;
        let result: Result<
            InstallSnapshotResponse<NodeId>,
            RaftError<NodeId, InstallSnapshotError>,
        > = serde_json::from_slice(&resp.data).map_err(malformed)?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let payload = RaftPayload {
            data: encode(&rpc),
            blob: Vec::new(),
        };
        let resp = self
            .call("vote", payload, option.hard_ttl())
            .await
            .map_err(narrow)?;
        let result: Result<VoteResponse<NodeId>, RaftError<NodeId>> =
            serde_json::from_slice(&resp.data).map_err(malformed)?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// Inbound Raft messages and forwarded requests.
pub struct RaftService {
    pub(crate) node: Arc<Node>,
}

fn reply<T: Serialize>(value: &T) -> Result<tonic::Response<RaftPayload>, tonic::Status> {
    Ok(tonic::Response::new(RaftPayload {
        data: encode(value),
        blob: Vec::new(),
    }))
}

#[tonic::async_trait]
impl RaftTransport for RaftService {
    #[tracing::instrument(level = "trace", skip_all)]
    async fn append_entries(
        &self,
        request: tonic::Request<RaftPayload>,
    ) -> Result<tonic::Response<RaftPayload>, tonic::Status> {
        let req: AppendEntriesRequest<TypeConfig> = decode(&request.get_ref().data)?;
        reply(&self.node.raft.append_entries(req).await)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn vote(
        &self,
        request: tonic::Request<RaftPayload>,
    ) -> Result<tonic::Response<RaftPayload>, tonic::Status> {
        let req: VoteRequest<NodeId> = decode(&request.get_ref().data)?;
        reply(&self.node.raft.vote(req).await)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn install_snapshot(
        &self,
        request: tonic::Request<RaftPayload>,
    ) -> Result<tonic::Response<RaftPayload>, tonic::Status> {
        let payload = request.into_inner();
        let mut req: InstallSnapshotRequest<TypeConfig> = decode(&payload.data)?;
        req.data = payload.blob;
        reply(&self.node.raft.install_snapshot(req).await)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn forward(
        &self,
        request: tonic::Request<RaftPayload>,
    ) -> Result<tonic::Response<RaftPayload>, tonic::Status> {
        let req = decode(&request.get_ref().data)?;
        reply(&self.node.handle_forwarded(req).await)
    }
}
