//! One control-plane node: the local `Raft`, its state, and the rules for
//! reaching the leader. Any node accepts every request: writes, linearizable
//! read barriers and membership changes are forwarded to the leader over the
//! Raft transport's `Forward` RPC (one hop; if leadership moved meanwhile
//! the client gets UNAVAILABLE and retries).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;

use openraft::BasicNode;
use openraft::ChangeMembers;
use openraft::Raft;
use openraft::RaftMetrics;
use openraft::error::ClientWriteError;
use openraft::error::InitializeError;
use openraft::error::RaftError;

use crate::codec::Forwarded;
use crate::codec::ForwardedReply;
use crate::config::Config;
use crate::error::ApiCode;
use crate::error::ApiError;
use crate::network::ForwardError;
use crate::network::Peers;
use crate::store::StateReader;
use crate::types::ClusterStatus;
use crate::types::MemberStatus;
use crate::types::NodeId;
use crate::types::Request;
use crate::types::Response;
use crate::types::TypeConfig;

/// A running node.
pub struct Node {
    /// Raft id of this node.
    pub(crate) id: NodeId,
    /// The local Raft.
    pub(crate) raft: Raft<TypeConfig>,
    /// Reads of the local replica's state.
    pub(crate) state: StateReader,
    /// Committed index, as the log store last heard it.
    pub(crate) committed: Arc<AtomicU64>,
    /// Channels to the other nodes, shared with Raft's network.
    pub(crate) peers: Peers,
    /// How this node runs.
    pub(crate) config: Config,
    /// Address other nodes reach this node at.
    pub(crate) advertise_addr: String,
}

/// How long a follower waits to catch up with the leader's read index.
const READ_CATCH_UP: Duration = Duration::from_secs(10);

/// How long a request forwarded to the leader may take there: a write
/// waits for a quorum flush, a join for the new node to be added.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

impl Node {
    /// Leader id and address, or UNAVAILABLE if none is known.
    fn leader(&self) -> Result<(NodeId, String), ApiError> {
        let metrics = self.raft.metrics().borrow().clone();
        let Some(leader) = metrics.current_leader else {
            return Err(ApiError::unavailable(format!(
                "node {} knows no leader (election in progress, or the cluster is not initialised: run `edgectl cluster init`); retry",
                self.id
            )));
        };
        let addr = metrics
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
            .unwrap_or_default();
        Ok((leader, addr))
    }

    /// Sends `req` to the leader, or handles it here if this node leads.
    async fn to_leader(&self, req: Forwarded) -> Result<ForwardedReply, ApiError> {
        let (leader, addr) = self.leader()?;
        if leader == self.id {
            return self.handle_forwarded(req).await;
        }
        self.peers
            .forward(&addr, &req, FORWARD_TIMEOUT)
            .await
            .map_err(|e| forward_error(leader, &addr, e))?
    }

    /// Handles a request on the node that believes it leads.
    pub(crate) async fn handle_forwarded(
        &self,
        req: Forwarded,
    ) -> Result<ForwardedReply, ApiError> {
        match req {
            Forwarded::Write(request) => self.write_here(request).await,
            Forwarded::ReadBarrier => self.read_index_here().await,
            Forwarded::Join { id, addr } => self.join_here(id, addr).await,
            Forwarded::Remove { id } => self.remove_here(id).await,
            Forwarded::Status => Ok(ForwardedReply::Status(self.local_status())),
        }
    }

    /// Proposes `request` to the local Raft (the leader).
    async fn write_here(&self, request: Request) -> Result<ForwardedReply, ApiError> {
        match self.raft.client_write(request).await {
            Ok(resp) => Ok(ForwardedReply::Write(resp.data)),
            Err(e) => Err(write_error(e)),
        }
    }

    /// Confirms leadership with a quorum; the index a read must wait for.
    async fn read_index_here(&self) -> Result<ForwardedReply, ApiError> {
        match self.raft.ensure_linearizable().await {
            Ok(log_id) => Ok(ForwardedReply::ReadBarrier(
                log_id.map(|l| l.index).unwrap_or(0),
            )),
            Err(e) => Err(ApiError::unavailable(format!(
                "node {} cannot confirm leadership ({e}); retry",
                self.id
            ))),
        }
    }

    /// Adds node `id` as a learner (waiting for it to catch up), then
    /// promotes it to voter unless it already is one.
    async fn join_here(&self, id: NodeId, addr: String) -> Result<ForwardedReply, ApiError> {
        self.raft
            .add_learner(id, BasicNode { addr }, true)
            .await
            .map_err(write_error)?;
        let members = self.raft.metrics().borrow().membership_config.clone();
        if !members.membership().voter_ids().any(|v| v == id) {
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
                .map_err(write_error)?;
        }
        Ok(ForwardedReply::Done)
    }

    /// Removes node `id`, whether voter or learner.
    async fn remove_here(&self, id: NodeId) -> Result<ForwardedReply, ApiError> {
        let members = self.raft.metrics().borrow().membership_config.clone();
        let membership = members.membership();
        let change = if membership.voter_ids().any(|v| v == id) {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else if membership.get_node(&id).is_some() {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Err(ApiError::new(
                ApiCode::NotFound,
                format!("node {id} is not a member of the cluster; see `edgectl cluster status`"),
            ));
        };
        self.raft
            .change_membership(change, false)
            .await
            .map_err(write_error)?;
        Ok(ForwardedReply::Done)
    }

    /// Proposes a write through the leader; the state machine's answer.
    pub async fn write(&self, req: Request) -> Result<Response, ApiError> {
        match self.to_leader(Forwarded::Write(req)).await? {
            ForwardedReply::Write(resp) => Ok(resp),
            other => Err(ApiError::internal(format!(
                "unexpected reply to a write: {other:?}"
            ))),
        }
    }

    /// Returns once this node's state reflects every write committed before
    /// the call (a linearizable read may follow).
    pub async fn read_barrier(&self) -> Result<(), ApiError> {
        let index = match self.to_leader(Forwarded::ReadBarrier).await? {
            ForwardedReply::ReadBarrier(index) => index,
            other => {
                return Err(ApiError::internal(format!(
                    "unexpected reply to a read barrier: {other:?}"
                )));
            }
        };
        self.raft
            .wait(Some(READ_CATCH_UP))
            .applied_index_at_least(Some(index), "read barrier")
            .await
            .map_err(|e| {
                ApiError::unavailable(format!(
                    "node {} did not catch up to index {index}: {e}; retry",
                    self.id
                ))
            })?;
        Ok(())
    }

    /// Initialises a new cluster with this node as its only voter.
    pub async fn init(&self) -> Result<(), ApiError> {
        let members = BTreeMap::from([(
            self.id,
            BasicNode {
                addr: self.advertise_addr.clone(),
            },
        )]);
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(e))) => Err(ApiError::new(
                ApiCode::FailedPrecondition,
                format!(
                    "the cluster is already initialised ({e}); add nodes with `edgectl cluster join`"
                ),
            )),
            Err(e) => Err(ApiError::internal(format!("initialising the cluster: {e}"))),
        }
    }

    /// Adds node `id` at `addr` as a learner, waits for it to catch up, then
    /// promotes it to voter.
    pub async fn join(&self, id: NodeId, addr: String) -> Result<(), ApiError> {
        if addr.parse::<std::net::SocketAddr>().is_err() && !addr.contains(':') {
            return Err(ApiError::invalid(format!(
                "node address {addr:?} is not host:port"
            )));
        }
        self.to_leader(Forwarded::Join { id, addr })
            .await
            .map(|_| ())
    }

    /// Removes node `id` from the cluster.
    pub async fn remove(&self, id: NodeId) -> Result<(), ApiError> {
        self.to_leader(Forwarded::Remove { id }).await.map(|_| ())
    }

    /// The leader's view if one is reachable, else this node's own.
    pub async fn status(&self) -> ClusterStatus {
        match self.to_leader(Forwarded::Status).await {
            Ok(ForwardedReply::Status(s)) => s,
            _ => self.local_status(),
        }
    }

    /// This node's view.
    pub fn local_status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        ClusterStatus {
            leader: m.current_leader,
            term: m.current_term,
            members: self.members(&m),
            commit_index: self.committed.load(Ordering::Relaxed),
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            snapshot_age_ms: self.state.snapshot_age().map(|t| t.as_millis() as u64),
            ledger_size: self.state.ledger_size(),
        }
    }

    /// Voters and learners, with how far each one's log is known to reach.
    fn members(&self, m: &RaftMetrics<NodeId, BasicNode>) -> Vec<MemberStatus> {
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| {
                let last_log_index = if *id == self.id {
                    m.last_log_index
                } else {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(id).cloned().flatten())
                        .map(|l| l.index)
                };
                MemberStatus {
                    id: *id,
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                    last_log_index,
                }
            })
            .collect()
    }
}

/// Why a forwarded request got no answer, as the client should read it.
fn forward_error(leader: NodeId, addr: &str, e: ForwardError) -> ApiError {
    match e {
        ForwardError::Address(e) => {
            ApiError::unavailable(format!("bad leader address {addr:?}: {e}"))
        }
        ForwardError::Status(s) => ApiError::unavailable(format!(
            "forwarding to leader {leader} at {addr} failed ({}); the outcome is unknown, retry (writes here are idempotent)",
            s.message()
        )),
        ForwardError::Codec(e) => ApiError::internal(e.to_string()),
    }
}

/// openraft's refusal of a write or membership change, as the client should read it.
fn write_error(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> ApiError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            ApiError::unavailable(format!(
                "leadership moved (now {:?}) while the request was in flight; the outcome is unknown, retry",
                f.leader_id
            ))
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => ApiError::new(
            ApiCode::FailedPrecondition,
            format!("membership change refused: {e}"),
        ),
        RaftError::Fatal(e) => ApiError::unavailable(format!(
            "this node's Raft stopped ({e}); retry on another node"
        )),
    }
}
