//! Errors from setting up telemetry.

/// Why [`crate::init`] or [`crate::init_with`] failed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter (from `RUST_LOG` or the config) does not parse.
    #[error("invalid log filter {filter:?}: {source}")]
    InvalidFilter {
        /// The filter text as given.
        filter: String,
        /// What the parser rejected.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The OTLP exporter could not be built (for example a malformed endpoint).
    #[error("cannot build the OTLP exporter for {endpoint:?}: {source}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// The exporter's own error.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The background runtime that carries OTLP export could not start.
    #[error("cannot start the OTLP export runtime: {0}")]
    ExportRuntime(#[source] std::io::Error),
    /// Another global `tracing` subscriber is already installed in this process.
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInitialized(#[source] tracing_subscriber::util::TryInitError),
}
