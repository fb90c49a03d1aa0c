//! Client side: write the current span's trace context into outgoing gRPC metadata.

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::MetadataMap;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::carrier::HeaderInjector;

/// Writes the current `tracing` span's context into `metadata` as `traceparent` (and
/// `tracestate` when it has one), replacing earlier values. Does nothing outside any span
/// or when telemetry was not initialised.
pub fn inject(metadata: &mut MetadataMap) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(metadata.as_mut()));
}

/// A tonic client interceptor that calls [`inject`] on every outgoing request.
///
/// ```text
/// let client = WorkerNodeClient::with_interceptor(channel, edge_telemetry::TraceContextInterceptor);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextInterceptor;

impl tonic::service::Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject(request.metadata_mut());
        Ok(request)
    }
}
