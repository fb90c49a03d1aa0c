//! PutWorker, DeleteWorker and ListWorkers: the caller's tenant's Workers
//! in the control plane's registry.

use edge_proto::v1 as pb;
use tonic::Request;
use tonic::Response;
use tonic::Status;

use super::Shared;
use crate::context::CallCtx;
use crate::context::caller;
use crate::validate;

pub(super) async fn put(
    shared: &Shared,
    req: Request<pb::PutWorkerRequest>,
) -> Result<Response<pb::PutWorkerResponse>, Status> {
    let who = caller(&req)?;
    let ctx = CallCtx::of(&req, shared.config.default_timeout);
    let r = req.into_inner();
    validate::worker_id(&r.worker_id)?;
    validate::bundle(r.bundle.as_ref())?;
    validate::limits(r.limits.as_ref())?;
    let msg = pb::CpPutWorkerRequest {
        tenant: who.tenant.clone(),
        worker_id: r.worker_id.clone(),
        bundle: r.bundle,
        limits: r.limits,
        grants: r.grants,
    };
    let out = shared
        .cp
        .call(|mut c| {
            let req = ctx.request(msg.clone());
            async move { c.put_worker(req?).await }
        })
        .await;
    // Whatever happened, the cached entry may now be stale.
    shared.workers.invalidate(&who.tenant, &r.worker_id);
    Ok(Response::new(pb::PutWorkerResponse {
        code_hash: out?.code_hash,
    }))
}

pub(super) async fn delete(
    shared: &Shared,
    req: Request<pb::DeleteWorkerRequest>,
) -> Result<Response<pb::DeleteWorkerResponse>, Status> {
    let who = caller(&req)?;
    let ctx = CallCtx::of(&req, shared.config.default_timeout);
    let worker_id = req.into_inner().worker_id;
    validate::worker_id(&worker_id)?;
    let out = shared
        .cp
        .call(|mut c| {
            let req = ctx.request(pb::CpDeleteWorkerRequest {
                tenant: who.tenant.clone(),
                worker_id: worker_id.clone(),
            });
            async move { c.delete_worker(req?).await }
        })
        .await;
    shared.workers.invalidate(&who.tenant, &worker_id);
    Ok(Response::new(pb::DeleteWorkerResponse {
        existed: out?.existed,
    }))
}

pub(super) async fn list(
    shared: &Shared,
    req: Request<pb::ListWorkersRequest>,
) -> Result<Response<pb::ListWorkersResponse>, Status> {
    let who = caller(&req)?;
    let ctx = CallCtx::of(&req, shared.config.default_timeout);
    let out = shared
        .cp
        .read(|mut c| {
            let req = ctx.request(pb::CpListWorkersRequest {
                tenant: who.tenant.clone(),
            });
            async move { c.list_workers(req?).await }
        })
        .await?;
    let workers = out
        .workers
        .into_iter()
        .map(|w| pb::WorkerSummary {
            worker_id: w.worker_id,
            code_hash: w.code_hash,
            bundle_bytes: w.bundle_bytes,
            updated_unix_ms: w.updated_unix_ms,
        })
        .collect();
    Ok(Response::new(pb::ListWorkersResponse { workers }))
}
