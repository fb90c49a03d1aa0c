//! The node's client of the control plane: one lazy channel per given
//! address, and failover to the next address when one does not answer.
//! Any control-plane node accepts every call (it forwards writes to the
//! leader itself), so the node only needs one that is up. Calls carry the
//! current span's trace context: a GetBundle made while serving an Invoke
//! belongs to that Invoke's trace.

use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;

use edge_proto::v1 as pb;
use edge_proto::v1::control_plane_client::ControlPlaneClient;
use tonic::Code;
use tonic::Status;
use tonic::transport::Channel;
use tonic::transport::Endpoint;

/// How long one call may take on one control-plane node.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting to one control-plane node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest reply accepted (a bundle at the registry's limit, with room).
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// A gRPC client for the control plane.
pub type CpClient = ControlPlaneClient<Channel>;

/// Why the client could not be made.
#[derive(Debug, thiserror::Error)]
#[error("control-plane address {addr:?} is not usable: {source}")]
pub struct AddressError {
    /// The address.
    pub addr: String,
    /// Cause.
    pub source: tonic::transport::Error,
}

/// Clients of every given control-plane node, used one at a time.
pub struct ControlPlane {
    nodes: Vec<(String, CpClient)>,
    /// The node that answered last; calls start there.
    current: AtomicUsize,
}

/// Whether a failure says "this node could not serve it" (try another)
/// rather than "the request is wrong" (any node would say the same).
fn try_next(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Cancelled
    )
}

impl ControlPlane {
    /// Clients for `addrs` (host:port); nothing connects until the first call.
    pub fn new(addrs: &[String]) -> Result<ControlPlane, AddressError> {
        let nodes = addrs
            .iter()
            .map(|addr| {
                let endpoint = Endpoint::from_shared(format!("http://{addr}"))
                    .map_err(|source| AddressError {
                        addr: addr.clone(),
                        source,
                    })?
                    .connect_timeout(CONNECT_TIMEOUT)
                    .tcp_nodelay(true);
                let client = ControlPlaneClient::new(endpoint.connect_lazy())
                    .max_decoding_message_size(MAX_REPLY_BYTES)
                    .max_encoding_message_size(MAX_REPLY_BYTES);
                Ok((addr.clone(), client))
            })
            .collect::<Result<Vec<_>, AddressError>>()?;
        Ok(ControlPlane {
            nodes,
            current: AtomicUsize::new(0),
        })
    }

    /// Runs `call` against one node after another, starting with the one
    /// that answered last, until one serves it or each was tried once.
    pub async fn call<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, Status>
    where
        F: FnMut(CpClient) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let start = self.current.load(Ordering::Relaxed);
        let mut last = Status::unavailable("no control-plane address is configured");
        for step in 0..self.nodes.len() {
            let index = (start + step) % self.nodes.len();
            let (addr, client) = &self.nodes[index];
            match call(client.clone()).await {
                Ok(value) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(status) if try_next(&status) => {
                    tracing::debug!(%addr, what, %status, "control-plane node did not serve; trying the next");
                    last = status;
                }
                Err(status) => return Err(status),
            }
        }
        Err(last)
    }

    /// Registers (or re-registers) a worker node.
    pub async fn register_node(&self, node: pb::NodeInfo) -> Result<(), Status> {
        self.call("RegisterNode", |mut c| {
            let request = timed(pb::RegisterNodeRequest {
                node: Some(node.clone()),
            });
            async move { c.register_node(request).await.map(drop) }
        })
        .await
    }

    /// Reports a worker node's load.
    pub async fn heartbeat(&self, beat: pb::HeartbeatRequest) -> Result<(), Status> {
        self.call("Heartbeat", |mut c| {
            let request = timed(beat.clone());
            async move { c.heartbeat(request).await.map(drop) }
        })
        .await
    }

    /// Sets a worker node's health (draining on shutdown).
    pub async fn set_node_state(
        &self,
        node_id: &str,
        health: pb::NodeHealth,
    ) -> Result<(), Status> {
        self.call("SetNodeState", |mut c| {
            let request = timed(pb::SetNodeStateRequest {
                node_id: node_id.to_owned(),
                health: health as i32,
            });
            async move { c.set_node_state(request).await.map(drop) }
        })
        .await
    }

    /// The bundle `tenant` stored under `code_hash`.
    pub async fn get_bundle(&self, tenant: &str, code_hash: &str) -> Result<pb::Bundle, Status> {
        self.call("GetBundle", |mut c| {
            let request = timed(pb::GetBundleRequest {
                tenant: tenant.to_owned(),
                code_hash: code_hash.to_owned(),
            });
            async move {
                let reply = c.get_bundle(request).await?.into_inner();
                reply.bundle.ok_or_else(|| {
                    Status::internal("the control plane sent GetBundle without a bundle")
                })
            }
        })
        .await
    }
}

/// `message` as a request with the per-call timeout and the current trace
/// context (none outside a request: heartbeats start their own traces).
pub(crate) fn timed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    edge_telemetry::inject(request.metadata_mut());
    request
}
