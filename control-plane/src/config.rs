//! Node configuration.

use std::path::PathBuf;
use std::time::Duration;

use crate::network::RetryPolicy;
use crate::types::NodeId;

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
    /// Defaults for node `id` storing its data in `data_dir`.
    pub fn new(id: NodeId, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            id,
            data_dir: data_dir.into(),
            advertise_addr: None,
            node_heartbeat_timeout: Duration::from_secs(10),
            raft_heartbeat: Duration::from_millis(100),
            election_timeout: Duration::from_millis(500),
            snapshot_every: 5_000,
            keep_logs_after_snapshot: 1_000,
        }
    }

    /// Retry pacing for unreachable peers: from one heartbeat, doubling up
    /// to half the minimum election timeout (see `network::RetryPolicy`).
    pub(crate) fn peer_retry(&self) -> RetryPolicy {
        let first = self.raft_heartbeat.max(Duration::from_millis(10));
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
            install_snapshot_timeout: 10_000,
            max_payload_entries: 64,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.keep_logs_after_snapshot,
            snapshot_max_chunk_size: 4 * 1024 * 1024,
            ..Default::default()
        }
        .validate()
    }
}
