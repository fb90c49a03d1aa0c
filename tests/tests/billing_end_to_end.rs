//! Billing across the whole path: Workers run in real sandboxes through two
//! worker nodes' caches, each first load of the day lands in that node's
//! durable outbox, the outboxes ship to a real control-plane process, and the
//! export counts each unique Worker once, at 2,000 micro-dollars.

use std::sync::Arc;
use std::time::SystemTime;

use edge_engine::Bundle;
use edge_engine::Invocation;
use edge_engine::InvocationValue;
use edge_engine::Limits;
use edge_engine::NoHostFunctions;
use edge_proto::UtcDay;
use edge_proto::v1 as pb;
use edge_sandbox::SandboxConfig;
use edge_sandbox::Supervisor;
use edge_tests::Cluster;
use edge_tests::NodeOptions;
use edge_tests::binary;
use edge_tests::create_tenants;
use worker_node::billing::Outbox;
use worker_node::cache::CacheConfig;
use worker_node::cache::Workers;

/// One simulated worker node: a sandbox supervisor, its cache and its outbox.
async fn worker_node(name: &str, dir: &std::path::Path) -> (Workers, Arc<Outbox>) {
    let supervisor = Supervisor::start(SandboxConfig {
        executable: binary("worker-node"),
        warm_sandboxes: 1,
        prewarmed_isolates: 1,
        ..SandboxConfig::default()
    })
    .await
    .expect("supervisor starts");
    let outbox = Arc::new(Outbox::open(&dir.join(name), name).expect("outbox opens"));
    let workers = Workers::new(Arc::new(supervisor), CacheConfig::default(), outbox.clone());
    (workers, outbox)
}

fn worker(version: u32) -> Bundle {
    Bundle::single(
        "./main.js",
        format!("export default {{ async run(n) {{ return n + {version}; }} }};"),
    )
}

async fn run(workers: &Workers, tenant: &str, id: &str, bundle: &Bundle, n: u32) -> String {
    let outcome = workers
        .invoke(
            tenant,
            id,
            bundle,
            Limits::default(),
            &Invocation::Call {
                method: "run".into(),
                input_json: n.to_string(),
            },
            Arc::new(NoHostFunctions),
        )
        .await;
    match outcome.result {
        Ok(InvocationValue::Json(json)) => json,
        other => panic!("{tenant}/{id}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_unique_worker_is_billed_once_per_day_across_nodes_and_invocations() {
    let cluster = Cluster::start(1, NodeOptions::default()).await;
    let control_plane = &cluster.nodes[0];
    create_tenants(control_plane, &["acme".into(), "globex".into()]).await;
    let dir = tempfile::tempdir().unwrap();
    let (node_a, outbox_a) = worker_node("node-a", dir.path()).await;
    let (node_b, outbox_b) = worker_node("node-b", dir.path()).await;

    // acme: "api" run 3 times on node a and twice on node b (one unique
    // Worker), then redeployed with other code (a second one), plus "cron"
    // (a third). globex: "api" (its own tenant's Worker, a fourth).
    for n in 0..3 {
        assert_eq!(
            run(&node_a, "acme", "api", &worker(1), n).await,
            (n + 1).to_string()
        );
    }
    for n in 0..2 {
        run(&node_b, "acme", "api", &worker(1), n).await;
    }
    assert_eq!(run(&node_a, "acme", "api", &worker(2), 5).await, "7");
    run(&node_b, "acme", "cron", &worker(1), 0).await;
    run(&node_a, "globex", "api", &worker(1), 0).await;

    // Each node recorded only first loads; node b's "api" repeats node a's.
    assert_eq!(outbox_a.pending_len(), 3);
    assert_eq!(outbox_b.pending_len(), 2);

    // Ship twice from each node (the second ship has nothing left; a retry of
    // the same events would be recognised by load id).
    let mut client = control_plane.cp();
    for outbox in [&outbox_a, &outbox_b] {
        assert!(outbox.ship_once(&mut client, 100).await.unwrap() > 0);
        assert_eq!(outbox.ship_once(&mut client, 100).await.unwrap(), 0);
        assert_eq!(outbox.pending_len(), 0);
    }

    let today = UtcDay::of(SystemTime::now()).to_string();
    let export = client
        .export_billing(pb::ExportBillingRequest {
            from_day: today.clone(),
            to_day: today.clone(),
            detail: true,
        })
        .await
        .expect("export")
        .into_inner();
    let mut rows: Vec<(String, u64, u64)> = export
        .rows
        .iter()
        .map(|r| (r.tenant.clone(), r.unique_workers, r.amount_micro_usd))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![("acme".into(), 3, 6_000), ("globex".into(), 1, 2_000)],
        "detail: {:?}",
        export.detail
    );
    assert_eq!(export.detail.len(), 4);
}
