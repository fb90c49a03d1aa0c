//! Tracing set-up and W3C trace-context propagation for the edge gRPC services
//! (gateway, worker-node, control-plane).
//!
//! - [`init`] installs stderr logging (`RUST_LOG`, default `info`) and, when the standard
//!   `OTEL_*` variables ask for it, OTLP/gRPC span export; [`init_with`] takes the settings
//!   explicitly. Keep the returned [`TelemetryGuard`] alive: dropping it flushes spans.
//! - [`TraceContextLayer`] gives every incoming gRPC request a span whose OpenTelemetry
//!   parent is the caller's `traceparent`/`tracestate`.
//! - [`inject`] (or [`TraceContextInterceptor`]) writes the current span's context into
//!   outgoing calls.
//!
//! Malformed trace headers are ignored: the request starts a new trace.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod carrier;
mod config;
mod error;
mod init;
mod inject;
mod layer;

pub use config::TelemetryConfig;
pub use error::TelemetryError;
pub use init::TelemetryGuard;
pub use init::init;
pub use init::init_with;
pub use inject::TraceContextInterceptor;
pub use inject::inject;
pub use layer::TraceContextLayer;
pub use layer::TraceContextService;
