//! Server side: one span per incoming gRPC request, parented on the caller's trace context.

use std::task::Context;
use std::task::Poll;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument as _;
use tracing::Span;
use tracing::instrument::Instrumented;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::carrier::HeaderExtractor;

/// Request header whose value becomes the span's `request_id` field.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// Tower layer for tonic servers: wraps each request in a `grpc.server` span named (in
/// OpenTelemetry) after the gRPC path, with `rpc.service`, `rpc.method` and `request_id`
/// fields, whose parent is the request's `traceparent`/`tracestate`. A missing or malformed
/// `traceparent` starts a new trace.
///
/// ```text
/// tonic::transport::Server::builder().layer(edge_telemetry::TraceContextLayer).add_service(svc)
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextLayer;

impl<S> tower::Layer<S> for TraceContextLayer {
    type Service = TraceContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceContextService { inner }
    }
}

/// The service [`TraceContextLayer`] wraps around a server.
#[derive(Debug, Clone)]
pub struct TraceContextService<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for TraceContextService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = request_span(&request);
        self.inner.call(request).instrument(span)
    }
}

/// The span for one request; its OpenTelemetry parent is whatever the headers carry.
fn request_span<B>(request: &http::Request<B>) -> Span {
    let path = request.uri().path();
    let (service, method) = split_grpc_path(path);
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = path,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        request_id = tracing::field::Empty,
    );
    let headers = request.headers();
    if let Some(id) = headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()) {
        span.record("request_id", id);
    }
    // An invalid or absent traceparent extracts to an empty context: the span becomes a root.
    // Setting it even then keeps the span from inheriting whatever span happens to be current.
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // Fails only when no OpenTelemetry layer is installed (e.g. `init` was not called);
    // the request must still be served, so there is nothing to do about it here.
    let _ = span.set_parent(parent);
    span
}

/// Splits `/package.Service/Method` into its service and method parts.
fn split_grpc_path(path: &str) -> (&str, &str) {
    path.trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", path))
}

#[cfg(test)]
mod tests {
    use super::split_grpc_path;

    #[test]
    fn grpc_path_splits_into_service_and_method() {
        assert_eq!(
            split_grpc_path("/edge.v1.Gateway/Invoke"),
            ("edge.v1.Gateway", "Invoke")
        );
    }

    #[test]
    fn non_grpc_path_has_no_service() {
        assert_eq!(split_grpc_path("/health"), ("", "/health"));
        assert_eq!(split_grpc_path(""), ("", ""));
    }
}
