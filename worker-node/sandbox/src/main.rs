//! `edge-sandbox`: a binary that only hosts sandboxes. A supervisor whose
//! `SandboxConfig::executable` points here re-executes it for each sandbox;
//! run by hand, it says what it is for.

#![forbid(unsafe_code)]

fn main() {
    edge_sandbox::run_child_if_requested();
    eprintln!(
        "edge-sandbox: this binary is started by a worker node's supervisor as a sandbox \
         ({} ...); it has nothing to do on its own",
        edge_sandbox::CHILD_MARKER
    );
    std::process::exit(2);
}
