//! The client side of the transport: one lazily connected, reused channel
//! per peer ([`Peers`]), openraft's network factory ([`Network`]) and its
//! per-peer connections ([`PeerConnection`]), and forwarding a request to the
//! leader (carrying the caller's trace context). It knows peers by address
//! only, never the local node.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use edge_proto::v1::RaftPayload;
use edge_proto::v1::raft_transport_client::RaftTransportClient;
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
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;
use tonic::transport::Endpoint;

use super::MAX_MESSAGE_BYTES;
use crate::codec::CodecError;
use crate::codec::Forwarded;
use crate::codec::ForwardedReply;
use crate::codec::decode;
use crate::codec::encode;
use crate::config::RetryPolicy;
use crate::error::ApiError;
use crate::types::NodeId;
use crate::types::TypeConfig;

/// How long connecting to a peer may take: peers share a network, so a
/// slow connect means a dead peer, and Raft must move on within an election.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// HTTP/2 ping interval on an idle peer channel, so a dead peer is noticed
/// before the next Raft message needs it.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(5);

/// How long a keep-alive ping may go unanswered before the channel is dropped.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// An openraft RPC error whose remote error is `RaftError<NodeId, E>`.
type RpcError<E> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

/// One lazily connected, reused channel per peer address.
#[derive(Clone, Default)]
pub struct Peers {
    /// Channels by host:port.
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Peers {
    /// The channel to `addr` (host:port), created on first use.
    pub fn channel(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut map = self.channels.lock();
        if let Some(ch) = map.get(addr) {
            return Ok(ch.clone());
        }
        let ch = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
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

    /// Sends `req` to the node at `addr` (the leader) and returns its answer;
    /// `Err` when no answer arrived.
    pub(crate) async fn forward(
        &self,
        addr: &str,
        req: &Forwarded,
        timeout: Duration,
    ) -> Result<Result<ForwardedReply, ApiError>, ForwardError> {
        let mut client = self.client(addr).map_err(ForwardError::Address)?;
        let mut request = tonic::Request::new(RaftPayload {
            data: encode(req),
            blob: Vec::new(),
        });
        request.set_timeout(timeout);
        // The leader's span of this request joins the caller's trace.
        edge_telemetry::inject(request.metadata_mut());
        let reply = client
            .forward(request)
            .await
            .map_err(ForwardError::Status)?;
        Ok(decode(&reply.get_ref().data)?)
    }
}

/// Why a forwarded request got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    /// The leader's address is not a valid endpoint.
    #[error(transparent)]
    Address(tonic::transport::Error),
    /// The call failed: the leader may or may not have handled it.
    #[error("{}", .0.message())]
    Status(tonic::Status),
    /// The leader answered something undecodable.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// openraft's network factory.
#[derive(Clone)]
pub struct Network {
    /// Channels shared with the node (and its forwarding).
    pub(crate) peers: Peers,
    /// Pause before retrying a peer that was unreachable, doubling per failure.
    pub(crate) retry: RetryPolicy,
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

/// Connection to one peer.
pub struct PeerConnection {
    /// Raft id of the peer.
    target: NodeId,
    /// Its address.
    addr: String,
    /// Where its channel lives.
    peers: Peers,
    /// Pacing after an unreachable error.
    retry: RetryPolicy,
}

/// The three Raft RPCs, one gRPC method each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RaftRpc {
    /// `AppendEntries` (also the heartbeat).
    AppendEntries,
    /// `Vote`.
    Vote,
    /// `InstallSnapshot`, one chunk.
    InstallSnapshot,
}

impl fmt::Display for RaftRpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RaftRpc::AppendEntries => "append",
            RaftRpc::Vote => "vote",
            RaftRpc::InstallSnapshot => "snapshot",
        })
    }
}

/// Why a Raft RPC to a peer got no usable answer.
#[derive(Debug, thiserror::Error)]
enum CallError {
    /// The peer's address is not a valid endpoint.
    #[error(transparent)]
    Address(tonic::transport::Error),
    /// The peer did not answer (down, restarting, or partitioned).
    #[error("{target} ({addr}): {message}")]
    Unreachable {
        /// Raft id of the peer.
        target: NodeId,
        /// Its address.
        addr: String,
        /// The transport's message.
        message: String,
    },
    /// The peer answered with an error status.
    #[error("{rpc} to node {target} at {addr}: {message}")]
    Status {
        /// Which RPC.
        rpc: RaftRpc,
        /// Raft id of the peer.
        target: NodeId,
        /// Its address.
        addr: String,
        /// The status message.
        message: String,
    },
    /// The answer could not be decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl CallError {
    /// openraft's view: unreachable peers are retried after a backoff,
    /// other failures right away.
    fn into_rpc<E: std::error::Error>(self) -> RpcError<E> {
        match self {
            CallError::Address(_) | CallError::Unreachable { .. } => {
                RPCError::Unreachable(Unreachable::new(&self))
            }
            CallError::Status { .. } | CallError::Codec(_) => {
                RPCError::Network(NetworkError::new(&self))
            }
        }
    }
}

impl PeerConnection {
    /// Sends one payload; `Err` is a transport failure (no answer).
    async fn call(
        &self,
        rpc: RaftRpc,
        payload: RaftPayload,
        timeout: Duration,
    ) -> Result<RaftPayload, CallError> {
        let mut client = self.peers.client(&self.addr).map_err(CallError::Address)?;
        let mut req = tonic::Request::new(payload);
        req.set_timeout(timeout);
        let result = match rpc {
            RaftRpc::AppendEntries => client.append_entries(req).await,
            RaftRpc::Vote => client.vote(req).await,
            RaftRpc::InstallSnapshot => client.install_snapshot(req).await,
        };
        result
            .map(tonic::Response::into_inner)
            .map_err(|status| self.status_error(rpc, &status))
    }

    /// UNAVAILABLE means the peer is not there; anything else is its answer.
    fn status_error(&self, rpc: RaftRpc, status: &tonic::Status) -> CallError {
        let (target, addr, message) = (self.target, self.addr.clone(), status.message().into());
        if status.code() == tonic::Code::Unavailable {
            CallError::Unreachable {
                target,
                addr,
                message,
            }
        } else {
            CallError::Status {
                rpc,
                target,
                addr,
                message,
            }
        }
    }

    /// Sends `request` (with `blob` beside the JSON) and decodes the peer's
    /// `Result<A, RaftError<E>>`.
    async fn rpc<Q, A, E>(
        &self,
        rpc: RaftRpc,
        request: &Q,
        blob: Vec<u8>,
        option: RPCOption,
    ) -> Result<A, RpcError<E>>
    where
        Q: Serialize,
        A: DeserializeOwned,
        E: std::error::Error + Serialize + DeserializeOwned,
    {
        let payload = RaftPayload {
            data: encode(request),
            blob,
        };
        let reply = self
            .call(rpc, payload, option.hard_ttl())
            .await
            .map_err(CallError::into_rpc)?;
        let answer: Result<A, RaftError<NodeId, E>> =
            decode(&reply.data).map_err(|e| CallError::from(e).into_rpc())?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    fn backoff(&self) -> Backoff {
        self.retry.backoff()
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError<openraft::error::Infallible>> {
        self.rpc(RaftRpc::AppendEntries, &rpc, Vec::new(), option)
            .await
    }

    async fn install_snapshot(
        &mut self,
        mut rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        // The chunk travels as raw bytes beside the JSON, not as a JSON array.
        let blob = std::mem::take(&mut rpc.data);
        self.rpc(RaftRpc::InstallSnapshot, &rpc, blob, option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError<openraft::error::Infallible>> {
        self.rpc(RaftRpc::Vote, &rpc, Vec::new(), option).await
    }
}
