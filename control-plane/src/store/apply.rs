//! One write per request kind. Each is deterministic and idempotent:
//! re-applying a request over a state that already contains it changes
//! nothing (absolute values; the ledger is idempotent by load id). `Err` is
//! a storage failure or an undecodable record, never a rejected request.

use std::sync::atomic::Ordering;

use super::encode;
use super::reader::INIT_KEY;
use super::reader::StateReader;
use super::reader::worker_key;
use crate::error::StoreError;
use crate::ledger;
use crate::types::ApiKeyRecord;
use crate::types::BundleData;
use crate::types::Health;
use crate::types::InitRecord;
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
            live_sandboxes,
            resident_bytes,
            in_flight,
            now_unix_ms,
        } => heartbeat(
            state,
            node_id,
            Usage {
                load: *load,
                live_sandboxes: *live_sandboxes,
                resident_bytes: *resident_bytes,
                in_flight: *in_flight,
            },
            *now_unix_ms,
        ),
        Request::SetNodeHealth { node_id, health } => set_node_health(state, node_id, *health),
        Request::PutWorker {
            tenant,
            worker_id,
            bundle,
            limits,
            grants,
            now_unix_ms,
        } => {
            let record = WorkerRecord {
                code_hash: bundle.code_hash(),
                bundle_bytes: bundle.size() as u64,
                updated_unix_ms: *now_unix_ms,
                limits: *limits,
                grants: grants.clone(),
            };
            put_worker(state, tenant, worker_id, bundle, record)
        }
        Request::DeleteWorker { tenant, worker_id } => delete_worker(state, tenant, worker_id),
        Request::CreateTenant { tenant, admin } => create_tenant(state, tenant, *admin),
        Request::CreateApiKey {
            tenant,
            key_hash,
            expires_unix_ms,
        } => create_api_key(state, tenant, key_hash, *expires_unix_ms),
        Request::RevokeApiKey { key_hash } => revoke_api_key(state, key_hash),
        Request::RecordLoads(loads) => record_loads(state, loads),
        Request::InitAdmin(init) => init_admin(state, init),
    }
}

/// A heartbeat's report of a node's load.
struct Usage {
    load: u32,
    live_sandboxes: u32,
    resident_bytes: u64,
    in_flight: u32,
}

/// Adds or replaces a worker node.
fn register_node(state: &StateReader, node: &WorkerNodeRecord) -> Applied {
    state.nodes.insert(node.node_id.as_bytes(), encode(node))?;
    Ok(Response::Ok)
}

/// Records a heartbeat; the heartbeat clock never goes backwards.
fn heartbeat(state: &StateReader, node_id: &str, usage: Usage, now_unix_ms: i64) -> Applied {
    let Some(mut node) = state.node(node_id)? else {
        return Ok(reject(
            RejectCode::NotFound,
            format!("worker node {node_id:?} is not registered; call RegisterNode first"),
        ));
    };
    node.load = usage.load;
    node.live_sandboxes = usage.live_sandboxes;
    node.resident_bytes = usage.resident_bytes;
    node.in_flight = usage.in_flight;
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
    record: WorkerRecord,
) -> Applied {
    if state.tenant(tenant)?.is_none() {
        return Ok(unknown_tenant(tenant));
    }
    let code_hash = record.code_hash.clone();
    state.bundles.insert(code_hash.as_bytes(), encode(bundle))?;
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

/// Removes an API key's hash; whether it existed.
fn revoke_api_key(state: &StateReader, key_hash: &str) -> Applied {
    let existed = state.api_keys.remove(key_hash.as_bytes())?.is_some();
    Ok(Response::KeyRevoked { existed })
}

/// Creates the first admin tenant and its key, once. The marker is written
/// last, so a crash before it re-applies the whole request; the same
/// request applied again (a retried Init) is answered Ok.
fn init_admin(state: &StateReader, init: &InitRecord) -> Applied {
    if let Some(done) = state.init_record()? {
        if done.key_hash == init.key_hash {
            return Ok(Response::Ok);
        }
        return Ok(reject(
            RejectCode::AlreadyExists,
            format!(
                "the cluster is already initialised (admin tenant {:?}); its key was shown once by the first `edgectl cluster init`: create more keys with an admin key (CreateApiKey)",
                done.admin_tenant
            ),
        ));
    }
    if state.tenant(&init.admin_tenant)?.is_some_and(|t| !t.admin) {
        return Ok(reject(
            RejectCode::AlreadyExists,
            format!(
                "tenant {:?} already exists and is not an admin; choose another admin tenant name",
                init.admin_tenant
            ),
        ));
    }
    create_tenant(state, &init.admin_tenant, true)?;
    create_api_key(state, &init.admin_tenant, &init.key_hash, 0)?;
    state.cluster.insert(INIT_KEY, encode(init))?;
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
    use crate::types::ModuleData;

    fn init(key_hash: &str) -> Request {
        Request::InitAdmin(InitRecord {
            admin_tenant: "admin".into(),
            key_hash: key_hash.into(),
            at_unix_ms: 1,
        })
    }

    #[test]
    fn init_creates_the_admin_once_and_a_retry_of_the_same_init_is_ok() {
        let state = StateReader::temporary();
        assert_eq!(apply_request(&state, &init("h1")).unwrap(), Response::Ok);
        assert_eq!(state.tenant("admin").unwrap().map(|t| t.admin), Some(true));
        assert_eq!(state.api_key("h1").unwrap().unwrap().tenant, "admin");
        assert_eq!(apply_request(&state, &init("h1")).unwrap(), Response::Ok);
        match apply_request(&state, &init("h2")).unwrap() {
            Response::Rejected { code, message } => {
                assert_eq!(code, RejectCode::AlreadyExists);
                assert!(message.contains("already initialised"), "{message}");
            }
            other => panic!("second init answered {other:?}"),
        }
        assert!(state.api_key("h2").unwrap().is_none());
    }

    #[test]
    fn init_does_not_promote_an_existing_plain_tenant() {
        let state = StateReader::temporary();
        let plain = Request::CreateTenant {
            tenant: "admin".into(),
            admin: false,
        };
        apply_request(&state, &plain).unwrap();
        assert!(matches!(
            apply_request(&state, &init("h1")).unwrap(),
            Response::Rejected {
                code: RejectCode::AlreadyExists,
                ..
            }
        ));
        assert!(state.init_record().unwrap().is_none());
        assert!(state.api_key("h1").unwrap().is_none());
    }

    #[test]
    fn revoking_a_key_removes_it_and_says_whether_it_existed() {
        let state = StateReader::temporary();
        apply_request(&state, &init("h1")).unwrap();
        let revoke = Request::RevokeApiKey {
            key_hash: "h1".into(),
        };
        assert_eq!(
            apply_request(&state, &revoke).unwrap(),
            Response::KeyRevoked { existed: true }
        );
        assert!(state.api_key("h1").unwrap().is_none());
        assert_eq!(
            apply_request(&state, &revoke).unwrap(),
            Response::KeyRevoked { existed: false }
        );
    }

    #[test]
    fn a_worker_keeps_its_limits_and_grants_and_owns_its_code() {
        let state = StateReader::temporary();
        apply_request(&state, &init("h1")).unwrap();
        let bundle = BundleData {
            modules: vec![ModuleData {
                name: "m.js".into(),
                source: "export default {}".into(),
            }],
            main_module: "m.js".into(),
        };
        let limits = crate::types::LimitsData {
            memory_mb: 64,
            timeout_ms: 500,
            cpu_ms: 100,
        };
        let grants = crate::types::GrantsData {
            fetch_allow_hosts: vec!["api.example.com".into()],
            scratch_fs_mb: 8,
            ..Default::default()
        };
        let put = Request::PutWorker {
            tenant: "admin".into(),
            worker_id: "w".into(),
            bundle: bundle.clone(),
            limits,
            grants: grants.clone(),
            now_unix_ms: 5,
        };
        apply_request(&state, &put).unwrap();
        let stored = state.worker("admin", "w").unwrap().unwrap();
        assert_eq!((stored.limits, stored.grants), (limits, grants));
        let hash = bundle.code_hash();
        assert!(state.tenant_has_code("admin", &hash).unwrap());
        assert!(!state.tenant_has_code("other", &hash).unwrap());
        let delete = Request::DeleteWorker {
            tenant: "admin".into(),
            worker_id: "w".into(),
        };
        apply_request(&state, &delete).unwrap();
        assert!(!state.tenant_has_code("admin", &hash).unwrap());
    }

    /// Records and log entries written before limits, grants and the
    /// heartbeat's load fields existed still decode, with defaults.
    #[test]
    fn records_and_requests_of_the_previous_version_decode() {
        let old_worker = br#"{"code_hash":"h","bundle_bytes":3,"updated_unix_ms":7}"#;
        let w: WorkerRecord = serde_json::from_slice(old_worker).unwrap();
        assert_eq!(w.limits, Default::default());
        assert!(w.grants.fetch_allow_hosts.is_empty());
        let old_node = br#"{"node_id":"n","region":"eu","latitude":1.0,"longitude":2.0,"grpc_addr":"a:1","capacity":3,"load":1,"last_heartbeat_unix_ms":9,"health":"Healthy"}"#;
        let n: WorkerNodeRecord = serde_json::from_slice(old_node).unwrap();
        assert_eq!((n.live_sandboxes, n.memory_budget_bytes), (0, 0));
        let old_beat = br#"{"Heartbeat":{"node_id":"n","load":2,"now_unix_ms":3}}"#;
        assert!(matches!(
            serde_json::from_slice::<Request>(old_beat).unwrap(),
            Request::Heartbeat {
                load: 2,
                in_flight: 0,
                ..
            }
        ));
        let old_put = br#"{"PutWorker":{"tenant":"t","worker_id":"w","bundle":{"modules":[],"main_module":"m"},"now_unix_ms":3}}"#;
        assert!(matches!(
            serde_json::from_slice::<Request>(old_put).unwrap(),
            Request::PutWorker { limits, .. } if limits == Default::default()
        ));
    }

    #[test]
    fn a_heartbeat_for_an_undecodable_node_fails_instead_of_rejecting() {
        let state = StateReader::temporary();
        state.nodes.insert("n1", &b"not json"[..]).unwrap();
        let heartbeat = Request::Heartbeat {
            node_id: "n1".into(),
            load: 1,
            live_sandboxes: 1,
            resident_bytes: 1,
            in_flight: 1,
            now_unix_ms: 1,
        };
        assert!(matches!(
            apply_request(&state, &heartbeat),
            Err(StoreError::Undecodable { .. })
        ));
    }
}
