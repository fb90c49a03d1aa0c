//! The gateway binary against a real control-plane process: auth, admin
//! permissions, the Worker registry per tenant, and every refusal the
//! contract names, each with its gRPC status and the response metadata.

mod support;

use std::time::Duration;
use std::time::Instant;

use edge_proto::v1 as pb;
use edge_proto::v1::gateway_client::GatewayClient;
use support::ControlPlane;
use support::Gateway;
use support::HELLO;
use support::authed;
use support::bundle;
use tonic::Code;

const MAX_CONCURRENCY: usize = 2;
const MAX_MESSAGE: usize = 64 * 1024;

async fn start() -> (ControlPlane, Gateway) {
    let cp = ControlPlane::start().await;
    let gw = Gateway::start(
        &cp.addr,
        &[
            "--max-concurrency",
            &MAX_CONCURRENCY.to_string(),
            "--max-message-bytes",
            &MAX_MESSAGE.to_string(),
            "--tenant-in-flight",
            "10000",
            "--key-cache-ttl-ms",
            "300",
            "--node-refresh-ms",
            "200",
        ],
    );
    (cp, gw)
}

async fn create_tenant(gw: &Gateway, admin_key: &str, tenant: &str) -> String {
    let resp = gw
        .client()
        .create_tenant(authed(
            admin_key,
            pb::GatewayCreateTenantRequest {
                tenant: tenant.into(),
                admin: false,
                key_ttl_seconds: 0,
            },
        ))
        .await
        .expect("create tenant")
        .into_inner();
    assert_eq!(resp.tenant, tenant);
    assert!(!resp.api_key.is_empty());
    resp.api_key
}

fn put(key: &str, id: &str, source: &str) -> tonic::Request<pb::PutWorkerRequest> {
    authed(
        key,
        pb::PutWorkerRequest {
            worker_id: id.into(),
            bundle: Some(bundle(source)),
            limits: None,
            grants: None,
        },
    )
}

fn call(key: &str, id: &str) -> tonic::Request<pb::InvokeRequest> {
    authed(
        key,
        pb::InvokeRequest {
            worker_id: id.into(),
            invocation: Some(pb::invoke_request::Invocation::Call(pb::MethodCall {
                method: "greet".into(),
                input_json: r#"{"name":"edge"}"#.into(),
            })),
            limits: None,
        },
    )
}

fn assert_gateway_labels(md: &tonic::metadata::MetadataMap) {
    assert_eq!(
        md.get("x-edge-region").map(|v| v.to_str().unwrap()),
        Some("eu")
    );
    assert_eq!(
        md.get("x-edge-node").map(|v| v.to_str().unwrap()),
        Some("gateway")
    );
    assert!(md.get("x-request-id").is_some_and(|v| !v.is_empty()));
}

#[tokio::test]
async fn the_gateway_authenticates_scopes_and_refuses_as_the_contract_says() {
    let (cp, gw) = start().await;
    let mut client = gw.client();

    // No key, a wrong key, a malformed header: UNAUTHENTICATED, labelled.
    let err = client
        .list_workers(pb::ListWorkersRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_gateway_labels(err.metadata());
    let err = client
        .list_workers(authed("ek_not_a_key", pb::ListWorkersRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let mut basic = tonic::Request::new(pb::ListWorkersRequest {});
    basic
        .metadata_mut()
        .insert("authorization", "Basic abc".parse().unwrap());
    assert_eq!(
        client.list_workers(basic).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // The admin creates two tenants; a tenant is not an admin.
    let alpha = create_tenant(&gw, &cp.admin_key, "alpha").await;
    let beta = create_tenant(&gw, &cp.admin_key, "beta").await;
    let err = client
        .export_billing(authed(&alpha, pb::ExportBillingRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = client
        .create_tenant(authed(
            &alpha,
            pb::GatewayCreateTenantRequest {
                tenant: "gamma".into(),
                admin: true,
                key_ttl_seconds: 0,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let status = client
        .cluster_status(authed(&cp.admin_key, pb::ClusterStatusRequest {}))
        .await
        .expect("cluster status")
        .into_inner();
    assert!(status.control_plane.is_some_and(|s| s.has_leader));
    let all_days = pb::ExportBillingRequest {
        from_day: "2020-01-01".into(),
        to_day: "2099-12-31".into(),
        detail: true,
    };
    client
        .export_billing(authed(&cp.admin_key, all_days))
        .await
        .expect("admin exports billing");

    // Put / List / Delete, per tenant.
    let resp = client
        .put_worker(put(&alpha, "hello", HELLO))
        .await
        .expect("put");
    assert_gateway_labels(resp.metadata());
    let hash = resp.into_inner().code_hash;
    assert_eq!(hash, edge_proto::code_hash("main.ts", [("main.ts", HELLO)]));
    let listed = client
        .list_workers(authed(&alpha, pb::ListWorkersRequest {}))
        .await
        .expect("list")
        .into_inner()
        .workers;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].worker_id.as_str(), listed[0].code_hash.as_str()),
        ("hello", hash.as_str())
    );
    let beta_list = client
        .list_workers(authed(&beta, pb::ListWorkersRequest {}))
        .await
        .expect("beta list")
        .into_inner()
        .workers;
    assert!(
        beta_list.is_empty(),
        "beta sees alpha's Workers: {beta_list:?}"
    );

    // Another tenant's Worker and an unknown one look the same: NOT_FOUND.
    let theirs = client.invoke(call(&beta, "hello")).await.unwrap_err();
    let unknown = client.invoke(call(&beta, "nope")).await.unwrap_err();
    assert_eq!(theirs.code(), Code::NotFound, "{theirs:?}");
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    assert_eq!(
        theirs.message().replace("hello", "X"),
        unknown.message().replace("nope", "X")
    );

    // alpha's own Worker resolves; no worker node is running, so UNAVAILABLE.
    let err = client.invoke(call(&alpha, "hello")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");

    // Bad ids and bundles: INVALID_ARGUMENT, nothing stored.
    for bad in ["", "a/b", "sp ace", "é", &"x".repeat(129)] {
        let err = client
            .put_worker(put(&alpha, bad, HELLO))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "id {bad:?}: {err:?}");
        let err = client.invoke(call(&alpha, bad)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "id {bad:?}: {err:?}");
    }
    let mut no_main = bundle(HELLO);
    no_main.main_module = "other.ts".into();
    let err = client
        .put_worker(authed(
            &alpha,
            pb::PutWorkerRequest {
                worker_id: "w2".into(),
                bundle: Some(no_main),
                limits: None,
                grants: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = client
        .put_worker(authed(
            &alpha,
            pb::PutWorkerRequest {
                worker_id: "w3".into(),
                bundle: Some(pb::Bundle::default()),
                limits: None,
                grants: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    // Bad location hints: INVALID_ARGUMENT.
    let hints: [&[(&str, &str)]; 5] = [
        &[("x-edge-region", "eu west")],
        &[("x-edge-region", "mars")],
        &[("x-edge-lat", "91"), ("x-edge-lon", "0")],
        &[("x-edge-lat", "10")],
        &[("x-edge-lat", "north"), ("x-edge-lon", "east")],
    ];
    for pairs in hints {
        let mut req = call(&alpha, "hello");
        for (k, v) in pairs {
            req.metadata_mut().insert(*k, v.parse().unwrap());
        }
        let err = client.invoke(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{pairs:?}: {err:?}");
    }

    // An oversized message: RESOURCE_EXHAUSTED, nothing stored.
    let big = format!("// {}\n{HELLO}", "x".repeat(MAX_MESSAGE));
    let err = client
        .put_worker(put(&alpha, "big", &big))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");

    // Delete, then the Worker is gone for Invoke at once (cache invalidated).
    let existed = client
        .delete_worker(authed(
            &alpha,
            pb::DeleteWorkerRequest {
                worker_id: "hello".into(),
            },
        ))
        .await
        .expect("delete")
        .into_inner()
        .existed;
    assert!(existed);
    let err = client.invoke(call(&alpha, "hello")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let listed = client
        .list_workers(authed(&alpha, pb::ListWorkersRequest {}))
        .await
        .expect("list")
        .into_inner()
        .workers;
    assert!(listed.is_empty(), "{listed:?}");
    let again = client
        .delete_worker(authed(
            &alpha,
            pb::DeleteWorkerRequest {
                worker_id: "hello".into(),
            },
        ))
        .await
        .expect("delete again")
        .into_inner()
        .existed;
    assert!(!again);

    // A revoked key stops working (at once on the gateway that revoked it).
    let extra = client
        .create_api_key(authed(
            &cp.admin_key,
            pb::CreateApiKeyRequest {
                tenant: "alpha".into(),
                ttl_seconds: 0,
            },
        ))
        .await
        .expect("create key")
        .into_inner()
        .api_key;
    client
        .list_workers(authed(&extra, pb::ListWorkersRequest {}))
        .await
        .expect("new key works");
    let revoked = client
        .revoke_api_key(authed(
            &cp.admin_key,
            pb::RevokeApiKeyRequest {
                api_key: extra.clone(),
            },
        ))
        .await
        .expect("revoke")
        .into_inner();
    assert!(revoked.existed);
    let err = client
        .list_workers(authed(&extra, pb::ListWorkersRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}

/// A gRPC client that sends `grpc-timeout` as given, without enforcing it
/// locally (tonic's Channel would time the call out itself first).
fn raw_client(
    addr: &str,
) -> GatewayClient<
    hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        tonic::body::Body,
    >,
> {
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    GatewayClient::with_origin(http, format!("http://{addr}").parse().unwrap())
}

#[tokio::test]
async fn an_already_past_deadline_is_refused_without_work() {
    let (cp, gw) = start().await;
    let alpha = create_tenant(&gw, &cp.admin_key, "alpha").await;
    let mut client = raw_client(&gw.addr);
    for timeout in ["0n", "0m", "50n"] {
        let mut req = put(&alpha, "late", HELLO);
        req.metadata_mut()
            .insert("grpc-timeout", timeout.parse().unwrap());
        let err = client.put_worker(req).await.unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{timeout}: {err:?}");
        assert_gateway_labels(err.metadata());
    }
    // Nothing was stored.
    let listed = gw
        .client()
        .list_workers(authed(&alpha, pb::ListWorkersRequest {}))
        .await
        .expect("list")
        .into_inner()
        .workers;
    assert!(listed.is_empty(), "{listed:?}");
    // A malformed grpc-timeout is a clear error too.
    let mut req = put(&alpha, "late", HELLO);
    req.metadata_mut()
        .insert("grpc-timeout", "soon".parse().unwrap());
    let err = client.put_worker(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
}

#[tokio::test]
async fn a_flood_beyond_max_concurrency_is_shed_at_once() {
    let (cp, gw) = start().await;
    let alpha = create_tenant(&gw, &cp.admin_key, "alpha").await;
    const FLOOD: usize = 64 * MAX_CONCURRENCY;
    let mut tasks = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        let mut client = gw.client();
        let key = alpha.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let r = client
                .list_workers(authed(&key, pb::ListWorkersRequest {}))
                .await;
            (r.map(|_| ()), started.elapsed())
        }));
    }
    let (mut ok, mut shed) = (0, 0);
    for t in tasks {
        let (result, took) = t.await.expect("task");
        match result {
            Ok(()) => ok += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                assert!(e.message().contains("maximum of 2 requests"), "{e:?}");
                assert!(took < Duration::from_secs(2), "a refusal took {took:?}");
                shed += 1;
            }
        }
    }
    assert!(ok >= 1, "nothing was admitted");
    assert!(shed >= 1, "nothing was shed ({ok} admitted)");
    // The gateway keeps serving afterwards.
    gw.client()
        .list_workers(authed(&alpha, pb::ListWorkersRequest {}))
        .await
        .expect("served after the flood");
}

#[tokio::test]
async fn sigterm_stops_the_gateway_with_exit_0_even_with_a_log_stream_open() {
    let (cp, mut gw) = start().await;
    let alpha = create_tenant(&gw, &cp.admin_key, "alpha").await;
    // A log stream never ends by itself; shutdown must end it.
    let mut logs = gw
        .client()
        .stream_logs(authed(&alpha, pb::StreamLogsRequest::default()))
        .await
        .expect("stream logs")
        .into_inner();
    let pid = gw.proc.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = gw.proc.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
    let end = tokio::time::timeout(Duration::from_secs(5), logs.message())
        .await
        .expect("the stream ended");
    assert!(!matches!(end, Ok(Some(_))), "{end:?}");
}
