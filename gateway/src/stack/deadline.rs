//! Deadlines end to end: the client's `grpc-timeout` (or the default when
//! absent) becomes a [`Deadline`] in the request's extensions, which the
//! handlers pass on to node and control-plane calls as their remaining
//! time. A request whose deadline has already passed is refused before any
//! work; one that runs out while waiting is answered DEADLINE_EXCEEDED.

use std::future::Future;
use std::future::ready;
use std::time::Duration;

use tokio::time::Instant;

use edge_proto::deadline::GRPC_TIMEOUT;
use edge_proto::deadline::parse_grpc_timeout;

use super::Admission;
use super::Gate;
use super::reply;
use crate::context::Deadline;

/// Below this, no hop can finish: treat the deadline as already past.
pub const MIN_USEFUL_TIMEOUT: Duration = Duration::from_micros(100);

/// Sets and enforces each request's deadline.
#[derive(Debug, Clone)]
pub struct DeadlineGate {
    default: Duration,
}

impl DeadlineGate {
    /// `default` applies when the client sent no `grpc-timeout`.
    pub fn new(default: Duration) -> Self {
        Self { default }
    }

    /// The request's timeout, or why it cannot be served.
    fn timeout(&self, headers: &http::HeaderMap) -> Result<Duration, tonic::Status> {
        let timeout = match headers.get(GRPC_TIMEOUT) {
            None => self.default,
            Some(v) => v
                .to_str()
                .ok()
                .and_then(parse_grpc_timeout)
                .ok_or_else(|| {
                    tonic::Status::invalid_argument(format!(
                        "grpc-timeout {v:?} is not 1-8 digits and a unit (H, M, S, m, u, n)"
                    ))
                })?,
        };
        if timeout < MIN_USEFUL_TIMEOUT {
            return Err(tonic::Status::deadline_exceeded(format!(
                "the request's deadline ({timeout:?}) had passed when it arrived; nothing was done"
            )));
        }
        Ok(timeout)
    }
}

/// A ticket of [`DeadlineGate`]: the moment the request runs out, and the
/// timeout it was given (for the message).
#[derive(Debug)]
pub struct Expiry {
    at: Instant,
    timeout: Duration,
}

impl Gate for DeadlineGate {
    type Ticket = Expiry;

    fn admit<B: Send + 'static>(
        &self,
        mut request: http::Request<B>,
    ) -> impl Future<Output = Admission<B, Self::Ticket>> + Send + 'static {
        ready(self.timeout(request.headers()).map(|timeout| {
            let at = Instant::now() + timeout;
            request.extensions_mut().insert(Deadline(at));
            (request, Expiry { at, timeout })
        }))
    }

    async fn finish<F, R, E>(expiry: Expiry, response: F) -> Result<http::Response<R>, E>
    where
        F: Future<Output = Result<http::Response<R>, E>> + Send,
        R: Default + Send,
    {
        match tokio::time::timeout_at(expiry.at, response).await {
            Ok(response) => response,
            Err(_) => Ok(reply(tonic::Status::deadline_exceeded(format!(
                "the request's deadline of {:?} passed before it was served",
                expiry.timeout
            )))),
        }
    }
}
