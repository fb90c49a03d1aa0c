//! Starting and stopping a node: open storage, start Raft, serve the gRPC
//! services on a bound listener until the shutdown future completes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Context;
use std::task::Poll;

use edge_proto::v1::cluster_admin_server::ClusterAdminServer;
use edge_proto::v1::control_plane_server::ControlPlaneServer;
use edge_proto::v1::raft_transport_server::RaftTransportServer;
use edge_telemetry::TraceContextLayer;
use edge_telemetry::TraceContextService;
use openraft::Raft;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tower::Layer;
use tower::Service;
use tower::util::Either;
use tower::util::future::EitherResponseFuture;

use crate::config::Config;
use crate::error::StartError;
use crate::network::MAX_MESSAGE_BYTES;
use crate::network::Network;
use crate::network::Peers;
use crate::network::RaftService;
use crate::node::Node;
use crate::service::Api;
use crate::store;

/// Largest request a client may send (a bundle at the limit plus framing;
/// larger bundles get a clear INVALID_ARGUMENT, not a transport error).
const MAX_CLIENT_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Runs one control-plane node on `listener` until `shutdown` completes,
/// then stops Raft and flushes storage.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let local = listener.local_addr()?;
    let node = start(&config, local).await?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ControlPlaneServer<Api>>().await;
    health.set_serving::<ClusterAdminServer<Api>>().await;
    let api = Api { node: node.clone() };
    tracing::info!(id = config.id, addr = %local, data_dir = %config.data_dir.display(), "control-plane node serving");
    let served = tonic::transport::Server::builder()
        .layer(RequestSpans)
        .add_service(health_service)
        .add_service(
            ControlPlaneServer::new(api.clone())
                .max_decoding_message_size(MAX_CLIENT_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(ClusterAdminServer::new(api))
        .add_service(
            RaftTransportServer::new(RaftService { node: node.clone() })
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        // TCP_NODELAY on every accepted connection: tonic applies its own
        // (default on) only to listeners it binds itself. Without it a reply
        // written in two segments waits for the peer's delayed ACK (~40 ms on
        // Linux), which slowed Raft vote and append replies and client calls.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await;
    tracing::info!(id = config.id, "shutting down");
    health.set_not_serving::<ControlPlaneServer<Api>>().await;
    if let Err(e) = node.raft.shutdown().await {
        tracing::warn!(error = %e, "Raft did not shut down cleanly");
    }
    served?;
    Ok(())
}

/// Opens storage and starts Raft; the node is ready to serve.
async fn start(config: &Config, local: SocketAddr) -> Result<Arc<Node>, StartError> {
    let advertise_addr = config
        .advertise_addr
        .clone()
        .unwrap_or_else(|| local.to_string());
    let (log_store, state_machine) =
        store::open(&config.data_dir).map_err(|source| StartError::Storage {
            dir: config.data_dir.display().to_string(),
            source,
        })?;
    let committed = log_store.committed_index();
    let state = state_machine.reader();
    let peers = Peers::default();
    let network = Network {
        peers: peers.clone(),
        retry: config.peer_retry(),
    };
    let raft_config = Arc::new(config.raft_config()?);
    let raft = Raft::new(config.id, raft_config, network, log_store, state_machine).await?;
    Ok(Arc::new(Node {
        id: config.id,
        raft,
        state,
        committed,
        peers,
        config: config.clone(),
        advertise_addr,
    }))
}

/// Gives each client call (ControlPlane, ClusterAdmin, health, and requests
/// forwarded to the leader) a span parented on the caller's `traceparent`.
/// Raft's own messages (append, vote, snapshot) get none: they flow many
/// times a second, belong to no request, and would drown the traces.
#[derive(Debug, Clone, Copy, Default)]
struct RequestSpans;

impl<S> Layer<S> for RequestSpans {
    type Service = RequestSpansService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestSpansService { inner }
    }
}

/// The service [`RequestSpans`] wraps around the server's routes.
#[derive(Debug, Clone)]
struct RequestSpansService<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for RequestSpansService<S>
where
    S: Service<http::Request<B>> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = EitherResponseFuture<
        <TraceContextService<S> as Service<http::Request<B>>>::Future,
        S::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Call the instance that was polled ready; keep a clone for the next call.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let mut service = if raft_message(request.uri().path()) {
            Either::Right(ready)
        } else {
            Either::Left(TraceContextLayer.layer(ready))
        };
        service.call(request)
    }
}

/// Whether `path` is a Raft message between nodes (not a forwarded request).
fn raft_message(path: &str) -> bool {
    let raft = <RaftTransportServer<RaftService> as NamedService>::NAME;
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(raft))
        .and_then(|p| p.strip_prefix('/'))
        .is_some_and(|method| method != "Forward")
}

#[cfg(test)]
mod tests {
    use super::raft_message;

    #[test]
    fn raft_messages_but_not_forwarded_requests_go_without_a_span() {
        assert!(raft_message("/edge.v1.RaftTransport/AppendEntries"));
        assert!(raft_message("/edge.v1.RaftTransport/Vote"));
        assert!(raft_message("/edge.v1.RaftTransport/InstallSnapshot"));
        assert!(!raft_message("/edge.v1.RaftTransport/Forward"));
        assert!(!raft_message("/edge.v1.ControlPlane/GetBundle"));
        assert!(!raft_message("/edge.v1.RaftTransportX/Vote"));
        assert!(!raft_message("/grpc.health.v1.Health/Check"));
    }
}
