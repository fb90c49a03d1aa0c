//! Global concurrency limit that sheds: a request that finds every slot
//! taken is answered RESOURCE_EXHAUSTED at once, so an overload costs a
//! refusal, not a queue that grows until deadlines pass.

use std::future::Future;
use std::future::ready;
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::Semaphore;

use super::Admission;
use super::Gate;

/// Sheds requests beyond `max` in flight; its ticket is the slot.
#[derive(Debug, Clone)]
pub struct ShedGate {
    slots: Arc<Semaphore>,
    max: usize,
}

impl ShedGate {
    /// At most `max` requests at once.
    pub fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }
}

impl Gate for ShedGate {
    type Ticket = OwnedSemaphorePermit;

    fn admit<B: Send + 'static>(
        &self,
        request: http::Request<B>,
    ) -> impl Future<Output = Admission<B, Self::Ticket>> + Send + 'static {
        let max = self.max;
        ready(match self.slots.clone().try_acquire_owned() {
            Ok(permit) => Ok((request, permit)),
            Err(_) => Err(tonic::Status::resource_exhausted(format!(
                "the gateway is handling its maximum of {max} requests; retry with backoff"
            ))),
        })
    }
}
