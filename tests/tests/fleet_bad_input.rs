//! Bad input at the gateway of the real `edgectl dev` cluster: each gets a
//! clear gRPC status, changes nothing (the tenant's Workers are the same
//! afterwards) and the gateway keeps serving. One cluster serves every
//! section; a section that fails is named at the end, the others still run.

use std::time::Duration;

use edge_proto::v1 as pb;
use edge_tests::fleet::DevCluster;
use edge_tests::fleet::DevInfo;
use edge_tests::fleet::Meta;
use edge_tests::fleet::channel;
use edge_tests::fleet::create_tenant;
use edge_tests::fleet::error_of;
use edge_tests::fleet::inline_call;
use edge_tests::fleet::invoke_call;
use edge_tests::fleet::json_of;
use edge_tests::fleet::list_ids;
use edge_tests::fleet::raw_gateway_client;
use edge_tests::fleet::ts_bundle;
use tonic::Code;

const HELLO: &str = "export default { async hi(): Promise<string> { return 'hi'; } };";
/// Above the gateway's default 8 MiB message limit.
const OVERSIZED: usize = 9 << 20;

fn put(id: &str, bundle: Option<pb::Bundle>) -> pb::PutWorkerRequest {
    pb::PutWorkerRequest {
        worker_id: id.into(),
        bundle,
        limits: None,
        grants: None,
    }
}

fn assert_code<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: Code,
    what: &str,
) -> tonic::Status {
    let status = match result {
        Ok(v) => panic!("{what}: expected {code:?}, got OK {v:?}"),
        Err(status) => status,
    };
    assert_eq!(status.code(), code, "{what}: {status:?}");
    assert!(!status.message().is_empty(), "{what}: a status says why");
    status
}

/// The dev tenant's Workers are exactly "hello" and the gateway serves.
async fn assert_unchanged(info: &DevInfo, after: &str) {
    let ids = list_ids(&mut info.gateway(), &info.tenant()).await;
    assert_eq!(ids, ["hello"], "Workers changed after {after}");
    let outcome = info
        .gateway()
        .invoke(info.tenant().request(invoke_call("hello", "hi", "null")))
        .await
        .unwrap_or_else(|e| panic!("the gateway stopped serving after {after}: {e:?}"))
        .into_inner();
    assert_eq!(json_of(&outcome), r#""hi""#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_status_and_changes_nothing() {
    let cluster = DevCluster::start().await;
    let info = cluster.info.clone();
    info.gateway()
        .put_worker(info.tenant().request(put("hello", Some(ts_bundle(HELLO)))))
        .await
        .expect("PutWorker hello");
    assert_unchanged(&info, "the set-up").await;

    let mut failed: Vec<&str> = Vec::new();
    macro_rules! section {
        ($name:ident) => {
            let outcome = tokio::spawn($name(info.clone())).await;
            if outcome.is_err() {
                failed.push(stringify!($name));
            } else if tokio::spawn({
                let info = info.clone();
                async move { assert_unchanged(&info, stringify!($name)).await }
            })
            .await
            .is_err()
            {
                failed.push(concat!(stringify!($name), " (state changed)"));
            }
        };
    }
    section!(missing_or_wrong_key_is_unauthenticated);
    section!(admin_calls_need_an_admin_key);
    section!(another_tenants_worker_is_not_found_like_an_unknown_one);
    section!(unknown_worker_is_not_found);
    section!(oversized_message_is_refused);
    section!(malformed_modules);
    section!(non_utf8_module_is_refused);
    section!(invalid_location_is_invalid_argument);
    section!(empty_id_is_invalid_argument);
    section!(bad_limits_are_invalid_argument);
    section!(deadline_already_past_is_deadline_exceeded);
    assert!(failed.is_empty(), "failed sections: {failed:?}");
    cluster.stop().await;
}

async fn missing_or_wrong_key_is_unauthenticated(info: DevInfo) {
    let mut gateway = info.gateway();
    let callers = [
        ("no key", Meta::anonymous()),
        ("a wrong key", Meta::key("edge_not-a-real-key")),
        (
            "an empty bearer",
            Meta::anonymous().raw_authorization("Bearer "),
        ),
        (
            "not a bearer",
            Meta::anonymous().raw_authorization(&format!("Basic {}", info.tenant_key)),
        ),
    ];
    for (what, meta) in callers {
        assert_code(
            gateway
                .list_workers(meta.request(pb::ListWorkersRequest {}))
                .await,
            Code::Unauthenticated,
            &format!("ListWorkers with {what}"),
        );
        assert_code(
            gateway
                .invoke(meta.request(invoke_call("hello", "hi", "null")))
                .await,
            Code::Unauthenticated,
            &format!("Invoke with {what}"),
        );
        assert_code(
            gateway
                .put_worker(meta.request(put("intruder", Some(ts_bundle(HELLO)))))
                .await,
            Code::Unauthenticated,
            &format!("PutWorker with {what}"),
        );
        assert_code(
            gateway
                .delete_worker(meta.request(pb::DeleteWorkerRequest {
                    worker_id: "hello".into(),
                }))
                .await,
            Code::Unauthenticated,
            &format!("DeleteWorker with {what}"),
        );
        assert_code(
            gateway
                .run_inline(meta.request(inline_call("", ts_bundle(HELLO), "hi", "null")))
                .await,
            Code::Unauthenticated,
            &format!("RunInline with {what}"),
        );
    }
}

async fn admin_calls_need_an_admin_key(info: DevInfo) {
    let mut gateway = info.gateway();
    assert_code(
        gateway
            .create_tenant(info.tenant().request(pb::GatewayCreateTenantRequest {
                tenant: "sneaky".into(),
                admin: true,
                key_ttl_seconds: 0,
            }))
            .await,
        Code::PermissionDenied,
        "CreateTenant with a tenant key",
    );
    assert_code(
        gateway
            .cluster_status(info.tenant().request(pb::ClusterStatusRequest {}))
            .await,
        Code::PermissionDenied,
        "ClusterStatus with a tenant key",
    );
    // The admin key sees the registry: four worker nodes in two regions.
    let status = gateway
        .cluster_status(info.admin().request(pb::ClusterStatusRequest {}))
        .await
        .expect("ClusterStatus with the admin key")
        .into_inner();
    let mut nodes: Vec<String> = status.nodes.into_iter().map(|n| n.node_id).collect();
    nodes.sort();
    assert_eq!(nodes, ["eu-1", "eu-2", "us-1", "us-2"]);
    // The refused tenant does not exist: creating it with the admin key works.
    create_tenant(&info, "sneaky").await;
}

async fn another_tenants_worker_is_not_found_like_an_unknown_one(info: DevInfo) {
    let mut gateway = info.gateway();
    let other = format!("other{}", rand::random::<u32>());
    let other_meta = Meta::key(&create_tenant(&info, &other).await);
    let me = info.tenant();
    let id = "private-agent";
    let invoke = |meta: &Meta| meta.request(invoke_call(id, "hi", "null"));
    let delete = |meta: &Meta| {
        meta.request(pb::DeleteWorkerRequest {
            worker_id: id.into(),
        })
    };

    // What the dev tenant sees before the other tenant has such a Worker...
    let unknown_invoke = assert_code(
        gateway.invoke(invoke(&me)).await,
        Code::NotFound,
        "unknown id",
    );
    let unknown_delete = gateway
        .delete_worker(delete(&me))
        .await
        .map(|r| r.into_inner());
    gateway
        .put_worker(other_meta.request(put(id, Some(ts_bundle(HELLO)))))
        .await
        .expect("the other tenant puts its Worker");
    // ...is exactly what it sees after: nothing reveals that it exists.
    let foreign_invoke = assert_code(
        gateway.invoke(invoke(&me)).await,
        Code::NotFound,
        "another tenant's Worker",
    );
    assert_eq!(foreign_invoke.message(), unknown_invoke.message());
    let foreign_delete = gateway
        .delete_worker(delete(&me))
        .await
        .map(|r| r.into_inner());
    match (&unknown_delete, &foreign_delete) {
        (Err(a), Err(b)) => {
            assert_eq!(b.code(), Code::NotFound, "{b:?}");
            assert_eq!((a.code(), a.message()), (b.code(), b.message()));
        }
        (Ok(a), Ok(b)) => {
            assert!(!a.existed && !b.existed, "{a:?} {b:?}");
        }
        other => panic!("delete of an unknown and a foreign Worker differ: {other:?}"),
    }
    let inline = gateway
        .run_inline(me.request(inline_call(id, ts_bundle(HELLO), "hi", "null")))
        .await
        .expect("the dev tenant may use the same id for its own inline Worker")
        .into_inner();
    assert_eq!(json_of(&inline), r#""hi""#);
    // The owner's Worker is untouched.
    assert_eq!(list_ids(&mut gateway, &other_meta).await, [id]);
    let owner = gateway
        .invoke(invoke(&other_meta))
        .await
        .expect("the owner invokes its Worker")
        .into_inner();
    assert_eq!(json_of(&owner), r#""hi""#);
}

async fn unknown_worker_is_not_found(info: DevInfo) {
    let mut gateway = info.gateway();
    let status = assert_code(
        gateway
            .invoke(
                info.tenant()
                    .request(invoke_call("no-such-worker", "hi", "null")),
            )
            .await,
        Code::NotFound,
        "unknown Worker",
    );
    assert!(status.message().contains("no-such-worker"), "{status:?}");
}

async fn oversized_message_is_refused(info: DevInfo) {
    let mut gateway = info.gateway();
    let huge = ts_bundle(&format!("{HELLO}\n//{}", "x".repeat(OVERSIZED)));
    let results = [
        (
            "PutWorker",
            gateway
                .put_worker(info.tenant().request(put("huge", Some(huge.clone()))))
                .await
                .map(|_| ()),
        ),
        (
            "RunInline",
            gateway
                .run_inline(
                    info.tenant()
                        .request(inline_call("huge", huge, "hi", "null")),
                )
                .await
                .map(|_| ()),
        ),
    ];
    for (what, result) in results {
        let status = result.expect_err(what);
        // tonic's own refusal (OUT_OF_RANGE) is turned into the contract's code.
        assert_eq!(
            status.code(),
            Code::ResourceExhausted,
            "{what} of {OVERSIZED} bytes: {status:?}"
        );
        eprintln!("oversized {what}: {:?} {}", status.code(), status.message());
    }
}

async fn malformed_modules(info: DevInfo) {
    let mut gateway = info.gateway();
    let broken = ts_bundle("export default { async hi( { return 'hi' }");
    // Inline, a syntax error is the Worker's own compile error, not a gRPC error.
    let outcome = gateway
        .run_inline(
            info.tenant()
                .request(inline_call("", broken.clone(), "hi", "null")),
        )
        .await
        .expect("a compile error is an outcome")
        .into_inner();
    let error = error_of(&outcome).unwrap_or_else(|| panic!("{outcome:?}"));
    assert_eq!(error.kind(), pb::ErrorKind::Compile, "{error:?}");

    // Stored, it is the same: PutWorker does not compile (the contract's
    // INVALID_ARGUMENT is for bundles that are not bundles), so the stored
    // Worker's invocation is the compile error, with an OK status.
    gateway
        .put_worker(info.tenant().request(put("broken", Some(broken))))
        .await
        .expect("PutWorker of code that does not compile is stored");
    let outcome = gateway
        .invoke(info.tenant().request(invoke_call("broken", "hi", "null")))
        .await
        .expect("a compile error is an outcome")
        .into_inner();
    let error = error_of(&outcome).unwrap_or_else(|| panic!("{outcome:?}"));
    assert_eq!(error.kind(), pb::ErrorKind::Compile, "{error:?}");
    let deleted = gateway
        .delete_worker(info.tenant().request(pb::DeleteWorkerRequest {
            worker_id: "broken".into(),
        }))
        .await
        .expect("DeleteWorker")
        .into_inner();
    assert!(deleted.existed);

    // Bundles that are not bundles: refused before anything is stored.
    let no_main = pb::Bundle {
        modules: ts_bundle(HELLO).modules,
        main_module: "./missing.ts".into(),
    };
    let empty = pb::Bundle {
        modules: Vec::new(),
        main_module: "./main.ts".into(),
    };
    for (what, bundle) in [
        ("no bundle", None),
        ("main module missing", Some(no_main)),
        ("no modules", Some(empty)),
    ] {
        assert_code(
            gateway
                .put_worker(info.tenant().request(put("malformed", bundle.clone())))
                .await,
            Code::InvalidArgument,
            &format!("PutWorker with {what}"),
        );
        let inline = pb::RunInlineRequest {
            bundle,
            ..inline_call("", ts_bundle(HELLO), "hi", "null")
        };
        assert_code(
            gateway.run_inline(info.tenant().request(inline)).await,
            Code::InvalidArgument,
            &format!("RunInline with {what}"),
        );
    }
}

/// Mirrors of the request messages with the module source as bytes, so a
/// test can send what a string field may not hold.
mod raw {
    use edge_proto::v1 as pb;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Module {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(bytes = "vec", tag = "2")]
        pub source: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Bundle {
        #[prost(message, repeated, tag = "1")]
        pub modules: Vec<Module>,
        #[prost(string, tag = "2")]
        pub main_module: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RunInline {
        #[prost(string, tag = "1")]
        pub worker_id: String,
        #[prost(message, optional, tag = "2")]
        pub bundle: Option<Bundle>,
        #[prost(message, optional, tag = "4")]
        pub call: Option<pb::MethodCall>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PutWorker {
        #[prost(string, tag = "1")]
        pub worker_id: String,
        #[prost(message, optional, tag = "2")]
        pub bundle: Option<Bundle>,
    }
}

async fn raw_unary<Req>(info: &DevInfo, method: &'static str, message: Req) -> tonic::Status
where
    Req: prost::Message + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel(&info.gateway));
    grpc.ready().await.expect("gateway reachable");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
    let codec = tonic_prost::ProstCodec::<Req, pb::InvokeOutcome>::default();
    let request = info.tenant().request(message);
    match grpc.unary(request, path, codec).await {
        Ok(response) => panic!("{method} with non-UTF-8 source answered OK: {response:?}"),
        Err(status) => status,
    }
}

async fn non_utf8_module_is_refused(info: DevInfo) {
    let bundle = raw::Bundle {
        modules: vec![raw::Module {
            name: "./main.ts".into(),
            source: b"export default { hi() { return '\xff\xfe'; } };".to_vec(),
        }],
        main_module: "./main.ts".into(),
    };
    let inline = raw_unary(
        &info,
        "/edge.v1.Gateway/RunInline",
        raw::RunInline {
            worker_id: String::new(),
            bundle: Some(bundle.clone()),
            call: Some(pb::MethodCall {
                method: "hi".into(),
                input_json: "null".into(),
            }),
        },
    )
    .await;
    let stored = raw_unary(
        &info,
        "/edge.v1.Gateway/PutWorker",
        raw::PutWorker {
            worker_id: "not-utf8".into(),
            bundle: Some(bundle),
        },
    )
    .await;
    for (what, status) in [("RunInline", inline), ("PutWorker", stored)] {
        eprintln!("non-UTF-8 {what}: {:?} {}", status.code(), status.message());
        // tonic's decoder says INTERNAL; the contract (and the gateway) INVALID_ARGUMENT.
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert!(!status.message().is_empty());
    }
}

async fn invalid_location_is_invalid_argument(info: DevInfo) {
    let mut gateway = info.gateway();
    let me = info.tenant();
    let places = [
        ("unknown region", me.clone().region("atlantis")),
        ("empty region", me.clone().region("")),
        ("a region name with a slash", me.clone().region("eu/west")),
        ("latitude 91", me.clone().lat_lon(91, 8.68)),
        ("latitude -90.5", me.clone().lat_lon(-90.5, 8.68)),
        ("longitude 181", me.clone().lat_lon(50, 181)),
        ("longitude abc", me.clone().lat_lon(50, "abc")),
        ("latitude NaN", me.clone().lat_lon("NaN", 8)),
    ];
    for (what, meta) in places {
        assert_code(
            gateway
                .invoke(meta.request(invoke_call("hello", "hi", "null")))
                .await,
            Code::InvalidArgument,
            &format!("Invoke from {what}"),
        );
    }
    let mut latitude_only = me.request(invoke_call("hello", "hi", "null"));
    latitude_only
        .metadata_mut()
        .insert("x-edge-lat", "50.1".parse().expect("ascii"));
    assert_code(
        gateway.invoke(latitude_only).await,
        Code::InvalidArgument,
        "Invoke with a latitude and no longitude",
    );
}

async fn empty_id_is_invalid_argument(info: DevInfo) {
    let mut gateway = info.gateway();
    let me = info.tenant();
    assert_code(
        gateway
            .invoke(me.request(invoke_call("", "hi", "null")))
            .await,
        Code::InvalidArgument,
        "Invoke with an empty id",
    );
    assert_code(
        gateway
            .put_worker(me.request(put("", Some(ts_bundle(HELLO)))))
            .await,
        Code::InvalidArgument,
        "PutWorker with an empty id",
    );
    assert_code(
        gateway
            .delete_worker(me.request(pb::DeleteWorkerRequest {
                worker_id: String::new(),
            }))
            .await,
        Code::InvalidArgument,
        "DeleteWorker with an empty id",
    );
}

async fn bad_limits_are_invalid_argument(info: DevInfo) {
    let mut gateway = info.gateway();
    let request = pb::InvokeRequest {
        limits: Some(pb::Limits {
            memory_mb: 1 << 20,
            timeout_ms: 0,
            cpu_ms: 0,
        }),
        ..invoke_call("hello", "hi", "null")
    };
    assert_code(
        gateway.invoke(info.tenant().request(request)).await,
        Code::InvalidArgument,
        "Invoke with a 1 TiB memory limit",
    );
}

async fn deadline_already_past_is_deadline_exceeded(info: DevInfo) {
    // tonic's channel would time the call out itself; this transport leaves
    // the 1 ns `grpc-timeout` to the gateway.
    let mut gateway = raw_gateway_client(&info.gateway);
    let past = info.tenant().timeout(Duration::from_nanos(1));
    assert_code(
        gateway
            .invoke(past.request(invoke_call("hello", "hi", "null")))
            .await,
        Code::DeadlineExceeded,
        "Invoke with a deadline already past",
    );
    assert_code(
        gateway
            .run_inline(past.request(inline_call("", ts_bundle(HELLO), "hi", "null")))
            .await,
        Code::DeadlineExceeded,
        "RunInline with a deadline already past",
    );
    assert_code(
        gateway
            .put_worker(past.request(put("too-late", Some(ts_bundle(HELLO)))))
            .await,
        Code::DeadlineExceeded,
        "PutWorker with a deadline already past",
    );
}
