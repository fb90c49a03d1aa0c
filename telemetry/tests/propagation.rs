//! W3C trace context through real tonic servers on 127.0.0.1: the server layer parents the
//! request span on the caller's `traceparent`, and calls made from the handler carry it on.

mod support;

use std::net::SocketAddr;
use std::sync::OnceLock;

use edge_telemetry::TelemetryConfig;
use edge_telemetry::TelemetryError;
use edge_telemetry::TelemetryGuard;
use edge_telemetry::TraceContextInterceptor;
use edge_telemetry::TraceContextLayer;
use edge_telemetry::init_with;
use edge_telemetry::inject;
use opentelemetry::trace::SpanContext;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
use support::Received;
use support::Recorder;
use support::STEP_TIMEOUT;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tonic::metadata::MetadataKey;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// One global subscriber per test process; no export, so only propagation is exercised.
fn telemetry() -> &'static TelemetryGuard {
    static GUARD: OnceLock<TelemetryGuard> = OnceLock::new();
    GUARD.get_or_init(|| init_with(TelemetryConfig::new("propagation-test")).expect("init"))
}

/// The server under test: reports its current span context, then calls `downstream` twice,
/// once with `inject` and once through `TraceContextInterceptor`.
struct Front {
    downstream: SocketAddr,
    seen: mpsc::UnboundedSender<SpanContext>,
}

#[tonic::async_trait]
impl TraceService for Front {
    async fn export(
        &self,
        _request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let context = tracing::Span::current().context();
        let _ = self.seen.send(context.span().span_context().clone());
        let channel = Channel::from_shared(format!("http://{}", self.downstream))
            .expect("downstream uri")
            .connect()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut request = tonic::Request::new(ExportTraceServiceRequest::default());
        inject(request.metadata_mut());
        TraceServiceClient::new(channel.clone())
            .export(request)
            .await?;
        TraceServiceClient::with_interceptor(channel, TraceContextInterceptor)
            .export(ExportTraceServiceRequest::default())
            .await?;
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// What one call through the front server produced.
struct Outcome {
    /// The call's own result, as the client saw it.
    status: Result<(), tonic::Status>,
    /// The span context the handler saw as current.
    handler: SpanContext,
    /// What the downstream server received from the handler.
    downstream: Received,
}

/// Starts a downstream recorder and a front server with [`TraceContextLayer`], then calls the
/// front server once with `headers` as request metadata.
async fn call_front(headers: &[(&str, &[u8])]) -> Outcome {
    telemetry();
    let downstream = Recorder::default();
    let downstream_addr = support::serve_plain(downstream.clone()).await;
    let (seen, mut handler_contexts) = mpsc::unbounded_channel();
    let front = Front {
        downstream: downstream_addr,
        seen,
    };
    let (listener, front_addr) = support::listener().await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(TraceContextLayer)
            .add_service(TraceServiceServer::new(front))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let mut client = timeout(
        STEP_TIMEOUT,
        TraceServiceClient::connect(format!("http://{front_addr}")),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    let mut request = tonic::Request::new(ExportTraceServiceRequest::default());
    for (name, value) in headers {
        let name = MetadataKey::from_bytes(name.as_bytes()).expect("header name");
        let value = MetadataValue::try_from(*value).expect("header value");
        request.metadata_mut().append(name, value);
    }
    let status = timeout(STEP_TIMEOUT, client.export(request))
        .await
        .expect("call in time")
        .map(drop);
    let handler = timeout(STEP_TIMEOUT, handler_contexts.recv())
        .await
        .expect("handler ran in time")
        .expect("handler reported");
    Outcome {
        status,
        handler,
        downstream: downstream.snapshot(),
    }
}

fn traceparent(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8()
    )
}

#[tokio::test]
async fn incoming_traceparent_becomes_the_parent_and_flows_downstream() {
    let incoming = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    let outcome = call_front(&[
        ("traceparent", incoming.as_bytes()),
        ("tracestate", b"congo=t61rcWkgMzE"),
        ("x-request-id", b"req-1"),
    ])
    .await;
    outcome.status.expect("call succeeds");
    let handler = outcome.handler;
    assert_eq!(handler.trace_id().to_string(), TRACE_ID);
    assert!(
        handler.span_id().to_string() != PARENT_SPAN_ID,
        "a new span id"
    );
    assert!(handler.is_valid() && handler.is_sampled());

    let expected = traceparent(&handler);
    // One call with `inject`, one through the interceptor: both carry the handler's span.
    assert_eq!(
        outcome.downstream.traceparents,
        vec![Some(expected.clone()), Some(expected)]
    );
    assert_eq!(
        outcome.downstream.tracestates,
        vec![Some("congo=t61rcWkgMzE".to_owned()); 2]
    );
}

#[tokio::test]
async fn unsampled_parent_stays_unsampled_downstream() {
    let incoming = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-00");
    let outcome = call_front(&[("traceparent", incoming.as_bytes())]).await;
    outcome.status.expect("call succeeds");
    assert_eq!(outcome.handler.trace_id().to_string(), TRACE_ID);
    assert!(!outcome.handler.is_sampled());
    let sent = outcome.downstream.traceparents[0]
        .clone()
        .expect("traceparent sent");
    assert!(sent.starts_with(&format!("00-{TRACE_ID}-")), "{sent}");
    assert!(sent.ends_with("-00"), "{sent}");
}

#[tokio::test]
async fn request_without_traceparent_starts_a_new_trace() {
    let outcome = call_front(&[]).await;
    outcome.status.expect("call succeeds");
    assert!(outcome.handler.is_valid());
    assert_eq!(
        outcome.downstream.traceparents[0],
        Some(traceparent(&outcome.handler))
    );
    assert_eq!(outcome.downstream.tracestates[0], None);
}

#[tokio::test]
async fn malformed_traceparent_is_ignored_and_starts_a_new_trace() {
    let long = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01{}", "x".repeat(2000));
    let malformed: Vec<&[u8]> = vec![
        b"garbage",
        b"",
        b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        b"00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\xff",
        long.as_bytes(),
    ];
    for value in malformed {
        let shown = String::from_utf8_lossy(value);
        let outcome = call_front(&[("traceparent", value), ("tracestate", b"congo=x")]).await;
        outcome
            .status
            .unwrap_or_else(|e| panic!("call with traceparent {shown:?} failed: {e}"));
        let handler = outcome.handler;
        assert!(handler.is_valid(), "{shown:?}");
        assert!(
            handler.trace_id().to_string() != TRACE_ID,
            "traceparent {shown:?} must not be trusted"
        );
        assert_eq!(
            outcome.downstream.traceparents[0],
            Some(traceparent(&handler)),
            "{shown:?}"
        );
        // W3C: a tracestate without a valid traceparent is dropped too.
        assert_eq!(outcome.downstream.tracestates[0], None, "{shown:?}");
    }
}

#[tokio::test]
async fn second_init_is_a_clear_error() {
    telemetry();
    let error = init_with(TelemetryConfig::new("again")).expect_err("already initialised");
    assert!(
        matches!(error, TelemetryError::AlreadyInitialized(_)),
        "{error}"
    );
}

#[test]
fn bad_filter_is_a_clear_error() {
    let config = TelemetryConfig {
        filter: "edge=notalevel".to_owned(),
        ..TelemetryConfig::new("bad")
    };
    let error = init_with(config).expect_err("bad filter");
    assert!(
        matches!(error, TelemetryError::InvalidFilter { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("edge=notalevel"), "{error}");
}

#[test]
fn bad_endpoint_is_a_clear_error() {
    let config = TelemetryConfig {
        otlp_endpoint: Some("http://[::1".to_owned()),
        ..TelemetryConfig::new("bad")
    };
    let error = init_with(config).expect_err("bad endpoint");
    assert!(matches!(error, TelemetryError::Exporter { .. }), "{error}");
}
