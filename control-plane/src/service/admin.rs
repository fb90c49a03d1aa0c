//! `ClusterAdmin`: initialise the cluster, add and remove nodes, status.

use edge_proto::v1 as pb;
use edge_proto::v1::cluster_admin_server::ClusterAdmin;
use tonic::Request as Req;
use tonic::Response as Resp;
use tonic::Status;

use super::Api;
use super::accepted;
use super::convert::status_to_pb;
use super::deadline;
use super::key_hash;
use super::new_api_key;
use super::non_empty;
use super::now_ms;
use crate::types::InitRecord;

/// Admin tenant Init creates when the request names none.
const DEFAULT_ADMIN_TENANT: &str = "admin";

#[tonic::async_trait]
impl ClusterAdmin for Api {
    /// Answers once a leader has committed the admin tenant and the hash of
    /// its new key; the key itself is in this answer only.
    #[tracing::instrument(skip_all, fields(admin_tenant))]
    async fn init(&self, request: Req<pb::InitRequest>) -> Result<Resp<pb::InitResponse>, Status> {
        let deadline = deadline(&request);
        let mut admin_tenant = request.into_inner().admin_tenant;
        if admin_tenant.is_empty() {
            admin_tenant = DEFAULT_ADMIN_TENANT.to_string();
        }
        tracing::Span::current().record("admin_tenant", admin_tenant.as_str());
        non_empty("admin_tenant", &admin_tenant)?;
        let admin_key = new_api_key();
        let record = InitRecord {
            admin_tenant: admin_tenant.clone(),
            key_hash: key_hash(&admin_key),
            at_unix_ms: now_ms(),
        };
        accepted(self.node.init(record, deadline).await?)?;
        tracing::info!(admin_tenant, "cluster initialised");
        Ok(Resp::new(pb::InitResponse {
            admin_tenant,
            admin_key,
        }))
    }

    #[tracing::instrument(skip_all, fields(id, addr))]
    async fn join(&self, request: Req<pb::JoinRequest>) -> Result<Resp<pb::JoinResponse>, Status> {
        let deadline = deadline(&request);
        let r = request.into_inner();
        non_empty("addr", &r.addr)?;
        self.node.join(r.id, r.addr, deadline).await?;
        Ok(Resp::new(pb::JoinResponse {}))
    }

    #[tracing::instrument(skip_all, fields(id))]
    async fn remove(
        &self,
        request: Req<pb::RemoveRequest>,
    ) -> Result<Resp<pb::RemoveResponse>, Status> {
        let deadline = deadline(&request);
        self.node.remove(request.into_inner().id, deadline).await?;
        Ok(Resp::new(pb::RemoveResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn status(
        &self,
        request: Req<pb::StatusRequest>,
    ) -> Result<Resp<pb::StatusResponse>, Status> {
        let status = if request.into_inner().local {
            self.node.local_status()
        } else {
            self.node.status().await
        };
        Ok(Resp::new(status_to_pb(status)))
    }
}
