//! Errors of the library, one type per concern.

use serde::Deserialize;
use serde::Serialize;

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

    pub(crate) fn storage(e: sled::Error) -> Self {
        Self::internal(format!(
            "local storage error: {e}; check the node's data directory and logs"
        ))
    }
}

impl From<RejectCode> for ApiCode {
    fn from(code: RejectCode) -> Self {
        match code {
            RejectCode::NotFound => ApiCode::NotFound,
            RejectCode::InvalidArgument => ApiCode::InvalidArgument,
            RejectCode::FailedPrecondition => ApiCode::FailedPrecondition,
        }
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
            ApiCode::Internal => tonic::Code::Internal,
        };
        tonic::Status::new(code, e.message)
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
        source: sled::Error,
    },
    /// openraft rejected the configuration.
    #[error("invalid Raft configuration: {0}")]
    Config(#[from] openraft::ConfigError),
    /// openraft failed to start.
    #[error("starting Raft: {0}")]
    Raft(#[from] openraft::error::Fatal<crate::types::NodeId>),
    /// The listener has no local address.
    #[error("reading the listener's address: {0}")]
    Listener(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}
