//! The worker node.
//!
//! - [`engine`]: real V8 through the mini-racer shared library; the only
//!   module with `unsafe` code. A safe, typed [`engine::Isolate`] API.
//! - [`loader`]: Worker bundles (ES modules, JS or TS) to one script.

#![deny(unsafe_code)]

pub mod engine;
pub mod loader;
