//! `worker-node`: the worker node binary. Today it only hosts sandboxes (the
//! supervisor re-executes this binary for each one); the node service itself
//! arrives with the gateway issue.

#![forbid(unsafe_code)]

fn main() {
    edge_sandbox::run_child_if_requested();
    eprintln!(
        "worker-node: the node service (gRPC, registration, config) comes with the gateway issue; \
         this build only serves as the sandbox executable ({} ...)",
        edge_sandbox::CHILD_MARKER
    );
    std::process::exit(2);
}
