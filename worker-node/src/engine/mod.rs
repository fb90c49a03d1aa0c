//! The V8 engine: real V8 14.4 from the pinned mini-racer shared library.
//!
//! - `isolate`: the safe [`Isolate`] built on the C ABI in `crate::sys::v8`
//!   (the crate's one home of unsafe code), driving `webapi.js` (the web
//!   platform classes) and `runtime.js` (the host glue) inside each isolate.
//! - `types`: plain-data requests, results, limits and errors, shared with
//!   sandboxes in other processes.

mod isolate;
mod types;

pub use crate::sys::v8::EngineError;
pub use crate::sys::v8::V8;
pub use crate::sys::v8::library_dir;
pub use isolate::HeapStats;
pub use isolate::Isolate;
pub use isolate::LoadReport;
pub use types::*;
