//! One control-plane node: the local `Raft`, its state, and the rules for
//! reaching the leader. Any node accepts every request: writes, linearizable
//! read barriers and membership changes are forwarded to the leader over the
//! Raft transport's `Forward` RPC (one hop; if leadership moved meanwhile
//! the client gets UNAVAILABLE and retries).
//!
//! While an election is under way no leader is known: requests wait for
//! one until their [`Deadline`] instead of failing, and the idempotent
//! cluster set-up calls (Init, Join) also retry a leader that did not
//! answer.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

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
use crate::types::InitRecord;
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

/// How long a request forwarded to the leader may take there when the
/// client set no deadline: a write waits for a quorum flush, a join for the
/// new node to be added.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request without a deadline waits through an election.
const DEFAULT_PATIENCE: Duration = Duration::from_secs(10);

/// Part of a client's deadline kept back so the answer reaches the client
/// before it gives up (at most this, at most a tenth of the timeout).
const REPLY_MARGIN: Duration = Duration::from_millis(100);

/// How long a status request waits for the leader's view before it
/// answers with the contacted node's own.
const STATUS_PATIENCE: Duration = Duration::from_secs(2);

/// First pause before retrying an unanswered leader; doubles up to
/// [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Longest pause between retries.
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// How long a request may wait for a leader (and how long a forwarded
/// request may take): the client's `grpc-timeout` less a reply margin, or
/// defaults when it sent none.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    /// When the client gives up (already less the margin), if it said.
    client: Option<Instant>,
    /// When waiting for a leader stops.
    patience: Instant,
}

impl Deadline {
    /// The client gives up `timeout` from now, or never said (`None`).
    pub fn after(timeout: Option<Duration>) -> Self {
        let now = Instant::now();
        let client = timeout.map(|t| now + t.saturating_sub((t / 10).min(REPLY_MARGIN)));
        Self {
            client,
            patience: client.unwrap_or(now + DEFAULT_PATIENCE),
        }
    }

    /// Time left to wait for a leader.
    fn remaining(&self) -> Duration {
        self.patience.saturating_duration_since(Instant::now())
    }

    /// How long a forwarded request may take.
    fn forward_timeout(&self) -> Duration {
        match self.client {
            Some(at) => at.saturating_duration_since(Instant::now()),
            None => FORWARD_TIMEOUT,
        }
    }
}

impl Node {
    /// Leader id and address, or UNAVAILABLE if none is known.
    fn leader(&self) -> Result<(NodeId, String), ApiError> {
        let metrics = self.raft.metrics().borrow().clone();
        let Some(leader) = metrics.current_leader else {
            if outside_any_cluster(&metrics) {
                return Err(ApiError::unavailable(format!(
                    "node {} is not part of an initialised cluster: run `edgectl cluster init` on one node and `edgectl cluster join` for the others",
                    self.id
                )));
            }
            return Err(ApiError::unavailable(format!(
                "node {} knows no leader yet (election in progress); retry",
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

    /// The leader, waiting for an election to end until `deadline`. A node
    /// that belongs to no cluster answers at once: it will get no leader.
    async fn wait_leader(&self, deadline: Deadline) -> Result<(NodeId, String), ApiError> {
        let first = self.leader();
        let outside = outside_any_cluster(&self.raft.metrics().borrow());
        if first.is_ok() || outside || deadline.remaining().is_zero() {
            return first;
        }
        // Wakes on the metrics change that names a leader; a timeout
        // leaves the "no leader" error below.
        let _ = self
            .raft
            .wait(Some(deadline.remaining()))
            .metrics(|m| m.current_leader.is_some(), "a leader")
            .await;
        self.leader()
    }

    /// Sends `req` to the leader, or handles it here if this node leads.
    async fn to_leader(
        &self,
        req: Forwarded,
        deadline: Deadline,
    ) -> Result<ForwardedReply, ApiError> {
        let (leader, addr) = self.wait_leader(deadline).await?;
        if leader == self.id {
            return self.handle_forwarded(req).await;
        }
        self.peers
            .forward(&addr, &req, deadline.forward_timeout())
            .await
            .map_err(|e| forward_error(leader, &addr, e))?
    }

    /// [`Node::to_leader`] for idempotent requests: UNAVAILABLE (no leader
    /// yet, leader unreachable or just deposed) is retried with backoff
    /// until `deadline`.
    async fn to_leader_retrying(
        &self,
        req: Forwarded,
        deadline: Deadline,
    ) -> Result<ForwardedReply, ApiError> {
        let mut pause = FIRST_RETRY_PAUSE;
        loop {
            match self.to_leader(req.clone(), deadline).await {
                Err(e) if e.code == ApiCode::Unavailable && deadline.remaining() > pause => {
                    tracing::debug!(error = %e, ?pause, "leader not reached; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
                other => return other,
            }
        }
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
            Ok(resp) => Ok(ForwardedReply::Write(resp.data, resp.log_id.index)),
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

    /// Proposes a write through the leader (waiting for one until
    /// `deadline`); the state machine's answer.
    pub async fn write(&self, req: Request, deadline: Deadline) -> Result<Response, ApiError> {
        self.write_at(req, deadline).await.map(|(resp, _)| resp)
    }

    /// [`Node::write`], returning once this node has applied the write too,
    /// so its local reads (`Authenticate`, `Place`) see it.
    pub async fn write_visible(
        &self,
        req: Request,
        deadline: Deadline,
    ) -> Result<Response, ApiError> {
        let (resp, index) = self.write_at(req, deadline).await?;
        self.applied(index).await?;
        Ok(resp)
    }

    /// A write's answer and log index.
    async fn write_at(
        &self,
        req: Request,
        deadline: Deadline,
    ) -> Result<(Response, u64), ApiError> {
        match self.to_leader(Forwarded::Write(req), deadline).await? {
            ForwardedReply::Write(resp, index) => Ok((resp, index)),
            other => Err(ApiError::internal(format!(
                "unexpected reply to a write: {other:?}"
            ))),
        }
    }

    /// Returns once the local replica has applied log index `index`.
    async fn applied(&self, index: u64) -> Result<(), ApiError> {
        self.raft
            .wait(Some(READ_CATCH_UP))
            .applied_index_at_least(Some(index), "write applied here")
            .await
            .map(drop)
            .map_err(|e| {
                ApiError::unavailable(format!(
                    "node {} did not catch up to index {index}: {e}; retry",
                    self.id
                ))
            })
    }

    /// Returns once this node's state reflects every write committed before
    /// the call (a linearizable read may follow).
    pub async fn read_barrier(&self, deadline: Deadline) -> Result<(), ApiError> {
        let index = match self.to_leader(Forwarded::ReadBarrier, deadline).await? {
            ForwardedReply::ReadBarrier(index) => index,
            other => {
                return Err(ApiError::internal(format!(
                    "unexpected reply to a read barrier: {other:?}"
                )));
            }
        };
        self.applied(index).await
    }

    /// Initialises a new cluster with this node as its only voter, waits
    /// for it to lead, and commits `admin` (the first admin tenant and its
    /// key's hash); the state machine's answer (a rejection if the cluster
    /// was initialised before with another key).
    ///
    /// A node that already has Raft state skips the first step: whether
    /// Init was done is the replicated state's to say, so an Init retried
    /// after a lost answer completes, and one on a running cluster is
    /// refused there.
    pub async fn init(&self, admin: InitRecord, deadline: Deadline) -> Result<Response, ApiError> {
        let members = BTreeMap::from([(
            self.id,
            BasicNode {
                addr: self.advertise_addr.clone(),
            },
        )]);
        match self.raft.initialize(members).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
            Err(e) => return Err(ApiError::internal(format!("initialising the cluster: {e}"))),
        }
        let write = Forwarded::Write(Request::InitAdmin(admin));
        match self.to_leader_retrying(write, deadline).await {
            Ok(ForwardedReply::Write(resp, index)) => {
                self.applied(index).await?;
                Ok(resp)
            }
            Ok(other) => Err(ApiError::internal(format!(
                "unexpected reply to Init: {other:?}"
            ))),
            Err(e) if e.code == ApiCode::Unavailable => Err(ApiError::new(
                ApiCode::DeadlineExceeded,
                format!(
                    "the cluster did not commit its admin tenant in time ({}); run init again (a retry is safe)",
                    e.message
                ),
            )),
            Err(e) => Err(e),
        }
    }

    /// Adds node `id` at `addr` as a learner, waits for it to catch up, then
    /// promotes it to voter. Waits through an election and retries an
    /// unreachable leader until `deadline` (joining twice is harmless).
    pub async fn join(&self, id: NodeId, addr: String, deadline: Deadline) -> Result<(), ApiError> {
        if addr.parse::<std::net::SocketAddr>().is_err() && !addr.contains(':') {
            return Err(ApiError::invalid(format!(
                "node address {addr:?} is not host:port"
            )));
        }
        self.to_leader_retrying(Forwarded::Join { id, addr }, deadline)
            .await
            .map(|_| ())
    }

    /// Removes node `id` from the cluster, waiting for a leader until
    /// `deadline` (not retried once sent: a second remove would fail).
    pub async fn remove(&self, id: NodeId, deadline: Deadline) -> Result<(), ApiError> {
        self.to_leader(Forwarded::Remove { id }, deadline)
            .await
            .map(|_| ())
    }

    /// The leader's view if one is reachable within [`STATUS_PATIENCE`]
    /// (an election may be ending), else this node's own.
    pub async fn status(&self) -> ClusterStatus {
        let deadline = Deadline::after(Some(STATUS_PATIENCE));
        match self.to_leader(Forwarded::Status, deadline).await {
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

/// Whether the node has no voters in its membership: never initialised nor
/// joined, so no election will give it a leader.
fn outside_any_cluster(m: &RaftMetrics<NodeId, BasicNode>) -> bool {
    m.membership_config
        .membership()
        .voter_ids()
        .next()
        .is_none()
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
