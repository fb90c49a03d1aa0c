//! `edge.v1.WorkerNode`: Invoke, NodeStatus and StreamLogs.
//!
//! Invoke checks the request (INVALID_ARGUMENT for what no Worker could
//! run), finds the code (the request's bundle, or the bundle store by
//! hash: NOT_FOUND when the registry has none), and runs it through the
//! Worker cache. What the Worker itself does wrong — a compile error
//! included — is the outcome's error with status OK. The work runs in a
//! task of its own, so a caller that goes away never leaves the cache
//! half-updated; a drain waits for those tasks. That task runs in a
//! `sandbox.invoke` span, a child of the call's span, so a trace shows the
//! sandbox hop (the sandbox process itself exports nothing).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use edge_engine::HostFunctions;
use edge_engine::Invocation;
use edge_engine::Limits;
use edge_engine::NoHostFunctions;
use edge_engine::Outcome;
use edge_proto::v1 as pb;
use edge_proto::v1::worker_node_server::WorkerNode;
use tokio::sync::watch;
use tonic::Request;
use tonic::Response;
use tonic::Status;
use tonic::metadata::MetadataMap;
use tonic::metadata::MetadataValue;
use tracing::Instrument as _;

use crate::bundles::BundleError;
use crate::bundles::BundleStore;
use crate::bundles::StoredBundle;
use crate::cache::WorkerKey;
use crate::cache::Workers;
use crate::cache::code_hash;
use crate::convert;
use crate::gauge;
use crate::gauge::InFlight;
use crate::logs::LogHub;
use crate::logs::LogStream;

/// Response metadata: the region that served the call.
pub const REGION_HEADER: &str = "x-edge-region";
/// Response metadata: the node that served the call.
pub const NODE_HEADER: &str = "x-edge-node";
/// Request and response metadata: the request's id, echoed.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Prefix of the worker id a one-off run is billed and logged under.
pub const ONE_OFF_PREFIX: &str = "inline:";

/// Everything the service needs, shared with the node's other tasks.
pub struct NodeContext {
    /// Node id.
    pub node_id: String,
    /// Region.
    pub region: String,
    /// Loaded Workers.
    pub workers: Arc<Workers>,
    /// Stored Workers' code.
    pub bundles: Arc<BundleStore>,
    /// Console output fan-out.
    pub logs: Arc<LogHub>,
    /// Invocations in flight.
    pub in_flight: Arc<InFlight>,
    /// Set once the node drains: new invocations are refused.
    pub draining: AtomicBool,
    /// Turns true when the node stops (ends log streams).
    pub shutdown: watch::Receiver<bool>,
}

impl NodeContext {
    /// Whether the node is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The node's load right now.
    pub fn load(&self) -> gauge::NodeLoad {
        gauge::measure(self.workers.supervisor(), &self.in_flight)
    }
}

/// The gRPC service.
#[derive(Clone)]
pub struct NodeService {
    node: Arc<NodeContext>,
}

impl NodeService {
    /// The service over `node`.
    pub fn new(node: Arc<NodeContext>) -> NodeService {
        NodeService { node }
    }
}

fn invalid(message: impl Into<String>) -> Status {
    Status::invalid_argument(message)
}

fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, Status> {
    if value.is_empty() {
        return Err(invalid(format!("{field} is required")));
    }
    Ok(value)
}

/// What to run, once the request is checked.
enum Job {
    /// A stored or inline Worker, cached under its key.
    Cached {
        key: WorkerKey,
        code: Arc<StoredBundle>,
    },
    /// A one-off: a fresh isolate, billed every time.
    OneOff { key: WorkerKey, code: StoredBundle },
}

impl Job {
    fn key(&self) -> &WorkerKey {
        match self {
            Job::Cached { key, .. } | Job::OneOff { key, .. } => key,
        }
    }
}

impl NodeService {
    /// The code the request names, checked.
    async fn job(
        &self,
        worker: pb::WorkerRef,
        bundle: Option<pb::Bundle>,
        one_off: bool,
    ) -> Result<Job, Status> {
        let tenant = required("worker.tenant", &worker.tenant)?.to_owned();
        let Some(bundle) = bundle else {
            if one_off {
                return Err(invalid("a one-off run needs its bundle"));
            }
            let worker_id = required("worker.worker_id", &worker.worker_id)?.to_owned();
            required("worker.code_hash (or a bundle)", &worker.code_hash)?;
            let stored = self
                .node
                .bundles
                .get(&tenant, &worker.code_hash)
                .await
                .map_err(|e| bundle_status(&worker_id, e))?;
            let key = WorkerKey {
                tenant,
                worker_id,
                code_hash: stored.code_hash.clone(),
            };
            return Ok(Job::Cached { key, code: stored });
        };
        let bundle = convert::bundle(bundle);
        let hash = code_hash(&bundle);
        if !worker.code_hash.is_empty() && worker.code_hash != hash {
            return Err(invalid(format!(
                "the bundle hashes to {hash}, not to worker.code_hash {}",
                worker.code_hash
            )));
        }
        if one_off {
            let key = WorkerKey {
                tenant,
                worker_id: format!(
                    "{ONE_OFF_PREFIX}{}",
                    hex::encode(rand::random::<[u8; 16]>())
                ),
                code_hash: hash.clone(),
            };
            let code = StoredBundle {
                bundle,
                code_hash: hash,
            };
            return Ok(Job::OneOff { key, code });
        }
        let worker_id = required("worker.worker_id (or one_off)", &worker.worker_id)?.to_owned();
        Ok(Job::Cached {
            key: WorkerKey {
                tenant,
                worker_id,
                code_hash: hash.clone(),
            },
            code: Arc::new(StoredBundle {
                bundle,
                code_hash: hash,
            }),
        })
    }

    /// Limits from the request over the defaults, checked against the
    /// engine's ranges and the node's per-isolate maximum.
    fn limits(&self, wire: Option<&pb::Limits>) -> Result<Limits, Status> {
        let limits = convert::limits(wire, Limits::default());
        limits.validate().map_err(|e| invalid(e.message))?;
        let max = self.node.workers.supervisor().config().memory_per_isolate;
        if limits.memory_bytes > max {
            return Err(invalid(format!(
                "a memory limit of {} MiB exceeds this node's per-isolate maximum of {} MiB",
                limits.memory_bytes >> 20,
                max >> 20
            )));
        }
        Ok(limits)
    }

    async fn run(
        &self,
        request: Request<pb::NodeInvokeRequest>,
    ) -> Result<pb::InvokeOutcome, Status> {
        let remaining = edge_proto::deadline::grpc_timeout(request.metadata())
            .map_err(|e| invalid(e.to_string()))?;
        if remaining.is_some_and(|r| r.is_zero()) {
            return Err(Status::deadline_exceeded(
                "the call's deadline had passed when it arrived",
            ));
        }
        // Counted before the draining check, so a drain that starts in
        // between still waits for this call.
        let guard = self.node.in_flight.enter();
        if self.node.is_draining() {
            return Err(Status::unavailable(format!(
                "worker node {} is draining; send the call to another node",
                self.node.node_id
            )));
        }
        let r = request.into_inner();
        let worker = r.worker.ok_or_else(|| invalid("worker is required"))?;
        let invocation = convert::invocation(
            r.invocation
                .ok_or_else(|| invalid("an invocation (fetch or call) is required"))?,
        );
        if let Invocation::Fetch(http) = &invocation {
            http.validate().map_err(|e| invalid(e.message))?;
        }
        let mut limits = self.limits(r.limits.as_ref())?;
        let job = self.job(worker, r.bundle, r.one_off).await?;
        if let (Job::OneOff { .. }, Some(remaining)) = (&job, remaining) {
            // A fresh isolate takes the deadline as its wall time; a cached
            // one keeps the limits it was loaded with (so a warm Worker stays
            // warm) and has this call capped at the deadline instead.
            limits.wall_time = limits.wall_time.min(remaining).max(Limits::MIN_TIME);
        }
        let node = self.node.clone();
        let tenant = job.key().tenant.clone();
        let worker_id = job.key().worker_id.clone();
        let span = tracing::info_span!(
            "sandbox.invoke",
            tenant = %tenant,
            worker = %worker_id,
            code_hash = %job.key().code_hash,
            one_off = matches!(job, Job::OneOff { .. }),
            warm = tracing::field::Empty,
        );
        let work = tokio::spawn(
            async move {
                let _guard = guard;
                let host: Arc<dyn HostFunctions> = Arc::new(NoHostFunctions);
                let (outcome, warm): (Outcome, bool) = match &job {
                    Job::Cached { key, code } => {
                        let invoked = node
                            .workers
                            .invoke_key(key, &code.bundle, limits, &invocation, host, remaining)
                            .await;
                        (invoked.outcome, invoked.warm)
                    }
                    Job::OneOff { key, code } => (
                        node.workers
                            .invoke_one_off(key, &code.bundle, limits, &invocation, host)
                            .await,
                        false,
                    ),
                };
                tracing::Span::current().record("warm", warm);
                let outcome = convert::outcome(outcome, warm, SystemTime::now());
                node.logs.publish(&tenant, &worker_id, &outcome.logs);
                outcome
            }
            .instrument(span),
        );
        let joined = match remaining {
            Some(remaining) => tokio::time::timeout(remaining, work).await.map_err(|_| {
                Status::deadline_exceeded(format!(
                    "the deadline ({} ms) passed before the Worker finished",
                    remaining.as_millis()
                ))
            })?,
            None => work.await,
        };
        joined.map_err(|e| Status::internal(format!("the invocation task failed: {e}")))
    }

    /// Region and node on every reply; the caller's request id echoed.
    fn tag(
        &self,
        metadata: &mut MetadataMap,
        request_id: Option<&MetadataValue<tonic::metadata::Ascii>>,
    ) {
        if let Ok(region) = self.node.region.parse() {
            metadata.insert(REGION_HEADER, region);
        }
        if let Ok(node) = self.node.node_id.parse() {
            metadata.insert(NODE_HEADER, node);
        }
        if let Some(id) = request_id {
            metadata.insert(REQUEST_ID_HEADER, id.clone());
        }
    }
}

/// How a bundle-store failure looks to the caller.
fn bundle_status(worker_id: &str, error: BundleError) -> Status {
    match error {
        BundleError::BadHash(_) => invalid(error.to_string()),
        BundleError::NotFound(_) => Status::not_found(format!(
            "Worker {worker_id:?} with that code hash was not found"
        )),
        BundleError::Mismatch { .. } => Status::internal(error.to_string()),
        BundleError::ControlPlane(_) => Status::unavailable(error.to_string()),
    }
}

#[tonic::async_trait]
impl WorkerNode for NodeService {
    async fn invoke(
        &self,
        request: Request<pb::NodeInvokeRequest>,
    ) -> Result<Response<pb::InvokeOutcome>, Status> {
        let request_id = request.metadata().get(REQUEST_ID_HEADER).cloned();
        match self.run(request).await {
            Ok(outcome) => {
                let mut response = Response::new(outcome);
                self.tag(response.metadata_mut(), request_id.as_ref());
                Ok(response)
            }
            Err(mut status) => {
                self.tag(status.metadata_mut(), request_id.as_ref());
                Err(status)
            }
        }
    }

    async fn node_status(
        &self,
        _request: Request<pb::NodeStatusRequest>,
    ) -> Result<Response<pb::NodeStatusResponse>, Status> {
        let load = self.node.load();
        let mut response = Response::new(pb::NodeStatusResponse {
            node_id: self.node.node_id.clone(),
            live_isolates: load.live_isolates,
            live_sandboxes: load.live_sandboxes,
            resident_bytes: load.resident_bytes,
            cached_workers: u32::try_from(self.node.workers.len()).unwrap_or(u32::MAX),
            in_flight: load.in_flight,
            region: self.node.region.clone(),
            draining: self.node.is_draining(),
        });
        self.tag(response.metadata_mut(), None);
        Ok(response)
    }

    type StreamLogsStream = LogStream;

    async fn stream_logs(
        &self,
        request: Request<pb::NodeStreamLogsRequest>,
    ) -> Result<Response<LogStream>, Status> {
        let r = request.into_inner();
        required("tenant", &r.tenant)?;
        let stream = self
            .node
            .logs
            .subscribe(r.tenant, r.worker_id, self.node.shutdown.clone());
        let mut response = Response::new(stream);
        self.tag(response.metadata_mut(), None);
        Ok(response)
    }
}
