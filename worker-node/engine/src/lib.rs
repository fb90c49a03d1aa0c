//! `edge-engine`: real V8 14.4 (the pinned mini-racer wheel's shared library,
//! loaded at run time) behind a safe, typed API, and the loader that turns a
//! Worker bundle into a script V8 can run.
//!
//! - `types`: the vocabulary every other part shares ([`Bundle`],
//!   [`Invocation`], [`Limits`], [`Outcome`], [`WorkerError`] ...). Plain
//!   serde data, so isolates in sandbox processes speak it unchanged.
//! - [`loader`]: ES modules in JS or TS → one classic script (oxc). Depends on
//!   the types only.
//! - `isolate` and `event_loop`: [`Isolate`] — create, load, invoke, heap
//!   statistics, dispose — and the loop that drives one evaluation at a time,
//!   answers host calls, fires timers and enforces the limits.
//! - `verdict`: the one place that turns what a Worker's runtime reported
//!   into an outcome: bounded, with platform error kinds the host's alone.
//! - `ffi`: the mini-racer C ABI, the crate's only unsafe code.
//!
//! Everything V8 is behind the default feature `v8`; without it the crate is
//! the types and the loader, which build and test with no pip and no network.

#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "v8")]
mod event_loop;
#[cfg(feature = "v8")]
mod ffi;
#[cfg(feature = "v8")]
mod isolate;
pub mod loader;
mod types;
#[cfg(feature = "v8")]
mod verdict;

#[cfg(feature = "v8")]
pub use ffi::EngineError;
#[cfg(feature = "v8")]
pub use ffi::V8;
#[cfg(feature = "v8")]
pub use ffi::library_dir;
#[cfg(feature = "v8")]
pub use isolate::HeapStats;
#[cfg(feature = "v8")]
pub use isolate::Isolate;
#[cfg(feature = "v8")]
pub use isolate::LoadReport;
pub use types::Bundle;
pub use types::ErrorKind;
pub use types::HostFunctions;
pub use types::HttpRequest;
pub use types::HttpResponse;
pub use types::Invocation;
pub use types::InvocationStats;
pub use types::InvocationValue;
pub use types::Limits;
pub use types::LogLine;
pub use types::Module;
pub use types::NoHostFunctions;
pub use types::Outcome;
pub use types::WorkerError;
#[cfg(feature = "v8")]
pub use verdict::bound_outcome;
#[cfg(feature = "v8")]
pub use verdict::bounded_error;
#[cfg(feature = "v8")]
pub use verdict::bounded_logs;
