//! The gateway in front of real worker nodes in two regions: Invoke and
//! RunInline land in the client's nearest region, on the same node for the
//! same Worker, stream logs, and fail over when a node is gone.

mod support;

use std::time::Duration;
use std::time::Instant;

use edge_proto::v1 as pb;
use support::ControlPlane;
use support::Gateway;
use support::HELLO;
use support::WorkerNode;
use support::authed;
use support::bundle;

const FRANKFURT: (f64, f64) = (50.11, 8.68);
const VIRGINIA: (f64, f64) = (38.95, -77.45);

fn greet(key: &str, id: &str, hints: &[(&'static str, &str)]) -> tonic::Request<pb::InvokeRequest> {
    let mut req = authed(
        key,
        pb::InvokeRequest {
            worker_id: id.into(),
            invocation: Some(pb::invoke_request::Invocation::Call(pb::MethodCall {
                method: "greet".into(),
                input_json: r#"{"name":"edge"}"#.into(),
            })),
            limits: None,
        },
    );
    for (k, v) in hints {
        req.metadata_mut().insert(*k, v.parse().unwrap());
    }
    req
}

fn label<'a>(md: &'a tonic::metadata::MetadataMap, key: &str) -> &'a str {
    md.get(key).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn json_of(outcome: &pb::InvokeOutcome) -> &str {
    match &outcome.result {
        Some(pb::invoke_outcome::Result::Json(j)) => j,
        other => panic!("expected a JSON result, got {other:?}"),
    }
}

#[tokio::test]
async fn invocations_land_in_the_nearest_region_and_fail_over() {
    let cp = ControlPlane::start().await;
    let root = tempfile::tempdir().expect("tempdir");
    let _eu1 = WorkerNode::start(root.path(), &cp.addr, "eu-1", "eu", FRANKFURT);
    let _eu2 = WorkerNode::start(root.path(), &cp.addr, "eu-2", "eu", FRANKFURT);
    let mut us1 = WorkerNode::start(root.path(), &cp.addr, "us-1", "us", VIRGINIA);
    let gw = Gateway::start(&cp.addr, &["--node-refresh-ms", "100"]);
    let mut client = gw.client();
    let key = client
        .create_tenant(authed(
            &cp.admin_key,
            pb::GatewayCreateTenantRequest {
                tenant: "alpha".into(),
                admin: false,
                key_ttl_seconds: 0,
            },
        ))
        .await
        .expect("create tenant")
        .into_inner()
        .api_key;
    client
        .put_worker(authed(
            &key,
            pb::PutWorkerRequest {
                worker_id: "hello".into(),
                bundle: Some(bundle(HELLO)),
                limits: None,
                grants: None,
            },
        ))
        .await
        .expect("put");

    // Wait (bounded) until the gateway's view has all three nodes healthy.
    let started = Instant::now();
    loop {
        let nodes = client
            .cluster_status(authed(&cp.admin_key, pb::ClusterStatusRequest {}))
            .await
            .expect("status")
            .into_inner()
            .nodes;
        let healthy = nodes
            .iter()
            .filter(|n| n.health == pb::NodeHealth::Healthy as i32)
            .count();
        if healthy == 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "nodes: {nodes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A client in the gateway's region: eu, the same node every time.
    let mut served_by = None;
    for _ in 0..5 {
        let resp = client
            .invoke(greet(&key, "hello", &[]))
            .await
            .expect("invoke");
        let (region, node) = (
            label(resp.metadata(), "x-edge-region"),
            label(resp.metadata(), "x-edge-node"),
        );
        assert_eq!(region, "eu");
        assert!(node.starts_with("eu-"), "{node}");
        if let Some(prev) = &served_by {
            assert_eq!(prev, node, "the Worker moved between nodes");
        }
        served_by = Some(node.to_string());
        assert!(!label(resp.metadata(), "x-request-id").is_empty());
        let outcome = resp.into_inner();
        assert_eq!(json_of(&outcome), r#"{"hello":"edge"}"#);
    }

    // Clients tagged with the other region, by name or coordinates, land there.
    for hints in [
        &[("x-edge-region", "us")][..],
        &[("x-edge-lat", "40.7"), ("x-edge-lon", "-74.0")][..],
    ] {
        let resp = client
            .invoke(greet(&key, "hello", hints))
            .await
            .expect("invoke us");
        assert_eq!(label(resp.metadata(), "x-edge-region"), "us", "{hints:?}");
        assert_eq!(label(resp.metadata(), "x-edge-node"), "us-1");
    }

    // RunInline, with and without an id.
    for worker_id in ["inline-hello", ""] {
        let resp = client
            .run_inline(authed(
                &key,
                pb::RunInlineRequest {
                    worker_id: worker_id.into(),
                    bundle: Some(bundle(HELLO)),
                    invocation: Some(pb::run_inline_request::Invocation::Call(pb::MethodCall {
                        method: "greet".into(),
                        input_json: r#"{"name":"inline"}"#.into(),
                    })),
                    limits: None,
                    grants: None,
                },
            ))
            .await
            .unwrap_or_else(|e| panic!("run inline {worker_id:?}: {e:?}"));
        assert_eq!(label(resp.metadata(), "x-edge-region"), "eu");
        assert_eq!(json_of(&resp.into_inner()), r#"{"hello":"inline"}"#);
    }

    // Logs of the tenant's Workers, merged from the nodes.
    let mut logs = client
        .stream_logs(authed(
            &key,
            pb::StreamLogsRequest {
                worker_id: "hello".into(),
            },
        ))
        .await
        .expect("stream logs")
        .into_inner();
    // Give the gateway a refresh tick to subscribe to every node.
    tokio::time::sleep(Duration::from_millis(500)).await;
    client
        .invoke(greet(&key, "hello", &[]))
        .await
        .expect("invoke for logs");
    let event = tokio::time::timeout(Duration::from_secs(10), logs.message())
        .await
        .expect("a log event within 10 s")
        .expect("stream ok")
        .expect("an event");
    assert_eq!(event.worker_id, "hello");
    assert!(
        event
            .line
            .as_ref()
            .is_some_and(|l| l.message.contains("greeting")),
        "{event:?}"
    );
    drop(logs);

    // us-1 dies: a client in us is served from eu (a refused connection
    // certainly did not run, so even a non-idempotent call is retried).
    let _ = us1.proc.0.kill();
    let _ = us1.proc.0.wait();
    let resp = client
        .invoke(greet(&key, "hello", &[("x-edge-region", "us")]))
        .await
        .expect("failover to eu");
    assert_eq!(label(resp.metadata(), "x-edge-region"), "eu");
}
