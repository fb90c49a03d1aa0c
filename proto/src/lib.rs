//! The gRPC contract of the edge isolate platform, package `edge.v1`.
//!
//! - `Gateway`: the client-facing service (Workers, invocations, logs).
//! - `WorkerNode`: what the gateway calls on each worker node.
//! - `ControlPlane` and `ClusterAdmin`: the replicated registry, placement,
//!   tenants, billing ledger and cluster membership.
//! - `RaftTransport`: Raft messages between control-plane nodes.
//!
//! The code is generated at build time from `edge/v1/*.proto`. Beside it live
//! the two definitions every component must share exactly: [`code_hash`] and
//! the billing vocabulary ([`billing`]: [`UtcDay`], [`UniqueWorker`]), plus how
//! every hop reads its caller's deadline ([`deadline`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod billing;
pub mod deadline;

pub use billing::UniqueWorker;
pub use billing::UtcDay;

/// The code hash that names one version of a Worker (`WorkerRef.code_hash`):
/// sha256, hex, over the main module's name and then every module's name and
/// source in name order, each length-prefixed. Module order does not matter,
/// so the control plane's registry, a node's cache and the billing ledger all
/// agree on what "the same code" is.
pub fn code_hash<'a>(
    main_module: &str,
    modules: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    field(main_module.as_bytes());
    let mut modules: Vec<(&str, &str)> = modules.into_iter().collect();
    modules.sort_unstable();
    for (name, source) in modules {
        field(name.as_bytes());
        field(source.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Package `edge.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("edge.v1");
}
