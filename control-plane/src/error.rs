//! Errors of the library, one type per concern: what a client is told
//! ([`ApiError`]), why a node did not start ([`StartError`], [`OpenError`]),
//! why the stored state could not be read or written ([`StoreError`],
//! [`SnapshotError`]), and why a load record is refused ([`LoadError`]).
//! Transport-private errors live with the transport.

use edge_proto::billing::DayError;
use serde::Deserialize;
use serde::Serialize;

use crate::types::MAX_LOAD_FIELD_BYTES;
use crate::types::NodeId;
use crate::types::RejectCode;

/// Status class of an [`ApiError`]; maps one to one onto gRPC codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiCode {
    /// INVALID_ARGUMENT
    InvalidArgument,
    /// NOT_FOUND
    NotFound,
    /// FAILED_PRECONDITION
    FailedPrecondition,
    /// UNAVAILABLE: retry, possibly on another node.
    Unavailable,
    /// UNAUTHENTICATED
    Unauthenticated,
    /// ALREADY_EXISTS: done before, not repeated.
    AlreadyExists,
    /// DEADLINE_EXCEEDED: the request's deadline passed while waiting.
    DeadlineExceeded,
    /// INTERNAL
    Internal,
}

/// An error answered to a client (and passed between nodes when forwarding).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Class.
    pub code: ApiCode,
    /// What happened and what to do about it.
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(code: ApiCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ApiCode::InvalidArgument, message)
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ApiCode::Unavailable, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(ApiCode::Internal, message)
    }
}

impl From<RejectCode> for ApiCode {
    fn from(code: RejectCode) -> Self {
        match code {
            RejectCode::NotFound => ApiCode::NotFound,
            RejectCode::InvalidArgument => ApiCode::InvalidArgument,
            RejectCode::FailedPrecondition => ApiCode::FailedPrecondition,
            RejectCode::AlreadyExists => ApiCode::AlreadyExists,
        }
    }
}

/// A local storage failure is this node's problem, not the client's: the
/// message points the operator at the node.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal(format!("{e}; check the node's data directory and logs"))
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        let code = match e.code {
            ApiCode::InvalidArgument => tonic::Code::InvalidArgument,
            ApiCode::NotFound => tonic::Code::NotFound,
            ApiCode::FailedPrecondition => tonic::Code::FailedPrecondition,
            ApiCode::Unavailable => tonic::Code::Unavailable,
            ApiCode::Unauthenticated => tonic::Code::Unauthenticated,
            ApiCode::AlreadyExists => tonic::Code::AlreadyExists,
            ApiCode::DeadlineExceeded => tonic::Code::DeadlineExceeded,
            ApiCode::Internal => tonic::Code::Internal,
        };
        tonic::Status::new(code, e.message)
    }
}

impl From<StoreError> for tonic::Status {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

/// Starting a node failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be opened.
    #[error("opening the data directory {dir}: {source}")]
    Storage {
        /// Directory.
        dir: String,
        /// Cause.
        source: OpenError,
    },
    /// openraft rejected the configuration.
    #[error("invalid Raft configuration: {0}")]
    Config(#[from] openraft::ConfigError),
    /// openraft failed to start.
    #[error("starting Raft: {0}")]
    Raft(#[from] openraft::error::Fatal<NodeId>),
    /// The listener has no local address.
    #[error("reading the listener's address: {0}")]
    Listener(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Opening a node's database failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database or one of its records could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A snapshot install interrupted by a crash could not be finished.
    #[error("finishing a snapshot install interrupted by a crash: {0}")]
    Install(#[source] SnapshotError),
    /// An install marker is present but no snapshot was stored before it.
    #[error("an interrupted snapshot install left no stored snapshot to finish it from")]
    MissingSnapshot,
}

impl From<sled::Error> for OpenError {
    fn from(e: sled::Error) -> Self {
        Self::Store(StoreError::Sled(e))
    }
}

/// Reading or writing the state on this node failed. A record that cannot
/// be decoded is reported, never skipped: skipping would hide data loss.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O error, disk full, ...).
    #[error("local storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value is not what this version writes: the data directory is
    /// damaged or was written by an incompatible version.
    #[error("record {key:?} in tree {tree:?} cannot be decoded: {source}")]
    Undecodable {
        /// sled tree holding the record.
        tree: &'static str,
        /// Key of the record (lossy UTF-8).
        key: String,
        /// What the decoder said.
        source: serde_json::Error,
    },
    /// A stored key does not have its tree's layout.
    #[error("key {key:?} in tree {tree:?} is malformed: expected {expected}")]
    MalformedKey {
        /// sled tree holding the key.
        tree: &'static str,
        /// The key (lossy UTF-8).
        key: String,
        /// The layout keys of that tree have.
        expected: &'static str,
    },
}

impl StoreError {
    /// A record of `tree` that does not decode; logged here, where the key
    /// is known, because callers may only pass the message on.
    pub(crate) fn undecodable(tree: &'static str, key: &[u8], source: serde_json::Error) -> Self {
        let e = Self::Undecodable {
            tree,
            key: String::from_utf8_lossy(key).into_owned(),
            source,
        };
        tracing::error!(error = %e, "corrupt state record");
        e
    }

    /// A key of `tree` without the layout `expected`; logged like
    /// [`StoreError::undecodable`].
    pub(crate) fn malformed_key(tree: &'static str, key: &[u8], expected: &'static str) -> Self {
        let e = Self::MalformedKey {
            tree,
            key: String::from_utf8_lossy(key).into_owned(),
            expected,
        };
        tracing::error!(error = %e, "corrupt state key");
        e
    }
}

/// A snapshot could not be read, loaded or built.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The data ends in the middle of a field.
    #[error("snapshot is truncated")]
    Truncated,
    /// Trees are not in the expected order (a different layout or version).
    #[error("snapshot has tree {found:?} where {expected:?} was expected")]
    WrongTree {
        /// Name found in the snapshot (lossy UTF-8).
        found: String,
        /// Name this version expects there.
        expected: &'static str,
    },
    /// Bytes remain after the last tree.
    #[error("snapshot has {0} trailing bytes")]
    TrailingBytes(usize),
    /// The snapshot's metadata is not valid JSON of openraft's type.
    #[error("snapshot metadata cannot be decoded: {0}")]
    Meta(#[source] serde_json::Error),
    /// The state could not be read or written while building or loading it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `build_snapshot` was called twice on one builder.
    #[error("this snapshot builder was already used")]
    AlreadyBuilt,
}

impl From<sled::Error> for SnapshotError {
    fn from(e: sled::Error) -> Self {
        Self::Store(StoreError::Sled(e))
    }
}

/// A load record fails a check that needs no state.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// A required field is empty.
    #[error("load {load_id:?}: {field} is empty")]
    Empty {
        /// The load's idempotency key.
        load_id: String,
        /// Name of the empty field.
        field: &'static str,
    },
    /// A field is too long or would break the ledger's key layout.
    #[error(
        "load {load_id:?}: {field} is longer than {max} bytes or has a control character",
        max = MAX_LOAD_FIELD_BYTES
    )]
    BadField {
        /// The load's idempotency key.
        load_id: String,
        /// Name of the field.
        field: &'static str,
    },
    /// The day is not a calendar day written `YYYY-MM-DD`.
    #[error("load {load_id:?}: {source}")]
    Day {
        /// The load's idempotency key.
        load_id: String,
        /// What is wrong with the day.
        source: DayError,
    },
}
