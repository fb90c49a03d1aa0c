//! Starting and stopping a node: open storage, start Raft, serve the gRPC
//! services on a bound listener until the shutdown future completes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use edge_proto::v1::cluster_admin_server::ClusterAdminServer;
use edge_proto::v1::control_plane_server::ControlPlaneServer;
use edge_proto::v1::raft_transport_server::RaftTransportServer;
use openraft::Raft;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

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
        .trace_fn(|req| tracing::info_span!("grpc", path = %req.uri().path()))
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
