//! Per-tenant admission: the tenant's token bucket and in-flight cap
//! ([`crate::ratelimit::TenantLimits`]), after authentication.

use std::future::Future;
use std::future::ready;
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use super::Admission;
use super::Gate;
use crate::context::Caller;
use crate::ratelimit::TenantLimits;

/// Applies [`TenantLimits`] to the authenticated caller; its ticket is
/// the tenant's in-flight slot.
#[derive(Debug, Clone)]
pub struct TenantGate {
    limits: Arc<TenantLimits>,
}

impl TenantGate {
    /// Uses `limits`.
    pub fn new(limits: Arc<TenantLimits>) -> Self {
        Self { limits }
    }
}

impl Gate for TenantGate {
    type Ticket = OwnedSemaphorePermit;

    fn admit<B: Send + 'static>(
        &self,
        request: http::Request<B>,
    ) -> impl Future<Output = Admission<B, Self::Ticket>> + Send + 'static {
        let admitted = match request.extensions().get::<Caller>() {
            None => Err(tonic::Status::internal(
                "gateway bug: tenant limits ran before authentication",
            )),
            Some(caller) => self
                .limits
                .admit(&caller.tenant)
                .map_err(|refused| tonic::Status::resource_exhausted(refused.to_string())),
        };
        ready(admitted.map(|permit| (request, permit)))
    }
}
