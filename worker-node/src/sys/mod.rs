//! All of the project's unsafe code, in one place. Every block says why it
//! is sound; nothing here decides policy, the safe callers do.
//!
//! - [`v8`]: the mini-racer C ABI (real V8 14.4, loaded with `dlopen`) and
//!   the shared-memory mailbox between an isolate and its host.
//! - [`sandbox`]: the system calls that build a sandbox process (spawn with
//!   a clean descriptor table, namespaces, mounts, privileges) which std and
//!   our safe crates do not wrap.

#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

pub(crate) mod sandbox;
pub(crate) mod v8;
