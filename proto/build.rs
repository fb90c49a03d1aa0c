//! Compiles `edge/v1/*.proto` with the pure-Rust `protox` compiler, so no
//! system `protoc` is needed, then generates prost messages and tonic stubs.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let files = [
        "edge/v1/common.proto",
        "edge/v1/gateway.proto",
        "edge/v1/worker_node.proto",
        "edge/v1/control_plane.proto",
        "edge/v1/raft.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(files, [&root])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
