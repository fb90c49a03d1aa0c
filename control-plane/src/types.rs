//! The Raft type configuration and everything replicated through the log:
//! requests (one per kind of write), responses, and the records the state
//! machine stores; also the cluster status nodes report to each other.

use std::io::Cursor;

use edge_proto::billing::KEY_SEPARATOR;
use edge_proto::billing::UtcDay;
use openraft::BasicNode;
use serde::Deserialize;
use serde::Serialize;

use crate::error::LoadError;

/// Raft node id of a control-plane node.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// openraft type configuration of the control plane.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// Price of one unique Worker per UTC day, in micro-dollars ($0.002).
pub const MICRO_USD_PER_UNIQUE_WORKER: u64 = 2_000;

/// Largest Worker bundle the registry accepts (the engine's limit), in bytes
/// of module names plus sources.
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;

/// Health of a worker node as stored in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// Heartbeating and accepting Workers.
    Healthy,
    /// Missed heartbeats (or marked by an operator); gets no Workers.
    Unhealthy,
    /// Finishing what it runs; gets no new Workers.
    Draining,
}

/// A worker node in the registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerNodeRecord {
    /// Operator-chosen id of the worker node.
    pub node_id: String,
    /// Region name, e.g. "eu-west".
    pub region: String,
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// gRPC address the gateway calls.
    pub grpc_addr: String,
    /// How many Workers it can hold loaded.
    pub capacity: u32,
    /// Workers loaded at the last heartbeat.
    pub load: u32,
    /// Leader's clock at the last heartbeat, Unix milliseconds.
    pub last_heartbeat_unix_ms: i64,
    /// Stored health (heartbeat age is applied on top when read).
    pub health: Health,
    /// Sandbox processes alive at the last heartbeat.
    #[serde(default)]
    pub live_sandboxes: u32,
    /// Resident memory of the node's sandboxes at the last heartbeat, bytes.
    #[serde(default)]
    pub resident_bytes: u64,
    /// Calls in flight at the last heartbeat.
    #[serde(default)]
    pub in_flight: u32,
    /// Most sandbox processes the node runs (0: not reported).
    #[serde(default)]
    pub max_sandboxes: u32,
    /// Memory the node may give its sandboxes, bytes (0: not reported).
    #[serde(default)]
    pub memory_budget_bytes: u64,
}

/// One module of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleData {
    /// Specifier, e.g. "./util.ts".
    pub name: String,
    /// Source text.
    pub source: String,
}

/// A Worker's code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleData {
    /// All modules.
    pub modules: Vec<ModuleData>,
    /// Name of the entry module.
    pub main_module: String,
}

impl BundleData {
    /// Size counted against [`MAX_BUNDLE_BYTES`].
    pub fn size(&self) -> usize {
        self.main_module.len()
            + self
                .modules
                .iter()
                .map(|m| m.name.len() + m.source.len())
                .sum::<usize>()
    }

    /// The Worker's code hash ([`edge_proto::code_hash`]: module order does not matter).
    pub fn code_hash(&self) -> String {
        edge_proto::code_hash(
            &self.main_module,
            self.modules
                .iter()
                .map(|m| (m.name.as_str(), m.source.as_str())),
        )
    }
}

/// A Worker's default limits as its submitter stored them; 0 leaves a
/// limit at the engine's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsData {
    /// Heap limit, MiB.
    #[serde(default)]
    pub memory_mb: u32,
    /// Wall time, milliseconds.
    #[serde(default)]
    pub timeout_ms: u32,
    /// CPU time, milliseconds.
    #[serde(default)]
    pub cpu_ms: u32,
}

/// The bindings a Worker was granted; nothing by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantsData {
    /// Hosts `fetch` may reach.
    #[serde(default)]
    pub fetch_allow_hosts: Vec<String>,
    /// Names of the tenant's secrets the Worker may use.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Scratch file system size, MiB (0: none).
    #[serde(default)]
    pub scratch_fs_mb: u32,
    /// Worker ids the Worker may call.
    #[serde(default)]
    pub sub_workers: Vec<String>,
    /// MCP servers the Worker may call.
    #[serde(default)]
    pub mcp_servers: Vec<String>,
}

impl GrantsData {
    /// Bytes of all names, counted against [`MAX_GRANTS_BYTES`].
    pub fn size(&self) -> usize {
        [
            &self.fetch_allow_hosts,
            &self.secrets,
            &self.sub_workers,
            &self.mcp_servers,
        ]
        .into_iter()
        .flatten()
        .map(String::len)
        .sum()
    }
}

/// Largest grants accepted with one Worker, in bytes of names: far above
/// real lists, small enough that a Worker record stays small.
pub const MAX_GRANTS_BYTES: usize = 64 * 1024;

/// A Worker in the registry (its bundle is stored once per code hash).
/// Fields added later default, so records written before still decode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// Hash of the bundle.
    pub code_hash: String,
    /// Size of the bundle in bytes.
    pub bundle_bytes: u64,
    /// Leader's clock when stored, Unix milliseconds.
    pub updated_unix_ms: i64,
    /// Default limits.
    #[serde(default)]
    pub limits: LimitsData,
    /// Granted bindings.
    #[serde(default)]
    pub grants: GrantsData,
}

/// Marks the cluster as initialised: the first admin tenant and the hash of
/// its first key (so a retried Init with the same key is recognised).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitRecord {
    /// The admin tenant Init created.
    pub admin_tenant: String,
    /// sha256 of its first key, hex.
    pub key_hash: String,
    /// Proposer's clock, Unix milliseconds.
    pub at_unix_ms: i64,
}

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Whether the tenant may use operator APIs.
    pub admin: bool,
}

/// An API key, stored by the sha256 of the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Owner.
    pub tenant: String,
    /// 0 means never.
    pub expires_unix_ms: i64,
}

/// One billable first load of a unique Worker on a UTC day.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LoadRecord {
    /// Idempotency key.
    pub load_id: String,
    /// Tenant.
    pub tenant: String,
    /// Worker id (`inline:<load id>` for inline runs without an id).
    pub worker_id: String,
    /// Code hash.
    pub code_hash: String,
    /// UTC day, YYYY-MM-DD.
    pub day: String,
    /// Worker node that saw the load.
    pub node_id: String,
}

/// A write to the replicated state. Every variant is applied
/// deterministically; validation that depends on state (does the tenant
/// exist?) happens at apply time so every replica agrees.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Request {
    /// Add or replace a worker node.
    RegisterNode(WorkerNodeRecord),
    /// A heartbeat; `now_unix_ms` is the proposer's clock.
    Heartbeat {
        /// Worker node id.
        node_id: String,
        /// Live isolates.
        load: u32,
        /// Sandbox processes alive (absent in older log entries, as the
        /// next two).
        #[serde(default)]
        live_sandboxes: u32,
        /// Resident memory of the sandboxes, bytes.
        #[serde(default)]
        resident_bytes: u64,
        /// Calls in flight.
        #[serde(default)]
        in_flight: u32,
        /// Proposer's clock.
        now_unix_ms: i64,
    },
    /// Operator sets a node's health (e.g. draining).
    SetNodeHealth {
        /// Worker node id.
        node_id: String,
        /// New health.
        health: Health,
    },
    /// Add or replace a Worker.
    PutWorker {
        /// Tenant.
        tenant: String,
        /// Worker id.
        worker_id: String,
        /// Bundle.
        bundle: BundleData,
        /// Default limits (absent in older log entries).
        #[serde(default)]
        limits: LimitsData,
        /// Granted bindings (absent in older log entries).
        #[serde(default)]
        grants: GrantsData,
        /// Proposer's clock.
        now_unix_ms: i64,
    },
    /// Delete a Worker.
    DeleteWorker {
        /// Tenant.
        tenant: String,
        /// Worker id.
        worker_id: String,
    },
    /// Create (or update) a tenant.
    CreateTenant {
        /// Tenant name.
        tenant: String,
        /// Admin role.
        admin: bool,
    },
    /// Store an API key's hash.
    CreateApiKey {
        /// Tenant.
        tenant: String,
        /// sha256 of the key, hex.
        key_hash: String,
        /// 0 means never.
        expires_unix_ms: i64,
    },
    /// Remove an API key's hash.
    RevokeApiKey {
        /// sha256 of the key, hex.
        key_hash: String,
    },
    /// Record billable loads, idempotent by load id.
    RecordLoads(Vec<LoadRecord>),
    /// Initialise the cluster's data once: create the admin tenant and
    /// store its first key's hash. Rejected with `AlreadyExists` if the
    /// cluster was initialised with another key.
    InitAdmin(InitRecord),
}

/// gRPC status code a rejected request maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectCode {
    /// Something named does not exist.
    NotFound,
    /// Malformed input.
    InvalidArgument,
    /// The state does not allow it.
    FailedPrecondition,
    /// It was done before and is not repeated.
    AlreadyExists,
}

/// Result of applying a [`Request`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Applied, nothing to report (also membership and blank entries).
    #[default]
    Ok,
    /// Rejected; nothing was written.
    Rejected {
        /// Status code.
        code: RejectCode,
        /// Actionable message.
        message: String,
    },
    /// A Worker was stored under this hash.
    WorkerStored {
        /// Code hash.
        code_hash: String,
    },
    /// Whether a deleted Worker existed.
    WorkerDeleted {
        /// It existed.
        existed: bool,
    },
    /// Whether a revoked API key existed.
    KeyRevoked {
        /// It existed.
        existed: bool,
    },
    /// Ledger outcome.
    Loads {
        /// New load ids applied.
        applied: u32,
        /// Load ids already seen.
        duplicates: u32,
    },
}

/// Longest load field accepted (ids, tenant, code hash), in bytes: far
/// above real values, small enough that one ledger key stays short.
pub(crate) const MAX_LOAD_FIELD_BYTES: usize = 512;

/// Field checks of one load record that need no state.
pub(crate) fn validate_load(load: &LoadRecord) -> Result<(), LoadError> {
    for (field, value) in [
        ("load_id", &load.load_id),
        ("tenant", &load.tenant),
        ("worker_id", &load.worker_id),
        ("code_hash", &load.code_hash),
        ("node_id", &load.node_id),
    ] {
        if value.is_empty() {
            return Err(LoadError::Empty {
                load_id: load.load_id.clone(),
                field,
            });
        }
        if value.contains(KEY_SEPARATOR) || value.len() > MAX_LOAD_FIELD_BYTES {
            return Err(LoadError::BadField {
                load_id: load.load_id.clone(),
                field,
            });
        }
    }
    UtcDay::parse(&load.day)
        .map(drop)
        .map_err(|source| LoadError::Day {
            load_id: load.load_id.clone(),
            source,
        })
}

/// One member of the cluster as `edgectl cluster status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Raft node id.
    pub id: NodeId,
    /// Address.
    pub addr: String,
    /// Voter (true) or learner (false).
    pub voter: bool,
    /// Last log index known to be on that member (from the leader's view).
    pub last_log_index: Option<u64>,
}

/// Cluster status and the metrics view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// Current leader, if known.
    pub leader: Option<NodeId>,
    /// Current term.
    pub term: u64,
    /// Voters and learners.
    pub members: Vec<MemberStatus>,
    /// Commit index of the answering node.
    pub commit_index: u64,
    /// Applied index of the answering node.
    pub applied_index: u64,
    /// Milliseconds since the answering node built or installed a snapshot.
    pub snapshot_age_ms: Option<u64>,
    /// Unique Workers in the ledger.
    pub ledger_size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_on(day: &str) -> LoadRecord {
        LoadRecord {
            load_id: "l".into(),
            tenant: "acme".into(),
            worker_id: "w".into(),
            code_hash: "h".into(),
            day: day.into(),
            node_id: "n1".into(),
        }
    }

    /// The calendar itself is `UtcDay`'s (tested in edge-proto); these are
    /// the shapes the ledger must never store.
    #[test]
    fn load_days_are_checked_against_the_calendar() {
        let validate_day = |day: &str| validate_load(&load_on(day));
        assert!(validate_day("2024-02-29").is_ok());
        assert!(validate_day("2023-02-29").is_err());
        assert!(validate_day("2024-13-01").is_err());
        assert!(validate_day("2024-1-01").is_err());
        assert!(validate_day("24-01-01xx").is_err());
        assert!(validate_day("2024/01/01").is_err());
    }

    #[test]
    fn code_hash_ignores_module_order() {
        let a = ModuleData {
            name: "a.js".into(),
            source: "1".into(),
        };
        let b = ModuleData {
            name: "b.js".into(),
            source: "2".into(),
        };
        let x = BundleData {
            modules: vec![a.clone(), b.clone()],
            main_module: "a.js".into(),
        };
        let y = BundleData {
            modules: vec![b, a],
            main_module: "a.js".into(),
        };
        assert_eq!(x.code_hash(), y.code_hash());
    }
}
