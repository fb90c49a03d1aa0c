//! Billing on the worker node: the first use of a unique Worker on a UTC day
//! becomes a [`LoadEvent`] for the node's [`LoadSink`] (the durable
//! [`Outbox`]), which ships it to the control plane. The invocation that
//! caused it waits until the event is durable, so nothing is served unbilled.

mod outbox;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use edge_engine::ErrorKind;
use edge_engine::WorkerError;
use edge_proto::UniqueWorker;
use edge_proto::UtcDay;
pub use outbox::Outbox;
pub use outbox::OutboxError;
use parking_lot::Mutex;

use crate::cache::WorkerKey;

/// Most Workers remembered as billed today before the memory is cleared
/// (the sink dedupes by unique Worker, so forgetting costs a lookup, never
/// a double count).
const MAX_REMEMBERED: usize = 100_000;

/// A billable load: the first use of a unique Worker on a UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadEvent {
    /// The tenant that owns the Worker.
    pub tenant: String,
    /// The Worker's id.
    pub worker_id: String,
    /// [`crate::cache::code_hash`] of its bundle.
    pub code_hash: String,
    /// The UTC day of the load.
    pub day: UtcDay,
}

impl LoadEvent {
    /// The unique Worker this load counts for.
    pub fn unique_worker(&self) -> UniqueWorker<'_> {
        UniqueWorker {
            tenant: &self.tenant,
            worker_id: &self.worker_id,
            code_hash: &self.code_hash,
        }
    }
}

/// Why a sink could not record a load.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The outbox's storage failed.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// Another sink's failure, in its words.
    #[error("{0}")]
    Other(String),
}

/// What a [`LoadSink`] returns: done once the event is durable.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// Receives billing load events; the durable outbox implements it.
pub trait LoadSink: Send + Sync {
    /// Records `event`; the future resolves once it is durable.
    fn first_load_today(&self, event: LoadEvent) -> SinkFuture<'_>;
}

/// Discards load events (tools that bill nothing, like `edgectl exec`).
pub struct NoLoadSink;

impl LoadSink for NoLoadSink {
    fn first_load_today(&self, _event: LoadEvent) -> SinkFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// A clock, so tests can cross midnight.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The Workers already billed today: bounded by one day's unique Workers
/// and by [`MAX_REMEMBERED`].
struct BilledToday {
    day: Option<UtcDay>,
    keys: HashSet<WorkerKey>,
}

/// Decides which uses are a day's first and records those with the sink.
pub(crate) struct Billing {
    sink: Arc<dyn LoadSink>,
    clock: Clock,
    billed: Mutex<BilledToday>,
}

impl Billing {
    pub fn new(sink: Arc<dyn LoadSink>) -> Billing {
        Billing {
            sink,
            clock: Arc::new(SystemTime::now),
            billed: Mutex::new(BilledToday {
                day: None,
                keys: HashSet::new(),
            }),
        }
    }

    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Records the Worker's first use of the UTC day with the sink; on
    /// failure the day is not marked, so the next use tries again.
    pub async fn record_use(&self, key: &WorkerKey) -> Result<(), WorkerError> {
        let day = UtcDay::of((self.clock)());
        if !self.mark(key, &day) {
            return Ok(());
        }
        let event = LoadEvent {
            tenant: key.tenant.clone(),
            worker_id: key.worker_id.clone(),
            code_hash: key.code_hash.clone(),
            day,
        };
        if let Err(reason) = self.sink.first_load_today(event).await {
            self.billed.lock().keys.remove(key);
            return Err(WorkerError::new(
                ErrorKind::Crashed,
                format!("the billing record of this load could not be written: {reason}"),
            ));
        }
        Ok(())
    }

    /// Records a load of `key` with the sink whether or not it was billed
    /// today: one-off runs, each its own unique Worker, are billed every time.
    pub async fn record_each(&self, key: &WorkerKey) -> Result<(), WorkerError> {
        let event = LoadEvent {
            tenant: key.tenant.clone(),
            worker_id: key.worker_id.clone(),
            code_hash: key.code_hash.clone(),
            day: UtcDay::of((self.clock)()),
        };
        self.sink.first_load_today(event).await.map_err(|reason| {
            WorkerError::new(
                ErrorKind::Crashed,
                format!("the billing record of this load could not be written: {reason}"),
            )
        })
    }

    /// Marks `key` billed on `day`; true if it was not yet.
    fn mark(&self, key: &WorkerKey, day: &UtcDay) -> bool {
        let mut billed = self.billed.lock();
        if billed.day.as_ref() != Some(day) || billed.keys.len() >= MAX_REMEMBERED {
            billed.day = Some(day.clone());
            billed.keys.clear();
        }
        billed.keys.insert(key.clone())
    }
}
