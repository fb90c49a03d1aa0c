//! `ControlPlane`: the worker-node and Worker registries, placement, tenants
//! and API keys, and the billing ledger.

use edge_proto::billing::UtcDay;
use edge_proto::v1 as pb;
use edge_proto::v1::control_plane_server::ControlPlane;
use tonic::Request as Req;
use tonic::Response as Resp;
use tonic::Status;

use super::Api;
use super::MAX_LOADS_PER_BATCH;
use super::convert;
use super::deadline;
use super::invalid;
use super::key_hash;
use super::new_api_key;
use super::non_empty;
use super::now_ms;
use super::unexpected;
use crate::placement;
use crate::types::Health;
use crate::types::LoadRecord;
use crate::types::Request;
use crate::types::Response;
use crate::types::validate_load;

/// When a key created now with `ttl_seconds` expires, Unix milliseconds
/// (0, from a TTL of 0, means never).
fn expiry(ttl_seconds: u64) -> i64 {
    if ttl_seconds == 0 {
        0
    } else {
        now_ms() + (ttl_seconds as i64).saturating_mul(1000)
    }
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
        let deadline = deadline(&request);
        let Some(n) = request.into_inner().node else {
            return Err(invalid("node is required"));
        };
        tracing::Span::current().record("node_id", n.node_id.as_str());
        let record = convert::node_record(n, now_ms())?;
        self.write(Request::RegisterNode(record), deadline).await?;
        Ok(Resp::new(pb::RegisterNodeResponse {}))
    }

    #[tracing::instrument(skip_all, fields(node_id))]
    async fn heartbeat(
        &self,
        request: Req<pb::HeartbeatRequest>,
    ) -> Result<Resp<pb::HeartbeatResponse>, Status> {
        let deadline = deadline(&request);
        let r = request.into_inner();
        tracing::Span::current().record("node_id", r.node_id.as_str());
        non_empty("node_id", &r.node_id)?;
        let beat = Request::Heartbeat {
            node_id: r.node_id,
            load: r.load,
            live_sandboxes: r.live_sandboxes,
            resident_bytes: r.resident_bytes,
            in_flight: r.in_flight,
            now_unix_ms: now_ms(),
        };
        self.write(beat, deadline).await?;
        Ok(Resp::new(pb::HeartbeatResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn list_nodes(
        &self,
        request: Req<pb::ListNodesRequest>,
    ) -> Result<Resp<pb::ListNodesResponse>, Status> {
        self.barrier(deadline(&request)).await?;
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
        let deadline = deadline(&request);
        let r = request.into_inner();
        tracing::Span::current().record("node_id", r.node_id.as_str());
        non_empty("node_id", &r.node_id)?;
        let health = convert::health(r.health)?;
        let set = Request::SetNodeHealth {
            node_id: r.node_id,
            health,
        };
        self.write(set, deadline).await?;
        Ok(Resp::new(pb::SetNodeStateResponse {}))
    }

    #[tracing::instrument(skip_all, fields(tenant, worker_id))]
    async fn put_worker(
        &self,
        request: Req<pb::CpPutWorkerRequest>,
    ) -> Result<Resp<pb::CpPutWorkerResponse>, Status> {
        let deadline = deadline(&request);
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
        let limits = convert::limits(r.limits)?;
        let grants = convert::grants(r.grants)?;
        let put = Request::PutWorker {
            tenant: r.tenant,
            worker_id: r.worker_id,
            bundle,
            limits,
            grants,
            now_unix_ms: now_ms(),
        };
        match self.write(put, deadline).await? {
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
        let deadline = deadline(&request);
        let r = request.into_inner();
        non_empty("tenant", &r.tenant)?;
        non_empty("worker_id", &r.worker_id)?;
        self.barrier(deadline).await?;
        let Some(record) = self.state().worker(&r.tenant, &r.worker_id)? else {
            return Err(Status::not_found(format!(
                "tenant {:?} has no Worker {:?}; see ListWorkers",
                r.tenant, r.worker_id
            )));
        };
        let bundle = if r.without_bundle {
            None
        } else {
            self.state().bundle(&record.code_hash)?
        };
        Ok(Resp::new(pb::CpGetWorkerResponse {
            code_hash: record.code_hash,
            bundle: bundle.map(convert::bundle_to_pb),
            limits: Some(convert::limits_to_pb(record.limits)),
            grants: Some(convert::grants_to_pb(record.grants)),
        }))
    }

    /// Reads the local replica first: a node asks for a bundle the gateway
    /// just saw committed, so a miss is confirmed with the leader (a read
    /// barrier) before it becomes NOT_FOUND.
    #[tracing::instrument(skip_all, fields(tenant, code_hash))]
    async fn get_bundle(
        &self,
        request: Req<pb::GetBundleRequest>,
    ) -> Result<Resp<pb::GetBundleResponse>, Status> {
        let deadline = deadline(&request);
        let r = request.into_inner();
        let span = tracing::Span::current();
        span.record("tenant", r.tenant.as_str());
        span.record("code_hash", r.code_hash.as_str());
        non_empty("tenant", &r.tenant)?;
        non_empty("code_hash", &r.code_hash)?;
        let mut found = self.owned_bundle(&r.tenant, &r.code_hash)?;
        if found.is_none() {
            self.barrier(deadline).await?;
            found = self.owned_bundle(&r.tenant, &r.code_hash)?;
        }
        let Some(bundle) = found else {
            return Err(Status::not_found(format!(
                "tenant {:?} has no Worker with code hash {:?}; see ListWorkers",
                r.tenant, r.code_hash
            )));
        };
        Ok(Resp::new(pb::GetBundleResponse {
            bundle: Some(convert::bundle_to_pb(bundle)),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant, worker_id))]
    async fn delete_worker(
        &self,
        request: Req<pb::CpDeleteWorkerRequest>,
    ) -> Result<Resp<pb::CpDeleteWorkerResponse>, Status> {
        let deadline = deadline(&request);
        let r = request.into_inner();
        non_empty("tenant", &r.tenant)?;
        non_empty("worker_id", &r.worker_id)?;
        let delete = Request::DeleteWorker {
            tenant: r.tenant,
            worker_id: r.worker_id,
        };
        match self.write(delete, deadline).await? {
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
        let deadline = deadline(&request);
        let r = request.into_inner();
        non_empty("tenant", &r.tenant)?;
        self.barrier(deadline).await?;
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
        let deadline = deadline(&request);
        let r = request.into_inner();
        non_empty("tenant", &r.tenant)?;
        let create = Request::CreateTenant {
            tenant: r.tenant,
            admin: r.admin,
        };
        self.write_visible(create, deadline).await?;
        Ok(Resp::new(pb::CreateTenantResponse {}))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_api_key(
        &self,
        request: Req<pb::CreateApiKeyRequest>,
    ) -> Result<Resp<pb::CreateApiKeyResponse>, Status> {
        let deadline = deadline(&request);
        let r = request.into_inner();
        non_empty("tenant", &r.tenant)?;
        let api_key = new_api_key();
        let create = Request::CreateApiKey {
            tenant: r.tenant,
            key_hash: key_hash(&api_key),
            expires_unix_ms: expiry(r.ttl_seconds),
        };
        self.write_visible(create, deadline).await?;
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
            expires_unix_ms: record.expires_unix_ms,
        }))
    }

    /// Applied on the contacted node before answering, so its next
    /// `Authenticate` of the key fails (other nodes follow within the
    /// replication delay; gateways within their key-cache TTL).
    #[tracing::instrument(skip_all)]
    async fn revoke_api_key(
        &self,
        request: Req<pb::RevokeApiKeyRequest>,
    ) -> Result<Resp<pb::RevokeApiKeyResponse>, Status> {
        let deadline = deadline(&request);
        let key = request.into_inner().api_key;
        non_empty("api_key", &key)?;
        let revoke = Request::RevokeApiKey {
            key_hash: key_hash(&key),
        };
        match self.write_visible(revoke, deadline).await? {
            Response::KeyRevoked { existed } => Ok(Resp::new(pb::RevokeApiKeyResponse { existed })),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all, fields(count))]
    async fn record_loads(
        &self,
        request: Req<pb::RecordLoadsRequest>,
    ) -> Result<Resp<pb::RecordLoadsResponse>, Status> {
        let deadline = deadline(&request);
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
        match self.write(Request::RecordLoads(records), deadline).await? {
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
        let deadline = deadline(&request);
        let r = request.into_inner();
        let from = day("from_day", &r.from_day)?;
        let to = day("to_day", &r.to_day)?;
        if from > to {
            return Err(invalid(format!("from_day {from} is after to_day {to}")));
        }
        self.barrier(deadline).await?;
        let (rows, detail) = self.state().billing(&from, &to, r.detail)?;
        Ok(Resp::new(convert::billing_to_pb(rows, detail)))
    }
}
