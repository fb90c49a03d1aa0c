//! The gateway scenario, measured through the real fleet on loopback: it
//! starts `edgectl dev` (the binary beside this one) in a temporary data
//! directory and reports warm `Invoke` latency and throughput at several
//! concurrencies, cold `RunInline` of never-seen Workers, the gateway's added
//! latency over calling the serving worker node directly (interleaved, same
//! process), what one bare gRPC hop costs here (a trivial `WorkerNode.Invoke`
//! server in this process), and how fast billed loads are committed end to end. The figures
//! go through a second gateway process of the same cluster whose per-tenant
//! caps are lifted; the dev gateway would shed them.

use std::io::BufRead;
use std::io::BufReader;
use std::os::unix::process::CommandExt;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;
use edge_proto::UtcDay;
use edge_proto::v1 as pb;
use edge_proto::v1::gateway_client::GatewayClient;
use edge_proto::v1::worker_node_client::WorkerNodeClient;
use edge_proto::v1::worker_node_server::WorkerNode;
use edge_proto::v1::worker_node_server::WorkerNodeServer;
use rustix::process::Pid;
use rustix::process::Signal;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;

use crate::stats::Summary;
use crate::stats::round;
use crate::workload::INPUT;
use crate::workload::WORKER;
use crate::workload::ms;

/// How long `edgectl dev` (or the benchmark gateway) may take to print its line.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// The benchmark gateway's per-tenant rate, burst, in-flight and global caps:
/// far above what the figures send, so nothing is shed.
const BENCH_TENANT_RPS: &str = "10000000";
const BENCH_IN_FLIGHT: &str = "4096";
/// Memory limit of each inline-run Worker, MiB.
const INLINE_MEMORY_MB: u32 = 32;
/// How long its clean shutdown may take.
const DEV_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of every measured call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Warm-up calls before the warm figures.
const WARM_UP: usize = 50;
/// How often the billing export is polled.
const BILLING_POLL: Duration = Duration::from_millis(50);
/// The published targets (benchmarks, not tests).
const TARGET_WARM_P50_MS: f64 = 0.5;
const TARGET_COLD_P50_MS: f64 = 2.0;

#[derive(clap::Args)]
pub struct GatewayArgs {
    /// Warm invocations measured at each concurrency.
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// Concurrency levels of the warm figures.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Cold runs, each a never-seen Worker.
    #[arg(long, default_value_t = 200)]
    cold: usize,
    /// Interleaved pairs (direct, through the gateway) for the added latency.
    #[arg(long, default_value_t = 1000)]
    pairs: usize,
    /// New unique Workers run for the billing figure.
    #[arg(long, default_value_t = 200)]
    billed: usize,
    /// Concurrent runs while creating them.
    #[arg(long, default_value_t = 8)]
    billed_concurrency: usize,
    /// Seconds to wait for the export to count them all.
    #[arg(long, default_value_t = 120)]
    billing_timeout_secs: u64,
}

/// What `edgectl dev` prints (the parts used here).
#[derive(Debug, Deserialize)]
struct DevInfo {
    admin_key: String,
    tenant_key: String,
    tenant: String,
    control_plane: Vec<String>,
    regions: std::collections::BTreeMap<String, DevRegion>,
}

#[derive(Debug, Deserialize)]
struct DevRegion {
    latitude: f64,
    longitude: f64,
    nodes: Vec<DevNode>,
}

#[derive(Debug, Deserialize)]
struct DevNode {
    node_id: String,
    addr: String,
}

pub fn run(args: &GatewayArgs) -> Result<Value> {
    if args.calls == 0 || args.cold == 0 || args.pairs == 0 || args.billed == 0 {
        bail!("--calls, --cold, --pairs and --billed must be at least 1");
    }
    if args.concurrency.iter().any(|c| *c == 0 || *c > args.calls) {
        bail!("each --concurrency must be from 1 to --calls");
    }
    crate::workload::block_on(async {
        let mut dev = DevProcess::start().await?;
        let report = measure(args, &dev.info, &dev.gateway).await;
        let stopped = dev.stop().await;
        let mut report = report?;
        report["dev_cluster_clean_exit"] = json!(stopped?);
        Ok(report)
    })
}

async fn measure(args: &GatewayArgs, info: &DevInfo, gateway: &str) -> Result<Value> {
    let fleet = Fleet::new(info, gateway);
    let code_hash = fleet.put("bench", WORKER).await?;
    let mut warm = Vec::new();
    for &concurrency in &args.concurrency {
        warm.push(warm_invoke(&fleet, args.calls, concurrency).await?);
    }
    let cold = cold_run_inline(&fleet, args.cold).await?;
    let added = added_latency(&fleet, &code_hash, args.pairs).await?;
    let bare = bare_grpc_hop(&fleet, &code_hash, args.pairs).await?;
    let billing = billing_throughput(&fleet, args).await?;
    Ok(json!({
        "scenario": "gateway",
        "worker_nodes": info.regions.values().map(|r| r.nodes.len()).sum::<usize>(),
        "gateway_limits": {
            "tenant_rps": BENCH_TENANT_RPS.parse::<u64>()?,
            "tenant_in_flight": BENCH_IN_FLIGHT.parse::<u64>()?,
            "max_concurrency": BENCH_IN_FLIGHT.parse::<u64>()?,
        },
        "warm_invoke": warm,
        "cold_run_inline": cold,
        "gateway_added_latency": added,
        "bare_grpc_hop": bare,
        "billing": billing,
        "targets": {
            "warm_invoke_p50_ms": TARGET_WARM_P50_MS,
            "cold_run_inline_p50_ms": TARGET_COLD_P50_MS,
        },
    }))
}

/// Clients of the dev cluster and the request shapes every figure sends.
struct Fleet<'a> {
    info: &'a DevInfo,
    gateway: GatewayClient<Channel>,
}

impl<'a> Fleet<'a> {
    fn new(info: &'a DevInfo, gateway: &str) -> Self {
        Self {
            info,
            gateway: GatewayClient::new(lazy_channel(gateway)),
        }
    }

    /// `message` with the tenant's key, region eu and the call deadline.
    fn request<T>(&self, message: T, key: &str) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let md = request.metadata_mut();
        if let Ok(value) = format!("Bearer {key}").parse() {
            md.insert("authorization", value);
        }
        md.insert(
            "x-edge-region",
            tonic::metadata::MetadataValue::from_static("eu"),
        );
        request.set_timeout(CALL_TIMEOUT);
        request
    }

    async fn put(&self, id: &str, source: &str) -> Result<String> {
        let put = pb::PutWorkerRequest {
            worker_id: id.into(),
            bundle: Some(bundle(source)),
            limits: None,
            grants: None,
        };
        let response = self
            .gateway
            .clone()
            .put_worker(self.request(put, &self.info.tenant_key))
            .await
            .context("PutWorker")?;
        Ok(response.into_inner().code_hash)
    }

    /// One warm call of the stored Worker; returns who served it.
    async fn invoke(&self, mut client: GatewayClient<Channel>) -> Result<String> {
        let request = pb::InvokeRequest {
            worker_id: "bench".into(),
            invocation: Some(pb::invoke_request::Invocation::Call(call())),
            limits: None,
        };
        let response = client
            .invoke(self.request(request, &self.info.tenant_key))
            .await
            .context("Invoke through the gateway")?;
        let node = response
            .metadata()
            .get("x-edge-node")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        expect_json(response.into_inner())?;
        Ok(node)
    }

    /// Runs `source` inline under `id`; returns the node's load and run times.
    async fn run_inline(
        &self,
        mut client: GatewayClient<Channel>,
        id: &str,
        source: &str,
    ) -> Result<(f64, f64)> {
        let request = pb::RunInlineRequest {
            worker_id: id.into(),
            bundle: Some(bundle(source)),
            invocation: Some(pb::run_inline_request::Invocation::Call(call())),
            // Small, as in the sandbox scenario: the tenant's memory budget is
            // committed by each loaded Worker's limit, not by what it uses.
            limits: Some(pb::Limits {
                memory_mb: INLINE_MEMORY_MB,
                timeout_ms: 0,
                cpu_ms: 0,
            }),
            grants: None,
        };
        let outcome = client
            .run_inline(self.request(request, &self.info.tenant_key))
            .await
            .context("RunInline")?
            .into_inner();
        let stats = outcome.stats.unwrap_or_default();
        if stats.warm {
            bail!("a never-seen Worker {id} ran warm");
        }
        expect_json(outcome)?;
        Ok((stats.load_ms, stats.run_ms))
    }

    /// Unique Workers billed to the tenant today.
    async fn billed_today(&self) -> Result<u64> {
        let today = UtcDay::of(SystemTime::now()).to_string();
        let export = pb::ExportBillingRequest {
            from_day: today.clone(),
            to_day: today,
            detail: false,
        };
        let rows = self
            .gateway
            .clone()
            .export_billing(self.request(export, &self.info.admin_key))
            .await
            .context("ExportBilling with the admin key")?
            .into_inner()
            .rows;
        Ok(rows
            .iter()
            .filter(|r| r.tenant == self.info.tenant)
            .map(|r| r.unique_workers)
            .sum())
    }

    fn node_addr(&self, node_id: &str) -> Result<&str> {
        self.info
            .regions
            .values()
            .flat_map(|r| &r.nodes)
            .find(|n| n.node_id == node_id)
            .map(|n| n.addr.as_str())
            .with_context(|| format!("x-edge-node {node_id:?} is no node of the dev cluster"))
    }
}

/// `calls` warm invocations from `concurrency` callers on one connection.
async fn warm_invoke(fleet: &Fleet<'_>, calls: usize, concurrency: usize) -> Result<Value> {
    for _ in 0..WARM_UP {
        fleet.invoke(fleet.gateway.clone()).await?;
    }
    let per_caller = calls / concurrency;
    let started = Instant::now();
    let callers = (0..concurrency).map(|_| async {
        let mut samples = Vec::with_capacity(per_caller);
        for _ in 0..per_caller {
            let t = Instant::now();
            fleet.invoke(fleet.gateway.clone()).await?;
            samples.push(ms(t));
        }
        Ok::<_, anyhow::Error>(samples)
    });
    let mut samples = Vec::with_capacity(calls);
    for caller in futures::future::join_all(callers).await {
        samples.extend(caller?);
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "concurrency": concurrency,
        "calls": samples.len(),
        "latency": Summary::of(&samples),
        "throughput_per_s": round(samples.len() as f64 / secs),
    }))
}

/// Sequential RunInline calls, each a Worker no node has seen (new code, new id).
async fn cold_run_inline(fleet: &Fleet<'_>, runs: usize) -> Result<Value> {
    let salt: u64 = rand_salt();
    let mut end_to_end = Vec::with_capacity(runs);
    let mut load = Vec::with_capacity(runs);
    let mut run = Vec::with_capacity(runs);
    for n in 0..runs {
        let id = format!("cold-{salt:x}-{n}");
        let source = format!("{WORKER}\n// {id}\n");
        let t = Instant::now();
        let (load_ms, run_ms) = fleet
            .run_inline(fleet.gateway.clone(), &id, &source)
            .await?;
        end_to_end.push(ms(t));
        load.push(load_ms);
        run.push(run_ms);
    }
    Ok(json!({
        "runs": runs,
        "end_to_end": Summary::of(&end_to_end),
        "load_on_node": Summary::of(&load),
        // A fresh isolate's first invocation: V8 compiles the call path then.
        "first_run_on_node": Summary::of(&run),
    }))
}

/// The warm call as the gateway sends it to a worker node: the stored
/// `bench` Worker, named by its code hash.
fn bench_on_node(fleet: &Fleet<'_>, code_hash: &str) -> pb::NodeInvokeRequest {
    pb::NodeInvokeRequest {
        worker: Some(pb::WorkerRef {
            tenant: fleet.info.tenant.clone(),
            worker_id: "bench".into(),
            code_hash: code_hash.into(),
        }),
        bundle: None,
        invocation: Some(pb::node_invoke_request::Invocation::Call(call())),
        limits: None,
        grants: None,
        one_off: false,
    }
}

/// The same warm call sent straight to the serving node's WorkerNode.Invoke
/// and through the gateway, alternating which goes first.
async fn added_latency(fleet: &Fleet<'_>, code_hash: &str, pairs: usize) -> Result<Value> {
    let node_id = fleet.invoke(fleet.gateway.clone()).await?;
    let mut node = WorkerNodeClient::new(lazy_channel(fleet.node_addr(&node_id)?));
    let direct_request = || {
        let mut request = tonic::Request::new(bench_on_node(fleet, code_hash));
        request.set_timeout(CALL_TIMEOUT);
        request
    };
    let mut direct = Vec::with_capacity(pairs);
    let mut gateway = Vec::with_capacity(pairs);
    for n in 0..pairs + WARM_UP {
        for first_direct in [n % 2 == 0, n % 2 != 0] {
            let t = Instant::now();
            if first_direct {
                let outcome = node
                    .invoke(direct_request())
                    .await
                    .with_context(|| format!("WorkerNode.Invoke on {node_id}"))?;
                expect_json(outcome.into_inner())?;
                if n >= WARM_UP {
                    direct.push(ms(t));
                }
            } else {
                let served = fleet.invoke(fleet.gateway.clone()).await?;
                if served != node_id {
                    bail!("the warm Worker moved from {node_id} to {served}");
                }
                if n >= WARM_UP {
                    gateway.push(ms(t));
                }
            }
        }
    }
    let (direct, gateway) = (Summary::of(&direct), Summary::of(&gateway));
    Ok(json!({
        "node": node_id,
        "pairs": pairs,
        "direct_to_node": direct,
        "through_gateway": gateway,
        "added_median_ms": round(gateway.median_ms - direct.median_ms),
        "added_p99_ms": round(gateway.p99_ms - direct.p99_ms),
    }))
}

/// A `WorkerNode` that answers every Invoke at once with a fixed outcome:
/// the cost of one gRPC round trip on this machine, nothing else.
struct BareNode {
    outcome: pb::InvokeOutcome,
}

#[tonic::async_trait]
impl WorkerNode for BareNode {
    async fn invoke(
        &self,
        _request: tonic::Request<pb::NodeInvokeRequest>,
    ) -> Result<tonic::Response<pb::InvokeOutcome>, tonic::Status> {
        Ok(tonic::Response::new(self.outcome.clone()))
    }

    async fn node_status(
        &self,
        _request: tonic::Request<pb::NodeStatusRequest>,
    ) -> Result<tonic::Response<pb::NodeStatusResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare node"))
    }

    type StreamLogsStream = futures::stream::Empty<Result<pb::LogEvent, tonic::Status>>;

    async fn stream_logs(
        &self,
        _request: tonic::Request<pb::NodeStreamLogsRequest>,
    ) -> Result<tonic::Response<Self::StreamLogsStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare node"))
    }
}

/// The warm call's request and the node's real outcome, sent to a trivial
/// server in this process over loopback: what the gRPC hop itself costs
/// (client and server here, TCP_NODELAY as the fleet sets it).
async fn bare_grpc_hop(fleet: &Fleet<'_>, code_hash: &str, calls: usize) -> Result<Value> {
    let node_id = fleet.invoke(fleet.gateway.clone()).await?;
    let request = bench_on_node(fleet, code_hash);
    let mut node = WorkerNodeClient::new(lazy_channel(fleet.node_addr(&node_id)?));
    let outcome = node
        .invoke(request.clone())
        .await
        .context("WorkerNode.Invoke for the bare server's outcome")?
        .into_inner();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WorkerNodeServer::new(BareNode { outcome }))
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let mut client = WorkerNodeClient::new(lazy_channel(&addr));
    let mut samples = Vec::with_capacity(calls);
    for n in 0..calls + WARM_UP {
        let mut message = tonic::Request::new(request.clone());
        message.set_timeout(CALL_TIMEOUT);
        let t = Instant::now();
        client.invoke(message).await.context("the bare server")?;
        if n >= WARM_UP {
            samples.push(ms(t));
        }
    }
    let _ = stop.send(());
    server.await?.context("the bare server")?;
    Ok(json!({
        "calls": calls,
        "round_trip": Summary::of(&samples),
    }))
}

/// Runs `billed` new unique Workers, then waits until the export counts
/// them all: billed loads committed per second, from the first run.
async fn billing_throughput(fleet: &Fleet<'_>, args: &GatewayArgs) -> Result<Value> {
    let before = fleet.billed_today().await?;
    let salt = rand_salt();
    let started = Instant::now();
    let per_caller = args.billed.div_ceil(args.billed_concurrency);
    let callers = (0..args.billed_concurrency).map(|c| async move {
        for n in (c * per_caller)..((c + 1) * per_caller).min(args.billed) {
            let id = format!("billed-{salt:x}-{n}");
            fleet
                .run_inline(fleet.gateway.clone(), &id, &format!("{WORKER}\n// {id}\n"))
                .await?;
        }
        Ok::<_, anyhow::Error>(())
    });
    for caller in futures::future::join_all(callers).await {
        caller?;
    }
    let ran = started.elapsed();
    let expected = before + args.billed as u64;
    let limit = Duration::from_secs(args.billing_timeout_secs);
    let counted = loop {
        let now = fleet.billed_today().await?;
        if now >= expected {
            break now;
        }
        if started.elapsed() > limit {
            bail!("after {limit:?} the export counts {now} of {expected} unique Workers");
        }
        tokio::time::sleep(BILLING_POLL).await;
    };
    let committed = started.elapsed();
    Ok(json!({
        "unique_workers": args.billed,
        "counted": counted - before,
        "runs_seconds": round(ran.as_secs_f64()),
        "committed_seconds": round(committed.as_secs_f64()),
        "commit_lag_after_last_run_seconds": round((committed - ran).as_secs_f64()),
        "billed_loads_per_s": round(args.billed as f64 / committed.as_secs_f64()),
    }))
}

fn bundle(source: &str) -> pb::Bundle {
    pb::Bundle {
        modules: vec![pb::Module {
            name: "./bench.js".into(),
            source: source.into(),
        }],
        main_module: "./bench.js".into(),
    }
}

fn call() -> pb::MethodCall {
    pb::MethodCall {
        method: "run".into(),
        input_json: INPUT.into(),
    }
}

fn expect_json(outcome: pb::InvokeOutcome) -> Result<String> {
    match outcome.result {
        Some(pb::invoke_outcome::Result::Json(json)) => Ok(json),
        other => bail!("the Worker did not return JSON: {other:?}"),
    }
}

fn lazy_channel(addr: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("a host:port makes a URI")
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .connect_lazy()
}

/// Distinguishes this run's Worker ids and code from any earlier run's.
fn rand_salt() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id())
}

/// `edgectl dev` in a temporary data directory, in its own process group,
/// plus the gateway the figures go through: the same binary against the same
/// control plane, with the per-tenant rate and in-flight caps lifted (the
/// dev gateway's 1,000 requests/s per tenant would shed the benchmark).
struct DevProcess {
    info: DevInfo,
    /// The benchmark gateway's address.
    gateway: String,
    /// edgectl dev, then the benchmark gateway.
    children: Vec<(&'static str, Child)>,
    group: Pid,
    dir: tempfile::TempDir,
}

impl DevProcess {
    async fn start() -> Result<Self> {
        let here = std::env::current_exe().context("locating this executable")?;
        let (edgectl, gateway) = (
            here.with_file_name("edgectl"),
            here.with_file_name("gateway"),
        );
        for binary in [&edgectl, &gateway] {
            if !binary.exists() {
                bail!(
                    "{} not found: build it with `cargo build --release -p edgectl -p control-plane -p worker-node -p gateway`",
                    binary.display()
                );
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("edge-loadtest-")
            .tempdir()?;
        let mut command = Command::new(&edgectl);
        command
            .arg("dev")
            .arg("--data-dir")
            .arg(dir.path().join("data"));
        let (child, line) =
            spawn_and_read_line(command, None, &dir.path().join("edgectl.log")).await?;
        let group = Pid::from_raw(child.id() as i32).context("pid 0")?;
        let mut dev = Self {
            info: serde_json::from_str(&line)
                .with_context(|| format!("edgectl dev printed {line:?}"))?,
            gateway: String::new(),
            children: vec![("edgectl dev", child)],
            group,
            dir,
        };
        let eu = dev
            .info
            .regions
            .get("eu")
            .context("edgectl dev has no region eu")?;
        let mut command = Command::new(&gateway);
        command
            .args(["--listen", "127.0.0.1:0", "--region", "eu"])
            .arg(format!("--latitude={}", eu.latitude))
            .arg(format!("--longitude={}", eu.longitude))
            .arg("--control-plane")
            .arg(dev.info.control_plane.join(","))
            .args([
                "--tenant-rps",
                BENCH_TENANT_RPS,
                "--tenant-burst",
                BENCH_TENANT_RPS,
            ])
            .args([
                "--tenant-in-flight",
                BENCH_IN_FLIGHT,
                "--max-concurrency",
                BENCH_IN_FLIGHT,
            ]);
        let log = dev.dir.path().join("gateway.log");
        let (child, line) = spawn_and_read_line(command, Some(group), &log).await?;
        dev.children.push(("gateway", child));
        let ready: Value =
            serde_json::from_str(&line).with_context(|| format!("gateway printed {line:?}"))?;
        dev.gateway = ready["listen"]
            .as_str()
            .context("gateway line without listen")?
            .to_owned();
        Ok(dev)
    }

    /// SIGTERM to each, last started first, with a bounded wait; true when
    /// every one exited 0.
    async fn stop(&mut self) -> Result<bool> {
        let mut clean = true;
        while let Some((name, mut child)) = self.children.pop() {
            let pid = Pid::from_raw(child.id() as i32).context("pid 0")?;
            rustix::process::kill_process(pid, Signal::TERM)
                .with_context(|| format!("SIGTERM to {name}"))?;
            let started = Instant::now();
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if started.elapsed() > DEV_STOP_TIMEOUT {
                    self.children.push((name, child));
                    bail!("{name} did not exit within {DEV_STOP_TIMEOUT:?} of SIGTERM");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            clean &= status.success();
        }
        Ok(clean)
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        // Only reached with processes left on an error path: end the group.
        if !self.children.is_empty() {
            let _ = rustix::process::kill_process_group(self.group, Signal::KILL);
        }
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `command` (in process group `group`, or a new one), stderr to
/// `log`, and waits (bounded) for the one line it prints when ready.
async fn spawn_and_read_line(
    mut command: Command,
    group: Option<Pid>,
    log: &std::path::Path,
) -> Result<(Child, String)> {
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .process_group(group.map_or(0, |g| g.as_raw_nonzero().get()))
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A plain thread: it drains stdout for as long as the process runs.
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = tx.send(reader.read_line(&mut line).map(|_| line));
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    match tokio::time::timeout(START_TIMEOUT, rx).await {
        Ok(Ok(Ok(line))) if !line.trim().is_empty() => Ok((child, line)),
        other => {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{command:?} printed no line within {START_TIMEOUT:?} ({other:?}); its log: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        }
    }
}
