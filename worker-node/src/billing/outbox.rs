//! The durable billing outbox.
//!
//! Billing counts each unique Worker — (tenant, worker id, code hash) — once
//! per UTC day. The worker node records the first load of a unique Worker on
//! a day here, durably (sled, flushed) before it reports the load as
//! recorded, and a shipper sends pending events to the control plane in
//! batches until they are acknowledged. The control plane applies them
//! idempotently by load id, so resending after a crash, a timeout or a
//! leader change never double-counts.
//!
//! Load ids are derived from (node id, day, tenant, worker id, code hash),
//! so a node that forgot it shipped an event sends the same id again.
//!
//! A Worker run inline without an id is recorded on every run under the
//! worker id `inline:<load id>` with a random load id: each inline run is a
//! distinct unique Worker and is billed as such.
//!
//! Trees: `outbox_seen` (day \x1f tenant \x1f worker \x1f hash → load id) and
//! `outbox_pending` (load id → protobuf `LoadEvent`). Both are written in one
//! transaction, so a crash can never leave a load "seen" but not pending.

use std::path::Path;
use std::time::Duration;
use std::time::SystemTime;

use edge_proto::v1::LoadEvent;
use edge_proto::v1::RecordLoadsRequest;
use edge_proto::v1::control_plane_client::ControlPlaneClient;
use prost::Message;

use super::LoadSink;
use super::SinkFuture;

use edge_proto::UniqueWorker;
use edge_proto::UtcDay;
use sha2::Digest;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use sled::transaction::TransactionError;
use tonic::transport::Channel;

/// How long the control plane may take to acknowledge one batch.
const SHIP_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest pause between shipping attempts after errors.
const MAX_SHIP_BACKOFF: Duration = Duration::from_secs(5);

/// Errors of the outbox.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The local database failed.
    #[error("billing outbox storage: {0}")]
    Storage(#[from] sled::Error),
    /// A stored event could not be decoded.
    #[error("billing outbox holds a corrupt event {load_id:?}: {source}")]
    Corrupt {
        /// Key of the event.
        load_id: String,
        /// Cause.
        source: prost::DecodeError,
    },
    /// The control plane did not acknowledge a batch (retry later).
    #[error("shipping {count} load events to the control plane: {status}")]
    Ship {
        /// Events in the batch.
        count: usize,
        /// The gRPC status.
        status: tonic::Status,
    },
}

impl From<TransactionError<()>> for OutboxError {
    fn from(e: TransactionError<()>) -> Self {
        match e {
            TransactionError::Storage(e) => OutboxError::Storage(e),
            TransactionError::Abort(()) => unreachable!("outbox transactions never abort"),
        }
    }
}

/// The worker node's durable outbox of billable loads.
pub struct Outbox {
    db: sled::Db,
    seen: sled::Tree,
    pending: sled::Tree,
    node_id: String,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir` for worker node `node_id`.
    pub fn open(dir: &Path, node_id: &str) -> Result<Self, OutboxError> {
        let db = sled::Config::new().path(dir).open()?;
        Ok(Self {
            seen: db.open_tree("outbox_seen")?,
            pending: db.open_tree("outbox_pending")?,
            db,
            node_id: node_id.to_string(),
        })
    }

    /// Records a load of (tenant, worker id, code hash) at time `at`. Returns
    /// the event if this is the first load of that unique Worker on that UTC
    /// day (it is then durable), `None` if it was already recorded. A `None`
    /// worker id is an inline run: always recorded, as its own unique Worker.
    pub async fn record_load(
        &self,
        tenant: &str,
        worker_id: Option<&str>,
        code_hash: &str,
        at: SystemTime,
    ) -> Result<Option<LoadEvent>, OutboxError> {
        self.record_load_on(tenant, worker_id, code_hash, UtcDay::of(at).as_str())
            .await
    }

    /// [`Outbox::record_load`] for a given UTC day (`YYYY-MM-DD`), for callers
    /// whose clock decided the day already.
    pub async fn record_load_on(
        &self,
        tenant: &str,
        worker_id: Option<&str>,
        code_hash: &str,
        day: &str,
    ) -> Result<Option<LoadEvent>, OutboxError> {
        let day = day.to_owned();
        let (load_id, worker_id) = match worker_id {
            Some(w) => {
                let digest = sha2::Sha256::new()
                    .chain_update(self.node_id.as_bytes())
                    .chain_update([0x1f])
                    .chain_update(unique_key(&day, tenant, w, code_hash).as_bytes())
                    .finalize();
                (
                    format!("{}-{}", self.node_id, hex::encode(&digest[..16])),
                    w.to_string(),
                )
            }
            None => {
                let id = format!(
                    "{}-inline-{}",
                    self.node_id,
                    hex::encode(rand::random::<[u8; 16]>())
                );
                let worker = format!("inline:{id}");
                (id, worker)
            }
        };
        let event = LoadEvent {
            load_id: load_id.clone(),
            tenant: tenant.to_string(),
            worker_id: worker_id.clone(),
            code_hash: code_hash.to_string(),
            day: day.clone(),
            node_id: self.node_id.clone(),
        };
        let key = unique_key(&day, tenant, &worker_id, code_hash);
        let encoded = event.encode_to_vec();
        let first = (&self.seen, &self.pending).transaction(|(seen, pending)| {
            if seen.get(key.as_bytes())?.is_some() {
                return Ok::<bool, ConflictableTransactionError<()>>(false);
            }
            seen.insert(key.as_bytes(), load_id.as_bytes())?;
            pending.insert(load_id.as_bytes(), encoded.as_slice())?;
            Ok(true)
        })?;
        if !first {
            return Ok(None);
        }
        self.db.flush_async().await?;
        Ok(Some(event))
    }

    /// Events not yet acknowledged, oldest key first, at most `limit`.
    pub fn pending(&self, limit: usize) -> Result<Vec<LoadEvent>, OutboxError> {
        let mut out = Vec::new();
        for item in self.pending.iter().take(limit) {
            let (k, v) = item?;
            let event = LoadEvent::decode(v.as_ref()).map_err(|source| OutboxError::Corrupt {
                load_id: String::from_utf8_lossy(&k).into_owned(),
                source,
            })?;
            out.push(event);
        }
        Ok(out)
    }

    /// Number of events waiting to be shipped.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Removes acknowledged events.
    pub async fn ack(&self, load_ids: impl IntoIterator<Item = String>) -> Result<(), OutboxError> {
        let mut batch = sled::Batch::default();
        for id in load_ids {
            batch.remove(id.as_bytes());
        }
        self.pending.apply_batch(batch)?;
        self.db.flush_async().await?;
        Ok(())
    }

    /// Forgets which unique Workers were seen on days before `day` (their
    /// events stay pending until shipped).
    pub async fn forget_days_before(&self, day: &str) -> Result<usize, OutboxError> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in self.seen.range(..day.as_bytes()) {
            batch.remove(item?.0);
            n += 1;
        }
        self.seen.apply_batch(batch)?;
        self.db.flush_async().await?;
        Ok(n)
    }

    /// Ships up to `batch` pending events; returns how many were
    /// acknowledged. On error nothing is removed: the next call resends
    /// them, which the control plane treats as duplicates.
    pub async fn ship_once(
        &self,
        client: &mut ControlPlaneClient<Channel>,
        batch: usize,
    ) -> Result<usize, OutboxError> {
        let loads = self.pending(batch)?;
        if loads.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = loads.iter().map(|l| l.load_id.clone()).collect();
        let count = loads.len();
        let mut req = tonic::Request::new(RecordLoadsRequest { loads });
        req.set_timeout(SHIP_TIMEOUT);
        client
            .record_loads(req)
            .await
            .map_err(|status| OutboxError::Ship { count, status })?;
        self.ack(ids).await?;
        Ok(count)
    }

    /// Ships until `shutdown` completes: drains the outbox in batches, waits
    /// `interval` when empty, backs off (up to 5 s) after errors.
    pub async fn run_shipper(
        &self,
        mut client: ControlPlaneClient<Channel>,
        batch: usize,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut backoff = interval;
        loop {
            let wait = match self.ship_once(&mut client, batch).await {
                Ok(0) => {
                    backoff = interval;
                    interval
                }
                Ok(_) => {
                    backoff = interval;
                    Duration::ZERO
                }
                Err(e) => {
                    tracing::warn!(error = %e, pending = self.pending_len(), "billing outbox: will retry");
                    backoff = (backoff * 2).min(MAX_SHIP_BACKOFF);
                    backoff
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

fn unique_key(day: &str, tenant: &str, worker_id: &str, code_hash: &str) -> String {
    UniqueWorker {
        tenant,
        worker_id,
        code_hash,
    }
    .key(day)
}

/// The node's Worker cache bills through the outbox: a first load of the day
/// is durable here before the invocation that caused it is served.
impl LoadSink for Outbox {
    fn first_load_today(&self, event: super::LoadEvent) -> SinkFuture<'_> {
        Box::pin(async move {
            self.record_load_on(
                &event.tenant,
                Some(&event.worker_id),
                &event.code_hash,
                event.day.as_str(),
            )
            .await
            .map(|_| ())
            .map_err(super::SinkError::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use edge_proto::v1 as pb;
    use edge_proto::v1::cluster_admin_client::ClusterAdminClient;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn the_cache_sink_records_each_unique_worker_once_per_day() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), "n1").unwrap();
        let event = |day: &str| super::super::LoadEvent {
            tenant: "t".into(),
            worker_id: "w".into(),
            code_hash: "h".into(),
            day: UtcDay::parse(day).unwrap(),
        };
        for day in ["2026-11-30", "2026-11-30", "2026-12-01"] {
            outbox.first_load_today(event(day)).await.unwrap();
        }
        let pending = outbox.pending(10).unwrap();
        let days: Vec<_> = pending.iter().map(|e| e.day.as_str()).collect();
        assert_eq!(days.len(), 2, "{days:?}");
        assert!(days.contains(&"2026-11-30") && days.contains(&"2026-12-01"));
    }

    #[tokio::test]
    async fn only_the_first_load_of_a_day_is_recorded_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let day1 = at(1_735_689_600);
        {
            let outbox = Outbox::open(dir.path(), "n1").unwrap();
            assert!(
                outbox
                    .record_load("t", Some("w"), "h", day1)
                    .await
                    .unwrap()
                    .is_some()
            );
            assert!(
                outbox
                    .record_load("t", Some("w"), "h", day1 + Duration::from_secs(60))
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                outbox
                    .record_load("t", Some("w"), "h2", day1)
                    .await
                    .unwrap()
                    .is_some()
            );
            assert!(
                outbox
                    .record_load("t", Some("w"), "h", day1 + Duration::from_secs(86_400))
                    .await
                    .unwrap()
                    .is_some()
            );
            let a = outbox
                .record_load("t", None, "h", day1)
                .await
                .unwrap()
                .unwrap();
            let b = outbox
                .record_load("t", None, "h", day1)
                .await
                .unwrap()
                .unwrap();
            assert_ne!(a.worker_id, b.worker_id);
            assert!(a.worker_id.starts_with("inline:"));
        }
        let outbox = Outbox::open(dir.path(), "n1").unwrap();
        assert_eq!(outbox.pending_len(), 5);
        assert!(
            outbox
                .record_load("t", Some("w"), "h", day1)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn shipping_to_a_control_plane_is_idempotent() {
        let cp_dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(control_plane::run(
            control_plane::Config::new(1, cp_dir.path()),
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        let mut admin = ClusterAdminClient::new(channel.clone());
        let mut client = ControlPlaneClient::new(channel);
        let mut ready = false;
        let mut initialised = false;
        for _ in 0..100 {
            initialised = initialised || admin.init(pb::InitRequest::default()).await.is_ok();
            if initialised
                && client
                    .create_tenant(pb::CreateTenantRequest {
                        tenant: "t".into(),
                        admin: false,
                    })
                    .await
                    .is_ok()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "control plane did not become ready");

        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), "n1").unwrap();
        let day = at(1_735_689_600);
        for w in 0..10 {
            outbox
                .record_load("t", Some(&format!("w{w}")), "h", day)
                .await
                .unwrap();
        }
        outbox.record_load("t", None, "h", day).await.unwrap();
        let resent = outbox.pending(100).unwrap();
        assert_eq!(outbox.ship_once(&mut client, 4).await.unwrap(), 4);
        while outbox.ship_once(&mut client, 4).await.unwrap() > 0 {}
        // A resend after an unknown outcome changes nothing.
        let again = client
            .record_loads(pb::RecordLoadsRequest { loads: resent })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((again.applied, again.duplicates), (0, 11));
        let export = client
            .export_billing(pb::ExportBillingRequest {
                from_day: "2025-01-01".into(),
                to_day: "2025-01-01".into(),
                detail: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(export.rows.len(), 1);
        assert_eq!(export.rows[0].unique_workers, 11);
        assert_eq!(export.rows[0].amount_micro_usd, 22_000);
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
