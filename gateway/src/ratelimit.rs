//! Per-tenant admission: a token bucket (sustained rate plus burst) and a
//! cap on requests in flight. Both refuse at once; nothing waits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::Semaphore;

/// Tenants tracked before idle state is dropped (a full bucket and no
/// request in flight carry no information).
const MAX_TRACKED_TENANTS: usize = 100_000;

/// A token bucket: `burst` tokens at most, refilled at `rate` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_sec: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate: rate_per_sec,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token if there is one at `now`.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now.max(self.last);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is full at `now` (idle tenant).
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }
}

/// Why a tenant's request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The tenant's token bucket is empty.
    #[error("tenant {tenant:?} exceeded its rate of {rps} requests/s (burst {burst}); retry later")]
    Rate {
        /// The tenant.
        tenant: String,
        /// Its sustained rate.
        rps: u32,
        /// Its burst.
        burst: u32,
    },
    /// The tenant has its maximum number of requests in flight.
    #[error("tenant {tenant:?} already has {limit} requests in flight; retry later")]
    InFlight {
        /// The tenant.
        tenant: String,
        /// The cap.
        limit: u32,
    },
}

/// Rate and in-flight limits for every tenant.
#[derive(Debug)]
pub struct TenantLimits {
    rps: u32,
    burst: u32,
    in_flight: u32,
    state: Mutex<HashMap<String, TenantState>>,
}

#[derive(Debug)]
struct TenantState {
    bucket: TokenBucket,
    slots: Arc<Semaphore>,
}

impl TenantLimits {
    /// Limits of `rps` sustained, `burst` bucket and `in_flight` concurrent per tenant.
    pub fn new(rps: u32, burst: u32, in_flight: u32) -> Self {
        Self {
            rps,
            burst: burst.max(1),
            in_flight: in_flight.max(1),
            state: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one request of `tenant`, or says why not. The permit holds the
    /// in-flight slot until dropped.
    pub fn admit(&self, tenant: &str) -> Result<OwnedSemaphorePermit, Refused> {
        let now = Instant::now();
        let mut state = self.state.lock();
        if state.len() >= MAX_TRACKED_TENANTS && !state.contains_key(tenant) {
            state.retain(|_, s| {
                !s.bucket.is_full(now) || s.slots.available_permits() < self.in_flight as usize
            });
        }
        let entry = state
            .entry(tenant.to_string())
            .or_insert_with(|| TenantState {
                bucket: TokenBucket::new(f64::from(self.rps), f64::from(self.burst), now),
                slots: Arc::new(Semaphore::new(self.in_flight as usize)),
            });
        let slots = entry.slots.clone();
        let permit = slots.try_acquire_owned().map_err(|_| Refused::InFlight {
            tenant: tenant.to_string(),
            limit: self.in_flight,
        })?;
        if !entry.bucket.try_take(now) {
            return Err(Refused::Rate {
                tenant: tenant.to_string(),
                rps: self.rps,
                burst: self.burst,
            });
        }
        Ok(permit)
    }
}
