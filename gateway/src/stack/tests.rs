//! The gates through [`GateService`] over a real inner tower service:
//! refusals, the deadline while serving, slots coming back, and metadata
//! on answers the layers below gave.

use std::convert::Infallible;
use std::future::Ready;
use std::future::pending;
use std::future::ready;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;
use tower::Layer;
use tower::Service;
use tower::ServiceExt;
use tower::service_fn;
use tower::util::ServiceFn;

use super::GateLayer;
use super::deadline::DeadlineGate;
use super::meta::MetaGate;
use super::shed::ShedGate;
use super::tenant::TenantGate;
use crate::ratelimit::TenantLimits;

/// Longest any one call may take before the test fails.
const BOUND: Duration = Duration::from_secs(5);

type Reply = Result<http::Response<String>, Infallible>;

fn request(headers: &[(&'static str, &'static str)]) -> http::Request<()> {
    let mut request = http::Request::new(());
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, http::HeaderValue::from_static(value));
    }
    request
}

/// The gRPC status a response carries, if any.
fn status(response: &http::Response<String>) -> Option<tonic::Status> {
    tonic::Status::from_header_map(response.headers())
}

/// An inner service that counts its calls and answers OK.
fn counting(
    calls: Arc<AtomicUsize>,
) -> ServiceFn<impl FnMut(http::Request<()>) -> Ready<Reply> + Clone> {
    service_fn(move |_: http::Request<()>| {
        calls.fetch_add(1, Ordering::SeqCst);
        ready(Ok::<_, Infallible>(http::Response::new(String::new())))
    })
}

async fn bounded<F: Future<Output = Reply>>(call: F) -> http::Response<String> {
    let Ok(reply) = tokio::time::timeout(BOUND, call).await else {
        panic!("no answer within {BOUND:?}");
    };
    let Ok(response) = reply;
    response
}

#[tokio::test]
async fn a_request_that_outlives_its_deadline_is_answered_deadline_exceeded() {
    let inner = service_fn(|_: http::Request<()>| pending::<Reply>());
    let svc = GateLayer::new(DeadlineGate::new(Duration::from_secs(60))).layer(inner);
    let response = bounded(svc.oneshot(request(&[("grpc-timeout", "20m")]))).await;
    let status = status(&response).expect("a status");
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    assert!(
        status.message().contains("passed before it was served"),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_past_or_unreadable_deadline_is_refused_before_any_work() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc =
        GateLayer::new(DeadlineGate::new(Duration::from_secs(60))).layer(counting(calls.clone()));
    let past = bounded(svc.clone().oneshot(request(&[("grpc-timeout", "50u")]))).await;
    let past = status(&past).expect("a status");
    assert_eq!(past.code(), tonic::Code::DeadlineExceeded);
    assert!(
        past.message().contains("had passed when it arrived"),
        "{past:?}"
    );
    let unreadable = bounded(svc.oneshot(request(&[("grpc-timeout", "soon")]))).await;
    assert_eq!(
        status(&unreadable).map(|s| s.code()),
        Some(tonic::Code::InvalidArgument)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn refusals_from_inner_layers_carry_the_response_metadata() {
    let calls = Arc::new(AtomicUsize::new(0));
    // No auth layer: the tenant gate finds no caller and refuses.
    let tenant = GateLayer::new(TenantGate::new(Arc::new(TenantLimits::new(10, 10, 10))));
    let svc = GateLayer::new(MetaGate::new("eu-west")).layer(tenant.layer(counting(calls.clone())));
    let response = bounded(svc.clone().oneshot(request(&[("x-request-id", "abc")]))).await;
    assert_eq!(
        status(&response).map(|s| s.code()),
        Some(tonic::Code::Internal)
    );
    let headers = response.headers();
    assert_eq!(headers["x-request-id"], "abc");
    assert_eq!(headers["x-edge-region"], "eu-west");
    assert_eq!(headers["x-edge-node"], "gateway");
    let fresh = bounded(svc.oneshot(request(&[]))).await;
    assert!(!fresh.headers()["x-request-id"].is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn shedding_refuses_beyond_the_limit_and_frees_the_slot_with_the_response() {
    let go = Arc::new(Notify::new());
    let inner = {
        let go = go.clone();
        service_fn(move |_: http::Request<()>| {
            let go = go.clone();
            async move {
                go.notified().await;
                Ok::<_, Infallible>(http::Response::new(String::new()))
            }
        })
    };
    let mut svc = GateLayer::new(ShedGate::new(1)).layer(inner);
    // Admission happens in `call`: the first request holds the only slot.
    let first = svc.ready().await.unwrap().call(request(&[]));
    let shed = bounded(svc.ready().await.unwrap().call(request(&[]))).await;
    let shed = status(&shed).expect("a status");
    assert_eq!(shed.code(), tonic::Code::ResourceExhausted);
    assert!(shed.message().contains("maximum of 1 requests"), "{shed:?}");
    go.notify_one();
    assert!(status(&bounded(first).await).is_none());
    go.notify_one();
    let after = bounded(svc.ready().await.unwrap().call(request(&[]))).await;
    assert!(status(&after).is_none());
}
