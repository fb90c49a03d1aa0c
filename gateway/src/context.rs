//! What the tower layers learn about a request and leave in its extensions
//! for the handlers: request id, deadline, and the caller. Also how an
//! outgoing call (to a node or the control plane) carries them on; the
//! trace context rides on the request span (see [`crate::upstream`]).

use std::time::Duration;

use tokio::time::Instant;
use tonic::Status;

/// Metadata key of the request id.
pub const REQUEST_ID: &str = "x-request-id";
/// Metadata key of the region that served a request.
pub const EDGE_REGION: &str = "x-edge-region";
/// Metadata key of the node that served a request.
pub const EDGE_NODE: &str = "x-edge-node";
/// `x-edge-node` of calls the gateway answered itself.
pub const GATEWAY_NODE: &str = "gateway";

/// Request id, set by the metadata layer.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The client's `x-request-id`, or one the gateway made.
    pub request_id: String,
}

/// When the request must be answered by, set by the deadline layer.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

/// The authenticated tenant, set by the auth layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Tenant name.
    pub tenant: String,
    /// Whether the tenant may use the admin RPCs.
    pub admin: bool,
}

/// Everything an outgoing call needs from the incoming request.
#[derive(Debug, Clone)]
pub struct CallCtx {
    /// Request id to pass on.
    pub request_id: String,
    /// End-to-end deadline.
    pub deadline: Instant,
}

impl CallCtx {
    /// Reads what the layers left in `req`'s extensions.
    pub fn of<T>(req: &tonic::Request<T>, fallback_timeout: Duration) -> Self {
        let ext = req.extensions();
        let request_id = ext
            .get::<RequestContext>()
            .map(|rc| rc.request_id.clone())
            .unwrap_or_else(new_request_id);
        let deadline = ext
            .get::<Deadline>()
            .map(|d| d.0)
            .unwrap_or_else(|| Instant::now() + fallback_timeout);
        Self {
            request_id,
            deadline,
        }
    }

    /// Time left, or DEADLINE_EXCEEDED when none is.
    pub fn remaining(&self) -> Result<Duration, Status> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Status::deadline_exceeded(
                "the request's deadline passed before it could be served",
            ));
        }
        Ok(left)
    }

    /// An outgoing request carrying the remaining deadline and the request
    /// id (the upstream clients add `traceparent` when it is sent).
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Status> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(self.remaining()?);
        let md = req.metadata_mut();
        if let Ok(v) = self.request_id.parse() {
            md.insert(REQUEST_ID, v);
        }
        Ok(req)
    }
}

/// A fresh request id: 128 random bits, hex.
pub fn new_request_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The caller the auth layer attached, or INTERNAL if the stack is misbuilt.
pub fn caller<T>(req: &tonic::Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::internal("gateway bug: request reached a handler unauthenticated"))
}
