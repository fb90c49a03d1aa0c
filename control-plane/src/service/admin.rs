//! `ClusterAdmin`: initialise the cluster, add and remove nodes, status.

use edge_proto::v1 as pb;
use edge_proto::v1::cluster_admin_server::ClusterAdmin;
use tonic::Request as Req;
use tonic::Response as Resp;
use tonic::Status;

use super::Api;
use super::convert::status_to_pb;
use super::non_empty;

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
        let status = if request.into_inner().local {
            self.node.local_status()
        } else {
            self.node.status().await
        };
        Ok(Resp::new(status_to_pb(status)))
    }
}
