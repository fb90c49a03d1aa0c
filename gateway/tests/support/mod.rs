//! Real processes for the gateway's integration tests: one control-plane
//! node (the binary built by `cargo build -p control-plane --bins`, found
//! next to the test executable) and the gateway binary, on loopback.

#![allow(dead_code)]

use std::io::BufRead;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use edge_proto::v1 as pb;
use edge_proto::v1::cluster_admin_client::ClusterAdminClient;
use edge_proto::v1::gateway_client::GatewayClient;
use tonic::transport::Channel;
use tonic::transport::Endpoint;

/// `target/<profile>/<name>`, next to the test executable's `deps/`.
pub fn sibling_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build it first with `cargo build -p {name} --bins`",
        path.display()
    );
    path
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Kills the child when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A lazily connected channel to `addr`.
pub fn channel(addr: &str) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_millis(500))
        .connect_lazy()
}

/// One control-plane node, initialised; `admin_key` is the cluster's first key.
pub struct ControlPlane {
    pub addr: String,
    pub admin_key: String,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl ControlPlane {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("cp.log")).expect("log file");
        let child = Command::new(sibling_binary("control-plane"))
            .args(["--id", "1", "--listen", &addr, "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--election-timeout-ms", "300", "--raft-heartbeat-ms", "75"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn control-plane");
        let proc = Proc(child);
        let mut admin = ClusterAdminClient::new(channel(&addr));
        let started = Instant::now();
        let init = loop {
            let mut req = tonic::Request::new(pb::InitRequest {
                admin_tenant: String::new(),
            });
            req.set_timeout(Duration::from_secs(5));
            match admin.init(req).await {
                Ok(r) => break r.into_inner(),
                Err(e) => assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "control plane never initialised: {e:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            !init.admin_key.is_empty(),
            "ClusterAdmin.Init returned no admin key (control plane older than issue 9)"
        );
        Self {
            addr,
            admin_key: init.admin_key,
            _proc: proc,
            _dir: dir,
        }
    }
}

/// The gateway binary, listening on the address its ready line printed.
pub struct Gateway {
    pub addr: String,
    pub proc: Proc,
}

impl Gateway {
    pub fn start(control_plane: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["--listen", "127.0.0.1:0", "--control-plane", control_plane])
            .args([
                "--region",
                "eu",
                "--latitude",
                "50.11",
                "--longitude",
                "8.68",
            ])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn gateway");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        // Blocking read, bounded: the gateway prints within its 2 s first refresh.
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ready line");
        let ready: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("ready line {line:?} is not JSON: {e}"));
        assert_eq!(ready["region"], "eu");
        let addr = ready["listen"].as_str().expect("listen").to_string();
        Self {
            addr,
            proc: Proc(child),
        }
    }

    pub fn client(&self) -> GatewayClient<Channel> {
        GatewayClient::new(channel(&self.addr))
    }
}

/// A request with `authorization: Bearer <key>`.
pub fn authed<T>(key: &str, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("ascii key"),
    );
    req
}

/// A one-module TypeScript Worker.
pub fn bundle(source: &str) -> pb::Bundle {
    pb::Bundle {
        modules: vec![pb::Module {
            name: "main.ts".into(),
            source: source.into(),
        }],
        main_module: "main.ts".into(),
    }
}

pub const HELLO: &str = r#"export default {
  async greet(input: { name: string }) { console.log("greeting", input.name); return { hello: input.name }; },
  async fetch(req: Request) { return new Response("hi " + new URL(req.url).pathname); },
};"#;

/// One `worker-node` process registered with the control plane.
pub struct WorkerNode {
    pub node_id: String,
    pub addr: String,
    pub proc: Proc,
}

impl WorkerNode {
    pub fn start(
        root: &std::path::Path,
        control_plane: &str,
        node_id: &str,
        region: &str,
        (lat, lon): (f64, f64),
    ) -> Self {
        let data = root.join(node_id);
        std::fs::create_dir_all(&data).expect("node data dir");
        let log = std::fs::File::create(root.join(format!("{node_id}.log"))).expect("log");
        let mut child = Command::new(sibling_binary("worker-node"))
            .args(["--node-id", node_id, "--region", region])
            .args([
                "--latitude",
                &lat.to_string(),
                "--longitude",
                &lon.to_string(),
            ])
            .args(["--listen", "127.0.0.1:0", "--control-plane", control_plane])
            .args(["--heartbeat-ms", "200", "--data-dir"])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn worker-node");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ready line");
        let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!("worker-node {node_id} ready line {line:?} is not JSON: {e} (see {node_id}.log)")
        });
        assert_eq!(ready["node_id"], node_id);
        Self {
            node_id: node_id.into(),
            addr: ready["listen"].as_str().expect("listen").into(),
            proc: Proc(child),
        }
    }
}
