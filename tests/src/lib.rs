//! Whole-system integration tests. The tests live in `tests/tests/`; this
//! library holds what they share: locating the built binaries, starting and
//! killing real control-plane processes on loopback, and bounded waiting.
//!
//! The tests start the `control-plane` binary that sits next to the test
//! executable (`target/<profile>/control-plane`); they do not build it. Build
//! the workspace first, as `.ci/run` does:
//!
//! ```text
//! cargo build --workspace --bins && cargo test -p edge-tests
//! ```
//!
//! Every node gets its own temporary data directory and a port chosen by
//! binding 127.0.0.1:0 (kept across restarts, since Raft membership stores
//! addresses). Node stderr goes to `<data dir>.log` for post-mortems; set
//! `EDGE_TEST_NODE_LOG` to the nodes' `RUST_LOG` (default
//! `info,openraft=warn`), e.g. `info,openraft=info` to trace elections.

#![forbid(unsafe_code)]

pub mod fleet;
pub mod scenario;

use std::future::Future;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use edge_proto::v1 as pb;
use edge_proto::v1::cluster_admin_client::ClusterAdminClient;
use edge_proto::v1::control_plane_client::ControlPlaneClient;
use tonic::transport::Channel;

/// Path of a binary built by the workspace (`target/<profile>/<name>`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build it first with `cargo build -p {name}` (same profile as the tests)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Polls `check` every 50 ms until it yields `Some`, or panics after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Extra command line flags for every node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Minimum election timeout.
    pub election_timeout_ms: u64,
    /// Snapshot every this many log entries.
    pub snapshot_every: u64,
    /// Logs kept after a snapshot.
    pub keep_logs: u64,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            election_timeout_ms: 300,
            snapshot_every: 5_000,
            keep_logs: 1_000,
        }
    }
}

/// One control-plane process.
pub struct CpNode {
    /// Raft id.
    pub id: u64,
    /// host:port.
    pub addr: String,
    /// Data directory.
    pub dir: PathBuf,
    options: NodeOptions,
    child: Option<Child>,
}

impl CpNode {
    /// A node that is not started yet, storing under `root`.
    pub fn new(id: u64, root: &std::path::Path, options: NodeOptions) -> Self {
        Self {
            id,
            addr: format!("127.0.0.1:{}", free_port()),
            dir: root.join(format!("node{id}")),
            options,
            child: None,
        }
    }

    /// Starts the process (again) with the same id, address and data.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "node {} is already running", self.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.with_extension("log"))
            .expect("node log file");
        let child = Command::new(binary("control-plane"))
            .args([
                "--id",
                &self.id.to_string(),
                "--listen",
                &self.addr,
                "--data-dir",
            ])
            .arg(&self.dir)
            .args([
                "--election-timeout-ms",
                &self.options.election_timeout_ms.to_string(),
            ])
            .args([
                "--raft-heartbeat-ms",
                &(self.options.election_timeout_ms / 4).max(20).to_string(),
            ])
            .args(["--snapshot-every", &self.options.snapshot_every.to_string()])
            .args(["--keep-logs", &self.options.keep_logs.to_string()])
            .env(
                "RUST_LOG",
                std::env::var("EDGE_TEST_NODE_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn control-plane");
        self.child = Some(child);
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process was started and not killed.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// A ControlPlane client (lazy connection).
    pub fn cp(&self) -> ControlPlaneClient<Channel> {
        ControlPlaneClient::new(lazy(&self.addr)).max_decoding_message_size(512 * 1024 * 1024)
    }

    /// A ClusterAdmin client (lazy connection).
    pub fn admin(&self) -> ClusterAdminClient<Channel> {
        ClusterAdminClient::new(lazy(&self.addr))
    }

    /// The node's own status, if it answers within a second.
    pub async fn local_status(&self) -> Option<pb::StatusResponse> {
        let mut req = tonic::Request::new(pb::StatusRequest { local: true });
        req.set_timeout(Duration::from_secs(1));
        self.admin().status(req).await.ok().map(|r| r.into_inner())
    }

    /// Waits until the process answers gRPC.
    pub async fn wait_ready(&self) {
        wait_for(
            &format!("node {} to answer", self.id),
            Duration::from_secs(20),
            || self.local_status(),
        )
        .await;
    }
}

impl Drop for CpNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn lazy(addr: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_millis(500))
        .connect_lazy()
}

/// A cluster of control-plane processes sharing one temporary directory.
pub struct Cluster {
    /// Nodes, index i has id i+1.
    pub nodes: Vec<CpNode>,
    /// What `Init` answered: the admin tenant and its key.
    pub init: pb::InitResponse,
    /// Root of the data directories.
    pub root: tempfile::TempDir,
    options: NodeOptions,
}

impl Cluster {
    /// Starts `n` processes, initialises the cluster on the first (which
    /// answers once it leads and has committed the admin tenant) and joins
    /// the others (learner, then voter).
    pub async fn start(n: usize, options: NodeOptions) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let mut nodes: Vec<CpNode> = (1..=n as u64)
            .map(|id| CpNode::new(id, root.path(), options.clone()))
            .collect();
        for node in &mut nodes {
            node.start();
        }
        for node in &nodes {
            node.wait_ready().await;
        }
        let init = nodes[0]
            .admin()
            .init(pb::InitRequest::default())
            .await
            .expect("cluster init")
            .into_inner();
        let cluster = Self {
            nodes,
            init,
            root,
            options,
        };
        for i in 1..n {
            let (id, addr) = (cluster.nodes[i].id, cluster.nodes[i].addr.clone());
            cluster.join(id, addr).await;
        }
        cluster
    }

    /// Joins node `id` at `addr` through any node, retrying while leadership settles.
    pub async fn join(&self, id: u64, addr: String) {
        let mut last = None;
        for attempt in 0..40 {
            let node = &self.nodes[attempt % self.nodes.len()];
            if !node.running() {
                continue;
            }
            match node
                .admin()
                .join(pb::JoinRequest {
                    id,
                    addr: addr.clone(),
                })
                .await
            {
                Ok(_) => return,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("joining node {id} failed: {last:?}");
    }

    /// Adds one more node process (not yet joined).
    pub fn add_node(&mut self) -> usize {
        let id = self.nodes.len() as u64 + 1;
        let mut node = CpNode::new(id, self.root.path(), self.options.clone());
        node.start();
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Index of the node every running node's status agrees leads, once one does.
    pub async fn wait_leader(&self, limit: Duration) -> usize {
        wait_for("a leader", limit, || self.agreed_leader()).await
    }

    /// Index of the leader that all running nodes currently agree on.
    pub async fn agreed_leader(&self) -> Option<usize> {
        let mut leader = None;
        for node in self.nodes.iter().filter(|n| n.running()) {
            let s = node.local_status().await?;
            if !s.has_leader {
                return None;
            }
            match leader {
                None => leader = Some(s.leader),
                Some(l) if l != s.leader => return None,
                _ => {}
            }
        }
        let id = leader?;
        let idx = self.nodes.iter().position(|n| n.id == id)?;
        self.nodes[idx].running().then_some(idx)
    }

    /// Index of the leader once the cluster is settled: every running node
    /// agrees on the leader and the term and has applied the same index (a
    /// restarted node has caught up). Meant for an idle cluster; under a
    /// write stream applied indexes rarely line up.
    pub async fn wait_settled(&self, limit: Duration) -> usize {
        wait_for("a settled cluster", limit, || self.settled_leader()).await
    }

    async fn settled_leader(&self) -> Option<usize> {
        let mut seen: Option<(u64, u64, u64)> = None;
        for node in self.nodes.iter().filter(|n| n.running()) {
            let s = node.local_status().await?;
            let here = (s.leader, s.term, s.applied_index);
            if !s.has_leader || seen.is_some_and(|x| x != here) {
                return None;
            }
            seen = Some(here);
        }
        let (id, _, _) = seen?;
        let idx = self.nodes.iter().position(|n| n.id == id)?;
        self.nodes[idx].running().then_some(idx)
    }

    /// Addresses of the running nodes.
    pub fn running_addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.running())
            .map(|n| n.addr.clone())
            .collect()
    }
}

/// Creates tenants through `node`, retrying while leadership settles.
pub async fn create_tenants(node: &CpNode, tenants: &[String]) {
    for t in tenants {
        let mut ok = false;
        for _ in 0..100 {
            let req = pb::CreateTenantRequest {
                tenant: t.clone(),
                admin: false,
            };
            if node.cp().create_tenant(req).await.is_ok() {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ok, "creating tenant {t} failed");
    }
}

/// Median of a non-empty list of durations.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
