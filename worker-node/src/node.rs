//! One worker node put together: sandboxes, the Worker cache billing into
//! the durable outbox, the bundle store, the gRPC service on a bound
//! listener, registration, heartbeats and the outbox shipper — and the
//! drain that stops them in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;

use edge_proto::v1 as pb;
use edge_proto::v1::worker_node_server::WorkerNodeServer;
use edge_sandbox::SandboxConfig;
use edge_sandbox::Supervisor;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

use crate::billing::Outbox;
use crate::billing::OutboxError;
use crate::bundles::BundleStore;
use crate::cache::CacheConfig;
use crate::cache::Workers;
use crate::config::NodeConfig;
use crate::cp_client::AddressError;
use crate::cp_client::ControlPlane;
use crate::gauge::InFlight;
use crate::logs::LogHub;
use crate::registration::NodeIdentity;
use crate::registration::Registration;
use crate::service::NodeContext;
use crate::service::NodeService;
use crate::shipper;

/// How long the node keeps trying to register before it gives up.
pub const REGISTER_LIMIT: Duration = Duration::from_secs(60);
/// How long a drain may spend shipping the outbox.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);
/// How long a drain waits for the gRPC server to close its connections.
const SERVER_STOP_LIMIT: Duration = Duration::from_secs(5);
/// How long a drain waits for the node's background tasks to end.
const TASK_STOP_LIMIT: Duration = Duration::from_secs(5);
/// Source bytes of stored Workers' bundles kept in memory.
const BUNDLE_MEMORY_BYTES: usize = 256 << 20;
/// Log lines kept for slow `StreamLogs` subscribers before they lose some.
const LOG_BACKLOG: usize = 4096;
/// Largest request or reply (bundles and bodies at their limits, with room).
const MAX_MESSAGE_BYTES: usize = 80 << 20;
/// Warm sandboxes the node keeps for new tenants.
const WARM_SANDBOXES: usize = 2;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or a file in it could not be made.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The billing outbox could not be opened.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// A control-plane address is malformed.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// The sandbox supervisor could not start.
    #[error("starting the sandbox supervisor: {0}")]
    Sandboxes(#[from] edge_sandbox::StartError),
    /// The listener has no address.
    #[error("the listener's address: {0}")]
    Listener(std::io::Error),
    /// No control plane accepted the registration.
    #[error("registering with the control plane: {0}")]
    Register(tonic::Status),
}

/// What a drain achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Whether the control plane took the node's DRAINING state.
    pub marked_draining: bool,
    /// Invocations still running when the drain timeout passed.
    pub abandoned_calls: u32,
    /// Load events still in the outbox (they ship on the next start).
    pub unshipped_loads: usize,
}

/// A running worker node.
pub struct Node {
    context: Arc<NodeContext>,
    supervisor: Arc<Supervisor>,
    registration: Arc<Registration>,
    cp: Arc<ControlPlane>,
    outbox: Arc<Outbox>,
    local_addr: SocketAddr,
    drain_timeout: Duration,
    stop: watch::Sender<bool>,
    stop_server: oneshot::Sender<()>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Starts the node on `listener`: sandboxes, storage, the gRPC
    /// service, then registration (retried up to [`REGISTER_LIMIT`]),
    /// heartbeats and billing shipping. When this returns the node is
    /// serving and registered.
    pub async fn start(config: NodeConfig, listener: TcpListener) -> Result<Node, StartError> {
        let local_addr = listener.local_addr().map_err(StartError::Listener)?;
        let data_dir = |sub: &str| config.data_dir.join(sub);
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let outbox = Arc::new(Outbox::open(&data_dir("outbox"), &config.node_id)?);
        let cp = Arc::new(ControlPlane::new(&config.control_plane)?);
        let bundles = BundleStore::open(&data_dir("bundles"), cp.clone(), BUNDLE_MEMORY_BYTES)
            .map_err(|source| StartError::DataDir {
                path: data_dir("bundles").display().to_string(),
                source,
            })?;
        let supervisor = Arc::new(
            Supervisor::start(SandboxConfig {
                max_sandboxes: config.max_sandboxes,
                warm_sandboxes: WARM_SANDBOXES.min(config.max_sandboxes),
                ..SandboxConfig::default()
            })
            .await?,
        );
        let cache = CacheConfig {
            memory_budget: config.memory_budget_bytes,
            ..CacheConfig::default()
        };
        let workers = Workers::new(supervisor.clone(), cache, outbox.clone())
            .with_max_isolates(config.max_isolates as usize);
        let (stop, stopped) = watch::channel(false);
        let context = Arc::new(NodeContext {
            node_id: config.node_id.clone(),
            region: config.region.clone(),
            workers: Arc::new(workers),
            bundles: Arc::new(bundles),
            logs: Arc::new(LogHub::new(
                LOG_BACKLOG,
                config.node_id.clone(),
                config.region.clone(),
            )),
            in_flight: Arc::new(InFlight::default()),
            draining: AtomicBool::new(false),
            shutdown: stopped.clone(),
        });
        let (stop_server, server_stopped) = oneshot::channel::<()>();
        let service = WorkerNodeServer::new(NodeService::new(context.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                // A span per call, parented on the gateway's `traceparent`.
                .layer(edge_telemetry::TraceContextLayer)
                .add_service(service)
                // Accepted sockets get TCP_NODELAY only if asked: replies
                // would otherwise wait for delayed ACKs.
                .serve_with_incoming_shutdown(
                    TcpIncoming::from(listener).with_nodelay(Some(true)),
                    async {
                        let _ = server_stopped.await;
                    },
                ),
        );
        let identity = NodeIdentity {
            node_id: config.node_id.clone(),
            region: config.region.clone(),
            latitude: config.latitude,
            longitude: config.longitude,
            grpc_addr: advertised(&config, local_addr),
            capacity: config.max_isolates,
            max_sandboxes: u32::try_from(config.max_sandboxes).unwrap_or(u32::MAX),
            memory_budget_bytes: config.memory_budget_bytes,
        };
        let registration = Arc::new(Registration::new(cp.clone(), identity));
        if let Err(status) = registration
            .register_within(context.load(), REGISTER_LIMIT)
            .await
        {
            let _ = stop_server.send(());
            let _ = server.await;
            drop(context);
            if let Ok(supervisor) = Arc::try_unwrap(supervisor) {
                supervisor.shutdown().await;
            }
            return Err(StartError::Register(status));
        }
        tracing::info!(node_id = %config.node_id, region = %config.region, addr = %local_addr, "worker node registered and serving");
        let tasks = vec![
            tokio::spawn(heartbeats(
                registration.clone(),
                context.clone(),
                config.heartbeat,
                stopped.clone(),
            )),
            tokio::spawn({
                let outbox = outbox.clone();
                let cp = cp.clone();
                async move { shipper::run(&outbox, &cp, stopped).await }
            }),
        ];
        Ok(Node {
            context,
            supervisor,
            registration,
            cp,
            outbox,
            local_addr,
            drain_timeout: config.drain_timeout,
            stop,
            stop_server,
            server,
            tasks,
        })
    }

    /// The address the service is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state the service runs on (for status and tests).
    pub fn context(&self) -> &Arc<NodeContext> {
        &self.context
    }

    /// The one JSON line the binary prints once the node is ready.
    pub fn ready_line(&self) -> String {
        serde_json::json!({
            "node_id": self.context.node_id,
            "listen": self.local_addr.to_string(),
            "region": self.context.region,
        })
        .to_string()
    }

    /// Drains and stops the node: marks it DRAINING (here and in the
    /// control plane), refuses new invocations with UNAVAILABLE, waits up
    /// to the drain timeout for those in flight, ships the outbox, then
    /// stops serving and stops the sandboxes.
    pub async fn drain(self) -> DrainReport {
        let node_id = self.registration.identity().node_id.clone();
        self.context.draining.store(true, Ordering::SeqCst);
        let marked_draining = match self
            .cp
            .set_node_state(&node_id, pb::NodeHealth::Draining)
            .await
        {
            Ok(()) => true,
            Err(status) => {
                tracing::warn!(%status, "could not mark the node DRAINING in the control plane");
                false
            }
        };
        tracing::info!(in_flight = self.context.in_flight.get(), "draining");
        let abandoned_calls = if self.context.in_flight.wait_idle(self.drain_timeout).await {
            0
        } else {
            let left = self.context.in_flight.get();
            tracing::warn!(left, "drain timeout passed with invocations still running");
            left
        };
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(TASK_STOP_LIMIT, task).await;
        }
        if !shipper::flush(&self.outbox, &self.cp, FLUSH_LIMIT).await {
            tracing::warn!(
                pending = self.outbox.pending_len(),
                "billing outbox not empty at exit; it ships on the next start"
            );
        }
        let unshipped_loads = self.outbox.pending_len();
        let _ = self.stop_server.send(());
        match tokio::time::timeout(SERVER_STOP_LIMIT, self.server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the gRPC server stopped with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the gRPC server task failed"),
            Err(_) => tracing::warn!("the gRPC server did not stop in time"),
        }
        drop(self.context);
        drop(self.registration);
        match Arc::try_unwrap(self.supervisor) {
            Ok(supervisor) => supervisor.shutdown().await,
            // An abandoned invocation still holds it; its sandboxes go
            // with the process (the janitor removes their cgroups).
            Err(_) => tracing::warn!("sandboxes still in use; leaving them to the janitor"),
        }
        DrainReport {
            marked_draining,
            abandoned_calls,
            unshipped_loads,
        }
    }
}

/// What to register as the node's address: the configured one, else the
/// bound one (loopback in place of an unspecified IP).
fn advertised(config: &NodeConfig, local: SocketAddr) -> String {
    if let Some(addr) = &config.advertise {
        return addr.clone();
    }
    let mut addr = local;
    if addr.ip().is_unspecified() {
        tracing::warn!(
            "listening on {local} without --advertise: registering loopback, which only this machine can reach"
        );
        addr.set_ip(if local.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr.to_string()
}

async fn heartbeats(
    registration: Arc<Registration>,
    context: Arc<NodeContext>,
    interval: Duration,
    stopped: watch::Receiver<bool>,
) {
    let health = || {
        if context.is_draining() {
            pb::NodeHealth::Draining
        } else {
            pb::NodeHealth::Healthy
        }
    };
    registration
        .heartbeat(interval, || context.load(), health, stopped)
        .await;
}
