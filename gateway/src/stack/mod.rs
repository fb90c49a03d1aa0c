//! The tower layers every request passes, outermost first, all inside the
//! request span that `edge_telemetry::TraceContextLayer` opens (parented on
//! the client's `traceparent`; see [`crate::server`]):
//!
//! 1. [`meta`]: request id and the response metadata every answer carries
//!    (`x-request-id`, `x-edge-region`, `x-edge-node`);
//! 2. [`shed`]: the global concurrency limit, refusing at once with
//!    RESOURCE_EXHAUSTED instead of queueing;
//! 3. [`deadline`]: the client's `grpc-timeout` or the default, enforced;
//! 4. [`auth`]: the API key to a tenant;
//! 5. [`tenant`]: the tenant's rate limit and in-flight cap.
//!
//! Each layer answers a refusal itself with a gRPC status (trailers-only
//! response), so the layers below it never see the request.

pub mod auth;
pub mod deadline;
pub mod meta;
pub mod shed;
pub mod tenant;

use std::future::Future;
use std::pin::Pin;

/// The future every layer's service returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A gRPC error as a trailers-only HTTP response.
pub fn reply<B: Default>(status: tonic::Status) -> http::Response<B> {
    status.into_http()
}

/// Swaps a clone of `inner` in, returning the one that was polled ready
/// (tower's rule: call the instance whose `poll_ready` succeeded).
pub fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}
