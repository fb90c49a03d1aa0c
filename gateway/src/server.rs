//! Putting it together: the shared state, the node poller, the tower stack
//! on the tonic server, and a graceful stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use edge_proto::v1::gateway_server::GatewayServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::nodes::NodeView;
use crate::ratelimit::TenantLimits;
use crate::registry::WorkerCache;
use crate::service::GatewayService;
use crate::service::Shared;
use crate::stack::GateLayer;
use crate::stack::auth::AuthGate;
use crate::stack::deadline::DeadlineGate;
use crate::stack::meta::MetaGate;
use crate::stack::shed::ShedGate;
use crate::stack::tenant::TenantGate;
use crate::upstream::AddressError;
use crate::upstream::ControlPlanes;
use crate::upstream::NodeChannels;

/// How long the first node-list fetch may hold up serving.
const FIRST_REFRESH_WAIT: Duration = Duration::from_secs(2);

/// Why the gateway could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A control-plane address is unusable.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `edge.v1.Gateway` on `listener` until `shutdown` resolves, then
/// stops accepting, ends log streams, and returns when in-flight calls are done.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let cp = Arc::new(ControlPlanes::new(
        &config.control_plane,
        config.max_message_bytes,
    )?);
    let channels = Arc::new(NodeChannels::new(config.max_message_bytes));
    let nodes = Arc::new(NodeView::default());
    let auth = Arc::new(Authenticator::new(config.key_cache_ttl));
    let limits = Arc::new(TenantLimits::new(
        config.tenant_rps,
        config.tenant_burst,
        config.tenant_in_flight,
    ));
    let stop = CancellationToken::new();

    // Serve with a populated node view when the control plane is up, but
    // never wait on it for long: it may be starting too.
    let _ = tokio::time::timeout(FIRST_REFRESH_WAIT, nodes.refresh(&cp, &channels)).await;
    let poller = tokio::spawn(nodes.clone().poll(
        cp.clone(),
        channels.clone(),
        config.node_refresh,
        stop.clone(),
    ));

    let shared = Arc::new(Shared {
        workers: WorkerCache::new(config.key_cache_ttl),
        config: config.clone(),
        cp: cp.clone(),
        nodes,
        channels,
        auth: auth.clone(),
        shutdown: stop.clone(),
    });
    let service = GatewayServer::new(GatewayService::new(shared))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    // The request span first, so every layer below (and each call they make
    // upstream) runs in it, parented on the client's `traceparent`.
    let stack = tower::ServiceBuilder::new()
        .layer(edge_telemetry::TraceContextLayer)
        .layer(GateLayer::new(MetaGate::new(&config.region)))
        .layer(GateLayer::new(ShedGate::new(config.max_concurrency)))
        .layer(GateLayer::new(DeadlineGate::new(config.default_timeout)))
        .layer(GateLayer::new(AuthGate::new(auth, cp)))
        .layer(GateLayer::new(TenantGate::new(limits)));

    let stopping = stop.clone();
    let result = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .layer(stack)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            shutdown.await;
            // Log streams never end on their own; end them so draining can finish.
            stopping.cancel();
        })
        .await;
    stop.cancel();
    let _ = poller.await;
    Ok(result?)
}
