//! Installs the global `tracing` subscriber: stderr logs plus OpenTelemetry spans.

use std::io::IsTerminal as _;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::Runtime;
use tokio::runtime::RuntimeFlavor;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config;
use crate::config::TelemetryConfig;
use crate::error::TelemetryError;

/// Instrumentation scope name of the spans this crate's subscriber records.
const TRACER_NAME: &str = "edge-telemetry";

/// Span targets never turned into OpenTelemetry spans: the exporter's own transport runs
/// through them, and exporting its spans would feed the exporter forever.
const NOT_EXPORTED_TARGETS: &[&str] = &["h2", "hyper", "tonic", "tower", "opentelemetry"];

/// Target of the per-request spans `TraceContextLayer` opens (its module path).
const REQUEST_SPAN_TARGET: &str = "edge_telemetry";

/// How long dropping the guard waits for queued spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps span export running; dropping it flushes queued spans and stops export.
///
/// Hold it in `main` for the life of the process.
#[must_use = "dropping the guard stops span export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    /// Runs the OTLP client's connection tasks, apart from the application's runtime so a
    /// flush never waits on a runtime that is itself blocked in the flush.
    export_runtime: Option<Runtime>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("exporting", &self.export_runtime.is_some())
            .finish()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let Some(runtime) = self.export_runtime.take() else {
            return;
        };
        let provider = &self.provider;
        let flush = || {
            if let Err(error) = provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
                tracing::warn!(%error, "flushing spans to the OTLP collector failed");
            }
        };
        // The flush blocks; on a multi-thread runtime, hand this worker's tasks to another thread first.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(flush)
            }
            _ => flush(),
        }
        runtime.shutdown_background();
    }
}

/// Sets up logging and tracing from the environment (see [`TelemetryConfig::from_env`]):
/// stderr logs filtered by `RUST_LOG` (default `info`), and OTLP/gRPC span export with batching
/// when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, unless
/// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
pub fn init(service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    let (config, warnings) = config::from_lookup(service_name, |name| std::env::var(name).ok());
    let guard = init_with(config)?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(guard)
}

/// Sets up logging and tracing from explicit settings; the environment is not read
/// (except `OTEL_RESOURCE_ATTRIBUTES` and the exporter's own `OTEL_EXPORTER_OTLP_*` tuning).
///
/// Fails if the filter does not parse, the endpoint is malformed, or a global subscriber is
/// already installed. Call it once per process.
pub fn init_with(config: TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let parse = |directives: &str| {
        EnvFilter::try_new(directives).map_err(|source| TelemetryError::InvalidFilter {
            filter: config.filter.clone(),
            source,
        })
    };
    // The log filter governs only what is printed: the per-request spans
    // must exist whatever `RUST_LOG` says, or a quiet service would stop
    // passing `traceparent` on to the next hop.
    let log_filter = parse(&config.filter)?;
    let span_filter = parse(&format!("{},{REQUEST_SPAN_TARGET}=info", config.filter))?;
    let guard = tracer_provider(&config)?;
    let spans = tracing_opentelemetry::layer()
        .with_tracer(guard.provider.tracer(TRACER_NAME))
        .with_filter(span_filter)
        .with_filter(filter_fn(|meta| {
            !NOT_EXPORTED_TARGETS
                .iter()
                .any(|target| meta.target().starts_with(target))
        }));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(log_filter);
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()
        .map_err(TelemetryError::AlreadyInitialized)?;
    if let Some(endpoint) = &config.otlp_endpoint {
        tracing::info!(endpoint, "exporting spans over OTLP/gRPC");
    }
    Ok(guard)
}

/// A tracer provider that batches spans to the OTLP endpoint, or records none when there is
/// no endpoint (spans still get ids, so trace context still propagates).
fn tracer_provider(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(endpoint) = &config.otlp_endpoint else {
        return Ok(TelemetryGuard {
            provider: builder.build(),
            export_runtime: None,
        });
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("otlp-export")
        .enable_all()
        .build()
        .map_err(TelemetryError::ExportRuntime)?;
    // The gRPC channel spawns its connection tasks on the runtime it is built in.
    let exporter = {
        let _entered = runtime.enter();
        opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
    }
    .map_err(|source| TelemetryError::Exporter {
        endpoint: endpoint.clone(),
        source,
    })?;
    Ok(TelemetryGuard {
        provider: builder.with_batch_exporter(exporter).build(),
        export_runtime: Some(runtime),
    })
}
