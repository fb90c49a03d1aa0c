//! The gateway: the gRPC front door (`edge.v1.Gateway`). It will authenticate
//! tenants, route each request to the nearest healthy region and a node in it
//! (rendezvous hashing on the worker id), shed load and propagate traces.
//!
//! Filled by the gateway issue; this crate exists so the workspace builds.

#![forbid(unsafe_code)]
