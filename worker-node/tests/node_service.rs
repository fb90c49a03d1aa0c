//! The worker node as a service: the real `worker-node` binary (sandboxes
//! and all) against a real control plane (the library, serving gRPC on
//! loopback), driven over gRPC as the gateway drives it.

use std::path::Path;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;

use edge_proto::UtcDay;
use edge_proto::v1 as pb;
use edge_proto::v1::cluster_admin_client::ClusterAdminClient;
use edge_proto::v1::control_plane_client::ControlPlaneClient;
use edge_proto::v1::invoke_outcome;
use edge_proto::v1::node_invoke_request::Invocation;
use edge_proto::v1::worker_node_client::WorkerNodeClient;
use tokio::io::AsyncBufReadExt;
use tokio::io::BufReader;
use tokio::io::Lines;
use tokio::process::ChildStdout;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

const TENANT: &str = "acme";
/// How long a node may take to start (sandboxes, registration).
const START_LIMIT: Duration = Duration::from_secs(120);
/// How long one invocation may take here (a cold load in a debug build).
const CALL_LIMIT: Duration = Duration::from_secs(60);

/// Polls `check` every 50 ms until it yields `Some`, or panics after `limit`.
async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn channel(addr: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("address")
        .connect_lazy()
}

/// A one-node control plane in this process, initialised, with tenant `acme`.
struct ControlPlane {
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl ControlPlane {
    async fn start(dir: &Path) -> ControlPlane {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let config = control_plane::Config::new(1, dir);
        let server = tokio::spawn(async move {
            control_plane::run(config, listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("control plane runs");
        });
        let cp = ControlPlane {
            addr,
            stop: Some(stop),
            server: Some(server),
        };
        let mut admin = ClusterAdminClient::new(channel(&cp.addr));
        let started = Instant::now();
        let mut initialised = false;
        loop {
            initialised = initialised || admin.init(pb::InitRequest::default()).await.is_ok();
            let created = cp
                .client()
                .create_tenant(pb::CreateTenantRequest {
                    tenant: TENANT.into(),
                    admin: false,
                })
                .await;
            if initialised && created.is_ok() {
                return cp;
            }
            assert!(
                started.elapsed() < START_LIMIT,
                "the control plane took no tenant: {created:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn client(&self) -> ControlPlaneClient<Channel> {
        ControlPlaneClient::new(channel(&self.addr))
    }

    async fn put_worker(&self, id: &str, source: &str) -> String {
        self.client()
            .put_worker(pb::CpPutWorkerRequest {
                tenant: TENANT.into(),
                worker_id: id.into(),
                bundle: Some(bundle(source)),
                limits: None,
                grants: None,
            })
            .await
            .expect("PutWorker")
            .into_inner()
            .code_hash
    }

    async fn node(&self, node_id: &str) -> Option<pb::NodeInfo> {
        let nodes = self
            .client()
            .list_nodes(pb::ListNodesRequest {})
            .await
            .ok()?;
        nodes
            .into_inner()
            .nodes
            .into_iter()
            .find(|n| n.node_id == node_id)
    }

    /// Today's billing detail rows of the tenant.
    async fn billed_today(&self) -> Vec<pb::BillingDetailRow> {
        let today = UtcDay::of(SystemTime::now()).as_str().to_owned();
        let export = self
            .client()
            .export_billing(pb::ExportBillingRequest {
                from_day: today.clone(),
                to_day: today,
                detail: true,
            })
            .await
            .expect("ExportBilling")
            .into_inner();
        export
            .detail
            .into_iter()
            .filter(|row| row.tenant == TENANT)
            .collect()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap();
    }
}

/// A `worker-node` process.
struct WorkerNodeProcess {
    addr: String,
    child: tokio::process::Child,
    /// What follows the ready line (nothing, by contract).
    stdout: Lines<BufReader<ChildStdout>>,
}

impl WorkerNodeProcess {
    async fn start(node_id: &str, cp: &ControlPlane, data_dir: &Path) -> WorkerNodeProcess {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_worker-node"))
            .args(["--node-id", node_id, "--region", "eu"])
            .args(["--latitude", "50.11", "--longitude", "8.68"])
            .args(["--listen", "127.0.0.1:0", "--control-plane", &cp.addr])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--heartbeat-ms", "200", "--drain-timeout-ms", "20000"])
            .args(["--max-isolates", "50"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn worker-node");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(START_LIMIT, lines.next_line())
            .await
            .expect("the node prints its ready line in time")
            .unwrap()
            .expect("a ready line, not the end of stdout");
        let ready: serde_json::Value = serde_json::from_str(&line).expect("the ready line is JSON");
        assert_eq!(ready["node_id"], node_id, "{line}");
        assert_eq!(ready["region"], "eu", "{line}");
        let addr = ready["listen"].as_str().unwrap().to_owned();
        assert!(
            addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
            "{line}"
        );
        WorkerNodeProcess {
            addr,
            child,
            stdout: lines,
        }
    }

    fn client(&self) -> WorkerNodeClient<Channel> {
        WorkerNodeClient::new(channel(&self.addr))
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the exit; checks nothing followed the ready line.
    async fn exit_status(&mut self, limit: Duration) -> ExitStatus {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("the node exits in time")
            .unwrap();
        let extra = self.stdout.next_line().await.unwrap();
        assert_eq!(extra, None, "the node printed more than its ready line");
        status
    }

    async fn status(&self) -> pb::NodeStatusResponse {
        self.client()
            .node_status(pb::NodeStatusRequest {})
            .await
            .expect("NodeStatus")
            .into_inner()
    }
}

fn bundle(source: &str) -> pb::Bundle {
    pb::Bundle {
        modules: vec![pb::Module {
            name: "./main.ts".into(),
            source: source.into(),
        }],
        main_module: "./main.ts".into(),
    }
}

fn worker_ref(id: &str, hash: &str) -> pb::WorkerRef {
    pb::WorkerRef {
        tenant: TENANT.into(),
        worker_id: id.into(),
        code_hash: hash.into(),
    }
}

fn call(method: &str, input: &str) -> Option<Invocation> {
    Some(Invocation::Call(pb::MethodCall {
        method: method.into(),
        input_json: input.into(),
    }))
}

fn request(
    worker: pb::WorkerRef,
    bundle: Option<pb::Bundle>,
    one_off: bool,
) -> pb::NodeInvokeRequest {
    pb::NodeInvokeRequest {
        worker: Some(worker),
        bundle,
        invocation: call("run", "41"),
        limits: None,
        grants: None,
        one_off,
    }
}

async fn invoke(
    node: &WorkerNodeProcess,
    invoke: pb::NodeInvokeRequest,
) -> Result<tonic::Response<pb::InvokeOutcome>, tonic::Status> {
    let mut request = tonic::Request::new(invoke);
    request.set_timeout(CALL_LIMIT);
    node.client().invoke(request).await
}

/// The JSON an outcome carries, or a panic saying what it carries instead.
fn json(outcome: &pb::InvokeOutcome) -> &str {
    match &outcome.result {
        Some(invoke_outcome::Result::Json(json)) => json,
        other => panic!("expected a JSON result, got {other:?}"),
    }
}

fn warm(outcome: &pb::InvokeOutcome) -> bool {
    outcome.stats.expect("stats").warm
}

const ADDER: &str = "export default { async run(n: number): Promise<number> { console.log(`adding to ${n}`); return n + 1; } };";

struct Cluster {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    cp: ControlPlane,
    node: WorkerNodeProcess,
}

async fn cluster(node_id: &str) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let cp = ControlPlane::start(&dir.path().join("cp")).await;
    let data_dir = dir.path().join(node_id);
    let node = WorkerNodeProcess::start(node_id, &cp, &data_dir).await;
    Cluster {
        _dir: dir,
        data_dir,
        cp,
        node,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_registers_and_heartbeats_its_load() {
    let Cluster { cp, node, .. } = cluster("eu-1").await;
    let info = cp
        .node("eu-1")
        .await
        .expect("registered before the ready line");
    assert_eq!(info.region, "eu");
    assert_eq!((info.latitude, info.longitude), (50.11, 8.68));
    assert_eq!(info.grpc_addr, node.addr);
    assert_eq!(info.capacity, 50);
    assert_eq!(info.health, pb::NodeHealth::Healthy as i32);
    assert!(
        info.max_sandboxes > 0 && info.memory_budget_bytes > 0,
        "{info:?}"
    );

    let hash = cp.put_worker("adder", ADDER).await;
    let outcome = invoke(&node, request(worker_ref("adder", &hash), None, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(json(&outcome), "42");
    let cp_ref = &cp;
    let info = wait_for(
        "a heartbeat with the loaded Worker",
        Duration::from_secs(10),
        || async move { cp_ref.node("eu-1").await.filter(|n| n.load >= 1) },
    )
    .await;
    assert!(info.live_sandboxes >= 1, "{info:?}");
    assert!(info.resident_bytes > 10 << 20, "{info:?}");
    assert!(info.last_heartbeat_unix_ms > 0);
    let status = node.status().await;
    assert_eq!(
        (status.node_id.as_str(), status.region.as_str()),
        ("eu-1", "eu")
    );
    assert_eq!(status.cached_workers, 1);
    assert!(!status.draining);
    cp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_and_inline_workers_run_warm_and_each_unique_worker_is_billed() {
    let Cluster { cp, node, .. } = cluster("eu-2").await;
    let hash = cp.put_worker("adder", ADDER).await;

    // A stored Worker by hash: fetched from the registry, then warm.
    let mut first = tonic::Request::new(request(worker_ref("adder", &hash), None, false));
    first
        .metadata_mut()
        .insert("x-request-id", "req-1".parse().unwrap());
    let response = node.client().invoke(first).await.unwrap();
    let metadata = response.metadata().clone();
    let outcome = response.into_inner();
    assert_eq!(json(&outcome), "42");
    assert!(!warm(&outcome), "the first call loads the Worker");
    assert_eq!(outcome.logs[0].message, "adding to 41");
    assert_eq!(metadata.get("x-edge-node").unwrap(), "eu-2");
    assert_eq!(metadata.get("x-edge-region").unwrap(), "eu");
    assert_eq!(metadata.get("x-request-id").unwrap(), "req-1");
    let again = invoke(&node, request(worker_ref("adder", &hash), None, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(json(&again), "42");
    assert!(warm(&again), "the second call finds it loaded");

    // RunInline with an id: loaded once, reused; the hash, if given, must match.
    let inline = bundle("export default { async run(n: number) { return n * 2; } };");
    for expect_warm in [false, true] {
        let outcome = invoke(
            &node,
            request(worker_ref("dyn", ""), Some(inline.clone()), false),
        )
        .await
        .unwrap()
        .into_inner();
        assert_eq!(json(&outcome), "82");
        assert_eq!(warm(&outcome), expect_warm);
    }
    let mismatch = invoke(
        &node,
        request(worker_ref("dyn", &hash), Some(inline.clone()), false),
    )
    .await
    .unwrap_err();
    assert_eq!(mismatch.code(), Code::InvalidArgument, "{mismatch:?}");

    // One-offs: a fresh isolate every time, billed every time.
    for _ in 0..2 {
        let outcome = invoke(
            &node,
            request(worker_ref("", ""), Some(inline.clone()), true),
        )
        .await
        .unwrap()
        .into_inner();
        assert_eq!(json(&outcome), "82");
        assert!(!warm(&outcome));
    }
    assert_eq!(
        node.status().await.cached_workers,
        2,
        "one-offs are never cached"
    );

    // A bundle that does not compile is the Worker's error, not the call's.
    let broken = invoke(
        &node,
        request(
            worker_ref("broken", ""),
            Some(bundle("export default {")),
            false,
        ),
    )
    .await
    .unwrap()
    .into_inner();
    match broken.result {
        Some(invoke_outcome::Result::Error(e)) => {
            assert_eq!(e.kind, pb::ErrorKind::Compile as i32, "{e:?}")
        }
        other => panic!("expected a compile error, got {other:?}"),
    }

    // adder, dyn, broken (its load failed: not billed) and two one-offs.
    let cp_ref = &cp;
    let rows = wait_for(
        "the loads to reach the control plane",
        Duration::from_secs(20),
        || async move {
            let rows = cp_ref.billed_today().await;
            (rows.len() >= 4).then_some(rows)
        },
    )
    .await;
    let mut ids: Vec<&str> = rows.iter().map(|r| r.worker_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(&ids[..2], ["adder", "dyn"]);
    for one_off in &ids[2..] {
        let hex = one_off
            .strip_prefix("inline:")
            .expect("one-offs bill as inline:<hex>");
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{one_off}"
        );
    }
    cp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_statuses_and_logs_reach_subscribers() {
    let Cluster { cp, node, .. } = cluster("eu-3").await;
    let hash = cp.put_worker("adder", ADDER).await;

    let unknown = invoke(
        &node,
        request(worker_ref("adder", &"0".repeat(64)), None, false),
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    assert_eq!(unknown.metadata().get("x-edge-node").unwrap(), "eu-3");

    let mut too_big = request(worker_ref("adder", &hash), None, false);
    too_big.limits = Some(pb::Limits {
        memory_mb: 100_000,
        ..pb::Limits::default()
    });
    let status = invoke(&node, too_big).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("memory limit"), "{status:?}");
    let mut too_long = request(worker_ref("adder", &hash), None, false);
    too_long.limits = Some(pb::Limits {
        timeout_ms: 3_600_000,
        ..pb::Limits::default()
    });
    assert_eq!(
        invoke(&node, too_long).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let mut bad_url = request(worker_ref("adder", &hash), None, false);
    bad_url.invocation = Some(Invocation::Fetch(pb::HttpRequest {
        method: "GET".into(),
        url: "/relative".into(),
        headers: Vec::new(),
        body: Vec::new(),
    }));
    assert_eq!(
        invoke(&node, bad_url).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let mut no_invocation = request(worker_ref("adder", &hash), None, false);
    no_invocation.invocation = None;
    assert_eq!(
        invoke(&node, no_invocation).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let empty_tenant = pb::WorkerRef {
        tenant: String::new(),
        ..worker_ref("adder", &hash)
    };
    assert_eq!(
        invoke(&node, request(empty_tenant, None, false))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );

    // Logs: a subscriber of the tenant sees the Worker's console lines.
    let mut all = node
        .client()
        .stream_logs(pb::NodeStreamLogsRequest {
            tenant: TENANT.into(),
            worker_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut other = node
        .client()
        .stream_logs(pb::NodeStreamLogsRequest {
            tenant: TENANT.into(),
            worker_id: "someone-else".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let outcome = invoke(&node, request(worker_ref("adder", &hash), None, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        json(&outcome),
        "42",
        "the node keeps serving after bad requests"
    );
    let event = tokio::time::timeout(Duration::from_secs(10), all.message())
        .await
        .expect("a log event in time")
        .unwrap()
        .expect("the stream is open");
    assert_eq!(event.worker_id, "adder");
    assert_eq!(
        (event.node_id.as_str(), event.region.as_str()),
        ("eu-3", "eu")
    );
    let line = event.line.unwrap();
    assert_eq!(
        (line.level.as_str(), line.message.as_str()),
        ("log", "adding to 41")
    );
    assert!(line.unix_ms > 0);
    let filtered = tokio::time::timeout(Duration::from_millis(300), other.message()).await;
    assert!(
        filtered.is_err(),
        "another Worker's subscriber got {filtered:?}"
    );
    let no_tenant = node
        .client()
        .stream_logs(pb::NodeStreamLogsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(no_tenant.code(), Code::InvalidArgument);
    cp.stop().await;
}

const SLOW: &str = "export default { async run(ms: number) { await new Promise((r) => setTimeout(r, ms)); return 'done'; } };";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_calls_ships_billing_and_exits_zero() {
    let Cluster { cp, mut node, .. } = cluster("eu-4").await;
    let hash = cp.put_worker("slow", SLOW).await;
    let warm_up = pb::NodeInvokeRequest {
        invocation: call("run", "1"),
        ..request(worker_ref("slow", &hash), None, false)
    };
    assert_eq!(
        json(&invoke(&node, warm_up).await.unwrap().into_inner()),
        "\"done\""
    );

    let slow_call = pb::NodeInvokeRequest {
        invocation: call("run", "2000"),
        ..request(worker_ref("slow", &hash), None, false)
    };
    let in_flight = {
        let client = node.client();
        tokio::spawn(async move {
            let mut client = client;
            client.invoke(slow_call).await
        })
    };
    let node_ref = &node;
    wait_for(
        "the slow call to be in flight",
        Duration::from_secs(10),
        || async move { (node_ref.status().await.in_flight == 1).then_some(()) },
    )
    .await;
    node.signal("TERM");
    let mut client = node.client();
    let client = &mut client;
    let started = Instant::now();
    while !client
        .node_status(pb::NodeStatusRequest {})
        .await
        .is_ok_and(|s| s.into_inner().draining)
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the node never said it drains"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = invoke(&node, request(worker_ref("slow", &hash), None, false))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let finished = in_flight
        .await
        .unwrap()
        .expect("the in-flight call finishes");
    assert_eq!(json(finished.get_ref()), "\"done\"");
    let exit = node.exit_status(Duration::from_secs(30)).await;
    assert_eq!(exit.code(), Some(0), "{exit:?}");

    let info = cp.node("eu-4").await.unwrap();
    assert_eq!(info.health, pb::NodeHealth::Draining as i32);
    let rows = cp.billed_today().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].worker_id.as_str(), rows[0].code_hash.as_str()),
        ("slow", hash.as_str())
    );
    cp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_bundle_on_disk_is_fetched_again_after_a_restart() {
    let Cluster {
        cp,
        mut node,
        data_dir,
        ..
    } = cluster("eu-5").await;
    let hash = cp.put_worker("adder", ADDER).await;
    let run = || request(worker_ref("adder", &hash), None, false);
    assert_eq!(
        json(&invoke(&node, run()).await.unwrap().into_inner()),
        "42"
    );
    let file =
        find_file(&data_dir.join("bundles"), &format!("{hash}.pb")).expect("bundle kept on disk");
    let good = std::fs::read(&file).unwrap();
    node.signal("TERM");
    assert_eq!(
        node.exit_status(Duration::from_secs(30)).await.code(),
        Some(0)
    );

    // Same length, one byte of source changed: decodes, but hashes otherwise.
    let mut corrupt = good.clone();
    let at = corrupt
        .windows(5)
        .position(|w| w == b"n + 1")
        .expect("the source in the file")
        + 4;
    corrupt[at] = b'2';
    std::fs::write(&file, &corrupt).unwrap();
    let node = WorkerNodeProcess::start("eu-5", &cp, &data_dir).await;
    let outcome = invoke(&node, run()).await.unwrap().into_inner();
    assert_eq!(
        json(&outcome),
        "42",
        "the registry's code ran, not the corrupt copy"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        good,
        "the file was fetched again"
    );
    cp.stop().await;
}

/// The file named `name` somewhere under `dir`.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}
