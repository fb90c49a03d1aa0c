//! StreamLogs: one subscription per current worker node, merged into the
//! client's stream. Nodes that appear later are picked up at the next node
//! refresh; a subscription that ends is re-opened then. Everything stops
//! when the client goes away or the gateway shuts down. The subscription
//! tasks run in the request's span, so each node sees the client's trace.

use std::collections::HashMap;
use std::sync::Arc;

use edge_proto::v1 as pb;
use edge_proto::v1::NodeHealth;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Request;
use tonic::Response;
use tonic::Status;
use tracing::Instrument as _;

use super::Shared;
use crate::context::CallCtx;
use crate::context::REQUEST_ID;
use crate::context::caller;
use crate::validate;

/// Log events buffered per client before a slow client holds the nodes back.
const LOG_BUFFER: usize = 1024;

/// The client's merged stream.
pub type LogStream = ReceiverStream<Result<pb::LogEvent, Status>>;

pub(super) fn stream_logs(
    shared: &Arc<Shared>,
    req: Request<pb::StreamLogsRequest>,
) -> Result<Response<LogStream>, Status> {
    let who = caller(&req)?;
    let ctx = CallCtx::of(&req, shared.config.default_timeout);
    let worker_id = req.into_inner().worker_id;
    if !worker_id.is_empty() {
        validate::worker_id(&worker_id)?;
    }
    let (tx, rx) = mpsc::channel(LOG_BUFFER);
    let filter = pb::NodeStreamLogsRequest {
        tenant: who.tenant,
        worker_id,
    };
    tokio::spawn(follow(shared.clone(), filter, ctx, tx).instrument(tracing::Span::current()));
    Ok(Response::new(ReceiverStream::new(rx)))
}

type Sender = mpsc::Sender<Result<pb::LogEvent, Status>>;

async fn follow(shared: Arc<Shared>, filter: pb::NodeStreamLogsRequest, ctx: CallCtx, tx: Sender) {
    // Dropping the set (when this returns) aborts every subscription.
    let mut subscriptions = JoinSet::new();
    let mut open: HashMap<String, AbortHandle> = HashMap::new();
    let mut tick = tokio::time::interval(shared.config.node_refresh);
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        while subscriptions.try_join_next().is_some() {}
        open.retain(|_, handle| !handle.is_finished());
        let snapshot = shared.nodes.current();
        for node in &snapshot.nodes {
            if node.health == NodeHealth::Unhealthy as i32 || open.contains_key(&node.node_id) {
                continue;
            }
            let subscription = subscribe(
                shared.clone(),
                node.clone(),
                filter.clone(),
                ctx.clone(),
                tx.clone(),
            );
            let handle = subscriptions.spawn(subscription.instrument(tracing::Span::current()));
            open.insert(node.node_id.clone(), handle);
        }
    }
}

/// Forwards one node's events until its stream ends or the client leaves.
async fn subscribe(
    shared: Arc<Shared>,
    node: pb::NodeInfo,
    filter: pb::NodeStreamLogsRequest,
    ctx: CallCtx,
    tx: Sender,
) {
    let Ok(mut client) = shared.channels.client(&node.grpc_addr) else {
        return;
    };
    // A stream has no deadline of its own: it lasts as long as the client.
    let mut req = Request::new(filter);
    if let Ok(v) = ctx.request_id.parse() {
        req.metadata_mut().insert(REQUEST_ID, v);
    }
    let mut stream = match client.stream_logs(req).await {
        Ok(r) => r.into_inner(),
        Err(status) => {
            tracing::debug!(node = %node.node_id, %status, "log subscription failed");
            return;
        }
    };
    loop {
        let event = tokio::select! {
            _ = tx.closed() => return,
            m = stream.message() => m,
        };
        match event {
            Ok(Some(mut e)) => {
                if e.node_id.is_empty() {
                    e.node_id = node.node_id.clone();
                }
                if e.region.is_empty() {
                    e.region = node.region.clone();
                }
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(status) => {
                tracing::debug!(node = %node.node_id, %status, "log subscription ended");
                return;
            }
        }
    }
}
