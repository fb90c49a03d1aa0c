//! Bad input gets a clear gRPC status with a message, and nothing is written.

use std::time::Duration;

use edge_proto::v1 as pb;
use edge_tests::Cluster;
use edge_tests::NodeOptions;
use edge_tests::create_tenants;

fn load(id: &str, tenant: &str, day: &str) -> pb::LoadEvent {
    pb::LoadEvent {
        load_id: id.into(),
        tenant: tenant.into(),
        worker_id: "w".into(),
        code_hash: "h".into(),
        day: day.into(),
        node_id: "n1".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_with_a_clear_status_and_writes_nothing() {
    let cluster = Cluster::start(1, NodeOptions::default()).await;
    cluster.wait_leader(Duration::from_secs(20)).await;
    let node = &cluster.nodes[0];
    create_tenants(node, &["acme".to_string()]).await;
    let mut cp = node.cp();

    // Unknown worker node.
    let e = cp
        .heartbeat(pb::HeartbeatRequest {
            node_id: "ghost".into(),
            load: 1,
            ..Default::default()
        })
        .await
        .expect_err("unknown node");
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    assert!(
        e.message().contains("ghost") && e.message().contains("RegisterNode"),
        "{e:?}"
    );

    // Malformed record (empty load id) next to a good one: nothing written.
    let e = cp
        .record_loads(pb::RecordLoadsRequest {
            loads: vec![
                load("ok", "acme", "2025-01-01"),
                load("", "acme", "2025-01-01"),
            ],
        })
        .await
        .expect_err("malformed");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("load_id is empty"), "{e:?}");

    // A day in the wrong format.
    let e = cp
        .record_loads(pb::RecordLoadsRequest {
            loads: vec![load("d", "acme", "01/02/2025")],
        })
        .await
        .expect_err("bad day");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("YYYY-MM-DD"), "{e:?}");
    let e = cp
        .export_billing(pb::ExportBillingRequest {
            from_day: "2025-02-30".into(),
            to_day: "2025-03-01".into(),
            detail: false,
        })
        .await
        .expect_err("bad export day");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");

    // A record for a tenant that does not exist, after a good one in the same batch.
    let e = cp
        .record_loads(pb::RecordLoadsRequest {
            loads: vec![
                load("good", "acme", "2025-01-01"),
                load("x", "nobody", "2025-01-01"),
            ],
        })
        .await
        .expect_err("unknown tenant");
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    assert!(
        e.message().contains("nobody") && e.message().contains("does not exist"),
        "{e:?}"
    );

    // An oversized bundle.
    let big = "x".repeat(4 * 1024 * 1024 + 1);
    let bundle = pb::Bundle {
        modules: vec![pb::Module {
            name: "m.js".into(),
            source: big,
        }],
        main_module: "m.js".into(),
    };
    let e = cp
        .put_worker(pb::CpPutWorkerRequest {
            tenant: "acme".into(),
            worker_id: "big".into(),
            bundle: Some(bundle),
            ..Default::default()
        })
        .await
        .expect_err("oversized bundle");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("limit"), "{e:?}");

    // Nothing was written.
    let export = cp
        .export_billing(pb::ExportBillingRequest {
            from_day: "2025-01-01".into(),
            to_day: "2025-12-31".into(),
            detail: true,
        })
        .await
        .expect("export")
        .into_inner();
    assert!(
        export.rows.is_empty() && export.detail.is_empty(),
        "{export:?}"
    );
    let e = cp
        .get_worker(pb::CpGetWorkerRequest {
            tenant: "acme".into(),
            worker_id: "big".into(),
            ..Default::default()
        })
        .await
        .expect_err("no worker");
    assert_eq!(e.code(), tonic::Code::NotFound);
    let nodes = cp
        .list_nodes(pb::ListNodesRequest {})
        .await
        .expect("list")
        .into_inner();
    assert!(nodes.nodes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_placement_and_keys_work_end_to_end() {
    let cluster = Cluster::start(1, NodeOptions::default()).await;
    cluster.wait_leader(Duration::from_secs(20)).await;
    let node = &cluster.nodes[0];
    create_tenants(node, &["acme".to_string()]).await;
    let mut cp = node.cp();
    for (id, region, health) in [
        ("a", "eu", 1),
        ("b", "eu", 1),
        ("c", "eu", 3),
        ("d", "us", 1),
    ] {
        let info = pb::NodeInfo {
            node_id: id.into(),
            region: region.into(),
            latitude: 50.0,
            longitude: 8.0,
            grpc_addr: format!("{id}:1"),
            capacity: 10,
            health,
            ..Default::default()
        };
        cp.register_node(pb::RegisterNodeRequest { node: Some(info) })
            .await
            .expect("register");
    }
    let placed = cp
        .place(pb::PlaceRequest {
            region: "eu".into(),
            worker_id: "w1".into(),
        })
        .await
        .expect("place")
        .into_inner();
    let ids: Vec<_> = placed.nodes.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(
        ids.len(),
        2,
        "draining and other-region nodes are excluded: {ids:?}"
    );
    assert!(!ids.contains(&"c") && !ids.contains(&"d"));

    let key = cp
        .create_api_key(pb::CreateApiKeyRequest {
            tenant: "acme".into(),
            ttl_seconds: 0,
        })
        .await
        .expect("key")
        .into_inner();
    let who = cp
        .authenticate(pb::AuthenticateRequest {
            api_key: key.api_key,
        })
        .await
        .expect("auth")
        .into_inner();
    assert_eq!(who.tenant, "acme");
    let e = cp
        .authenticate(pb::AuthenticateRequest {
            api_key: "ek_wrong".into(),
        })
        .await
        .expect_err("bad key");
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
}
