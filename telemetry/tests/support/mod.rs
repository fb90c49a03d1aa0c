//! Real tonic servers on 127.0.0.1 for the integration tests, built on the OTLP trace
//! service that `opentelemetry-proto` generates.

#![allow(dead_code)] // each test file uses a different part

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// Upper bound for any single step of a test (a call, a server start, an export).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What a recording server saw: each request's trace headers and body.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// `traceparent` of every request, in arrival order (`None` when absent).
    pub traceparents: Vec<Option<String>>,
    /// `tracestate` of every request, in arrival order.
    pub tracestates: Vec<Option<String>>,
    /// Every request body: for an OTLP receiver, the exported spans.
    pub exports: Vec<ExportTraceServiceRequest>,
}

/// A TraceService that records what it receives and answers OK.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub received: Arc<Mutex<Received>>,
}

#[tonic::async_trait]
impl TraceService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let header = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (traceparent, tracestate) = (header("traceparent"), header("tracestate"));
        let mut received = self.received.lock().expect("recorder lock");
        received.traceparents.push(traceparent);
        received.tracestates.push(tracestate);
        received.exports.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Recorder {
    /// A snapshot of what has arrived so far.
    pub fn snapshot(&self) -> Received {
        self.received.lock().expect("recorder lock").clone()
    }
}

/// A loopback listener on a free port.
pub async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Serves `recorder` without any layer; the task ends with the test's runtime.
pub async fn serve_plain(recorder: Recorder) -> SocketAddr {
    let (listener, addr) = listener().await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(recorder))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    addr
}
