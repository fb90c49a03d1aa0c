//! How a client command fails: one JSON object on stdout,
//! `{"ok":false,"error":{"kind":..,"message":..}}`, exit 2 for a usage error
//! (nothing was sent) and 1 for a gRPC error or an unreachable gateway.

use std::process::ExitCode;

use serde_json::json;

use crate::exec::UsageError;

/// Why a client command did not get its answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line is wrong; nothing was sent.
    Usage(String),
    /// The gateway answered with a gRPC error.
    Status(tonic::Status),
    /// The gateway could not be reached.
    Unreachable(String),
}

impl Failure {
    /// The error kind printed: `bad_request`, or the gRPC code in snake case.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Failure::Usage(_) => "bad_request",
            Failure::Status(status) => code_name(status.code()),
            Failure::Unreachable(_) => code_name(tonic::Code::Unavailable),
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Usage(message) | Failure::Unreachable(message) => message,
            Failure::Status(status) => status.message(),
        }
    }

    /// Prints the failure and gives the exit code.
    pub(crate) fn report(&self) -> ExitCode {
        println!(
            "{}",
            json!({"ok": false, "error": {"kind": self.kind(), "message": self.message()}})
        );
        match self {
            Failure::Usage(_) => ExitCode::from(2),
            Failure::Status(_) | Failure::Unreachable(_) => ExitCode::FAILURE,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for Failure {}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Failure::Status(status)
    }
}

impl From<UsageError> for Failure {
    fn from(UsageError(message): UsageError) -> Self {
        Failure::Usage(message)
    }
}

/// A gRPC status code as the snake_case name clients branch on.
pub(crate) fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_are_snake_case() {
        assert_eq!(
            Failure::Status(tonic::Status::resource_exhausted("busy")).kind(),
            "resource_exhausted"
        );
        assert_eq!(code_name(tonic::Code::Unauthenticated), "unauthenticated");
        assert_eq!(
            code_name(tonic::Code::DeadlineExceeded),
            "deadline_exceeded"
        );
        assert_eq!(Failure::Usage("x".into()).kind(), "bad_request");
        assert_eq!(Failure::Unreachable("x".into()).kind(), "unavailable");
    }
}
