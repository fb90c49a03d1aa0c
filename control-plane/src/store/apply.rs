//! One write per request kind. Each is deterministic and idempotent:
//! re-applying a request over a state that already contains it changes
//! nothing (absolute values; the ledger is idempotent by load id). `Err` is
//! a storage failure or an undecodable record, never a rejected request.

use std::sync::atomic::Ordering;

use super::encode;
use super::reader::StateReader;
use super::reader::worker_key;
use crate::error::StoreError;
use crate::ledger;
use crate::types::ApiKeyRecord;
use crate::types::BundleData;
use crate::types::Health;
use crate::types::LoadRecord;
use crate::types::RejectCode;
use crate::types::Request;
use crate::types::Response;
use crate::types::TenantRecord;
use crate::types::WorkerNodeRecord;
use crate::types::WorkerRecord;
use crate::types::validate_load;

/// What applying one request answers, or the storage failure.
type Applied = Result<Response, StoreError>;

/// Applies one request to `state`.
pub(super) fn apply_request(state: &StateReader, req: &Request) -> Applied {
    match req {
        Request::RegisterNode(node) => register_node(state, node),
        Request::Heartbeat {
            node_id,
            load,
            now_unix_ms,
        } => heartbeat(state, node_id, *load, *now_unix_ms),
        Request::SetNodeHealth { node_id, health } => set_node_health(state, node_id, *health),
        Request::PutWorker {
            tenant,
            worker_id,
            bundle,
            now_unix_ms,
        } => put_worker(state, tenant, worker_id, bundle, *now_unix_ms),
        Request::DeleteWorker { tenant, worker_id } => delete_worker(state, tenant, worker_id),
        Request::CreateTenant { tenant, admin } => create_tenant(state, tenant, *admin),
        Request::CreateApiKey {
            tenant,
            key_hash,
            expires_unix_ms,
        } => create_api_key(state, tenant, key_hash, *expires_unix_ms),
        Request::RecordLoads(loads) => record_loads(state, loads),
    }
}

/// Adds or replaces a worker node.
fn register_node(state: &StateReader, node: &WorkerNodeRecord) -> Applied {
    state.nodes.insert(node.node_id.as_bytes(), encode(node))?;
    Ok(Response::Ok)
}

/// Records a heartbeat; the heartbeat clock never goes backwards.
fn heartbeat(state: &StateReader, node_id: &str, load: u32, now_unix_ms: i64) -> Applied {
    let Some(mut node) = state.node(node_id)? else {
        return Ok(reject(
            RejectCode::NotFound,
            format!("worker node {node_id:?} is not registered; call RegisterNode first"),
        ));
    };
    node.load = load;
    node.last_heartbeat_unix_ms = node.last_heartbeat_unix_ms.max(now_unix_ms);
    state.nodes.insert(node_id.as_bytes(), encode(&node))?;
    Ok(Response::Ok)
}

/// Sets a worker node's stored health.
fn set_node_health(state: &StateReader, node_id: &str, health: Health) -> Applied {
    let Some(mut node) = state.node(node_id)? else {
        return Ok(reject(
            RejectCode::NotFound,
            format!("worker node {node_id:?} is not registered; see ListNodes"),
        ));
    };
    node.health = health;
    state.nodes.insert(node_id.as_bytes(), encode(&node))?;
    Ok(Response::Ok)
}

/// Stores the bundle under its code hash, then points the Worker at it.
fn put_worker(
    state: &StateReader,
    tenant: &str,
    worker_id: &str,
    bundle: &BundleData,
    now_unix_ms: i64,
) -> Applied {
    if state.tenant(tenant)?.is_none() {
        return Ok(unknown_tenant(tenant));
    }
    let code_hash = bundle.code_hash();
    state.bundles.insert(code_hash.as_bytes(), encode(bundle))?;
    let record = WorkerRecord {
        code_hash: code_hash.clone(),
        bundle_bytes: bundle.size() as u64,
        updated_unix_ms: now_unix_ms,
    };
    let key = worker_key(tenant, worker_id);
    state.workers.insert(key.as_bytes(), encode(&record))?;
    Ok(Response::WorkerStored { code_hash })
}

/// Deletes a Worker (its bundle stays: other Workers may share it).
fn delete_worker(state: &StateReader, tenant: &str, worker_id: &str) -> Applied {
    let key = worker_key(tenant, worker_id);
    let existed = state.workers.remove(key.as_bytes())?.is_some();
    Ok(Response::WorkerDeleted { existed })
}

/// Creates or updates a tenant.
fn create_tenant(state: &StateReader, tenant: &str, admin: bool) -> Applied {
    state
        .tenants
        .insert(tenant.as_bytes(), encode(&TenantRecord { admin }))?;
    Ok(Response::Ok)
}

/// Stores an API key's hash for an existing tenant.
fn create_api_key(
    state: &StateReader,
    tenant: &str,
    key_hash: &str,
    expires_unix_ms: i64,
) -> Applied {
    if state.tenant(tenant)?.is_none() {
        return Ok(unknown_tenant(tenant));
    }
    let record = ApiKeyRecord {
        tenant: tenant.to_string(),
        expires_unix_ms,
    };
    state
        .api_keys
        .insert(key_hash.as_bytes(), encode(&record))?;
    Ok(Response::Ok)
}

/// Records billable loads. The whole batch is validated first: a bad
/// record writes nothing.
fn record_loads(state: &StateReader, loads: &[LoadRecord]) -> Applied {
    for load in loads {
        if let Err(e) = validate_load(load) {
            return Ok(reject(RejectCode::InvalidArgument, e.to_string()));
        }
        if state.tenant(&load.tenant)?.is_none() {
            return Ok(unknown_tenant(&load.tenant));
        }
    }
    let applied = ledger::apply(&state.loads, &state.ledger, loads)?;
    state
        .ledger_size
        .fetch_add(applied.new_unique as u64, Ordering::Relaxed);
    Ok(Response::Loads {
        applied: applied.new_unique,
        duplicates: applied.duplicates,
    })
}

/// A rejection: nothing was written.
fn reject(code: RejectCode, message: String) -> Response {
    Response::Rejected { code, message }
}

/// The rejection of a request naming a tenant that does not exist.
fn unknown_tenant(tenant: &str) -> Response {
    reject(
        RejectCode::NotFound,
        format!("tenant {tenant:?} does not exist; create it first (CreateTenant)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_for_an_undecodable_node_fails_instead_of_rejecting() {
        let state = StateReader::temporary();
        state.nodes.insert("n1", &b"not json"[..]).unwrap();
        let heartbeat = Request::Heartbeat {
            node_id: "n1".into(),
            load: 1,
            now_unix_ms: 1,
        };
        assert!(matches!(
            apply_request(&state, &heartbeat),
            Err(StoreError::Undecodable { .. })
        ));
    }
}
