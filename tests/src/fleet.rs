//! The whole fleet as a client sees it: [`DevCluster`] runs the real
//! `edgectl dev` (3 control-plane processes, worker nodes `eu-1`, `eu-2`,
//! `us-1`, `us-2` and a gateway) in a temporary data directory and offers
//! gRPC clients, request metadata ([`Meta`]), kill -9 and restart of worker
//! nodes, extra gateways with other limits, and a clean stop.
//!
//! Every process the cluster starts runs in one process group and is killed
//! when the [`DevCluster`] is dropped. Logs stay under the data directory
//! (`edgectl.log`, `<node>.restart.log`, `gateway-<port>.log`, and whatever
//! `edgectl dev` writes there); the directory is kept, and its path printed,
//! when a test panics.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufRead;
use std::io::BufReader;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::ChildStdout;
use std::process::Command;
use std::process::ExitStatus;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;

use edge_proto::UtcDay;
use edge_proto::v1 as pb;
use edge_proto::v1::gateway_client::GatewayClient;
use edge_proto::v1::worker_node_client::WorkerNodeClient;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustix::process::Pid;
use rustix::process::Signal;
use serde::Deserialize;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;

use crate::binary;
use crate::wait_for;

/// How long `edgectl dev` may take to print its line: three control planes
/// elect a leader, four worker nodes register and a gateway listens.
pub const DEV_START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a (re)started worker node or gateway may take to print its line.
pub const PROCESS_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a clean stop may take, worker-node drains included.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest message the test clients send or accept; above every server limit,
/// so the servers' own limits are what a test sees.
const CLIENT_MAX_MESSAGE: usize = 64 << 20;

/// The line `edgectl dev` prints once the cluster serves.
#[derive(Clone, Debug, Deserialize)]
pub struct DevInfo {
    /// host:port of the gateway.
    pub gateway: String,
    /// API key of the admin tenant.
    pub admin_key: String,
    /// API key of the tenant `edgectl dev` created.
    pub tenant_key: String,
    /// Name of that tenant.
    pub tenant: String,
    /// host:port of each control-plane process.
    pub control_plane: Vec<String>,
    /// Regions by name.
    pub regions: BTreeMap<String, DevRegion>,
    /// Absolute data directory.
    pub data_dir: PathBuf,
}

/// One region of the dev cluster.
#[derive(Clone, Debug, Deserialize)]
pub struct DevRegion {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// Its worker nodes.
    pub nodes: Vec<DevNode>,
}

/// One worker node as `edgectl dev` started it.
#[derive(Clone, Debug, Deserialize)]
pub struct DevNode {
    /// e.g. `eu-1`.
    pub node_id: String,
    /// host:port of its WorkerNode service.
    pub addr: String,
    /// Process id.
    pub pid: i32,
    /// Its TOML config; `worker-node --config <it>` starts it again.
    pub config: PathBuf,
}

impl DevInfo {
    /// The worker node named `node_id`.
    pub fn node(&self, node_id: &str) -> &DevNode {
        self.regions
            .values()
            .flat_map(|r| &r.nodes)
            .find(|n| n.node_id == node_id)
            .unwrap_or_else(|| panic!("no worker node {node_id} in {:?}", self.regions))
    }

    /// Ids of the worker nodes of `region`.
    pub fn node_ids(&self, region: &str) -> Vec<String> {
        self.regions
            .get(region)
            .unwrap_or_else(|| panic!("no region {region}"))
            .nodes
            .iter()
            .map(|n| n.node_id.clone())
            .collect()
    }

    /// A client of the dev gateway.
    pub fn gateway(&self) -> GatewayClient<Channel> {
        gateway_client(&self.gateway)
    }

    /// Metadata carrying the dev tenant's key.
    pub fn tenant(&self) -> Meta {
        Meta::key(&self.tenant_key)
    }

    /// Metadata carrying the admin key.
    pub fn admin(&self) -> Meta {
        Meta::key(&self.admin_key)
    }
}

/// A running `edgectl dev` and the processes a test added to it.
pub struct DevCluster {
    /// What `edgectl dev` printed.
    pub info: DevInfo,
    dir: Option<tempfile::TempDir>,
    edgectl: Option<Child>,
    /// The process group every process of this cluster runs in.
    group: Pid,
    /// Worker nodes this test restarted, by node id.
    restarted: BTreeMap<String, Child>,
    /// Nodes killed and not restarted since.
    killed: BTreeSet<String>,
}

impl DevCluster {
    /// Starts `edgectl dev` in a new temporary data directory and waits for
    /// its line.
    pub async fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("edge-dev-")
            .tempdir()
            .expect("tempdir");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let mut child = Command::new(binary("edgectl"))
            .arg("dev")
            .arg("--data-dir")
            .arg(&data_dir)
            .env("RUST_LOG", node_log_filter())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(&dir.path().join("edgectl.log")))
            // Its own group, so a test (and Drop) can signal all of it at once.
            .process_group(0)
            .spawn()
            .expect("spawn edgectl dev");
        let group = pid(child.id());
        let stdout = child.stdout.take().expect("piped stdout");
        let mut cluster = Self {
            info: DevInfo {
                gateway: String::new(),
                admin_key: String::new(),
                tenant_key: String::new(),
                tenant: String::new(),
                control_plane: Vec::new(),
                regions: BTreeMap::new(),
                data_dir: data_dir.clone(),
            },
            dir: Some(dir),
            edgectl: Some(child),
            group,
            restarted: BTreeMap::new(),
            killed: BTreeSet::new(),
        };
        let rest = cluster.log_path("edgectl.stdout-after-first-line.log");
        let line = first_line(stdout, rest, DEV_START_TIMEOUT)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "edgectl dev printed no line: {e}; see {}",
                    cluster.log_path("edgectl.log").display()
                )
            });
        cluster.info = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("edgectl dev printed {line:?}, not its JSON line: {e}"));
        assert_eq!(
            cluster.info.data_dir.canonicalize().ok(),
            data_dir.canonicalize().ok(),
            "edgectl dev reports another data dir"
        );
        cluster
    }

    /// A file under the temporary directory, beside the data directory.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir
            .as_ref()
            .expect("dir kept until drop")
            .path()
            .join(name)
    }

    /// Process id of a worker node now (a restarted one has a new pid).
    pub fn node_pid(&self, node_id: &str) -> i32 {
        match self.restarted.get(node_id) {
            Some(child) => child.id() as i32,
            None => self.info.node(node_id).pid,
        }
    }

    /// kill -9 of a worker node; returns once the process is gone.
    pub async fn kill9(&mut self, node_id: &str) {
        let raw = self.node_pid(node_id);
        signal(raw, Signal::KILL).unwrap_or_else(|e| panic!("kill -9 {node_id} ({raw}): {e}"));
        if let Some(mut child) = self.restarted.remove(node_id) {
            let _ = child.wait();
        }
        wait_for(
            &format!("{node_id} (pid {raw}) to die"),
            Duration::from_secs(10),
            || async move { (!alive(raw)).then_some(()) },
        )
        .await;
        self.killed.insert(node_id.to_owned());
    }

    /// Starts a killed worker node again as `worker-node --config <its file>`
    /// and waits for its ready line; returns the address it listens on.
    pub async fn restart(&mut self, node_id: &str) -> String {
        assert!(
            self.killed.contains(node_id),
            "{node_id} was not killed, so it cannot be restarted"
        );
        let node = self.info.node(node_id).clone();
        let mut child = Command::new(binary("worker-node"))
            .arg("--config")
            .arg(&node.config)
            .env("RUST_LOG", node_log_filter())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(&self.log_path(&format!("{node_id}.restart.log"))))
            .process_group(self.group.as_raw_nonzero().get())
            .spawn()
            .expect("spawn worker-node");
        let stdout = child.stdout.take().expect("piped stdout");
        let raw = child.id();
        self.restarted.insert(node_id.to_owned(), child);
        let rest = self.log_path(&format!("{node_id}.restart.stdout.log"));
        let line = first_line(stdout, rest, PROCESS_START_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("worker-node {node_id} (pid {raw}) printed no line: {e}"));
        let ready: NodeReady = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("worker-node printed {line:?}, not its JSON line: {e}"));
        assert_eq!(ready.node_id, node_id, "restarted node reports another id");
        assert_eq!(
            ready.region,
            self.info
                .regions
                .iter()
                .find(|(_, r)| r.nodes.iter().any(|n| n.node_id == node_id))
                .map(|(name, _)| name.clone())
                .unwrap_or_default(),
            "restarted node reports another region"
        );
        self.killed.remove(node_id);
        ready.listen
    }

    /// Starts another `gateway` process against this cluster's control plane
    /// (region `eu`, at Frankfurt) with `extra` flags, e.g. tiny limits.
    pub async fn spawn_gateway(&self, extra: &[&str]) -> GatewayProcess {
        let eu = self.info.regions.get("eu").expect("region eu");
        let log = self.log_path(&format!("gateway-{}.log", crate::free_port()));
        let mut child = Command::new(binary("gateway"))
            .args(["--listen", "127.0.0.1:0", "--region", "eu"])
            .arg("--control-plane")
            .arg(self.info.control_plane.join(","))
            .arg(format!("--latitude={}", eu.latitude))
            .arg(format!("--longitude={}", eu.longitude))
            .args(extra)
            .env("RUST_LOG", node_log_filter())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(&log))
            .process_group(self.group.as_raw_nonzero().get())
            .spawn()
            .expect("spawn gateway");
        let stdout = child.stdout.take().expect("piped stdout");
        let raw = child.id();
        let mut process = GatewayProcess {
            addr: String::new(),
            child: Some(child),
            log: log.clone(),
        };
        let line = first_line(
            stdout,
            log.with_extension("stdout.log"),
            PROCESS_START_TIMEOUT,
        )
        .await
        .unwrap_or_else(|e| panic!("gateway (pid {raw}) printed no line: {e}; see {log:?}"));
        let ready: GatewayReady = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("gateway printed {line:?}, not its JSON line: {e}"));
        assert_eq!(ready.region, "eu");
        process.addr = ready.listen;
        process
    }

    /// SIGTERM to the nodes this test restarted, then to `edgectl dev`;
    /// every one must exit 0 in time and leave no process behind.
    pub async fn stop(mut self) {
        let restarted = std::mem::take(&mut self.restarted);
        for (node_id, child) in restarted {
            let status = terminate(child, STOP_TIMEOUT).await;
            assert!(
                status.success(),
                "worker-node {node_id} exited with {status}"
            );
        }
        let edgectl = self.edgectl.take().expect("edgectl runs");
        let root = edgectl.id() as i32;
        let family = descendants(root);
        let status = terminate(edgectl, STOP_TIMEOUT).await;
        assert!(
            status.success(),
            "edgectl dev exited with {status}; see {}",
            self.log_path("edgectl.log").display()
        );
        let left = wait_for(
            "every process of the dev cluster to exit",
            Duration::from_secs(10),
            || {
                let family = family.clone();
                async move {
                    let left: Vec<i32> = family.into_iter().filter(|p| alive(*p)).collect();
                    left.is_empty().then_some(left)
                }
            },
        )
        .await;
        assert!(left.is_empty());
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        // Everything that runs below edgectl, found before its death orphans them.
        let mut pids = self
            .edgectl
            .as_ref()
            .map_or_else(Vec::new, |c| descendants(c.id() as i32));
        pids.extend(self.restarted.values().map(|c| c.id() as i32));
        let _ = rustix::process::kill_process_group(self.group, Signal::KILL);
        for raw in pids {
            let _ = signal(raw, Signal::KILL);
        }
        if let Some(mut child) = self.edgectl.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for child in self.restarted.values_mut() {
            let _ = child.wait();
        }
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            eprintln!("dev cluster data and logs kept in {}", dir.keep().display());
        }
    }
}

/// An extra gateway process started by [`DevCluster::spawn_gateway`].
pub struct GatewayProcess {
    /// host:port it listens on.
    pub addr: String,
    child: Option<Child>,
    /// Its stderr.
    pub log: PathBuf,
}

impl GatewayProcess {
    /// Its process id.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("gateway runs").id() as i32
    }

    /// A client of this gateway.
    pub fn client(&self) -> GatewayClient<Channel> {
        gateway_client(&self.addr)
    }

    /// Resident memory now, from /proc/<pid>/status.
    pub fn rss_bytes(&self) -> u64 {
        rss_bytes(self.pid()).expect("gateway VmRSS")
    }

    /// SIGTERM; it must exit 0 in time.
    pub async fn stop(mut self) {
        let child = self.child.take().expect("gateway runs");
        let status = terminate(child, STOP_TIMEOUT).await;
        assert!(
            status.success(),
            "gateway exited with {status}; see {:?}",
            self.log
        );
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Deserialize)]
struct NodeReady {
    node_id: String,
    listen: String,
    region: String,
}

#[derive(Deserialize)]
struct GatewayReady {
    listen: String,
    region: String,
}

/// Request metadata a client sends: key, location, idempotency, deadline.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    key: Option<String>,
    authorization: Option<String>,
    region: Option<String>,
    lat: Option<String>,
    lon: Option<String>,
    idempotent: bool,
    timeout: Option<Duration>,
}

impl Meta {
    /// No key at all.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// `authorization: Bearer <key>`.
    pub fn key(key: &str) -> Self {
        Self {
            key: Some(key.to_owned()),
            ..Self::default()
        }
    }

    /// An `authorization` value sent as it is (e.g. not a bearer token).
    pub fn raw_authorization(mut self, value: &str) -> Self {
        self.authorization = Some(value.to_owned());
        self
    }

    /// `x-edge-region`.
    pub fn region(mut self, region: &str) -> Self {
        self.region = Some(region.to_owned());
        self
    }

    /// `x-edge-lat` and `x-edge-lon`, sent as given (so invalid text can be sent).
    pub fn lat_lon(mut self, lat: impl ToString, lon: impl ToString) -> Self {
        self.lat = Some(lat.to_string());
        self.lon = Some(lon.to_string());
        self
    }

    /// `x-edge-idempotent: true`.
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// The deadline (`grpc-timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// `message` with this metadata.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let md = request.metadata_mut();
        let mut put = |name: &'static str, value: &str| {
            md.insert(name, value.parse().expect("ASCII metadata value"));
        };
        if let Some(key) = &self.key {
            put("authorization", &format!("Bearer {key}"));
        }
        if let Some(value) = &self.authorization {
            put("authorization", value);
        }
        if let Some(region) = &self.region {
            put("x-edge-region", region);
        }
        if let Some(lat) = &self.lat {
            put("x-edge-lat", lat);
        }
        if let Some(lon) = &self.lon {
            put("x-edge-lon", lon);
        }
        if self.idempotent {
            put("x-edge-idempotent", "true");
        }
        if let Some(timeout) = self.timeout {
            request.set_timeout(timeout);
        }
        request
    }
}

/// Who served a call, from the response metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// `x-edge-region`.
    pub region: String,
    /// `x-edge-node`.
    pub node: String,
    /// `x-request-id`.
    pub request_id: String,
}

impl Served {
    /// Reads the three response headers (empty when absent).
    pub fn of(md: &MetadataMap) -> Self {
        let get = |name: &str| {
            md.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            region: get("x-edge-region"),
            node: get("x-edge-node"),
            request_id: get("x-request-id"),
        }
    }
}

/// A lazily connecting channel to `addr` on loopback.
pub fn channel(addr: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy()
}

/// A Gateway client of `addr` that sends and accepts large messages.
pub fn gateway_client(addr: &str) -> GatewayClient<Channel> {
    GatewayClient::new(channel(addr))
        .max_decoding_message_size(CLIENT_MAX_MESSAGE)
        .max_encoding_message_size(CLIENT_MAX_MESSAGE)
}

/// A WorkerNode client of `addr` (a worker node, called as the gateway does).
pub fn node_client(addr: &str) -> WorkerNodeClient<Channel> {
    WorkerNodeClient::new(channel(addr)).max_decoding_message_size(CLIENT_MAX_MESSAGE)
}

/// HTTP/2 transport with no client-side deadline of its own.
pub type RawTransport = HyperClient<HttpConnector, tonic::body::Body>;

/// A Gateway client whose transport does not enforce `grpc-timeout` itself
/// (tonic's channel does), so the status seen is the server's.
pub fn raw_gateway_client(addr: &str) -> GatewayClient<RawTransport> {
    let transport = HyperClient::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let origin = format!("http://{addr}").parse().expect("origin uri");
    GatewayClient::with_origin(transport, origin)
        .max_decoding_message_size(CLIENT_MAX_MESSAGE)
        .max_encoding_message_size(CLIENT_MAX_MESSAGE)
}

/// A one-module TypeScript bundle, `./main.ts`.
pub fn ts_bundle(source: &str) -> pb::Bundle {
    pb::Bundle {
        modules: vec![pb::Module {
            name: "./main.ts".into(),
            source: source.into(),
        }],
        main_module: "./main.ts".into(),
    }
}

/// `call` of `method` with JSON `input`.
pub fn method_call(method: &str, input_json: &str) -> pb::MethodCall {
    pb::MethodCall {
        method: method.into(),
        input_json: input_json.into(),
    }
}

/// Invoke a stored Worker's `method`.
pub fn invoke_call(worker_id: &str, method: &str, input_json: &str) -> pb::InvokeRequest {
    pb::InvokeRequest {
        worker_id: worker_id.into(),
        invocation: Some(pb::invoke_request::Invocation::Call(method_call(
            method, input_json,
        ))),
        limits: None,
    }
}

/// Invoke a stored Worker's `fetch` handler with `GET url`.
pub fn invoke_fetch(worker_id: &str, url: &str) -> pb::InvokeRequest {
    pb::InvokeRequest {
        worker_id: worker_id.into(),
        invocation: Some(pb::invoke_request::Invocation::Fetch(pb::HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        })),
        limits: None,
    }
}

/// Run `bundle` inline (under `worker_id`, or a one-off when it is empty).
pub fn inline_call(
    worker_id: &str,
    bundle: pb::Bundle,
    method: &str,
    input_json: &str,
) -> pb::RunInlineRequest {
    pb::RunInlineRequest {
        worker_id: worker_id.into(),
        bundle: Some(bundle),
        invocation: Some(pb::run_inline_request::Invocation::Call(method_call(
            method, input_json,
        ))),
        limits: None,
        grants: None,
    }
}

/// The JSON a `call` returned; panics with the Worker's error otherwise.
pub fn json_of(outcome: &pb::InvokeOutcome) -> &str {
    match &outcome.result {
        Some(pb::invoke_outcome::Result::Json(json)) => json,
        other => panic!("expected a JSON result, got {other:?}"),
    }
}

/// The HTTP response a `fetch` returned; panics otherwise.
pub fn http_of(outcome: &pb::InvokeOutcome) -> &pb::HttpResponse {
    match &outcome.result {
        Some(pb::invoke_outcome::Result::Http(http)) => http,
        other => panic!("expected an HTTP result, got {other:?}"),
    }
}

/// The Worker's own error, if the outcome is one.
pub fn error_of(outcome: &pb::InvokeOutcome) -> Option<&pb::WorkerError> {
    match &outcome.result {
        Some(pb::invoke_outcome::Result::Error(e)) => Some(e),
        _ => None,
    }
}

/// Ids of the Workers a tenant has stored. A read the control plane answers
/// UNAVAILABLE ("retry", e.g. leadership not confirmed on a busy machine) is
/// retried a few times, so a state check fails only on the state.
pub async fn list_ids(gateway: &mut GatewayClient<Channel>, meta: &Meta) -> Vec<String> {
    let mut attempt = 0;
    let workers = loop {
        attempt += 1;
        match gateway
            .list_workers(meta.request(pb::ListWorkersRequest {}))
            .await
        {
            Ok(response) => break response.into_inner().workers,
            Err(status) if status.code() == tonic::Code::Unavailable && attempt < 5 => {
                eprintln!("ListWorkers attempt {attempt}: {status:?}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("ListWorkers: {status:?}"),
        }
    };
    let mut ids: Vec<String> = workers.into_iter().map(|w| w.worker_id).collect();
    ids.sort();
    ids
}

/// Creates a tenant through the gateway with the admin key; returns its key.
pub async fn create_tenant(info: &DevInfo, tenant: &str) -> String {
    info.gateway()
        .create_tenant(info.admin().request(pb::GatewayCreateTenantRequest {
            tenant: tenant.into(),
            admin: false,
            key_ttl_seconds: 0,
        }))
        .await
        .unwrap_or_else(|e| panic!("CreateTenant {tenant}: {e:?}"))
        .into_inner()
        .api_key
}

/// Unique Workers billed to `tenant` from `since` to today, counted as
/// distinct (day, worker id, code hash) rows of the export's detail.
pub async fn billed_workers(info: &DevInfo, tenant: &str, since: &UtcDay) -> u64 {
    let export = info
        .gateway()
        .export_billing(info.admin().request(pb::ExportBillingRequest {
            from_day: since.to_string(),
            to_day: UtcDay::of(SystemTime::now()).to_string(),
            detail: true,
        }))
        .await
        .expect("ExportBilling with the admin key")
        .into_inner();
    let detail: BTreeSet<(String, String, String)> = export
        .detail
        .into_iter()
        .filter(|d| d.tenant == tenant)
        .map(|d| (d.day, d.worker_id, d.code_hash))
        .collect();
    let summed: u64 = export
        .rows
        .iter()
        .filter(|r| r.tenant == tenant)
        .map(|r| r.unique_workers)
        .sum();
    assert_eq!(
        summed,
        detail.len() as u64,
        "the export's rows and detail disagree for {tenant}"
    );
    summed
}

/// Waits (bounded) until `tenant`'s billed count reaches `expected`, never
/// seeing more, then checks it stays exactly there for `hold`.
pub async fn assert_billed_exactly(
    info: &DevInfo,
    tenant: &str,
    since: &UtcDay,
    expected: u64,
    limit: Duration,
    hold: Duration,
) {
    let start = Instant::now();
    loop {
        let n = billed_workers(info, tenant, since).await;
        assert!(
            n <= expected,
            "{tenant} billed {n} unique Workers, expected {expected}"
        );
        if n == expected {
            break;
        }
        assert!(
            start.elapsed() < limit,
            "{tenant} billed {n} unique Workers after {limit:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let held = Instant::now();
    while held.elapsed() < hold {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let n = billed_workers(info, tenant, since).await;
        assert_eq!(n, expected, "{tenant}'s billed count moved after settling");
    }
}

/// Resident memory of a process, from /proc/<pid>/status.
pub fn rss_bytes(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Whether `pid` is a live process (not gone, not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Every live process below `root` (children, their children, ...).
pub fn descendants(root: i32) -> Vec<i32> {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

fn pid(raw: u32) -> Pid {
    Pid::from_raw(raw as i32).expect("non-zero pid")
}

fn signal(raw: i32, sig: Signal) -> rustix::io::Result<()> {
    rustix::process::kill_process(Pid::from_raw(raw).expect("non-zero pid"), sig)
}

/// SIGTERM, then waits (bounded; SIGKILL and a panic past `limit`).
async fn terminate(mut child: Child, limit: Duration) -> ExitStatus {
    let raw = child.id() as i32;
    signal(raw, Signal::TERM).expect("SIGTERM");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pid {raw} did not exit within {limit:?} of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads the first line of `stdout` within `limit`; whatever follows is
/// copied to `rest` (the processes promise nothing more, so it shows up in a
/// post-mortem if they break that).
async fn first_line(stdout: ChildStdout, rest: PathBuf, limit: Duration) -> Result<String, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A plain thread: it lives as long as the process's stdout.
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = reader.read_line(&mut line);
        let eof = matches!(read, Ok(0));
        let _ = tx.send(read.map(|_| line));
        if !eof && let Ok(mut out) = File::create(rest) {
            let _ = std::io::copy(&mut reader, &mut out);
        }
    });
    match tokio::time::timeout(limit, rx).await {
        Err(_) => Err(format!("nothing within {limit:?}")),
        Ok(Err(_)) => Err("the reader thread died".into()),
        Ok(Ok(Err(e))) => Err(format!("reading stdout: {e}")),
        Ok(Ok(Ok(line))) if line.trim().is_empty() => Err("stdout closed (exited?)".into()),
        Ok(Ok(Ok(line))) => Ok(line.trim().to_owned()),
    }
}

fn log_file(path: &Path) -> File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("log file {}: {e}", path.display()))
}

/// `RUST_LOG` for the processes started here (`EDGE_TEST_NODE_LOG` overrides).
fn node_log_filter() -> String {
    std::env::var("EDGE_TEST_NODE_LOG").unwrap_or_else(|_| "info,openraft=warn".into())
}
