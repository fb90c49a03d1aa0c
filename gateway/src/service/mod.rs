//! The `edge.v1.Gateway` handlers. By the time a request gets here the
//! tower stack has authenticated it (a [`crate::context::Caller`] in its
//! extensions), admitted it, and set its deadline.

mod admin;
mod invoke;
mod logs;
mod workers;

use std::sync::Arc;

use edge_proto::v1 as pb;
use edge_proto::v1::gateway_server::Gateway;
use tokio_util::sync::CancellationToken;
use tonic::Request;
use tonic::Response;
use tonic::Status;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::nodes::NodeView;
use crate::registry::WorkerCache;
use crate::upstream::ControlPlanes;
use crate::upstream::NodeChannels;

/// What every handler shares.
#[derive(Debug)]
pub struct Shared {
    /// Settings.
    pub config: Config,
    /// The control plane.
    pub cp: Arc<ControlPlanes>,
    /// The node snapshot.
    pub nodes: Arc<NodeView>,
    /// Channels to nodes.
    pub channels: Arc<NodeChannels>,
    /// The API-key cache (revocations through this gateway clear it).
    pub auth: Arc<Authenticator>,
    /// Stored Workers.
    pub workers: WorkerCache,
    /// Ends log streams when the gateway shuts down.
    pub shutdown: CancellationToken,
}

/// The `edge.v1.Gateway` service.
#[derive(Debug, Clone)]
pub struct GatewayService {
    shared: Arc<Shared>,
}

impl GatewayService {
    /// A service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[tonic::async_trait]
impl Gateway for GatewayService {
    async fn put_worker(
        &self,
        request: Request<pb::PutWorkerRequest>,
    ) -> Result<Response<pb::PutWorkerResponse>, Status> {
        workers::put(&self.shared, request).await
    }

    async fn delete_worker(
        &self,
        request: Request<pb::DeleteWorkerRequest>,
    ) -> Result<Response<pb::DeleteWorkerResponse>, Status> {
        workers::delete(&self.shared, request).await
    }

    async fn list_workers(
        &self,
        request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        workers::list(&self.shared, request).await
    }

    async fn invoke(
        &self,
        request: Request<pb::InvokeRequest>,
    ) -> Result<Response<pb::InvokeOutcome>, Status> {
        invoke::invoke(&self.shared, request).await
    }

    async fn run_inline(
        &self,
        request: Request<pb::RunInlineRequest>,
    ) -> Result<Response<pb::InvokeOutcome>, Status> {
        invoke::run_inline(&self.shared, request).await
    }

    type StreamLogsStream = logs::LogStream;

    async fn stream_logs(
        &self,
        request: Request<pb::StreamLogsRequest>,
    ) -> Result<Response<Self::StreamLogsStream>, Status> {
        logs::stream_logs(&self.shared, request)
    }

    async fn create_tenant(
        &self,
        request: Request<pb::GatewayCreateTenantRequest>,
    ) -> Result<Response<pb::GatewayCreateTenantResponse>, Status> {
        admin::create_tenant(&self.shared, request).await
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        admin::create_api_key(&self.shared, request).await
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        admin::revoke_api_key(&self.shared, request).await
    }

    async fn export_billing(
        &self,
        request: Request<pb::ExportBillingRequest>,
    ) -> Result<Response<pb::ExportBillingResponse>, Status> {
        admin::export_billing(&self.shared, request).await
    }

    async fn cluster_status(
        &self,
        request: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        admin::cluster_status(&self.shared, request).await
    }
}
