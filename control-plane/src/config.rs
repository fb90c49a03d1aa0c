//! Node configuration: what an operator may tune ([`Config`]), the pacing of
//! peer retries derived from it ([`RetryPolicy`]), and the fixed Raft limits.

use std::path::PathBuf;
use std::time::Duration;

use openraft::network::Backoff;

use crate::types::NodeId;

/// Shortest pause before retrying an unreachable peer, however short the
/// heartbeat: below this a dead peer costs a refused connect per millisecond.
const MIN_PEER_RETRY: Duration = Duration::from_millis(10);

/// How long a follower may take to install one snapshot chunk.
const INSTALL_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most log entries in one append: entries can carry 4 MiB bundles, and a
/// batch must stay below the transport's message limit.
const MAX_PAYLOAD_ENTRIES: u64 = 64;

/// Size of one snapshot chunk sent to a lagging follower.
const SNAPSHOT_CHUNK_BYTES: u64 = 4 * 1024 * 1024;

/// How one control-plane node runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Raft node id, unique in the cluster.
    pub id: NodeId,
    /// Directory of the node's sled database.
    pub data_dir: PathBuf,
    /// Address other nodes and clients reach this node at; defaults to the
    /// listener's address.
    pub advertise_addr: Option<String>,
    /// A worker node that has not heartbeated for this long is unhealthy.
    pub node_heartbeat_timeout: Duration,
    /// Raft heartbeat interval.
    pub raft_heartbeat: Duration,
    /// Minimum Raft election timeout; the maximum is 1.5 × this. openraft
    /// 0.9 also uses the maximum as the leader lease: a follower that heard
    /// from a leader refuses votes for that long, and starts an election
    /// only after lease + its own random timeout of silence. Failover after
    /// a leader crash therefore takes 2.5–3 × this value (it was 3–4 × with
    /// the classic max = 2 × min).
    pub election_timeout: Duration,
    /// Build a snapshot (and compact the log) after this many applied entries.
    pub snapshot_every: u64,
    /// Log entries kept behind the snapshot for slow followers.
    pub keep_logs_after_snapshot: u64,
}

impl Config {
    /// Default [`Config::node_heartbeat_timeout`].
    pub const DEFAULT_NODE_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default [`Config::raft_heartbeat`].
    pub const DEFAULT_RAFT_HEARTBEAT: Duration = Duration::from_millis(100);
    /// Default [`Config::election_timeout`]: five heartbeats, so one lost
    /// heartbeat does not start an election.
    pub const DEFAULT_ELECTION_TIMEOUT: Duration = Duration::from_millis(500);
    /// Default [`Config::snapshot_every`].
    pub const DEFAULT_SNAPSHOT_EVERY: u64 = 5_000;
    /// Default [`Config::keep_logs_after_snapshot`].
    pub const DEFAULT_KEEP_LOGS_AFTER_SNAPSHOT: u64 = 1_000;

    /// Defaults for node `id` storing its data in `data_dir`.
    pub fn new(id: NodeId, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            id,
            data_dir: data_dir.into(),
            advertise_addr: None,
            node_heartbeat_timeout: Self::DEFAULT_NODE_HEARTBEAT_TIMEOUT,
            raft_heartbeat: Self::DEFAULT_RAFT_HEARTBEAT,
            election_timeout: Self::DEFAULT_ELECTION_TIMEOUT,
            snapshot_every: Self::DEFAULT_SNAPSHOT_EVERY,
            keep_logs_after_snapshot: Self::DEFAULT_KEEP_LOGS_AFTER_SNAPSHOT,
        }
    }

    /// Retry pacing for unreachable peers: from one heartbeat, doubling up
    /// to half the minimum election timeout (see [`RetryPolicy`]).
    pub(crate) fn peer_retry(&self) -> RetryPolicy {
        let first = self.raft_heartbeat.max(MIN_PEER_RETRY);
        RetryPolicy {
            first,
            max: (self.election_timeout / 2).max(first),
        }
    }

    /// openraft's settings. Two openraft 0.9.25 behaviours shape failover:
    /// the leader lease (= `election_timeout_max`, see the field doc), and a
    /// sticky "seen a greater log" flag: a candidate refused for a shorter
    /// log waits an extra 2 × `election_timeout_max` before its next
    /// election, even after it has caught up (fixed upstream after 0.9 by
    /// databendlabs/openraft#2087). Fast peer retries (`peer_retry`) keep
    /// restarted followers from lagging, which is what triggers the flag.
    pub(crate) fn raft_config(&self) -> Result<openraft::Config, openraft::ConfigError> {
        let min = self.election_timeout.as_millis() as u64;
        openraft::Config {
            cluster_name: "edge-control-plane".to_string(),
            heartbeat_interval: self.raft_heartbeat.as_millis() as u64,
            election_timeout_min: min,
            election_timeout_max: min + (min / 2).max(1),
            install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT.as_millis() as u64,
            max_payload_entries: MAX_PAYLOAD_ENTRIES,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.keep_logs_after_snapshot,
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
            ..Default::default()
        }
        .validate()
    }
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
    /// Pause after the first failure.
    pub(crate) first: Duration,
    /// Longest pause; doubling stops here.
    pub(crate) max: Duration,
}

impl RetryPolicy {
    /// The pauses as openraft's backoff: `first`, doubling up to `max`.
    pub(crate) fn backoff(self) -> Backoff {
        let RetryPolicy { first, max } = self;
        Backoff::new(std::iter::successors(Some(first), move |d| {
            Some((*d * 2).min(max))
        }))
    }
}
