//! The worker node.
//!
//! - [`engine`]: real V8 through the mini-racer shared library; the only
//!   module with `unsafe` code. A safe, typed [`engine::Isolate`] API.
//! - [`loader`]: Worker bundles (ES modules, JS or TS) to one script.
//! - [`sandbox`]: supervised sandbox processes (one tenant each: memory
//!   cgroup, no network, seccomp) that host the isolates; warm pool.
//! - [`cache`]: loaded Workers by (tenant, id, code hash), LRU under the
//!   node's memory budget, and the billing load events.
//! - [`outbox`]: the durable billing outbox, shipped to the control plane.

#![deny(unsafe_code)]

pub mod engine;
pub mod loader;
pub mod sandbox;
pub mod cache;
pub mod outbox;
