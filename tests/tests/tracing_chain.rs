//! W3C trace context across the real processes. A client's `traceparent` on
//! an Invoke through the gateway is continued by the gateway's request span,
//! the worker node's call span and its `sandbox.invoke` span, and the control
//! plane's spans for the gateway's GetWorker and the node's GetBundle; each
//! process exports them over OTLP/gRPC to a collector on 127.0.0.1 because
//! its OTEL_* variables say so. A gateway started without any OTEL_* variable
//! exports nothing, serves the call, and still passes the trace on.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitStatus;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use edge_proto::v1 as pb;
use edge_proto::v1::cluster_admin_client::ClusterAdminClient;
use edge_tests::binary;
use edge_tests::fleet::Meta;
use edge_tests::fleet::channel;
use edge_tests::fleet::gateway_client;
use edge_tests::fleet::invoke_call;
use edge_tests::fleet::json_of;
use edge_tests::fleet::ts_bundle;
use edge_tests::free_port;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use rustix::process::Pid;
use rustix::process::Signal;
use tokio::io::AsyncBufReadExt as _;
use tokio::io::BufReader;
use tokio::io::Lines;
use tokio::net::TcpListener;
use tokio::process::Child;
use tokio::process::ChildStdout;
use tokio::process::Command;
use tokio::time::Instant;
use tokio::time::timeout;
use tonic::transport::server::TcpIncoming;

/// Longest a process may take to start and print its ready line.
const START_LIMIT: Duration = Duration::from_secs(60);
/// Longest wait for spans to reach the collector (batches leave every 100 ms).
const EXPORT_LIMIT: Duration = Duration::from_secs(30);
/// Longest wait for a process to exit after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// Batch span processor delay for the exporting processes, in milliseconds.
const SCHEDULE_DELAY_MS: &str = "100";
/// The OTLP/gRPC port a process would export to by default.
const DEFAULT_OTLP_PORT: u16 = 4317;

const HELLO: &str = r#"export default {
  async greet(input: { name: string }): Promise<string> { return `hello ${input.name}`; },
};"#;

/// One exported span, flattened with the `service.name` it came from.
#[derive(Clone, Debug)]
struct Exported {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    kind: i32,
    attributes: Vec<KeyValue>,
}

impl Exported {
    fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    fn string(&self, key: &str) -> Option<&str> {
        match self.attribute(key) {
            Some(Value::StringValue(s)) => Some(s),
            _ => None,
        }
    }
}

/// An OTLP trace receiver that keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Exported>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(
                    |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(Value::StringValue(s)) => Some(s.clone()),
                        _ => None,
                    },
                )
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                received.push(Exported {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    kind: span.kind,
                    attributes: span.attributes,
                });
            }
        }
        self.spans.lock().expect("collector lock").extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Serves on `listener` for the rest of the test.
    fn serve(&self, listener: TcpListener) {
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(self.clone()))
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
    }

    fn spans_of(&self, trace_id: &str) -> Vec<Exported> {
        let spans = self.spans.lock().expect("collector lock");
        spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }

    fn count(&self) -> usize {
        self.spans.lock().expect("collector lock").len()
    }

    /// Waits until `pick` finds its spans among those of `trace_id`.
    async fn wait_for<T>(
        &self,
        what: &str,
        trace_id: &str,
        pick: impl Fn(&[Exported]) -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            let spans = self.spans_of(trace_id);
            if let Some(found) = pick(&spans) {
                return found;
            }
            assert!(
                start.elapsed() < EXPORT_LIMIT,
                "no {what} within {EXPORT_LIMIT:?}; spans of trace {trace_id}: {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The span of `service` named `name` (a gRPC path or `sandbox.invoke`).
fn find<'a>(spans: &'a [Exported], service: &str, name: &str) -> Option<&'a Exported> {
    spans
        .iter()
        .find(|s| s.service == service && s.name == name)
}

/// A fresh W3C trace id and parent span id, sampled.
fn new_traceparent() -> (String, String, String) {
    let trace_id = format!("{:032x}", rand::random::<u128>() | 1);
    let parent = format!("{:016x}", rand::random::<u64>() | 1);
    let header = format!("00-{trace_id}-{parent}-01");
    (trace_id, parent, header)
}

/// A child process that is killed if the test ends before it is stopped.
struct Process {
    child: Child,
    /// Kept open so the process never writes to a closed pipe.
    _stdout: Option<Lines<BufReader<ChildStdout>>>,
}

impl Process {
    /// SIGTERM, then the exit status (bounded).
    async fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().expect("process still running") as i32;
        rustix::process::kill_process(Pid::from_raw(pid).expect("pid"), Signal::TERM)
            .expect("SIGTERM");
        timeout(STOP_LIMIT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("pid {pid} did not exit within {STOP_LIMIT:?} of SIGTERM"))
            .expect("wait")
    }
}

/// `name` with logs to `<dir>/<log>.log`, no inherited OTEL_* variable, and
/// OTLP export to `otlp` when given.
fn command(name: &str, dir: &Path, log: &str, otlp: Option<&str>) -> Command {
    let mut command = Command::new(binary(name));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OTEL_") {
            command.env_remove(key);
        }
    }
    match otlp {
        Some(endpoint) => {
            command
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
                .env("OTEL_BSP_SCHEDULE_DELAY", SCHEDULE_DELAY_MS)
                .env("RUST_LOG", "info,openraft=warn");
        }
        // No export, and a quiet log filter: the request spans that carry
        // `traceparent` on must not depend on what is logged.
        None => {
            command.env("RUST_LOG", "warn");
        }
    }
    let log = std::fs::File::create(dir.join(format!("{log}.log"))).expect("log file");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true);
    command
}

/// Starts `command` and reads its JSON ready line.
async fn start(mut command: Command, what: &str) -> (Process, serde_json::Value) {
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let line = timeout(START_LIMIT, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("{what} printed no ready line within {START_LIMIT:?}"))
        .expect("read stdout")
        .unwrap_or_else(|| panic!("{what} closed stdout without a ready line"));
    let ready = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("{what} printed {line:?}, not its JSON line: {e}"));
    let process = Process {
        child,
        _stdout: Some(lines),
    };
    (process, ready)
}

/// A one-node control plane, initialised; returns it and the admin key.
async fn control_plane(dir: &Path, otlp: &str) -> (Process, String, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut command = command("control-plane", dir, "control-plane", Some(otlp));
    command
        .args(["--id", "1", "--listen", &addr, "--data-dir"])
        .arg(dir.join("cp"))
        .args(["--election-timeout-ms", "300", "--raft-heartbeat-ms", "75"])
        // Its stdout line is not JSON; the Init below says when it is up.
        .stdout(Stdio::null());
    let child = command.spawn().expect("spawn control-plane");
    let process = Process {
        child,
        _stdout: None,
    };
    let mut admin = ClusterAdminClient::new(channel(&addr));
    let start = Instant::now();
    let init = loop {
        let mut request = tonic::Request::new(pb::InitRequest::default());
        request.set_timeout(Duration::from_secs(5));
        match admin.init(request).await {
            Ok(reply) => break reply.into_inner(),
            Err(status) => assert!(
                start.elapsed() < START_LIMIT,
                "the control plane was not initialised within {START_LIMIT:?}: {status:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    (process, addr, init.admin_key)
}

async fn worker_node(dir: &Path, cp: &str, otlp: &str) -> Process {
    let data = dir.join("eu-1");
    let mut command = command("worker-node", dir, "eu-1", Some(otlp));
    command
        .args(["--node-id", "eu-1", "--region", "eu"])
        .args(["--latitude", "50.11", "--longitude", "8.68"])
        .args(["--listen", "127.0.0.1:0", "--control-plane", cp])
        .args(["--heartbeat-ms", "200", "--data-dir"])
        .arg(&data);
    let (process, ready) = start(command, "worker-node").await;
    assert_eq!(ready["node_id"], "eu-1", "{ready}");
    process
}

async fn gateway(dir: &Path, cp: &str, log: &str, otlp: Option<&str>) -> (Process, String) {
    let mut command = command("gateway", dir, log, otlp);
    command
        .args(["--listen", "127.0.0.1:0", "--control-plane", cp])
        .args([
            "--region",
            "eu",
            "--latitude",
            "50.11",
            "--longitude",
            "8.68",
        ])
        .args(["--node-refresh-ms", "100"]);
    let (process, ready) = start(command, log).await;
    let addr = ready["listen"].as_str().expect("listen").to_owned();
    (process, addr)
}

/// Invokes `hello.greet` through `gateway` with `traceparent`, retrying
/// (bounded) while the gateway has no node for it yet.
async fn invoke(gateway: &str, meta: &Meta, traceparent: &str) -> pb::InvokeOutcome {
    let mut client = gateway_client(gateway);
    let start = Instant::now();
    loop {
        let mut request = meta.request(invoke_call("hello", "greet", r#"{"name":"trace"}"#));
        request
            .metadata_mut()
            .insert("traceparent", traceparent.parse().expect("ascii"));
        match client.invoke(request).await {
            Ok(reply) => return reply.into_inner(),
            Err(status)
                if status.code() == tonic::Code::Unavailable && start.elapsed() < START_LIMIT =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("Invoke through {gateway} failed: {status:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_trace_runs_through_gateway_node_sandbox_and_control_plane() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let otlp = format!("http://{}", listener.local_addr().expect("addr"));
    collector.serve(listener);
    // Catches export to the default endpoint by a process told nothing.
    let default_collector = Collector::default();
    let watching_default = match TcpListener::bind(("127.0.0.1", DEFAULT_OTLP_PORT)).await {
        Ok(listener) => {
            default_collector.serve(listener);
            true
        }
        Err(e) => {
            eprintln!("port {DEFAULT_OTLP_PORT} is taken ({e}); not watching the default endpoint");
            false
        }
    };

    let (_cp, cp_addr, admin_key) = control_plane(dir.path(), &otlp).await;
    let _node = worker_node(dir.path(), &cp_addr, &otlp).await;
    let (_exporting, exporting_addr) = gateway(dir.path(), &cp_addr, "gateway", Some(&otlp)).await;
    let (silent, silent_addr) = gateway(dir.path(), &cp_addr, "gateway-silent", None).await;

    let tenant = format!("trace{}", rand::random::<u32>());
    let mut admin_client = gateway_client(&exporting_addr);
    let key = admin_client
        .create_tenant(
            Meta::key(&admin_key).request(pb::GatewayCreateTenantRequest {
                tenant: tenant.clone(),
                admin: false,
                key_ttl_seconds: 0,
            }),
        )
        .await
        .expect("create tenant")
        .into_inner()
        .api_key;
    let meta = Meta::key(&key);
    admin_client
        .put_worker(meta.request(pb::PutWorkerRequest {
            worker_id: "hello".into(),
            bundle: Some(ts_bundle(HELLO)),
            limits: None,
            grants: None,
        }))
        .await
        .expect("put worker");

    // Through the exporting gateway: every hop's span joins the client's trace.
    let (trace, client_span, traceparent) = new_traceparent();
    let outcome = invoke(&exporting_addr, &meta, &traceparent).await;
    assert_eq!(json_of(&outcome), r#""hello trace""#);
    let spans = collector
        .wait_for("span of every hop", &trace, |spans| {
            let all = [
                ("gateway", "/edge.v1.Gateway/Invoke"),
                ("worker-node", "/edge.v1.WorkerNode/Invoke"),
                ("worker-node", "sandbox.invoke"),
                ("control-plane", "/edge.v1.ControlPlane/GetWorker"),
                ("control-plane", "/edge.v1.ControlPlane/GetBundle"),
            ];
            all.iter()
                .all(|(service, name)| find(spans, service, name).is_some())
                .then(|| spans.to_vec())
        })
        .await;
    let span = |service: &str, name: &str| find(&spans, service, name).expect("waited for");
    let gateway_span = span("gateway", "/edge.v1.Gateway/Invoke");
    assert_eq!(
        gateway_span.parent_span_id, client_span,
        "{gateway_span:#?}"
    );
    assert_eq!(gateway_span.kind, SpanKind::Server as i32);
    let node_span = span("worker-node", "/edge.v1.WorkerNode/Invoke");
    assert_eq!(
        node_span.parent_span_id, gateway_span.span_id,
        "{node_span:#?}"
    );
    assert_eq!(node_span.kind, SpanKind::Server as i32);
    let sandbox_span = span("worker-node", "sandbox.invoke");
    assert_eq!(
        sandbox_span.parent_span_id, node_span.span_id,
        "{sandbox_span:#?}"
    );
    assert_eq!(sandbox_span.string("tenant"), Some(tenant.as_str()));
    assert_eq!(sandbox_span.string("worker"), Some("hello"));
    assert_eq!(
        sandbox_span.attribute("warm"),
        Some(&Value::BoolValue(false)),
        "the first call loads the Worker: {sandbox_span:#?}"
    );
    let get_worker = span("control-plane", "/edge.v1.ControlPlane/GetWorker");
    assert_eq!(
        get_worker.parent_span_id, gateway_span.span_id,
        "{get_worker:#?}"
    );
    let get_bundle = span("control-plane", "/edge.v1.ControlPlane/GetBundle");
    assert_eq!(
        get_bundle.parent_span_id, node_span.span_id,
        "{get_bundle:#?}"
    );
    let ids: HashMap<&str, &str> = spans
        .iter()
        .map(|s| (s.span_id.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique: {spans:#?}");

    // Through the gateway with no OTEL_* variable: it serves, exports nothing,
    // and the node's span still continues the client's trace under a span
    // of the gateway's own.
    let (trace, client_span, traceparent) = new_traceparent();
    let outcome = invoke(&silent_addr, &meta, &traceparent).await;
    assert_eq!(json_of(&outcome), r#""hello trace""#);
    let (node_span, sandbox_span) = collector
        .wait_for("worker-node spans", &trace, |spans| {
            let node = find(spans, "worker-node", "/edge.v1.WorkerNode/Invoke")?;
            let sandbox = find(spans, "worker-node", "sandbox.invoke")?;
            Some((node.clone(), sandbox.clone()))
        })
        .await;
    assert!(
        !node_span.parent_span_id.is_empty() && node_span.parent_span_id != client_span,
        "the silent gateway sends a span of its own as the parent: {node_span:#?}"
    );
    assert_eq!(sandbox_span.parent_span_id, node_span.span_id);
    assert_eq!(
        sandbox_span.attribute("warm"),
        Some(&Value::BoolValue(true)),
        "the second call finds the Worker loaded: {sandbox_span:#?}"
    );
    // Stopping flushes whatever it queued; it must have queued nothing.
    let status = silent.stop().await;
    assert!(status.success(), "the silent gateway exited with {status}");
    let from_gateway: Vec<Exported> = collector
        .spans_of(&trace)
        .into_iter()
        .filter(|s| s.service == "gateway")
        .collect();
    assert!(from_gateway.is_empty(), "{from_gateway:#?}");
    if watching_default {
        assert_eq!(
            default_collector.count(),
            0,
            "a process without OTEL_* variables exported to the default endpoint"
        );
    }
}
