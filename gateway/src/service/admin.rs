//! Operator RPCs; each needs an admin tenant's key (PERMISSION_DENIED
//! otherwise).

use edge_proto::v1 as pb;
use tonic::Request;
use tonic::Response;
use tonic::Status;

use super::Shared;
use crate::context::CallCtx;
use crate::context::caller;
use crate::validate;

fn require_admin<T>(req: &Request<T>) -> Result<(), Status> {
    let who = caller(req)?;
    if !who.admin {
        return Err(Status::permission_denied(format!(
            "this call needs an admin tenant's API key; tenant {:?} is not an admin",
            who.tenant
        )));
    }
    Ok(())
}

pub(super) async fn create_tenant(
    shared: &Shared,
    req: Request<pb::GatewayCreateTenantRequest>,
) -> Result<Response<pb::GatewayCreateTenantResponse>, Status> {
    require_admin(&req)?;
    let ctx = CallCtx::of(&req, shared.config.default_timeout);
    let r = req.into_inner();
    validate::tenant(&r.tenant)?;
    shared
        .cp
        .call(|mut c| {
            let req = ctx.request(pb::CreateTenantRequest {
                tenant: r.tenant.clone(),
                admin: r.admin,
            });
            async move { c.create_tenant(req?).await }
        })
        .await?;
    let key = shared
        .cp
        .call(|mut c| {
            let req = ctx.request(pb::CreateApiKeyRequest {
                tenant: r.tenant.clone(),
                ttl_seconds: r.key_ttl_seconds,
            });
            async move { c.create_api_key(req?).await }
        })
        .await?;
    Ok(Response::new(pb::GatewayCreateTenantResponse {
        tenant: r.tenant,
        api_key: key.api_key,
    }))
}

pub(super) async fn create_api_key(
    shared: &Shared,
    req: Request<pb::CreateApiKeyRequest>,
) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
    require_admin(&req)?;
    let ctx = CallCtx::of(&req, shared.config.default_timeout);
    let r = req.into_inner();
    validate::tenant(&r.tenant)?;
    let out = shared
        .cp
        .call(|mut c| {
            let req = ctx.request(r.clone());
            async move { c.create_api_key(req?).await }
        })
        .await?;
    Ok(Response::new(out))
}

pub(super) async fn revoke_api_key(
    shared: &Shared,
    req: Request<pb::RevokeApiKeyRequest>,
) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
    require_admin(&req)?;
    let ctx = CallCtx::of(&req, shared.config.default_timeout);
    let r = req.into_inner();
    if r.api_key.is_empty() {
        return Err(Status::invalid_argument("api_key is empty"));
    }
    let out = shared
        .cp
        .call(|mut c| {
            let req = ctx.request(r.clone());
            async move { c.revoke_api_key(req?).await }
        })
        .await?;
    // Other gateways notice within their key-cache TTL; this one at once.
    shared.auth.forget(&r.api_key);
    Ok(Response::new(out))
}

pub(super) async fn export_billing(
    shared: &Shared,
    req: Request<pb::ExportBillingRequest>,
) -> Result<Response<pb::ExportBillingResponse>, Status> {
    require_admin(&req)?;
    let ctx = CallCtx::of(&req, shared.config.default_timeout);
    let r = req.into_inner();
    let out = shared
        .cp
        .read(|mut c| {
            let req = ctx.request(r.clone());
            async move { c.export_billing(req?).await }
        })
        .await?;
    Ok(Response::new(out))
}

pub(super) async fn cluster_status(
    shared: &Shared,
    req: Request<pb::ClusterStatusRequest>,
) -> Result<Response<pb::ClusterStatusResponse>, Status> {
    require_admin(&req)?;
    let ctx = CallCtx::of(&req, shared.config.default_timeout);
    let control_plane = shared
        .cp
        .admin(|mut c| {
            let req = ctx.request(pb::StatusRequest { local: false });
            async move { c.status(req?).await }
        })
        .await?;
    let nodes = shared
        .cp
        .read(|mut c| {
            let req = ctx.request(pb::ListNodesRequest {});
            async move { c.list_nodes(req?).await }
        })
        .await?
        .nodes;
    Ok(Response::new(pb::ClusterStatusResponse {
        control_plane: Some(control_plane),
        nodes,
    }))
}
