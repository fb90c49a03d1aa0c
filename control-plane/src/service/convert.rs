//! Protobuf messages to and from the control plane's types. Inbound
//! messages are checked here, so a bad field gets an INVALID_ARGUMENT that
//! names it before anything is proposed to Raft.

use edge_proto::v1 as pb;
use tonic::Status;

use super::invalid;
use super::non_empty;
use crate::ledger::BillingDetailRow;
use crate::ledger::BillingRow;
use crate::types::BundleData;
use crate::types::ClusterStatus;
use crate::types::GrantsData;
use crate::types::Health;
use crate::types::LimitsData;
use crate::types::LoadRecord;
use crate::types::MAX_BUNDLE_BYTES;
use crate::types::MAX_GRANTS_BYTES;
use crate::types::MemberStatus;
use crate::types::ModuleData;
use crate::types::WorkerNodeRecord;
use crate::types::WorkerRecord;

/// A worker node registering itself; its heartbeat clock starts at `now_unix_ms`.
pub(super) fn node_record(n: pb::NodeInfo, now_unix_ms: i64) -> Result<WorkerNodeRecord, Status> {
    non_empty("node.node_id", &n.node_id)?;
    non_empty("node.region", &n.region)?;
    non_empty("node.grpc_addr", &n.grpc_addr)?;
    if !(-90.0..=90.0).contains(&n.latitude) || !(-180.0..=180.0).contains(&n.longitude) {
        return Err(invalid(format!(
            "coordinates ({}, {}) are out of range: latitude must be in [-90, 90], longitude in [-180, 180]",
            n.latitude, n.longitude
        )));
    }
    if n.capacity == 0 {
        return Err(invalid("node.capacity must be at least 1"));
    }
    // A node registers healthy unless it says otherwise.
    let health = match pb::NodeHealth::try_from(n.health) {
        Ok(pb::NodeHealth::Unhealthy) => Health::Unhealthy,
        Ok(pb::NodeHealth::Draining) => Health::Draining,
        _ => Health::Healthy,
    };
    Ok(WorkerNodeRecord {
        node_id: n.node_id,
        region: n.region,
        latitude: n.latitude,
        longitude: n.longitude,
        grpc_addr: n.grpc_addr,
        capacity: n.capacity,
        load: n.load,
        last_heartbeat_unix_ms: now_unix_ms,
        health,
        live_sandboxes: n.live_sandboxes,
        resident_bytes: n.resident_bytes,
        in_flight: n.in_flight,
        max_sandboxes: n.max_sandboxes,
        memory_budget_bytes: n.memory_budget_bytes,
    })
}

/// The health an operator sets; it must be named explicitly.
pub(super) fn health(value: i32) -> Result<Health, Status> {
    match pb::NodeHealth::try_from(value) {
        Ok(pb::NodeHealth::Healthy) => Ok(Health::Healthy),
        Ok(pb::NodeHealth::Unhealthy) => Ok(Health::Unhealthy),
        Ok(pb::NodeHealth::Draining) => Ok(Health::Draining),
        _ => Err(invalid("health must be HEALTHY, UNHEALTHY or DRAINING")),
    }
}

fn health_to_pb(h: Health) -> i32 {
    match h {
        Health::Healthy => pb::NodeHealth::Healthy as i32,
        Health::Unhealthy => pb::NodeHealth::Unhealthy as i32,
        Health::Draining => pb::NodeHealth::Draining as i32,
    }
}

/// A worker node as clients see it, with `health` as of now.
pub(super) fn node_to_pb(n: WorkerNodeRecord, health: Health) -> pb::NodeInfo {
    pb::NodeInfo {
        node_id: n.node_id,
        region: n.region,
        latitude: n.latitude,
        longitude: n.longitude,
        grpc_addr: n.grpc_addr,
        capacity: n.capacity,
        load: n.load,
        last_heartbeat_unix_ms: n.last_heartbeat_unix_ms,
        health: health_to_pb(health),
        live_sandboxes: n.live_sandboxes,
        resident_bytes: n.resident_bytes,
        in_flight: n.in_flight,
        max_sandboxes: n.max_sandboxes,
        memory_budget_bytes: n.memory_budget_bytes,
    }
}

/// A bundle to store: at least one module, the main module among them, and
/// no larger than [`MAX_BUNDLE_BYTES`].
pub(super) fn bundle(b: pb::Bundle) -> Result<BundleData, Status> {
    let bundle = BundleData {
        modules: b
            .modules
            .into_iter()
            .map(|m| ModuleData {
                name: m.name,
                source: m.source,
            })
            .collect(),
        main_module: b.main_module,
    };
    if bundle.modules.is_empty() {
        return Err(invalid("bundle has no modules"));
    }
    if !bundle.modules.iter().any(|m| m.name == bundle.main_module) {
        return Err(invalid(format!(
            "bundle.main_module {:?} is not one of the bundle's modules",
            bundle.main_module
        )));
    }
    let size = bundle.size();
    if size > MAX_BUNDLE_BYTES {
        return Err(invalid(format!(
            "bundle is {size} bytes; the limit is {MAX_BUNDLE_BYTES} bytes (4 MiB): split out or minify code"
        )));
    }
    Ok(bundle)
}

/// Largest stored heap limit, MiB: the engine's bound
/// (`edge_engine::Limits::MAX_MEMORY_BYTES`; the worker node checks again
/// when it runs the Worker).
const MAX_MEMORY_MB: u32 = 4096;

/// Largest stored wall or CPU time, ms: the engine's 15 minutes.
const MAX_TIME_MS: u32 = 15 * 60 * 1000;

/// A Worker's default limits to store (absent, or 0 in a field: the
/// engine's default), within the engine's bounds.
pub(super) fn limits(l: Option<pb::Limits>) -> Result<LimitsData, Status> {
    let l = l.unwrap_or_default();
    if l.memory_mb > MAX_MEMORY_MB {
        return Err(invalid(format!(
            "limits.memory_mb {} is above the limit of {MAX_MEMORY_MB}",
            l.memory_mb
        )));
    }
    for (field, value) in [("timeout_ms", l.timeout_ms), ("cpu_ms", l.cpu_ms)] {
        if value > MAX_TIME_MS {
            return Err(invalid(format!(
                "limits.{field} {value} is above the limit of {MAX_TIME_MS} (15 minutes)"
            )));
        }
    }
    Ok(LimitsData {
        memory_mb: l.memory_mb,
        timeout_ms: l.timeout_ms,
        cpu_ms: l.cpu_ms,
    })
}

/// Stored limits as clients see them.
pub(super) fn limits_to_pb(l: LimitsData) -> pb::Limits {
    pb::Limits {
        memory_mb: l.memory_mb,
        timeout_ms: l.timeout_ms,
        cpu_ms: l.cpu_ms,
    }
}

/// A Worker's grants to store (absent: none): no empty names, at most
/// [`MAX_GRANTS_BYTES`] of names in all.
pub(super) fn grants(g: Option<pb::Grants>) -> Result<GrantsData, Status> {
    let g = g.unwrap_or_default();
    let grants = GrantsData {
        fetch_allow_hosts: g.fetch_allow_hosts,
        secrets: g.secrets,
        scratch_fs_mb: g.scratch_fs_mb,
        sub_workers: g.sub_workers,
        mcp_servers: g.mcp_servers,
    };
    for (field, names) in [
        ("grants.fetch_allow_hosts", &grants.fetch_allow_hosts),
        ("grants.secrets", &grants.secrets),
        ("grants.sub_workers", &grants.sub_workers),
        ("grants.mcp_servers", &grants.mcp_servers),
    ] {
        if names.iter().any(|n| n.trim().is_empty()) {
            return Err(invalid(format!("{field} has an empty name")));
        }
    }
    let size = grants.size();
    if size > MAX_GRANTS_BYTES {
        return Err(invalid(format!(
            "grants name {size} bytes in all; the limit is {MAX_GRANTS_BYTES} bytes"
        )));
    }
    Ok(grants)
}

/// Stored grants as clients see them.
pub(super) fn grants_to_pb(g: GrantsData) -> pb::Grants {
    pb::Grants {
        fetch_allow_hosts: g.fetch_allow_hosts,
        secrets: g.secrets,
        scratch_fs_mb: g.scratch_fs_mb,
        sub_workers: g.sub_workers,
        mcp_servers: g.mcp_servers,
    }
}

/// A stored bundle as clients see it.
pub(super) fn bundle_to_pb(b: BundleData) -> pb::Bundle {
    pb::Bundle {
        modules: b
            .modules
            .into_iter()
            .map(|m| pb::Module {
                name: m.name,
                source: m.source,
            })
            .collect(),
        main_module: b.main_module,
    }
}

/// One line of `ListWorkers`.
pub(super) fn worker_summary((worker_id, record): (String, WorkerRecord)) -> pb::CpWorkerSummary {
    pb::CpWorkerSummary {
        worker_id,
        code_hash: record.code_hash,
        bundle_bytes: record.bundle_bytes,
        updated_unix_ms: record.updated_unix_ms,
    }
}

/// A load event as the ledger records it (checked by `validate_load`).
pub(super) fn load_record(l: pb::LoadEvent) -> LoadRecord {
    LoadRecord {
        load_id: l.load_id,
        tenant: l.tenant,
        worker_id: l.worker_id,
        code_hash: l.code_hash,
        day: l.day,
        node_id: l.node_id,
    }
}

/// A billing export as clients see it.
pub(super) fn billing_to_pb(
    rows: Vec<BillingRow>,
    detail: Vec<BillingDetailRow>,
) -> pb::ExportBillingResponse {
    pb::ExportBillingResponse {
        rows: rows
            .into_iter()
            .map(|x| pb::BillingRow {
                day: x.day,
                tenant: x.tenant,
                unique_workers: x.unique_workers,
                amount_micro_usd: x.amount_micro_usd,
            })
            .collect(),
        detail: detail
            .into_iter()
            .map(|x| pb::BillingDetailRow {
                day: x.day,
                tenant: x.tenant,
                worker_id: x.worker_id,
                code_hash: x.code_hash,
            })
            .collect(),
    }
}

/// Cluster status as `edgectl cluster status` reads it (absent values as
/// 0, or -1 for the snapshot age).
pub(super) fn status_to_pb(s: ClusterStatus) -> pb::StatusResponse {
    pb::StatusResponse {
        leader: s.leader.unwrap_or(0),
        has_leader: s.leader.is_some(),
        term: s.term,
        members: s.members.into_iter().map(member_to_pb).collect(),
        commit_index: s.commit_index,
        applied_index: s.applied_index,
        snapshot_age_ms: s.snapshot_age_ms.map(|x| x as i64).unwrap_or(-1),
        ledger_size: s.ledger_size,
    }
}

fn member_to_pb(m: MemberStatus) -> pb::Member {
    pb::Member {
        id: m.id,
        addr: m.addr,
        voter: m.voter,
        last_log_index: m.last_log_index.unwrap_or(0),
    }
}
