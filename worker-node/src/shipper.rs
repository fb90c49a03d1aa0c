//! Ships the billing outbox to the control plane (`RecordLoads`), batch by
//! batch, through the failover client: the outbox's own
//! [`Outbox::ship_once`] against whichever control-plane node answers.
//! Resending is safe (the ledger is idempotent by load id).

use std::time::Duration;

use tokio::sync::watch;
use tonic::Status;

use crate::billing::Outbox;
use crate::billing::OutboxError;
use crate::cp_client::ControlPlane;

/// Load events per `RecordLoads` call.
pub const BATCH: usize = 500;
/// Pause between looks at an empty outbox.
pub const INTERVAL: Duration = Duration::from_millis(200);
/// The longest pause after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Ships one batch; how many events the control plane acknowledged.
pub async fn ship_once(outbox: &Outbox, cp: &ControlPlane) -> Result<usize, Status> {
    cp.call("RecordLoads", |mut client| async move {
        outbox
            .ship_once(&mut client, BATCH)
            .await
            .map_err(|e| match e {
                OutboxError::Ship { status, .. } => status,
                other => Status::internal(other.to_string()),
            })
    })
    .await
}

/// Ships until `shutdown` turns true: at once while events are pending,
/// every [`INTERVAL`] when none is, backing off after failures.
pub async fn run(outbox: &Outbox, cp: &ControlPlane, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = INTERVAL;
    loop {
        let wait = match ship_once(outbox, cp).await {
            Ok(shipped) => {
                backoff = INTERVAL;
                if shipped == 0 {
                    INTERVAL
                } else {
                    Duration::ZERO
                }
            }
            Err(status) => {
                tracing::warn!(%status, pending = outbox.pending_len(), "billing outbox: shipping failed; will retry");
                backoff = (backoff * 2).min(MAX_BACKOFF);
                backoff
            }
        };
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Ships everything pending, for at most `limit` (a drain's last step);
/// true if the outbox is empty.
pub async fn flush(outbox: &Outbox, cp: &ControlPlane, limit: Duration) -> bool {
    let drain = async {
        let mut backoff = INTERVAL;
        while outbox.pending_len() > 0 {
            if let Err(status) = ship_once(outbox, cp).await {
                tracing::warn!(%status, pending = outbox.pending_len(), "billing outbox: shipping failed while draining");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    let _ = tokio::time::timeout(limit, drain).await;
    outbox.pending_len() == 0
}
