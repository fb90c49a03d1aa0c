//! Invoke and RunInline: build the node request, route it (nearest region,
//! then rendezvous or least-loaded node) and send it, moving to the next
//! candidate within the retry budget and the deadline when the attempt
//! certainly did not run or the client marked the call idempotent.

use edge_proto::v1 as pb;
use edge_proto::v1::invoke_request;
use edge_proto::v1::node_invoke_request;
use edge_proto::v1::run_inline_request;
use tonic::Code;
use tonic::Request;
use tonic::Response;
use tonic::Status;
use tonic::metadata::MetadataMap;
use tonic::metadata::MetadataValue;

use super::Shared;
use crate::context::CallCtx;
use crate::context::Caller;
use crate::context::EDGE_NODE;
use crate::context::EDGE_REGION;
use crate::context::caller;
use crate::geo::Coordinates;
use crate::routing::LocationHints;
use crate::routing::Placement;
use crate::routing::candidates;
use crate::routing::client_location;
use crate::upstream::answered_by_server;
use crate::upstream::not_reached;
use crate::validate;

/// Metadata key a client sets to `true` when repeating its call is safe.
pub const IDEMPOTENT: &str = "x-edge-idempotent";

pub(super) async fn invoke(
    shared: &Shared,
    req: Request<pb::InvokeRequest>,
) -> Result<Response<pb::InvokeOutcome>, Status> {
    let Arrival {
        who,
        route,
        message: r,
    } = Arrival::of(shared, req)?;
    validate::worker_id(&r.worker_id)?;
    validate::limits(r.limits.as_ref())?;
    let invocation = match r.invocation {
        Some(invoke_request::Invocation::Fetch(f)) => node_invoke_request::Invocation::Fetch(f),
        Some(invoke_request::Invocation::Call(c)) => node_invoke_request::Invocation::Call(c),
        None => return Err(no_invocation()),
    };
    let stored = shared
        .workers
        .resolve(&shared.cp, &route.ctx, &who.tenant, &r.worker_id)
        .await?;
    let node_req = pb::NodeInvokeRequest {
        worker: Some(pb::WorkerRef {
            tenant: who.tenant.clone(),
            worker_id: r.worker_id.clone(),
            code_hash: stored.code_hash,
        }),
        bundle: None,
        invocation: Some(invocation),
        limits: validate::merge_limits(stored.limits, r.limits),
        grants: stored.grants,
        one_off: false,
    };
    let placement = Placement::Sticky {
        tenant: &who.tenant,
        worker_id: &r.worker_id,
    };
    route.dispatch(shared, placement, node_req).await
}

pub(super) async fn run_inline(
    shared: &Shared,
    req: Request<pb::RunInlineRequest>,
) -> Result<Response<pb::InvokeOutcome>, Status> {
    let Arrival {
        who,
        route,
        message: r,
    } = Arrival::of(shared, req)?;
    validate::bundle(r.bundle.as_ref())?;
    validate::limits(r.limits.as_ref())?;
    let one_off = r.worker_id.is_empty();
    if !one_off {
        validate::worker_id(&r.worker_id)?;
    }
    let invocation = match r.invocation {
        Some(run_inline_request::Invocation::Fetch(f)) => node_invoke_request::Invocation::Fetch(f),
        Some(run_inline_request::Invocation::Call(c)) => node_invoke_request::Invocation::Call(c),
        None => return Err(no_invocation()),
    };
    // The node hashes the bundle it is sent (it trusts no one's hash) and
    // names each one-off run as its own unique Worker for billing.
    let node_req = pb::NodeInvokeRequest {
        worker: Some(pb::WorkerRef {
            tenant: who.tenant.clone(),
            worker_id: r.worker_id.clone(),
            code_hash: String::new(),
        }),
        bundle: r.bundle,
        invocation: Some(invocation),
        limits: r.limits,
        grants: r.grants,
        one_off,
    };
    let placement = if one_off {
        Placement::LeastLoaded
    } else {
        Placement::Sticky {
            tenant: &who.tenant,
            worker_id: &r.worker_id,
        }
    };
    route.dispatch(shared, placement, node_req).await
}

/// What every invocation request brings beside its message: who sent it,
/// and how to route it.
struct Arrival<T> {
    who: Caller,
    route: Route,
    message: T,
}

impl<T> Arrival<T> {
    fn of(shared: &Shared, req: Request<T>) -> Result<Self, Status> {
        Ok(Arrival {
            who: caller(&req)?,
            route: Route {
                ctx: CallCtx::of(&req, shared.config.default_timeout),
                location: locate(shared, &req)?,
                idempotent: idempotent(req.metadata()),
            },
            message: req.into_inner(),
        })
    }
}

/// An invocation's deadline and request id, where its client is, and
/// whether it may be repeated.
struct Route {
    ctx: CallCtx,
    location: Coordinates,
    idempotent: bool,
}

fn no_invocation() -> Status {
    Status::invalid_argument("set `fetch` (an HTTP request) or `call` (a method and JSON input)")
}

fn idempotent(md: &MetadataMap) -> bool {
    md.get(IDEMPOTENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn header<'a>(md: &'a MetadataMap, key: &str) -> Result<Option<&'a str>, Status> {
    md.get(key)
        .map(|v| {
            v.to_str()
                .map_err(|_| Status::invalid_argument(format!("{key} is not ASCII text")))
        })
        .transpose()
}

fn locate<T>(shared: &Shared, req: &Request<T>) -> Result<Coordinates, Status> {
    let md = req.metadata();
    let hints = LocationHints {
        region: header(md, "x-edge-region")?,
        latitude: header(md, "x-edge-lat")?,
        longitude: header(md, "x-edge-lon")?,
        peer: req.remote_addr().map(|a| a.ip()),
    };
    let snapshot = shared.nodes.current();
    client_location(
        hints,
        &snapshot.regions,
        &shared.config.cidr_regions,
        (&shared.config.region, shared.config.location),
    )
    .map_err(|e| Status::invalid_argument(e.to_string()))
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The node never got the request: try the next one, skip this one a while.
    NotReached,
    /// The node refused without running it (draining): try the next one.
    Refused,
    /// It may have run, but the client said repeating is safe.
    RetrySafe,
    /// Give the error to the client.
    Final,
}

fn judge(status: &Status, idempotent: bool) -> Verdict {
    if not_reached(status) {
        return Verdict::NotReached;
    }
    if status.code() == Code::Unavailable && answered_by_server(status) {
        return Verdict::Refused;
    }
    let transient = matches!(
        status.code(),
        Code::Unavailable
            | Code::Unknown
            | Code::Internal
            | Code::ResourceExhausted
            | Code::Cancelled
    );
    if idempotent && transient {
        return Verdict::RetrySafe;
    }
    Verdict::Final
}

impl Route {
    /// Sends `node_req` to the best candidate node, and on to the next ones
    /// within the retry budget when that is safe.
    async fn dispatch(
        &self,
        shared: &Shared,
        placement: Placement<'_>,
        mut node_req: pb::NodeInvokeRequest,
    ) -> Result<Response<pb::InvokeOutcome>, Status> {
        let snapshot = shared.nodes.current();
        let order = candidates(&snapshot.nodes, self.location, placement, |id| {
            shared.nodes.is_failed(id)
        });
        let attempts = order.len().min(shared.config.retry_budget as usize + 1);
        if attempts == 0 {
            return Err(Status::unavailable(
                "no healthy worker node with spare capacity in any region; retry later",
            ));
        }
        let mut last: Option<Status> = None;
        for (i, node) in order.iter().take(attempts).enumerate() {
            // Keep a copy only while another attempt may follow.
            let message = if i + 1 < attempts {
                node_req.clone()
            } else {
                std::mem::take(&mut node_req)
            };
            let request = self.ctx.request(message)?;
            let mut client = shared.channels.client(&node.grpc_addr)?;
            match client.invoke(request).await {
                Ok(resp) => return Ok(relabel(resp, node)),
                // The node's server or our own client cut the call at the
                // deadline (tonic says CANCELLED "Timeout expired"): to the
                // client that is its deadline, whichever side noticed first.
                Err(status) if ran_out_of_time(&status, &self.ctx) => {
                    return Err(tag_status(
                        Status::deadline_exceeded(format!(
                            "the deadline passed while worker node {} ran the request",
                            node.node_id
                        )),
                        node,
                    ));
                }
                Err(status) => {
                    let verdict = judge(&status, self.idempotent);
                    tracing::debug!(node = %node.node_id, %status, ?verdict, "node attempt failed");
                    if matches!(verdict, Verdict::NotReached | Verdict::Refused) {
                        shared.nodes.mark_failed(&node.node_id);
                    }
                    if verdict == Verdict::Final {
                        return Err(tag_status(status, node));
                    }
                    last = Some(tag_status(status, node));
                }
            }
        }
        let last = last.map(|s| format!(" (last: {}: {})", s.code(), s.message()));
        Err(Status::unavailable(format!(
            "no worker node could serve the request after {attempts} attempt(s){}; retry later",
            last.unwrap_or_default()
        )))
    }
}

/// Whether a failed attempt ended because the request's deadline came.
fn ran_out_of_time(status: &Status, ctx: &CallCtx) -> bool {
    matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded)
        && ctx.remaining().map_or(true, |left| left < DEADLINE_SLACK)
}

/// Timers on the node and here do not fire at the same instant: a call cut
/// this close to the deadline was cut by it.
const DEADLINE_SLACK: std::time::Duration = std::time::Duration::from_millis(20);

/// The client's response: the node's outcome with the node and region
/// that served it (the node's own metadata, else the registry's).
fn relabel(resp: Response<pb::InvokeOutcome>, node: &pb::NodeInfo) -> Response<pb::InvokeOutcome> {
    let (md, outcome, _) = resp.into_parts();
    let mut out = Response::new(outcome);
    copy_labels(&md, out.metadata_mut(), node);
    out
}

fn tag_status(status: Status, node: &pb::NodeInfo) -> Status {
    let mut md = MetadataMap::new();
    copy_labels(status.metadata(), &mut md, node);
    Status::with_metadata(status.code(), status.message(), md)
}

fn copy_labels(from: &MetadataMap, to: &mut MetadataMap, node: &pb::NodeInfo) {
    for (key, fallback) in [(EDGE_NODE, &node.node_id), (EDGE_REGION, &node.region)] {
        let value = from
            .get(key)
            .cloned()
            .or_else(|| MetadataValue::try_from(fallback.as_str()).ok());
        if let Some(v) = value {
            to.insert(key, v);
        }
    }
}
