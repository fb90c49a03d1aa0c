//! Connections to what sits behind the gateway: the control-plane nodes
//! (any of them serves every call; move on to the next when one cannot be
//! reached) and one lazily connected, reused channel per worker-node
//! address. Also how to tell "the call certainly did not run" from a
//! failure that may have happened after the work started.
//!
//! Every client here writes the current span's W3C trace context
//! (`traceparent`) into its calls, so a call made while serving a request
//! continues that request's trace; background calls (the node-list poll)
//! carry none and start their own.

use std::collections::HashMap;
use std::error::Error as _;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;

use edge_proto::v1::cluster_admin_client::ClusterAdminClient;
use edge_proto::v1::control_plane_client::ControlPlaneClient;
use edge_proto::v1::worker_node_client::WorkerNodeClient;
use edge_telemetry::TraceContextInterceptor;
use parking_lot::Mutex;
use tonic::Code;
use tonic::Status;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::transport::Endpoint;

/// How long a TCP connect to a node or control plane may take (loopback
/// and one data centre; a dead host should fail fast and be skipped).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Tries of a control-plane read that keeps answering UNAVAILABLE; with
/// the pauses doubling from [`READ_RETRY_FIRST_PAUSE`] they span about
/// 0.4 s, an election's length.
const READ_ATTEMPTS: u32 = 5;
/// The first pause between those tries.
const READ_RETRY_FIRST_PAUSE: Duration = Duration::from_millis(25);
/// HTTP/2 keep-alive ping interval on idle upstream connections.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// A channel whose calls carry the current trace context.
pub type Traced = InterceptedService<Channel, TraceContextInterceptor>;

/// Why an upstream could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("upstream address {addr:?} is not host:port: {reason}")]
pub struct AddressError {
    addr: String,
    reason: String,
}

fn endpoint(addr: &str) -> Result<Endpoint, AddressError> {
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    Endpoint::from_shared(uri)
        .map(|e| {
            e.connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
                .keep_alive_while_idle(true)
        })
        .map_err(|e| AddressError {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

/// The control-plane nodes. Calls go to the last node that answered; on a
/// connect failure the next address is tried, each at most once.
#[derive(Debug)]
pub struct ControlPlanes {
    channels: Vec<(String, Channel)>,
    preferred: AtomicUsize,
    max_message_bytes: usize,
}

impl ControlPlanes {
    /// Lazily connected channels to every address.
    pub fn new(addrs: &[String], max_message_bytes: usize) -> Result<Self, AddressError> {
        let channels = addrs
            .iter()
            .map(|a| Ok((a.clone(), endpoint(a)?.connect_lazy())))
            .collect::<Result<Vec<_>, AddressError>>()?;
        Ok(Self {
            channels,
            preferred: AtomicUsize::new(0),
            max_message_bytes,
        })
    }

    /// Runs `call` against a ControlPlane client, moving to the next node
    /// while nodes cannot be reached.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut(ControlPlaneClient<Traced>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.each(|channel| {
            let client = ControlPlaneClient::with_interceptor(channel, TraceContextInterceptor)
                .max_decoding_message_size(self.max_message_bytes)
                .max_encoding_message_size(self.max_message_bytes);
            call(client)
        })
        .await
    }

    /// [`ControlPlanes::call`] for a read, which is safe to repeat: an
    /// UNAVAILABLE answer (the cluster is electing a leader, or its leader
    /// cannot confirm leadership yet) is retried a few times with backoff,
    /// within the request's own deadline, instead of reaching the client.
    pub async fn read<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut(ControlPlaneClient<Traced>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut pause = READ_RETRY_FIRST_PAUSE;
        for _ in 1..READ_ATTEMPTS {
            match self.call(&mut call).await {
                Err(status) if status.code() == Code::Unavailable => {
                    tracing::debug!(%status, "control-plane read unavailable; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                answer => return answer,
            }
        }
        self.call(&mut call).await
    }

    /// Like [`ControlPlanes::call`], for the ClusterAdmin service.
    pub async fn admin<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut(ClusterAdminClient<Traced>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.each(|channel| {
            call(ClusterAdminClient::with_interceptor(
                channel,
                TraceContextInterceptor,
            ))
        })
        .await
    }

    async fn each<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let n = self.channels.len();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut last = None;
        for i in 0..n {
            let idx = (start + i) % n;
            match call(self.channels[idx].1.clone()).await {
                Ok(resp) => {
                    self.preferred.store(idx, Ordering::Relaxed);
                    return Ok(resp.into_inner());
                }
                Err(status) if not_reached(&status) => {
                    tracing::debug!(addr = %self.channels[idx].0, %status, "control plane unreachable");
                    last = Some(status);
                }
                Err(status) => return Err(status),
            }
        }
        let detail = last.map(|s| s.message().to_string()).unwrap_or_default();
        Err(Status::unavailable(format!(
            "no control-plane node could be reached ({detail}); retry later"
        )))
    }
}

/// One channel per worker-node address, created on first use and reused.
#[derive(Debug)]
pub struct NodeChannels {
    channels: Mutex<HashMap<String, Channel>>,
    max_message_bytes: usize,
}

impl NodeChannels {
    /// An empty pool.
    pub fn new(max_message_bytes: usize) -> Self {
        Self {
            channels: Mutex::new(HashMap::new()),
            max_message_bytes,
        }
    }

    /// A WorkerNode client for `addr` on the shared channel.
    pub fn client(&self, addr: &str) -> Result<WorkerNodeClient<Traced>, Status> {
        let channel = {
            let mut map = self.channels.lock();
            match map.get(addr) {
                Some(c) => c.clone(),
                None => {
                    let c = endpoint(addr)
                        .map_err(|e| Status::unavailable(e.to_string()))?
                        .connect_lazy();
                    map.insert(addr.to_string(), c.clone());
                    c
                }
            }
        };
        Ok(
            WorkerNodeClient::with_interceptor(channel, TraceContextInterceptor)
                .max_decoding_message_size(self.max_message_bytes)
                .max_encoding_message_size(self.max_message_bytes),
        )
    }

    /// Drops channels to addresses no longer in the node list.
    pub fn retain(&self, live: impl Fn(&str) -> bool) {
        self.channels.lock().retain(|addr, _| live(addr));
    }
}

/// Whether `status` says the call never reached a server (connect refused,
/// connect timed out, bad address): then it certainly did not run.
pub fn not_reached(status: &Status) -> bool {
    if status.code() != Code::Unavailable {
        return false;
    }
    let mut source = status.source();
    // A handful of wrappers at most: transport error, connect error, io error.
    for _ in 0..16 {
        let Some(err) = source else { break };
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused
                    | AddrNotAvailable
                    | HostUnreachable
                    | NetworkUnreachable
                    | TimedOut
            ) {
                return true;
            }
        }
        let text = err.to_string();
        if text.contains("tcp connect error") || text.contains("connect timed out") {
            return true;
        }
        source = err.source();
    }
    false
}

/// Whether `status` was sent by the server itself (a deliberate answer)
/// rather than made by the client from a broken connection.
pub fn answered_by_server(status: &Status) -> bool {
    status.source().is_none()
}
