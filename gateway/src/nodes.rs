//! The gateway's view of the worker nodes: a snapshot polled from the
//! control plane (`ListNodes`) every refresh interval and shared as an
//! `Arc`, never fetched per request; plus nodes this gateway failed to
//! reach, skipped for a short while before the control plane notices.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use edge_proto::v1 as pb;
use parking_lot::Mutex;
use parking_lot::RwLock;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::geo::Coordinates;
use crate::routing::region_centres;
use crate::upstream::ControlPlanes;
use crate::upstream::NodeChannels;

/// How long a node that refused a connection is skipped locally.
pub const FAILED_NODE_SKIP: Duration = Duration::from_secs(2);
/// Longest a single ListNodes call may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(2);

/// One refresh of the node list.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every registered node, any health.
    pub nodes: Vec<pb::NodeInfo>,
    /// Where each region is (mean of its nodes).
    pub regions: BTreeMap<String, Coordinates>,
}

impl Snapshot {
    /// A snapshot of `nodes`.
    pub fn new(nodes: Vec<pb::NodeInfo>) -> Self {
        let regions = region_centres(&nodes);
        Self { nodes, regions }
    }
}

/// The current snapshot and the locally failed nodes.
#[derive(Debug, Default)]
pub struct NodeView {
    snapshot: RwLock<Arc<Snapshot>>,
    failed: Mutex<HashMap<String, Instant>>,
}

impl NodeView {
    /// The latest snapshot.
    pub fn current(&self) -> Arc<Snapshot> {
        self.snapshot.read().clone()
    }

    /// Replaces the snapshot.
    pub fn replace(&self, nodes: Vec<pb::NodeInfo>) {
        *self.snapshot.write() = Arc::new(Snapshot::new(nodes));
    }

    /// Skip `node_id` for [`FAILED_NODE_SKIP`].
    pub fn mark_failed(&self, node_id: &str) {
        self.failed
            .lock()
            .insert(node_id.to_string(), Instant::now() + FAILED_NODE_SKIP);
    }

    /// Whether `node_id` failed recently.
    pub fn is_failed(&self, node_id: &str) -> bool {
        let failed = self.failed.lock();
        failed
            .get(node_id)
            .is_some_and(|until| *until > Instant::now())
    }

    fn forget_expired_failures(&self) {
        let now = Instant::now();
        self.failed.lock().retain(|_, until| *until > now);
    }

    /// Fetches the node list once; false if no control plane answered.
    pub async fn refresh(&self, cp: &ControlPlanes, channels: &NodeChannels) -> bool {
        let listed = cp
            .call(|mut c| async move {
                let mut req = tonic::Request::new(pb::ListNodesRequest {});
                req.set_timeout(LIST_TIMEOUT);
                c.list_nodes(req).await
            })
            .await;
        match listed {
            Ok(resp) => {
                let nodes = resp.nodes;
                channels.retain(|addr| nodes.iter().any(|n| n.grpc_addr == addr));
                self.replace(nodes);
                self.forget_expired_failures();
                true
            }
            Err(status) => {
                tracing::warn!(%status, "refreshing the node list failed; keeping the last one");
                false
            }
        }
    }

    /// Refreshes every `every` until `shutdown`.
    pub async fn poll(
        self: Arc<Self>,
        cp: Arc<ControlPlanes>,
        channels: Arc<NodeChannels>,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.refresh(&cp, &channels).await;
        }
    }
}
