//! `ControlPlane`: the worker-node and Worker registries, placement, tenants
//! and API keys, and the billing ledger.

use edge_proto::billing::UtcDay;
use edge_proto::v1 as pb;
use edge_proto::v1::control_plane_server::ControlPlane;
use sha2::Digest;
use tonic::Request as Req;
use tonic::Response as Resp;
use tonic::Status;

use super::Api;
use super::MAX_LOADS_PER_BATCH;
use super::convert;
use super::invalid;
use super::non_empty;
use super::now_ms;
use super::unexpected;
use crate::placement;
use crate::types::Health;
use crate::types::LoadRecord;
use crate::types::Request;
use crate::types::Response;
use crate::types::validate_load;

/// Random bytes in an API key: 256 bits, beyond guessing.
const API_KEY_SECRET_BYTES: usize = 32;

/// When a key created now with `ttl_seconds` expires, Unix milliseconds
/// (0, from a TTL of 0, means never).
fn expiry(ttl_seconds: u64) -> i64 {
    if ttl_seconds == 0 {
        0
    } else {
        now_ms() + (ttl_seconds as i64).saturating_mul(1000)
    }
}

/// The sha256 of an API key, hex: what is stored instead of the key.
fn key_hash(api_key: &str) -> String {
    hex::encode(sha2::Sha256::digest(api_key.as_bytes()))
}

/// A day of an export request, named by its field when it is wrong.
fn day(field: &str, value: &str) -> Result<UtcDay, Status> {
    UtcDay::parse(value).map_err(|e| invalid(format!("{field}: {e}")))
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
        let record = convert::node_record(n, now_ms())?;
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
            .state()
            .nodes()?
            .into_iter()
            .map(|n| {
                let h = placement::effective_health(&n, now, timeout);
                convert::node_to_pb(n, h)
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
        let health = convert::health(r.health)?;
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
        let bundle = convert::bundle(b)?;
        let put = Request::PutWorker {
            tenant: r.tenant,
            worker_id: r.worker_id,
            bundle,
            now_unix_ms: now_ms(),
        };
        match self.write(put).await? {
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
        let Some(record) = self.state().worker(&r.tenant, &r.worker_id)? else {
            return Err(Status::not_found(format!(
                "tenant {:?} has no Worker {:?}; see ListWorkers",
                r.tenant, r.worker_id
            )));
        };
        let bundle = self.state().bundle(&record.code_hash)?;
        Ok(Resp::new(pb::CpGetWorkerResponse {
            code_hash: record.code_hash,
            bundle: bundle.map(convert::bundle_to_pb),
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
        let delete = Request::DeleteWorker {
            tenant: r.tenant,
            worker_id: r.worker_id,
        };
        match self.write(delete).await? {
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
        let workers = self.state().workers(&r.tenant)?;
        Ok(Resp::new(pb::CpListWorkersResponse {
            workers: workers.into_iter().map(convert::worker_summary).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(region, worker_id))]
    async fn place(
        &self,
        request: Req<pb::PlaceRequest>,
    ) -> Result<Resp<pb::PlaceResponse>, Status> {
        let r = request.into_inner();
        non_empty("worker_id", &r.worker_id)?;
        let timeout = self.node.config.node_heartbeat_timeout;
        let ranked = placement::rank(
            self.state().nodes()?,
            &r.region,
            &r.worker_id,
            now_ms(),
            timeout,
        );
        let nodes = ranked
            .into_iter()
            .map(|n| convert::node_to_pb(n, Health::Healthy))
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
        let secret: [u8; API_KEY_SECRET_BYTES] = rand::random();
        let api_key = format!("ek_{}", hex::encode(secret));
        self.write(Request::CreateApiKey {
            tenant: r.tenant,
            key_hash: key_hash(&api_key),
            expires_unix_ms: expiry(r.ttl_seconds),
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
        let Some(record) = self.state().api_key(&key_hash(&key))? else {
            return Err(Status::unauthenticated(
                "unknown API key; create one with CreateApiKey",
            ));
        };
        if record.expires_unix_ms != 0 && record.expires_unix_ms < now_ms() {
            return Err(Status::unauthenticated(
                "the API key has expired; create a new one",
            ));
        }
        let admin = self
            .state()
            .tenant(&record.tenant)?
            .is_some_and(|t| t.admin);
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
        let records: Vec<LoadRecord> = loads.into_iter().map(convert::load_record).collect();
        for record in &records {
            validate_load(record).map_err(|e| invalid(e.to_string()))?;
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
        let from = day("from_day", &r.from_day)?;
        let to = day("to_day", &r.to_day)?;
        if from > to {
            return Err(invalid(format!("from_day {from} is after to_day {to}")));
        }
        self.barrier().await?;
        let (rows, detail) = self.state().billing(&from, &to, r.detail)?;
        Ok(Resp::new(convert::billing_to_pb(rows, detail)))
    }
}
