//! Stored Workers as the gateway sees them: (tenant, worker id) → code
//! hash, limits and grants, from `ControlPlane.GetWorker{without_bundle}`,
//! cached for the key-cache TTL and dropped when this gateway puts or
//! deletes that Worker.

use std::collections::HashMap;
use std::time::Duration;

use edge_proto::v1 as pb;
use parking_lot::Mutex;
use tokio::time::Instant;
use tonic::Code;
use tonic::Status;

use crate::context::CallCtx;
use crate::upstream::ControlPlanes;

/// Most cached Workers; past this, expired entries go, then arbitrary ones.
pub const MAX_CACHED_WORKERS: usize = 100_000;

/// What an Invoke needs of a stored Worker.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWorker {
    /// Its code.
    pub code_hash: String,
    /// Its default limits.
    pub limits: Option<pb::Limits>,
    /// Its bindings.
    pub grants: Option<pb::Grants>,
}

type Key = (String, String);

/// The cache of stored Workers.
#[derive(Debug)]
pub struct WorkerCache {
    ttl: Duration,
    entries: Mutex<HashMap<Key, (StoredWorker, Instant)>>,
}

impl WorkerCache {
    /// Entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's Worker, or NOT_FOUND (whether it is unknown or another
    /// tenant's: the answer is the same).
    pub async fn resolve(
        &self,
        cp: &ControlPlanes,
        ctx: &CallCtx,
        tenant: &str,
        worker_id: &str,
    ) -> Result<StoredWorker, Status> {
        let key = (tenant.to_string(), worker_id.to_string());
        if let Some((w, at)) = self.entries.lock().get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(w.clone());
        }
        let got = cp
            .read(|mut c| {
                let req = ctx.request(pb::CpGetWorkerRequest {
                    tenant: tenant.to_string(),
                    worker_id: worker_id.to_string(),
                    without_bundle: true,
                });
                async move { c.get_worker(req?).await }
            })
            .await;
        let w = match got {
            Ok(r) => StoredWorker {
                code_hash: r.code_hash,
                limits: r.limits,
                grants: r.grants,
            },
            Err(s) if s.code() == Code::NotFound => {
                return Err(Status::not_found(format!(
                    "no Worker {worker_id:?} for this API key's tenant; see ListWorkers"
                )));
            }
            Err(s) => return Err(s),
        };
        self.store(key, w.clone());
        Ok(w)
    }

    /// Forgets a Worker this gateway just changed.
    pub fn invalidate(&self, tenant: &str, worker_id: &str) {
        self.entries
            .lock()
            .remove(&(tenant.to_string(), worker_id.to_string()));
    }

    fn store(&self, key: Key, w: StoredWorker) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_CACHED_WORKERS {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= MAX_CACHED_WORKERS
                && let Some(victim) = entries.keys().next().cloned()
            {
                entries.remove(&victim);
            }
        }
        entries.insert(key, (w, Instant::now()));
    }
}
