//! The public gRPC services: `ControlPlane` (registries, placement, tenants,
//! ledger; `control`) and `ClusterAdmin` (membership and status; `admin`).
//! Every handler has a tracing span; every error is a status whose message
//! says what to do. Protobuf messages are checked and converted in `convert`.
//!
//! Reads go through a linearizable read barrier (confirmed with the leader)
//! except `Place` and `Authenticate`, which are hot paths and read the local
//! replica, and `GetBundle`, which confirms only a miss. Writes that
//! create or revoke keys and tenants are applied on the contacted node
//! before it answers, so its own `Authenticate` agrees at once. Every call
//! waits through an election until its deadline (`grpc-timeout`, else
//! 10 s). State is read only through the state machine's [`StateReader`].

mod admin;
mod control;
mod convert;

use std::sync::Arc;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use edge_proto::billing::KEY_SEPARATOR;
use sha2::Digest;
use tonic::Status;

use crate::error::ApiError;
use crate::node::Deadline;
use crate::node::Node;
use crate::store::StateReader;
use crate::types::BundleData;
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
    async fn write(&self, req: Request, deadline: Deadline) -> Result<Response, Status> {
        accepted(self.node.write(req, deadline).await?)
    }

    /// [`Api::write`], applied on this node before it answers.
    async fn write_visible(&self, req: Request, deadline: Deadline) -> Result<Response, Status> {
        accepted(self.node.write_visible(req, deadline).await?)
    }

    /// The bundle `code_hash` if `tenant` has a Worker with that code, in
    /// the local replica.
    fn owned_bundle(&self, tenant: &str, code_hash: &str) -> Result<Option<BundleData>, Status> {
        if !self.state().tenant_has_code(tenant, code_hash)? {
            return Ok(None);
        }
        Ok(self.state().bundle(code_hash)?)
    }

    /// Waits until the local replica reflects every committed write.
    async fn barrier(&self, deadline: Deadline) -> Result<(), Status> {
        Ok(self.node.read_barrier(deadline).await?)
    }

    /// The local replica's state.
    fn state(&self) -> &StateReader {
        &self.node.state
    }
}

/// The request's deadline from its `grpc-timeout` metadata (a malformed
/// or absent one counts as none).
fn deadline<T>(request: &tonic::Request<T>) -> Deadline {
    Deadline::after(edge_proto::deadline::grpc_timeout(request.metadata()).unwrap_or(None))
}

/// Random bytes in an API key: 256 bits, beyond guessing.
const API_KEY_SECRET_BYTES: usize = 32;

/// A fresh API key: `ek_` and 64 hex digits.
fn new_api_key() -> String {
    let secret: [u8; API_KEY_SECRET_BYTES] = rand::random();
    format!("ek_{}", hex::encode(secret))
}

/// The sha256 of an API key, hex: what is stored instead of the key.
fn key_hash(api_key: &str) -> String {
    hex::encode(sha2::Sha256::digest(api_key.as_bytes()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fresh_and_only_their_hash_is_fixed_length_hex() {
        let (a, b) = (new_api_key(), new_api_key());
        assert_ne!(a, b);
        assert!(a.starts_with("ek_") && a.len() == 3 + 64, "{a}");
        let h = key_hash(&a);
        assert_eq!(h.len(), 64);
        assert_ne!(h, key_hash(&b));
        assert!(!h.contains(&a[3..]));
    }
}
