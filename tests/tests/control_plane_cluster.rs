//! Cluster life cycle with real processes: status, join and remove; a node
//! that joins late catches up by snapshot; a restart of the whole cluster
//! from its data directories keeps every acknowledged write.

use std::time::Duration;

use edge_proto::v1 as pb;
use edge_tests::Cluster;
use edge_tests::NodeOptions;
use edge_tests::create_tenants;
use edge_tests::scenario;
use edge_tests::scenario::Scenario;
use edge_tests::scenario::Victim;
use edge_tests::wait_for;

fn no_chaos(unique: usize) -> Scenario {
    Scenario {
        unique,
        sim_nodes: 3,
        batch: 50,
        cross_node_dup: 0.1,
        redeliver: 0.1,
        kills: 0,
        victim: Victim::Leader,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_voters_and_remove_drops_a_member() {
    let cluster = Cluster::start(3, NodeOptions::default()).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    let status = cluster.nodes[2]
        .admin()
        .status(pb::StatusRequest { local: false })
        .await
        .expect("status")
        .into_inner();
    assert!(status.has_leader);
    assert_eq!(status.leader, cluster.nodes[leader].id);
    assert!(status.term >= 1);
    assert_eq!(status.members.len(), 3);
    assert!(
        status
            .members
            .iter()
            .all(|m| m.voter && m.last_log_index > 0)
    );

    let victim = cluster
        .nodes
        .iter()
        .find(|n| n.id != status.leader)
        .expect("a follower")
        .id;
    cluster.nodes[leader]
        .admin()
        .remove(pb::RemoveRequest { id: victim })
        .await
        .expect("remove");
    let after = cluster.nodes[leader]
        .admin()
        .status(pb::StatusRequest { local: false })
        .await
        .expect("status")
        .into_inner();
    assert_eq!(after.members.len(), 2);
    assert!(after.members.iter().all(|m| m.id != victim));

    let missing = cluster.nodes[leader]
        .admin()
        .remove(pb::RemoveRequest { id: 99 })
        .await
        .expect_err("unknown node");
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_late_catches_up_by_snapshot() {
    let options = NodeOptions {
        snapshot_every: 100,
        keep_logs: 20,
        ..NodeOptions::default()
    };
    let mut cluster = Cluster::start(3, options).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    create_tenants(&cluster.nodes[leader], &scenario::tenants()).await;
    let report = scenario::run(&mut cluster, &no_chaos(6_000)).await;

    let late = cluster.add_node();
    cluster.nodes[late].wait_ready().await;
    let (id, addr) = (cluster.nodes[late].id, cluster.nodes[late].addr.clone());
    cluster.join(id, addr).await;
    let leader_applied = cluster.nodes[leader]
        .local_status()
        .await
        .expect("leader status")
        .applied_index;
    let node = &cluster.nodes[late];
    let st = wait_for(
        "the late node to catch up",
        Duration::from_secs(60),
        || async {
            node.local_status()
                .await
                .filter(|s| s.applied_index >= leader_applied)
        },
    )
    .await;
    assert!(
        st.snapshot_age_ms >= 0,
        "the late node never installed a snapshot"
    );
    assert_eq!(st.ledger_size as usize, report.unique);
    let log = std::fs::read_to_string(node.dir.with_extension("log")).unwrap_or_default();
    let installed = log
        .lines()
        .find(|l| l.contains("snapshot installed"))
        .expect("a snapshot install in the log");
    eprintln!("late joiner: {installed}");
    let exported = scenario::export_detail(node, "2025-03-01", "2025-03-03").await;
    assert_eq!(exported.len(), report.unique);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_cluster_restart_keeps_every_acknowledged_write() {
    let mut cluster = Cluster::start(3, NodeOptions::default()).await;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await;
    create_tenants(&cluster.nodes[leader], &scenario::tenants()).await;
    let report = scenario::run(&mut cluster, &no_chaos(2_000)).await;

    // A Worker, a node and a tenant key, acknowledged before the crash.
    let cp = cluster.nodes[leader].cp();
    let bundle = pb::Bundle {
        modules: vec![pb::Module {
            name: "main.js".into(),
            source: "export default {}".into(),
        }],
        main_module: "main.js".into(),
    };
    let put = cp
        .clone()
        .put_worker(pb::CpPutWorkerRequest {
            tenant: "tenant-0".into(),
            worker_id: "w".into(),
            bundle: Some(bundle.clone()),
            ..Default::default()
        })
        .await
        .expect("put worker")
        .into_inner();

    for node in &mut cluster.nodes {
        node.kill9();
    }
    for node in &mut cluster.nodes {
        node.start();
    }
    for node in &cluster.nodes {
        node.wait_ready().await;
    }
    cluster.wait_leader(Duration::from_secs(30)).await;
    for node in &cluster.nodes {
        let exported = scenario::export_detail(node, "2025-03-01", "2025-03-03").await;
        assert_eq!(exported.len(), report.unique, "node {}", node.id);
        let got = node
            .cp()
            .get_worker(pb::CpGetWorkerRequest {
                tenant: "tenant-0".into(),
                worker_id: "w".into(),
                ..Default::default()
            })
            .await
            .expect("worker survives")
            .into_inner();
        assert_eq!(got.code_hash, put.code_hash);
        assert_eq!(got.bundle, Some(bundle.clone()));
    }
}
