//! Console output of Workers, fanned out to `StreamLogs` subscribers.
//!
//! Invocations publish into one bounded broadcast channel and never wait
//! for readers; a subscriber that falls more than the channel's capacity
//! behind loses the lines it missed (and is told so in the node's log).

use std::pin::Pin;
use std::sync::Arc;

use edge_proto::v1 as pb;
use futures::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tonic::Status;

/// One line a Worker wrote.
#[derive(Debug)]
pub struct LogRecord {
    /// The Worker's tenant.
    pub tenant: String,
    /// The Worker's id (`inline:<hex>` for a one-off run).
    pub worker_id: String,
    /// The line.
    pub line: pb::LogLine,
}

/// A subscriber's stream of log events.
pub type LogStream = Pin<Box<dyn Stream<Item = Result<pb::LogEvent, Status>> + Send>>;

/// The node's log fan-out.
pub struct LogHub {
    tx: broadcast::Sender<Arc<LogRecord>>,
    node_id: String,
    region: String,
}

impl LogHub {
    /// A hub keeping up to `capacity` lines for slow subscribers, tagging
    /// events with the node's id and region.
    pub fn new(capacity: usize, node_id: String, region: String) -> LogHub {
        let (tx, _) = broadcast::channel(capacity.max(1));
        LogHub {
            tx,
            node_id,
            region,
        }
    }

    /// Current subscribers.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Hands `lines` of one Worker to every subscriber (never waits).
    pub fn publish(&self, tenant: &str, worker_id: &str, lines: &[pb::LogLine]) {
        if lines.is_empty() || self.tx.receiver_count() == 0 {
            return;
        }
        for line in lines {
            // An error only means every subscriber left meanwhile.
            let _ = self.tx.send(Arc::new(LogRecord {
                tenant: tenant.to_owned(),
                worker_id: worker_id.to_owned(),
                line: line.clone(),
            }));
        }
    }

    /// The lines of `tenant`'s Workers (only `worker_id`'s if not empty)
    /// from now on, until `shutdown` turns true.
    pub fn subscribe(
        &self,
        tenant: String,
        worker_id: String,
        shutdown: watch::Receiver<bool>,
    ) -> LogStream {
        let state = Subscriber {
            rx: self.tx.subscribe(),
            shutdown,
            tenant,
            worker_id,
            node_id: self.node_id.clone(),
            region: self.region.clone(),
        };
        Box::pin(futures::stream::unfold(state, |mut s| async move {
            let event = s.next().await?;
            Some((Ok(event), s))
        }))
    }
}

struct Subscriber {
    rx: broadcast::Receiver<Arc<LogRecord>>,
    shutdown: watch::Receiver<bool>,
    tenant: String,
    worker_id: String,
    node_id: String,
    region: String,
}

impl Subscriber {
    /// The next event for this subscriber; `None` once the node stops.
    async fn next(&mut self) -> Option<pb::LogEvent> {
        loop {
            let received = tokio::select! {
                _ = self.shutdown.wait_for(|stop| *stop) => return None,
                received = self.rx.recv() => received,
            };
            match received {
                Ok(record) if self.wants(&record) => {
                    return Some(pb::LogEvent {
                        worker_id: record.worker_id.clone(),
                        node_id: self.node_id.clone(),
                        line: Some(record.line.clone()),
                        region: self.region.clone(),
                    });
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(tenant = %self.tenant, missed, "a log subscriber fell behind and lost lines");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn wants(&self, record: &LogRecord) -> bool {
        record.tenant == self.tenant
            && (self.worker_id.is_empty() || record.worker_id == self.worker_id)
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn line(message: &str) -> pb::LogLine {
        pb::LogLine {
            level: "log".into(),
            message: message.into(),
            unix_ms: 1,
        }
    }

    #[tokio::test]
    async fn subscribers_see_only_their_tenant_and_worker_and_stop_with_the_node() {
        let hub = LogHub::new(16, "n1".into(), "eu".into());
        let (stop, stopped) = watch::channel(false);
        let mut all = hub.subscribe("t".into(), String::new(), stopped.clone());
        let mut one = hub.subscribe("t".into(), "w2".into(), stopped);
        hub.publish("other", "w1", &[line("not yours")]);
        hub.publish("t", "w1", &[line("a")]);
        hub.publish("t", "w2", &[line("b")]);
        let first = all.next().await.unwrap().unwrap();
        assert_eq!(
            (
                first.worker_id.as_str(),
                first.node_id.as_str(),
                first.region.as_str()
            ),
            ("w1", "n1", "eu")
        );
        assert_eq!(
            all.next().await.unwrap().unwrap().line.unwrap().message,
            "b"
        );
        assert_eq!(
            one.next().await.unwrap().unwrap().line.unwrap().message,
            "b"
        );
        stop.send(true).unwrap();
        assert!(all.next().await.is_none());
    }

    #[tokio::test]
    async fn a_slow_subscriber_loses_lines_and_publishing_never_waits() {
        let hub = LogHub::new(4, "n1".into(), "eu".into());
        let (_stop, stopped) = watch::channel(false);
        let mut slow = hub.subscribe("t".into(), String::new(), stopped);
        let lines: Vec<_> = (0..100).map(|n| line(&n.to_string())).collect();
        hub.publish("t", "w", &lines);
        let next = slow.next().await.unwrap().unwrap();
        assert_eq!(next.line.unwrap().message, "96", "the oldest 96 were lost");
    }
}
