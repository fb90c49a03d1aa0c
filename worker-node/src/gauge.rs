//! The node's load as heartbeats and `NodeStatus` report it: live isolates,
//! sandboxes, resident memory, and the invocations in flight (counted here,
//! so a drain can wait for them).

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering;
use std::time::Duration;

use edge_sandbox::Supervisor;
use tokio::sync::Notify;

/// Invocations running on the node right now.
#[derive(Default)]
pub struct InFlight {
    count: AtomicU32,
    idle: Notify,
}

/// One invocation in flight; dropping it ends it.
pub struct InFlightGuard(Arc<InFlight>);

impl InFlight {
    /// Counts one more invocation until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    /// Invocations in flight.
    pub fn get(&self) -> u32 {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until none is in flight, at most `limit`; true if none is.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let idle = async {
            loop {
                // Made before the check, so a drop in between still wakes it.
                let notified = self.idle.notified();
                if self.get() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, idle).await.is_ok()
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What the node carries right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeLoad {
    /// Isolates holding Workers (cached ones and one-offs running).
    pub live_isolates: u32,
    /// Sandbox processes, warm ones included.
    pub live_sandboxes: u32,
    /// The node process's resident memory plus its sandboxes' private memory, bytes.
    pub resident_bytes: u64,
    /// Invocations in flight.
    pub in_flight: u32,
}

/// Measures the node's load (reads `/proc` once per sandbox).
pub fn measure(supervisor: &Supervisor, in_flight: &InFlight) -> NodeLoad {
    let pool = supervisor.stats();
    let pids = supervisor.sandbox_pids();
    let own = edge_sandbox::resident_memory(std::process::id()).unwrap_or(0);
    let sandboxes: u64 = pids
        .iter()
        .filter_map(|pid| edge_sandbox::private_memory(*pid))
        .sum();
    NodeLoad {
        live_isolates: saturate(pool.isolates),
        live_sandboxes: saturate(pids.len()),
        resident_bytes: own + sandboxes,
        in_flight: in_flight.get(),
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_drain_waits_for_the_last_invocation_and_no_longer() {
        let in_flight = Arc::new(InFlight::default());
        assert!(in_flight.wait_idle(Duration::ZERO).await);
        let a = in_flight.enter();
        let b = in_flight.enter();
        assert_eq!(in_flight.get(), 2);
        assert!(!in_flight.wait_idle(Duration::from_millis(20)).await);
        let waiter = {
            let in_flight = in_flight.clone();
            tokio::spawn(async move { in_flight.wait_idle(Duration::from_secs(5)).await })
        };
        drop(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one is still in flight");
        drop(b);
        assert!(waiter.await.unwrap());
        assert_eq!(in_flight.get(), 0);
    }
}
