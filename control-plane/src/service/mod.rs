//! The public gRPC services: `ControlPlane` (registries, placement, tenants,
//! ledger; `control`) and `ClusterAdmin` (membership and status; `admin`).
//! Every handler has a tracing span; every error is a status whose message
//! says what to do. Protobuf messages are checked and converted in `convert`.
//!
//! Reads go through a linearizable read barrier (confirmed with the leader)
//! except `Place` and `Authenticate`, which are hot paths and read the local
//! replica. State is read only through the state machine's [`StateReader`].

mod admin;
mod control;
mod convert;

use std::sync::Arc;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use edge_proto::billing::KEY_SEPARATOR;
use tonic::Status;

use crate::error::ApiError;
use crate::node::Node;
use crate::store::StateReader;
use crate::types::Request;
use crate::types::Response;

/// Most load events accepted in one `RecordLoads` call.
pub const MAX_LOADS_PER_BATCH: usize = 10_000;

/// Implements both public services over one [`Node`].
#[derive(Clone)]
pub struct Api {
    /// The local node.
    pub(crate) node: Arc<Node>,
}

impl Api {
    /// Proposes a write; a rejection by the state machine becomes its status.
    async fn write(&self, req: Request) -> Result<Response, Status> {
        accepted(self.node.write(req).await?)
    }

    /// Waits until the local replica reflects every committed write.
    async fn barrier(&self) -> Result<(), Status> {
        Ok(self.node.read_barrier().await?)
    }

    /// The local replica's state.
    fn state(&self) -> &StateReader {
        &self.node.state
    }
}

/// The proposer's clock, Unix milliseconds.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// INVALID_ARGUMENT with `message`.
fn invalid(message: impl Into<String>) -> Status {
    Status::invalid_argument(message.into())
}

/// A required field: not blank, and without the key separator (keys are
/// built by joining fields with it).
fn non_empty(field: &str, value: &str) -> Result<(), Status> {
    if value.trim().is_empty() {
        return Err(invalid(format!("{field} is required")));
    }
    if value.contains(KEY_SEPARATOR) {
        return Err(invalid(format!(
            "{field} contains a control character (U+001F)"
        )));
    }
    Ok(())
}

/// Maps a state machine rejection to a status.
fn accepted(resp: Response) -> Result<Response, Status> {
    match resp {
        Response::Rejected { code, message } => Err(ApiError::new(code.into(), message).into()),
        other => Ok(other),
    }
}

/// The state machine answered a request with the wrong kind of response: a
/// bug, reported as such rather than hidden.
fn unexpected(answer: Response) -> Status {
    Status::internal(format!("unexpected state machine answer {answer:?}"))
}
