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
//! Each is a [`Gate`] behind one service, [`GateService`]: the gate admits
//! the request (or refuses it with a gRPC status, answered as a
//! trailers-only response, so the layers below it never see the request)
//! and holds a ticket until the response is ready.

pub mod auth;
pub mod deadline;
pub mod meta;
pub mod shed;
pub mod tenant;

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::task::Poll;

use tower::Layer;
use tower::Service;

/// The future every gated service returns.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A request let through with its ticket, or the status refusing it.
pub type Admission<B, T> = Result<(http::Request<B>, T), tonic::Status>;

/// One concern of the stack: what a request must pass, and what is held
/// while the layers below serve it.
pub trait Gate: Clone + Send + 'static {
    /// Held from admission until the response is ready (a permit, a
    /// deadline, what to stamp on the response).
    type Ticket: Send + 'static;

    /// Lets `request` through (perhaps with extensions added) with its
    /// ticket, or refuses it with the status to answer.
    fn admit<B: Send + 'static>(
        &self,
        request: http::Request<B>,
    ) -> impl Future<Output = Admission<B, Self::Ticket>> + Send + 'static;

    /// Awaits the layers below with `ticket` held, and may reshape or
    /// replace their answer (stamped metadata, DEADLINE_EXCEEDED); by
    /// default the ticket is only held, and dropped once the response is ready.
    fn finish<F, R, E>(
        ticket: Self::Ticket,
        response: F,
    ) -> impl Future<Output = Result<http::Response<R>, E>> + Send
    where
        F: Future<Output = Result<http::Response<R>, E>> + Send,
        R: Default + Send,
    {
        async move {
            let response = response.await;
            drop(ticket);
            response
        }
    }
}

/// Puts a [`Gate`] in front of a service.
#[derive(Debug, Clone)]
pub struct GateLayer<G>(G);

impl<G> GateLayer<G> {
    /// A layer applying `gate`.
    pub fn new(gate: G) -> Self {
        Self(gate)
    }
}

impl<S, G: Clone> Layer<S> for GateLayer<G> {
    type Service = GateService<S, G>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService {
            inner,
            gate: self.0.clone(),
        }
    }
}

/// Service of [`GateLayer`].
#[derive(Debug, Clone)]
pub struct GateService<S, G> {
    inner: S,
    gate: G,
}

impl<S, G, B, R> Service<http::Request<B>> for GateService<S, G>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    G: Gate,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let admitted = self.gate.admit(request);
        let mut inner = take_ready(&mut self.inner);
        Box::pin(async move {
            match admitted.await {
                Ok((request, ticket)) => G::finish(ticket, inner.call(request)).await,
                Err(status) => Ok(reply(status)),
            }
        })
    }
}

/// A gRPC error as a trailers-only HTTP response.
fn reply<B: Default>(status: tonic::Status) -> http::Response<B> {
    status.into_http()
}

/// Swaps a clone of `inner` in, returning the one that was polled ready
/// (tower's rule: call the instance whose `poll_ready` succeeded).
fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

#[cfg(test)]
mod tests;
