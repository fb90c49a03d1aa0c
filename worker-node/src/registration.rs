//! Registration with the control plane and the heartbeats that keep the
//! node's entry fresh. A heartbeat the control plane answers with NOT_FOUND
//! (it forgot the node: a restored snapshot, an operator's removal)
//! registers the node again.

use std::sync::Arc;
use std::time::Duration;

use edge_proto::v1 as pb;
use tokio::sync::watch;
use tonic::Code;
use tonic::Status;

use crate::cp_client::ControlPlane;
use crate::gauge::NodeLoad;

/// The first pause between registration attempts; it doubles up to
/// [`MAX_REGISTER_BACKOFF`].
const REGISTER_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between registration attempts.
const MAX_REGISTER_BACKOFF: Duration = Duration::from_secs(2);

/// What the node tells the control plane about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeIdentity {
    /// Node id.
    pub node_id: String,
    /// Region.
    pub region: String,
    /// Latitude, degrees.
    pub latitude: f64,
    /// Longitude, degrees.
    pub longitude: f64,
    /// Address gateways reach the node at.
    pub grpc_addr: String,
    /// Most loaded Workers.
    pub capacity: u32,
    /// Most sandbox processes.
    pub max_sandboxes: u32,
    /// Memory loaded Workers may hold, bytes.
    pub memory_budget_bytes: u64,
}

/// The node's entry in the control plane's registry.
pub struct Registration {
    cp: Arc<ControlPlane>,
    identity: NodeIdentity,
}

impl Registration {
    /// Registration of `identity` through `cp`.
    pub fn new(cp: Arc<ControlPlane>, identity: NodeIdentity) -> Registration {
        Registration { cp, identity }
    }

    /// Who the node says it is.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// The registry entry with `load` and `health`.
    pub fn node_info(&self, load: NodeLoad, health: pb::NodeHealth) -> pb::NodeInfo {
        let id = &self.identity;
        pb::NodeInfo {
            node_id: id.node_id.clone(),
            region: id.region.clone(),
            latitude: id.latitude,
            longitude: id.longitude,
            grpc_addr: id.grpc_addr.clone(),
            capacity: id.capacity,
            load: load.live_isolates,
            last_heartbeat_unix_ms: 0,
            health: health as i32,
            live_sandboxes: load.live_sandboxes,
            resident_bytes: load.resident_bytes,
            in_flight: load.in_flight,
            max_sandboxes: id.max_sandboxes,
            memory_budget_bytes: id.memory_budget_bytes,
        }
    }

    /// Registers once.
    pub async fn register(&self, load: NodeLoad, health: pb::NodeHealth) -> Result<(), Status> {
        self.cp.register_node(self.node_info(load, health)).await
    }

    /// Registers as healthy, retrying with backoff while the control plane
    /// is unreachable or electing, for at most `limit`. A request the
    /// control plane rejects (bad coordinates, say) is not retried.
    pub async fn register_within(&self, load: NodeLoad, limit: Duration) -> Result<(), Status> {
        let attempts = async {
            let mut backoff = REGISTER_BACKOFF;
            let mut first = true;
            loop {
                match self.register(load, pb::NodeHealth::Healthy).await {
                    Ok(()) => return Ok(()),
                    Err(status) if retryable(&status) && first => {
                        tracing::info!(%status, "registration with the control plane failed; retrying until it works");
                    }
                    Err(status) if retryable(&status) => {
                        tracing::debug!(%status, "registration failed again");
                    }
                    Err(status) => return Err(status),
                }
                first = false;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_REGISTER_BACKOFF);
            }
        };
        match tokio::time::timeout(limit, attempts).await {
            Ok(result) => result,
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no control plane accepted the registration within {limit:?}"
            ))),
        }
    }

    /// Heartbeats every `interval` with the load `measure` gives, until
    /// `shutdown` turns true. `health` is what a re-registration says.
    pub async fn heartbeat(
        &self,
        interval: Duration,
        measure: impl Fn() -> NodeLoad,
        health: impl Fn() -> pb::NodeHealth,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = ticks.tick() => {}
            }
            let load = measure();
            let beat = pb::HeartbeatRequest {
                node_id: self.identity.node_id.clone(),
                load: load.live_isolates,
                live_sandboxes: load.live_sandboxes,
                resident_bytes: load.resident_bytes,
                in_flight: load.in_flight,
            };
            let result = match self.cp.heartbeat(beat).await {
                Err(status) if status.code() == Code::NotFound => {
                    tracing::warn!("the control plane forgot this node; registering again");
                    self.register(load, health()).await
                }
                other => other,
            };
            match result {
                Ok(()) if failing => {
                    tracing::info!("heartbeats reach the control plane again");
                    failing = false;
                }
                Ok(()) => {}
                Err(status) if !failing => {
                    tracing::warn!(%status, "heartbeat failed; the control plane will mark the node unhealthy if this lasts");
                    failing = true;
                }
                Err(status) => tracing::debug!(%status, "heartbeat failed again"),
            }
        }
    }
}

/// Failures a later attempt may not see.
fn retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
            | Code::Internal
    )
}
