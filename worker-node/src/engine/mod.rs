//! The V8 engine: real V8 14.4 from the pinned mini-racer shared library.
//!
//! - `ffi`: the C ABI and every unsafe block of the project.
//! - `isolate`: the safe [`Isolate`] built on it, driving `webapi.js` (the web
//!   platform classes) and `runtime.js` (the host glue) inside each isolate.
//! - `types`: plain-data requests, results, limits and errors, shared with
//!   sandboxes in other processes.

#![deny(unsafe_op_in_unsafe_fn)]

#[allow(unsafe_code)]
mod ffi;
mod isolate;
mod types;

pub use ffi::EngineError;
pub use ffi::V8;
pub use ffi::library_dir;
pub use isolate::HeapStats;
pub use isolate::Isolate;
pub use isolate::LoadReport;
pub use types::*;
