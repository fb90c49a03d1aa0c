//! `worker-node`: one per machine. It runs tenants' Workers in V8 isolates
//! inside sandbox processes (`edge-sandbox`, over `edge-engine`), keeps
//! loaded Workers warm, and bills each unique Worker once per UTC day.
//!
//! # The life of one invocation, hop by hop
//!
//! 1. [`cache::Workers::invoke`] names the Worker by [`cache::WorkerKey`]
//!    (tenant, id, [`cache::code_hash`]) and calls [`cache::Workers::get`]:
//!    a live isolate from the LRU, or [`edge_sandbox::Supervisor::load`],
//!    which places it (`Supervisor::place`: one of the tenant's sandboxes, a
//!    warm one assigned to the tenant, or a new one) and sends
//!    `protocol::Request::Load` over the sandbox's socket
//!    (`SandboxProcess::request`).
//! 2. In the sandbox, `child::serve` reads the request and hands it to the
//!    isolate's own thread, `child::slot::run`, which takes a pre-warmed
//!    [`edge_engine::Isolate`] and calls [`edge_engine::Isolate::load`]: the
//!    loader ([`edge_engine::loader::compile_bundle`]) turns the modules into
//!    one script and the event loop evaluates it.
//! 3. The first use of the day goes to [`billing`]: `Billing::record_use`
//!    hands a [`billing::LoadEvent`] to the [`billing::LoadSink`] (the
//!    durable [`billing::Outbox`]) and waits until it is on disk.
//! 4. [`edge_sandbox::Supervisor::invoke`] sends `Request::Invoke`;
//!    `Slot::invoke` runs [`edge_engine::Isolate::invoke`], whose event loop
//!    answers binding calls by asking the supervisor (`Reply::HostCall`,
//!    run by `SandboxProcess::run_host_call` in the supervisor, never in
//!    the sandbox) and enforces the wall, CPU and memory limits.
//! 5. The [`edge_engine::Outcome`] comes back as `Reply::Invoked`; the slot
//!    then watches the isolate until it is idle (`child::slot::Watch`).
//! 6. The outbox's shipper ([`billing::Outbox::run_shipper`]) sends pending
//!    load events to the control plane until they are acknowledged.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod billing;
pub mod cache;
