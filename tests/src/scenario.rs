//! The billing chaos scenario: several simulated worker nodes ship load
//! events to a real 3-process cluster while nodes are killed with SIGKILL
//! and restarted; then every node's export must equal exactly the set of
//! unique (tenant, worker id, code hash, day) that was sent.
//!
//! Duplicates come from three sources, all counted in the report: the same
//! unique Worker shipped by a second simulated node under its own load id,
//! an acknowledged batch delivered again, and retries after an error whose
//! outcome is unknown (the node or the leader died mid-call).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use edge_proto::v1 as pb;
use edge_proto::v1::control_plane_client::ControlPlaneClient;
use rand::Rng;
use rand::seq::IndexedRandom;

use crate::Cluster;
use crate::wait_for;

/// Which node the chaos kills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Victim {
    /// The current leader.
    Leader,
    /// A follower.
    Follower,
}

/// Shape of one run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Unique Workers to bill.
    pub unique: usize,
    /// Simulated worker nodes shipping concurrently.
    pub sim_nodes: usize,
    /// Events per RecordLoads call.
    pub batch: usize,
    /// Fraction of unique Workers also shipped by a second node.
    pub cross_node_dup: f64,
    /// Fraction of acknowledged batches delivered again.
    pub redeliver: f64,
    /// SIGKILL + restart cycles.
    pub kills: usize,
    /// Who gets killed.
    pub victim: Victim,
}

/// What happened.
#[derive(Debug, Default)]
pub struct Report {
    /// Unique Workers sent.
    pub unique: usize,
    /// Load events delivered in total (acknowledged or not).
    pub delivered: usize,
    /// Load events in calls that were acknowledged (retried calls count once).
    pub acknowledged: usize,
    /// Deliveries that were duplicates (cross-node, redelivery, retry).
    pub duplicate_deliveries: usize,
    /// Calls that failed and were retried.
    pub retries: usize,
    /// Time from each leader kill until the others agreed on a new leader.
    pub elections: Vec<Duration>,
    /// Wall time of the shipping phase.
    pub elapsed: Duration,
}

impl Report {
    /// Duplicate deliveries / deliveries.
    pub fn duplicate_ratio(&self) -> f64 {
        self.duplicate_deliveries as f64 / self.delivered.max(1) as f64
    }
}

/// Tenants used by the scenario.
pub fn tenants() -> Vec<String> {
    (0..5).map(|t| format!("tenant-{t}")).collect()
}

type Key = (String, String, String, String);

fn event(node: usize, u: usize) -> (pb::LoadEvent, Key) {
    let key = (
        format!("2025-03-{:02}", 1 + u % 3),
        format!("tenant-{}", u % 5),
        format!("worker-{u}"),
        format!("hash-{}", u % 7),
    );
    let ev = pb::LoadEvent {
        load_id: format!("sim{node}-{u}"),
        day: key.0.clone(),
        tenant: key.1.clone(),
        worker_id: key.2.clone(),
        code_hash: key.3.clone(),
        node_id: format!("sim{node}"),
    };
    (ev, key)
}

struct Shared {
    progress: AtomicUsize,
    kills_done: AtomicUsize,
    delivered: AtomicUsize,
    duplicates: AtomicUsize,
    retries: AtomicUsize,
    acknowledged: AtomicUsize,
}

/// Sends one batch until some node acknowledges it; counts retries.
async fn deliver(addrs: &[String], batch: &[pb::LoadEvent], shared: &Shared, is_duplicate: bool) {
    let mut first = true;
    for attempt in 0..600 {
        let addr = addrs.choose(&mut rand::rng()).expect("addresses").clone();
        shared.delivered.fetch_add(batch.len(), Ordering::Relaxed);
        if is_duplicate || !first {
            shared.duplicates.fetch_add(batch.len(), Ordering::Relaxed);
        }
        first = false;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_timeout(Duration::from_millis(300))
            .connect_lazy();
        let mut req = tonic::Request::new(pb::RecordLoadsRequest {
            loads: batch.to_vec(),
        });
        req.set_timeout(Duration::from_secs(5));
        match ControlPlaneClient::new(channel).record_loads(req).await {
            Ok(_) => {
                shared
                    .acknowledged
                    .fetch_add(batch.len(), Ordering::Relaxed);
                return;
            }
            Err(status) => {
                assert!(
                    matches!(
                        status.code(),
                        tonic::Code::Unavailable
                            | tonic::Code::DeadlineExceeded
                            | tonic::Code::Cancelled
                            | tonic::Code::Unknown
                    ),
                    "unexpected status on attempt {attempt}: {status:?}"
                );
                shared.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    }
    panic!("a batch was not acknowledged after 600 attempts");
}

/// Runs the scenario against a started cluster whose tenants exist, then
/// checks every node's export; returns the report.
pub async fn run(cluster: &mut Cluster, s: &Scenario) -> Report {
    let mut expected: BTreeSet<Key> = BTreeSet::new();
    let mut queues: Vec<Vec<(pb::LoadEvent, bool)>> = vec![Vec::new(); s.sim_nodes];
    {
        let mut rng = rand::rng();
        for u in 0..s.unique {
            let primary = u % s.sim_nodes;
            let (ev, key) = event(primary, u);
            expected.insert(key);
            queues[primary].push((ev, false));
            if rng.random_bool(s.cross_node_dup) {
                let other = (primary + 1) % s.sim_nodes;
                queues[other].push((event(other, u).0, true));
            }
        }
    }
    let total_batches: usize = queues.iter().map(|q| q.len().div_ceil(s.batch)).sum();
    let shared = Arc::new(Shared {
        progress: AtomicUsize::new(0),
        kills_done: AtomicUsize::new(0),
        delivered: AtomicUsize::new(0),
        duplicates: AtomicUsize::new(0),
        retries: AtomicUsize::new(0),
        acknowledged: AtomicUsize::new(0),
    });
    let kills = s.kills;
    let threshold = move |k: usize| (k + 1) * total_batches / (kills + 1);
    let slack = s.sim_nodes * 3;
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.addr.clone()).collect();
    let started = Instant::now();
    let mut drivers = Vec::new();
    for queue in queues {
        let (shared, addrs, s) = (shared.clone(), addrs.clone(), s.clone());
        drivers.push(tokio::spawn(async move {
            for chunk in queue.chunks(s.batch) {
                // Keep the stream from running past the next kill by more than a few batches.
                for _ in 0..1200 {
                    let k = shared.kills_done.load(Ordering::Relaxed);
                    if k >= s.kills
                        || shared.progress.load(Ordering::Relaxed) < threshold(k) + slack
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                let events: Vec<pb::LoadEvent> = chunk.iter().map(|(e, _)| e.clone()).collect();
                let dup_count = chunk.iter().filter(|(_, d)| *d).count();
                shared.duplicates.fetch_add(dup_count, Ordering::Relaxed);
                deliver(&addrs, &events, &shared, false).await;
                shared.progress.fetch_add(1, Ordering::Relaxed);
                if rand::rng().random_bool(s.redeliver) {
                    deliver(&addrs, &events, &shared, true).await;
                }
            }
        }));
    }

    let mut elections = Vec::new();
    for k in 0..s.kills {
        wait_for(
            "the stream to reach the next kill point",
            Duration::from_secs(300),
            || {
                let p = shared.progress.load(Ordering::Relaxed);
                async move { (p >= threshold(k)).then_some(()) }
            },
        )
        .await;
        let leader = cluster.wait_leader(Duration::from_secs(30)).await;
        let victim = match s.victim {
            Victim::Leader => leader,
            Victim::Follower => (0..cluster.nodes.len())
                .find(|i| *i != leader && cluster.nodes[*i].running())
                .expect("a follower"),
        };
        let old_term = cluster.nodes[leader]
            .local_status()
            .await
            .map(|st| st.term)
            .unwrap_or(0);
        cluster.nodes[victim].kill9();
        let killed_at = Instant::now();
        if s.victim == Victim::Leader {
            let survivors: Vec<&crate::CpNode> =
                cluster.nodes.iter().filter(|n| n.running()).collect();
            wait_for(
                "a new leader after kill -9",
                Duration::from_secs(30),
                || {
                    let survivors = survivors.clone();
                    async move {
                        let mut leader = None;
                        for n in survivors {
                            let st = n.local_status().await?;
                            if !st.has_leader
                                || st.term <= old_term
                                || leader.is_some_and(|l| l != st.leader)
                            {
                                return None;
                            }
                            leader = Some(st.leader);
                        }
                        Some(())
                    }
                },
            )
            .await;
            elections.push(killed_at.elapsed());
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        cluster.nodes[victim].start();
        cluster.nodes[victim].wait_ready().await;
        shared.kills_done.fetch_add(1, Ordering::Relaxed);
    }
    for d in drivers {
        d.await.expect("driver task");
    }
    let elapsed = started.elapsed();

    // Every node, once caught up, exports exactly the unique Workers sent.
    for node in &cluster.nodes {
        let detail = export_detail(node, "2025-03-01", "2025-03-03").await;
        assert_eq!(
            detail.len(),
            expected.len(),
            "node {}: unique Workers exported vs sent",
            node.id
        );
        assert!(
            detail == expected,
            "node {}: exported set differs from the set sent",
            node.id
        );
        let rows = export_rows(node, "2025-03-01", "2025-03-03").await;
        let total: u64 = rows.iter().map(|r| r.unique_workers).sum();
        assert_eq!(total as usize, expected.len());
        assert!(
            rows.iter()
                .all(|r| r.amount_micro_usd == r.unique_workers * 2_000)
        );
    }
    Report {
        unique: expected.len(),
        delivered: shared.delivered.load(Ordering::Relaxed),
        acknowledged: shared.acknowledged.load(Ordering::Relaxed),
        duplicate_deliveries: shared.duplicates.load(Ordering::Relaxed),
        retries: shared.retries.load(Ordering::Relaxed),
        elections,
        elapsed,
    }
}

/// The detail export of `node`, as a set, retrying while the cluster settles.
pub async fn export_detail(node: &crate::CpNode, from: &str, to: &str) -> BTreeSet<Key> {
    let resp = export(node, from, to, true).await;
    resp.detail
        .into_iter()
        .map(|r| (r.day, r.tenant, r.worker_id, r.code_hash))
        .collect()
}

/// The per-tenant rows of `node`.
pub async fn export_rows(node: &crate::CpNode, from: &str, to: &str) -> Vec<pb::BillingRow> {
    export(node, from, to, false).await.rows
}

async fn export(
    node: &crate::CpNode,
    from: &str,
    to: &str,
    detail: bool,
) -> pb::ExportBillingResponse {
    let mut last = None;
    for _ in 0..200 {
        let req = pb::ExportBillingRequest {
            from_day: from.into(),
            to_day: to.into(),
            detail,
        };
        match node.cp().export_billing(req).await {
            Ok(r) => return r.into_inner(),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("export from node {} kept failing: {last:?}", node.id);
}
