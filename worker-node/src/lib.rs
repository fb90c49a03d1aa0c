//! The worker node.
//!
//! - [`engine`]: real V8 through the mini-racer shared library: a safe,
//!   typed [`engine::Isolate`] API.
//! - [`loader`]: Worker bundles (ES modules, JS or TS) to one script.
//! - [`sandbox`]: supervised sandbox processes (one tenant each: memory
//!   cgroup, no network, private read-only root, seccomp) that host the
//!   isolates; warm pool.
//! - [`cache`]: loaded Workers by (tenant, id, code hash), LRU under the
//!   node's memory budget, and the billing load events.
//! - [`outbox`]: the durable billing outbox, shipped to the control plane.
//! - `sys` (private): all of the crate's unsafe code in one module — the V8
//!   C ABI and the sandbox's system calls.

#![deny(unsafe_code)]

pub mod cache;
pub mod engine;
pub mod loader;
pub mod outbox;
pub mod sandbox;
mod sys;
