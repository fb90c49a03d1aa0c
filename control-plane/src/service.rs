//! The public gRPC services: `ControlPlane` (registries, placement, tenants,
//! ledger) and `ClusterAdmin` (membership and status). Every handler has a
//! tracing span; every error is a status whose message says what to do.
//!
//! Reads go through a linearizable read barrier (confirmed with the leader)
//! except `Place` and `Authenticate`, which are hot paths and read the local
//! replica.

use std::sync::Arc;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use edge_proto::v1 as pb;
use edge_proto::v1::cluster_admin_server::ClusterAdmin;
use edge_proto::v1::control_plane_server::ControlPlane;
use sha2::Digest;
use tonic::Request as Req;
use tonic::Response as Resp;
use tonic::Status;

use crate::error::ApiError;
use crate::ledger;
use crate::node::Node;
use crate::placement;
use crate::store::state_machine::worker_key;
use crate::types::ApiKeyRecord;
use crate::types::BundleData;
use crate::types::Health;
use crate::types::LoadRecord;
use crate::types::MAX_BUNDLE_BYTES;
use crate::types::ModuleData;
use crate::types::Request;
use crate::types::Response;
use crate::types::WorkerNodeRecord;
use crate::types::WorkerRecord;
use crate::types::validate_day;
use crate::types::validate_load;

/// Most load events accepted in one `RecordLoads` call.
pub const MAX_LOADS_PER_BATCH: usize = 10_000;

/// Implements both public services over one [`Node`].
#[derive(Clone)]
pub struct Api {
    pub(crate) node: Arc<Node>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn invalid(message: impl Into<String>) -> Status {
    Status::invalid_argument(message.into())
}

fn non_empty(field: &str, value: &str) -> Result<(), Status> {
    if value.trim().is_empty() {
        return Err(invalid(format!("{field} is required")));
    }
    if value.contains('\u{1f}') {
        return Err(invalid(format!(
            "{field} contains a control character (U+001F)"
        )));
    }
    Ok(())
}

fn health_to_pb(h: Health) -> i32 {
    match h {
        Health::Healthy => pb::NodeHealth::Healthy as i32,
        Health::Unhealthy => pb::NodeHealth::Unhealthy as i32,
        Health::Draining => pb::NodeHealth::Draining as i32,
    }
}

fn node_to_pb(n: WorkerNodeRecord, health: Health) -> pb::NodeInfo {
    pb::NodeInfo {
        node_id: n.node_id,
        region: n.region,
        latitude: n.latitude,
        longitude: n.longitude,
        grpc_addr: n.grpc_addr,
        capacity: n.capacity,
        load: n.load,
        last_heartbeat_unix_ms: n.last_heartbeat_unix_ms,
        health: health_to_pb(health),
    }
}

fn storage(e: sled::Error) -> Status {
    ApiError::storage(e).into()
}

/// Maps a state machine rejection to a status.
fn accepted(resp: Response) -> Result<Response, Status> {
    match resp {
        Response::Rejected { code, message } => Err(ApiError::new(code.into(), message).into()),
        other => Ok(other),
    }
}

impl Api {
    async fn write(&self, req: Request) -> Result<Response, Status> {
        accepted(self.node.write(req).await?)
    }

    async fn barrier(&self) -> Result<(), Status> {
        Ok(self.node.read_barrier().await?)
    }

    fn all_nodes(&self) -> Result<Vec<WorkerNodeRecord>, Status> {
        let mut out = Vec::new();
        for item in self.node.view.nodes.iter() {
            let (_, v) = item.map_err(storage)?;
            if let Ok(n) = serde_json::from_slice(&v) {
                out.push(n);
            }
        }
        Ok(out)
    }
}

#[tonic::async_trait]
impl ControlPlane for Api {
    #[tracing::instrument(skip_all, fields(node_id))]
    async fn register_node(
        &self,
        request: Req<pb::RegisterNodeRequest>,
    ) -> Result<Resp<pb::RegisterNodeResponse>, Status> {
        let Some(n) = request.into_inner().node else {
            return Err(invalid("node is required"));
        };
        tracing::Span::current().record("node_id", n.node_id.as_str());
        non_empty("node.node_id", &n.node_id)?;
        non_empty("node.region", &n.region)?;
        non_empty("node.grpc_addr", &n.grpc_addr)?;
        if !(-90.0..=90.0).contains(&n.latitude) || !(-180.0..=180.0).contains(&n.longitude) {
            return Err(invalid(format!(
                "coordinates ({}, {}) are out of range: latitude must be in [-90, 90], longitude in [-180, 180]",
                n.latitude, n.longitude
            )));
        }
        if n.capacity == 0 {
            return Err(invalid("node.capacity must be at least 1"));
        }
        let health = match pb::NodeHealth::try_from(n.health) {
            Ok(pb::NodeHealth::Unhealthy) => Health::Unhealthy,
            Ok(pb::NodeHealth::Draining) => Health::Draining,
            _ => Health::Healthy,
        };
        let record = WorkerNodeRecord {
            node_id: n.node_id,
            region: n.region,
            latitude: n.latitude,
            longitude: n.longitude,
            grpc_addr: n.grpc_addr,
            capacity: n.capacity,
            load: n.load,
            last_heartbeat_unix_ms: now_ms(),
            health,
        };
        self.write(Request::RegisterNode(record)).await?;
        Ok(Resp::new(pb::RegisterNodeResponse {}))
    }

    #[tracing::instrument(skip_all, fields(node_id))]
    async fn heartbeat(
        &self,
        request: Req<pb::HeartbeatRequest>,
    ) -> Result<Resp<pb::HeartbeatResponse>, Status> {
        let r = request.into_inner();
        tracing::Span::current().record("node_id", r.node_id.as_str());
        non_empty("node_id", &r.node_id)?;
        self.write(Request::Heartbeat {
            node_id: r.node_id,
            load: r.load,
            now_unix_ms: now_ms(),
        })
        .await?;
        Ok(Resp::new(pb::HeartbeatResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn list_nodes(
        &self,
        _request: Req<pb::ListNodesRequest>,
    ) -> Result<Resp<pb::ListNodesResponse>, Status> {
        self.barrier().await?;
        let now = now_ms();
        let timeout = self.node.config.node_heartbeat_timeout;
        let nodes = self
            .all_nodes()?
            .into_iter()
            .map(|n| {
                let h = placement::effective_health(&n, now, timeout);
                node_to_pb(n, h)
            })
            .collect();
        Ok(Resp::new(pb::ListNodesResponse { nodes }))
    }

    #[tracing::instrument(skip_all, fields(node_id))]
    async fn set_node_state(
        &self,
        request: Req<pb::SetNodeStateRequest>,
    ) -> Result<Resp<pb::SetNodeStateResponse>, Status> {
        let r = request.into_inner();
        tracing::Span::current().record("node_id", r.node_id.as_str());
        non_empty("node_id", &r.node_id)?;
        let health = match pb::NodeHealth::try_from(r.health) {
            Ok(pb::NodeHealth::Healthy) => Health::Healthy,
            Ok(pb::NodeHealth::Unhealthy) => Health::Unhealthy,
            Ok(pb::NodeHealth::Draining) => Health::Draining,
            _ => return Err(invalid("health must be HEALTHY, UNHEALTHY or DRAINING")),
        };
        self.write(Request::SetNodeHealth {
            node_id: r.node_id,
            health,
        })
        .await?;
        Ok(Resp::new(pb::SetNodeStateResponse {}))
    }

    #[tracing::instrument(skip_all, fields(tenant, worker_id))]
    async fn put_worker(
        &self,
        request: Req<pb::CpPutWorkerRequest>,
    ) -> Result<Resp<pb::CpPutWorkerResponse>, Status> {
        let r = request.into_inner();
        let span = tracing::Span::current();
        span.record("tenant", r.tenant.as_str());
        span.record("worker_id", r.worker_id.as_str());
        non_empty("tenant", &r.tenant)?;
        non_empty("worker_id", &r.worker_id)?;
        let Some(b) = r.bundle else {
            return Err(invalid("bundle is required"));
        };
        let bundle = BundleData {
            modules: b
                .modules
                .into_iter()
                .map(|m| ModuleData {
                    name: m.name,
                    source: m.source,
                })
                .collect(),
            main_module: b.main_module,
        };
        if bundle.modules.is_empty() {
            return Err(invalid("bundle has no modules"));
        }
        if !bundle.modules.iter().any(|m| m.name == bundle.main_module) {
            return Err(invalid(format!(
                "bundle.main_module {:?} is not one of the bundle's modules",
                bundle.main_module
            )));
        }
        let size = bundle.size();
        if size > MAX_BUNDLE_BYTES {
            return Err(invalid(format!(
                "bundle is {size} bytes; the limit is {MAX_BUNDLE_BYTES} bytes (4 MiB): split out or minify code"
            )));
        }
        let resp = self
            .write(Request::PutWorker {
                tenant: r.tenant,
                worker_id: r.worker_id,
                bundle,
                now_unix_ms: now_ms(),
            })
            .await?;
        match resp {
            Response::WorkerStored { code_hash } => {
                Ok(Resp::new(pb::CpPutWorkerResponse { code_hash }))
            }
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, fields(tenant, worker_id))]
    async fn get_worker(
        &self,
        request: Req<pb::CpGetWorkerRequest>,
    ) -> Result<Resp<pb::CpGetWorkerResponse>, Status> {
        let r = request.into_inner();
        non_empty("tenant", &r.tenant)?;
        non_empty("worker_id", &r.worker_id)?;
        self.barrier().await?;
        let view = &self.node.view;
        let Some(raw) = view
            .workers
            .get(worker_key(&r.tenant, &r.worker_id))
            .map_err(storage)?
        else {
            return Err(Status::not_found(format!(
                "tenant {:?} has no Worker {:?}; see ListWorkers",
                r.tenant, r.worker_id
            )));
        };
        let record: WorkerRecord = serde_json::from_slice(&raw)
            .map_err(|e| Status::internal(format!("corrupt Worker record: {e}")))?;
        let bundle: Option<BundleData> = view
            .bundles
            .get(record.code_hash.as_bytes())
            .map_err(storage)?
            .and_then(|b| serde_json::from_slice(&b).ok());
        let bundle = bundle.map(|b| pb::Bundle {
            modules: b
                .modules
                .into_iter()
                .map(|m| pb::Module {
                    name: m.name,
                    source: m.source,
                })
                .collect(),
            main_module: b.main_module,
        });
        Ok(Resp::new(pb::CpGetWorkerResponse {
            code_hash: record.code_hash,
            bundle,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant, worker_id))]
    async fn delete_worker(
        &self,
        request: Req<pb::CpDeleteWorkerRequest>,
    ) -> Result<Resp<pb::CpDeleteWorkerResponse>, Status> {
        let r = request.into_inner();
        non_empty("tenant", &r.tenant)?;
        non_empty("worker_id", &r.worker_id)?;
        match self
            .write(Request::DeleteWorker {
                tenant: r.tenant,
                worker_id: r.worker_id,
            })
            .await?
        {
            Response::WorkerDeleted { existed } => {
                Ok(Resp::new(pb::CpDeleteWorkerResponse { existed }))
            }
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_workers(
        &self,
        request: Req<pb::CpListWorkersRequest>,
    ) -> Result<Resp<pb::CpListWorkersResponse>, Status> {
        let r = request.into_inner();
        non_empty("tenant", &r.tenant)?;
        self.barrier().await?;
        let prefix = worker_key(&r.tenant, "");
        let mut workers = Vec::new();
        for item in self.node.view.workers.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item.map_err(storage)?;
            let Ok(record) = serde_json::from_slice::<WorkerRecord>(&v) else {
                continue;
            };
            workers.push(pb::CpWorkerSummary {
                worker_id: String::from_utf8_lossy(&k[prefix.len()..]).into_owned(),
                code_hash: record.code_hash,
                bundle_bytes: record.bundle_bytes,
                updated_unix_ms: record.updated_unix_ms,
            });
        }
        Ok(Resp::new(pb::CpListWorkersResponse { workers }))
    }

    #[tracing::instrument(skip_all, fields(region, worker_id))]
    async fn place(
        &self,
        request: Req<pb::PlaceRequest>,
    ) -> Result<Resp<pb::PlaceResponse>, Status> {
        let r = request.into_inner();
        non_empty("worker_id", &r.worker_id)?;
        let timeout = self.node.config.node_heartbeat_timeout;
        let nodes = placement::rank(
            self.all_nodes()?,
            &r.region,
            &r.worker_id,
            now_ms(),
            timeout,
        )
        .into_iter()
        .map(|n| node_to_pb(n, Health::Healthy))
        .collect();
        Ok(Resp::new(pb::PlaceResponse { nodes }))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_tenant(
        &self,
        request: Req<pb::CreateTenantRequest>,
    ) -> Result<Resp<pb::CreateTenantResponse>, Status> {
        let r = request.into_inner();
        non_empty("tenant", &r.tenant)?;
        self.write(Request::CreateTenant {
            tenant: r.tenant,
            admin: r.admin,
        })
        .await?;
        Ok(Resp::new(pb::CreateTenantResponse {}))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_api_key(
        &self,
        request: Req<pb::CreateApiKeyRequest>,
    ) -> Result<Resp<pb::CreateApiKeyResponse>, Status> {
        let r = request.into_inner();
        non_empty("tenant", &r.tenant)?;
        let secret: [u8; 32] = rand::random();
        let api_key = format!("ek_{}", hex::encode(secret));
        let key_hash = hex::encode(sha2::Sha256::digest(api_key.as_bytes()));
        let expires_unix_ms = if r.ttl_seconds == 0 {
            0
        } else {
            now_ms() + (r.ttl_seconds as i64).saturating_mul(1000)
        };
        self.write(Request::CreateApiKey {
            tenant: r.tenant,
            key_hash,
            expires_unix_ms,
        })
        .await?;
        Ok(Resp::new(pb::CreateApiKeyResponse { api_key }))
    }

    #[tracing::instrument(skip_all)]
    async fn authenticate(
        &self,
        request: Req<pb::AuthenticateRequest>,
    ) -> Result<Resp<pb::AuthenticateResponse>, Status> {
        let key = request.into_inner().api_key;
        let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
        let view = &self.node.view;
        let record: Option<ApiKeyRecord> = view
            .api_keys
            .get(hash.as_bytes())
            .map_err(storage)?
            .and_then(|v| serde_json::from_slice(&v).ok());
        let Some(record) = record else {
            return Err(Status::unauthenticated(
                "unknown API key; create one with CreateApiKey",
            ));
        };
        if record.expires_unix_ms != 0 && record.expires_unix_ms < now_ms() {
            return Err(Status::unauthenticated(
                "the API key has expired; create a new one",
            ));
        }
        let admin = view
            .tenant(&record.tenant)
            .map_err(storage)?
            .map(|t| t.admin)
            .unwrap_or(false);
        Ok(Resp::new(pb::AuthenticateResponse {
            tenant: record.tenant,
            admin,
        }))
    }

    #[tracing::instrument(skip_all, fields(count))]
    async fn record_loads(
        &self,
        request: Req<pb::RecordLoadsRequest>,
    ) -> Result<Resp<pb::RecordLoadsResponse>, Status> {
        let loads = request.into_inner().loads;
        tracing::Span::current().record("count", loads.len());
        if loads.len() > MAX_LOADS_PER_BATCH {
            return Err(invalid(format!(
                "{} loads in one call; send at most {MAX_LOADS_PER_BATCH} per call",
                loads.len()
            )));
        }
        if loads.is_empty() {
            return Ok(Resp::new(pb::RecordLoadsResponse {
                applied: 0,
                duplicates: 0,
            }));
        }
        let records: Vec<LoadRecord> = loads
            .into_iter()
            .map(|l| LoadRecord {
                load_id: l.load_id,
                tenant: l.tenant,
                worker_id: l.worker_id,
                code_hash: l.code_hash,
                day: l.day,
                node_id: l.node_id,
            })
            .collect();
        for record in &records {
            validate_load(record).map_err(invalid)?;
        }
        match self.write(Request::RecordLoads(records)).await? {
            Response::Loads {
                applied,
                duplicates,
            } => Ok(Resp::new(pb::RecordLoadsResponse {
                applied,
                duplicates,
            })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, fields(from, to))]
    async fn export_billing(
        &self,
        request: Req<pb::ExportBillingRequest>,
    ) -> Result<Resp<pb::ExportBillingResponse>, Status> {
        let r = request.into_inner();
        validate_day(&r.from_day).map_err(|e| invalid(format!("from_day: {e}")))?;
        validate_day(&r.to_day).map_err(|e| invalid(format!("to_day: {e}")))?;
        if r.from_day > r.to_day {
            return Err(invalid(format!(
                "from_day {} is after to_day {}",
                r.from_day, r.to_day
            )));
        }
        self.barrier().await?;
        let (rows, detail) =
            ledger::export(&self.node.view.ledger, &r.from_day, &r.to_day, r.detail)
                .map_err(storage)?;
        Ok(Resp::new(pb::ExportBillingResponse {
            rows: rows
                .into_iter()
                .map(|x| pb::BillingRow {
                    day: x.day,
                    tenant: x.tenant,
                    unique_workers: x.unique_workers,
                    amount_micro_usd: x.amount_micro_usd,
                })
                .collect(),
            detail: detail
                .into_iter()
                .map(|x| pb::BillingDetailRow {
                    day: x.day,
                    tenant: x.tenant,
                    worker_id: x.worker_id,
                    code_hash: x.code_hash,
                })
                .collect(),
        }))
    }
}

#[tonic::async_trait]
impl ClusterAdmin for Api {
    #[tracing::instrument(skip_all)]
    async fn init(&self, _request: Req<pb::InitRequest>) -> Result<Resp<pb::InitResponse>, Status> {
        self.node.init().await?;
        Ok(Resp::new(pb::InitResponse {}))
    }

    #[tracing::instrument(skip_all, fields(id, addr))]
    async fn join(&self, request: Req<pb::JoinRequest>) -> Result<Resp<pb::JoinResponse>, Status> {
        let r = request.into_inner();
        non_empty("addr", &r.addr)?;
        self.node.join(r.id, r.addr).await?;
        Ok(Resp::new(pb::JoinResponse {}))
    }

    #[tracing::instrument(skip_all, fields(id))]
    async fn remove(
        &self,
        request: Req<pb::RemoveRequest>,
    ) -> Result<Resp<pb::RemoveResponse>, Status> {
        self.node.remove(request.into_inner().id).await?;
        Ok(Resp::new(pb::RemoveResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn status(
        &self,
        request: Req<pb::StatusRequest>,
    ) -> Result<Resp<pb::StatusResponse>, Status> {
        let s = if request.into_inner().local {
            self.node.local_status()
        } else {
            self.node.status().await
        };
        Ok(Resp::new(pb::StatusResponse {
            leader: s.leader.unwrap_or(0),
            has_leader: s.leader.is_some(),
            term: s.term,
            members: s
                .members
                .into_iter()
                .map(|m| pb::Member {
                    id: m.id,
                    addr: m.addr,
                    voter: m.voter,
                    last_log_index: m.last_log_index.unwrap_or(0),
                })
                .collect(),
            commit_index: s.commit_index,
            applied_index: s.applied_index,
            snapshot_age_ms: s.snapshot_age_ms.map(|x| x as i64).unwrap_or(-1),
            ledger_size: s.ledger_size,
        }))
    }
}

/// The state machine answered a request with the wrong kind of response: a
/// bug, reported as such rather than hidden.
fn unexpected(answer: Response) -> Status {
    Status::internal(format!("unexpected state machine answer {answer:?}"))
}
