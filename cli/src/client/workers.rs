//! `put`, `delete`, `list`, `invoke` and `run`.

use std::process::ExitCode;
use std::time::Duration;

use edge_proto::v1 as pb;
use serde_json::json;

use super::GatewayArgs;
use super::connect::Gateway;
use super::connect::mark_idempotent;
use super::connect::served_by;
use super::failure::Failure;
use super::flags::Ask;
use super::flags::BundleArgs;
use super::flags::GrantsArgs;
use super::flags::LimitsArgs;
use super::flags::ask;
use super::outcome;
use crate::exec::InvocationArgs;

#[derive(clap::Args, Debug)]
pub(crate) struct PutArgs {
    /// The Worker's id, chosen by the tenant.
    #[arg(long)]
    id: String,
    #[command(flatten)]
    bundle: BundleArgs,
    #[command(flatten)]
    limits: LimitsArgs,
    #[command(flatten)]
    grants: GrantsArgs,
}

/// How an invocation travels: a retry flag and a deadline.
#[derive(clap::Args, Debug)]
pub(crate) struct CallArgs {
    /// Say a retry is safe: the gateway may try another node even if this
    /// call may have run.
    #[arg(long)]
    idempotent: bool,
    /// Give up after this many milliseconds (the gRPC deadline).
    #[arg(long, value_name = "MS")]
    deadline_ms: Option<u64>,
}

impl CallArgs {
    fn apply<T>(&self, request: &mut tonic::Request<T>) {
        if self.idempotent {
            mark_idempotent(request);
        }
        if let Some(ms) = self.deadline_ms {
            request.set_timeout(Duration::from_millis(ms));
        }
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct InvokeArgs {
    /// The stored Worker's id.
    #[arg(long)]
    id: String,
    #[command(flatten)]
    invocation: InvocationArgs,
    #[command(flatten)]
    limits: LimitsArgs,
    #[command(flatten)]
    call: CallArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// Cache the code under this id (omit for a one-off run).
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    bundle: BundleArgs,
    #[command(flatten)]
    invocation: InvocationArgs,
    #[command(flatten)]
    limits: LimitsArgs,
    #[command(flatten)]
    grants: GrantsArgs,
    #[command(flatten)]
    call: CallArgs,
}

pub(crate) async fn put(args: PutArgs, gateway: &GatewayArgs) -> Result<ExitCode, Failure> {
    let request = pb::PutWorkerRequest {
        worker_id: args.id.clone(),
        bundle: Some(args.bundle.bundle()?),
        limits: args.limits.limits()?,
        grants: args.grants.grants(),
    };
    let mut gw = Gateway::connect(gateway).await?;
    let request = gw.request(request);
    let response = gw.client().put_worker(request).await?.into_inner();
    println!(
        "{}",
        json!({"ok": true, "worker_id": args.id, "code_hash": response.code_hash})
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn delete(id: String, gateway: &GatewayArgs) -> Result<ExitCode, Failure> {
    let mut gw = Gateway::connect(gateway).await?;
    let request = gw.request(pb::DeleteWorkerRequest {
        worker_id: id.clone(),
    });
    let response = gw.client().delete_worker(request).await?.into_inner();
    println!(
        "{}",
        json!({"ok": true, "worker_id": id, "existed": response.existed})
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn list(gateway: &GatewayArgs) -> Result<ExitCode, Failure> {
    let mut gw = Gateway::connect(gateway).await?;
    let request = gw.request(pb::ListWorkersRequest {});
    let response = gw.client().list_workers(request).await?.into_inner();
    let workers: Vec<_> = response
        .workers
        .iter()
        .map(|w| {
            json!({
                "worker_id": w.worker_id,
                "code_hash": w.code_hash,
                "bundle_bytes": w.bundle_bytes,
                "updated_unix_ms": w.updated_unix_ms,
            })
        })
        .collect();
    println!("{}", json!({"ok": true, "workers": workers}));
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn invoke(args: InvokeArgs, gateway: &GatewayArgs) -> Result<ExitCode, Failure> {
    use pb::invoke_request::Invocation;
    let invocation = match ask(&args.invocation)? {
        Ask::Fetch(request) => Invocation::Fetch(request),
        Ask::Call(call) => Invocation::Call(call),
    };
    let message = pb::InvokeRequest {
        worker_id: args.id,
        invocation: Some(invocation),
        limits: args.limits.limits()?,
    };
    let mut gw = Gateway::connect(gateway).await?;
    let mut request = gw.request(message);
    args.call.apply(&mut request);
    let response = gw.client().invoke(request).await?;
    let (region, node) = served_by(response.metadata());
    Ok(outcome::print(response.into_inner(), &region, &node))
}

pub(crate) async fn run_inline(args: RunArgs, gateway: &GatewayArgs) -> Result<ExitCode, Failure> {
    use pb::run_inline_request::Invocation;
    let invocation = match ask(&args.invocation)? {
        Ask::Fetch(request) => Invocation::Fetch(request),
        Ask::Call(call) => Invocation::Call(call),
    };
    let message = pb::RunInlineRequest {
        worker_id: args.id.unwrap_or_default(),
        bundle: Some(args.bundle.bundle()?),
        invocation: Some(invocation),
        limits: args.limits.limits()?,
        grants: args.grants.grants(),
    };
    let mut gw = Gateway::connect(gateway).await?;
    let mut request = gw.request(message);
    args.call.apply(&mut request);
    let response = gw.client().run_inline(request).await?;
    let (region, node) = served_by(response.metadata());
    Ok(outcome::print(response.into_inner(), &region, &node))
}
