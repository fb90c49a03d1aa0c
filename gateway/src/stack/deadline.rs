//! Deadlines end to end: the client's `grpc-timeout` (or the default when
//! absent) becomes a [`Deadline`] in the request's extensions, which the
//! handlers pass on to node and control-plane calls as their remaining
//! time. A request whose deadline has already passed is refused before any
//! work; one that runs out while waiting is answered DEADLINE_EXCEEDED.

use std::task::Context;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;
use tower::Layer;
use tower::Service;

use edge_proto::deadline::GRPC_TIMEOUT;
use edge_proto::deadline::parse_grpc_timeout;

use super::BoxFuture;
use super::reply;
use super::take_ready;
use crate::context::Deadline;

/// Below this, no hop can finish: treat the deadline as already past.
pub const MIN_USEFUL_TIMEOUT: Duration = Duration::from_micros(100);

/// Sets and enforces each request's deadline.
#[derive(Debug, Clone)]
pub struct DeadlineLayer {
    default: Duration,
}

impl DeadlineLayer {
    /// `default` applies when the client sent no `grpc-timeout`.
    pub fn new(default: Duration) -> Self {
        Self { default }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            default: self.default,
        }
    }
}

/// Service of [`DeadlineLayer`].
#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    default: Duration,
}

impl<S, B, R> Service<http::Request<B>> for DeadlineService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let timeout = match req.headers().get(GRPC_TIMEOUT) {
            None => self.default,
            Some(v) => match v.to_str().ok().and_then(parse_grpc_timeout) {
                Some(t) => t,
                None => {
                    let status = tonic::Status::invalid_argument(format!(
                        "grpc-timeout {v:?} is not 1-8 digits and a unit (H, M, S, m, u, n)"
                    ));
                    return Box::pin(async move { Ok(reply(status)) });
                }
            },
        };
        if timeout < MIN_USEFUL_TIMEOUT {
            return Box::pin(async move {
                Ok(reply(tonic::Status::deadline_exceeded(format!(
                    "the request's deadline ({timeout:?}) had passed when it arrived; nothing was done"
                ))))
            });
        }
        let deadline = Instant::now() + timeout;
        req.extensions_mut().insert(Deadline(deadline));
        let fut = take_ready(&mut self.inner).call(req);
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, fut).await {
                Ok(resp) => resp,
                Err(_) => Ok(reply(tonic::Status::deadline_exceeded(format!(
                    "the request's deadline of {timeout:?} passed before it was served"
                )))),
            }
        })
    }
}
