//! The control plane: 3 or 5 nodes replicating one state machine with
//! openraft, stored on sled. It will hold the worker-node registry and
//! heartbeats, the Worker registry (code bundles), placement, tenants and API
//! keys, and the billing ledger (unique Worker loads per tenant per UTC day).
//!
//! Filled by the control-plane issue; this crate exists so the workspace and
//! its gRPC contract build from the start.

#![forbid(unsafe_code)]
