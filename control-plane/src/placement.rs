//! Placement: which worker nodes should run a Worker.
//!
//! Candidates are the nodes of the region (all regions if none is given)
//! that are healthy — stored health `Healthy` and a heartbeat younger than
//! the configured timeout — and below capacity. They are ranked by
//! rendezvous (highest random weight) hashing of (node id, worker id), so a
//! Worker stays on the same node while that node is up, and only the Workers
//! of a node that leaves move elsewhere. Draining nodes get no new Workers.

use std::time::Duration;

use sha2::Digest;

use crate::types::Health;
use crate::types::WorkerNodeRecord;

/// Stored health with the heartbeat age applied: a healthy node whose last
/// heartbeat is older than `timeout` counts as unhealthy.
pub fn effective_health(node: &WorkerNodeRecord, now_unix_ms: i64, timeout: Duration) -> Health {
    let stale =
        now_unix_ms.saturating_sub(node.last_heartbeat_unix_ms) > timeout.as_millis() as i64;
    match node.health {
        Health::Healthy if stale => Health::Unhealthy,
        other => other,
    }
}

/// Rendezvous weight of `node_id` for `worker_id`.
fn weight(node_id: &str, worker_id: &str) -> u64 {
    let digest = sha2::Sha256::new()
        .chain_update(node_id)
        .chain_update([0u8])
        .chain_update(worker_id)
        .finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Healthy nodes with capacity in `region` (any region if empty), best first.
pub fn rank(
    nodes: impl IntoIterator<Item = WorkerNodeRecord>,
    region: &str,
    worker_id: &str,
    now_unix_ms: i64,
    timeout: Duration,
) -> Vec<WorkerNodeRecord> {
    let mut candidates: Vec<(u64, WorkerNodeRecord)> = nodes
        .into_iter()
        .filter(|n| region.is_empty() || n.region == region)
        .filter(|n| effective_health(n, now_unix_ms, timeout) == Health::Healthy)
        .filter(|n| n.load < n.capacity)
        .map(|n| (weight(&n.node_id, worker_id), n))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.node_id.cmp(&b.1.node_id)));
    candidates.into_iter().map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, region: &str, health: Health, load: u32, hb: i64) -> WorkerNodeRecord {
        WorkerNodeRecord {
            node_id: id.into(),
            region: region.into(),
            latitude: 0.0,
            longitude: 0.0,
            grpc_addr: format!("{id}:1"),
            capacity: 10,
            load,
            last_heartbeat_unix_ms: hb,
            health,
            live_sandboxes: 1,
            resident_bytes: 1 << 20,
            in_flight: 0,
            max_sandboxes: 4,
            memory_budget_bytes: 1 << 30,
        }
    }

    #[test]
    fn skips_unhealthy_draining_full_and_stale_nodes() {
        let t = Duration::from_secs(10);
        let nodes = vec![
            node("ok", "eu", Health::Healthy, 0, 1_000),
            node("drain", "eu", Health::Draining, 0, 1_000),
            node("sick", "eu", Health::Unhealthy, 0, 1_000),
            node("full", "eu", Health::Healthy, 10, 1_000),
            node("stale", "eu", Health::Healthy, 0, -20_000),
            node("us", "us", Health::Healthy, 0, 1_000),
        ];
        let ranked = rank(nodes, "eu", "w", 1_500, t);
        assert_eq!(
            ranked
                .iter()
                .map(|n| n.node_id.as_str())
                .collect::<Vec<_>>(),
            ["ok"]
        );
    }

    #[test]
    fn a_leaving_node_only_moves_its_own_workers() {
        let t = Duration::from_secs(10);
        let all: Vec<_> = (0..5)
            .map(|i| node(&format!("n{i}"), "eu", Health::Healthy, 0, 0))
            .collect();
        let first = |nodes: &[WorkerNodeRecord], w: &str| {
            rank(nodes.to_vec(), "eu", w, 0, t)[0].node_id.clone()
        };
        let without: Vec<_> = all.iter().filter(|n| n.node_id != "n2").cloned().collect();
        for w in 0..200 {
            let w = format!("worker-{w}");
            let before = first(&all, &w);
            if before != "n2" {
                assert_eq!(before, first(&without, &w));
            }
        }
    }
}
