//! API key → tenant, through `ControlPlane.Authenticate`, with answers
//! (including "no such key") cached for the key-cache TTL in a bounded map
//! keyed by the key's sha256, so a revocation takes effect within the TTL
//! and a flood of wrong keys does not become a flood on the control plane.

use std::collections::HashMap;
use std::time::Duration;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use edge_proto::v1 as pb;
use parking_lot::Mutex;
use sha2::Digest;
use tokio::time::Instant;
use tonic::Code;
use tonic::Status;

use crate::context::Caller;
use crate::upstream::ControlPlanes;

/// Most cached keys; past this, expired entries go, then arbitrary ones.
pub const MAX_CACHED_KEYS: usize = 10_000;

type KeyHash = [u8; 32];

#[derive(Debug, Clone)]
enum Known {
    Valid {
        caller: Caller,
        expires_unix_ms: i64,
    },
    Invalid(String),
}

/// Authenticates API keys with a short-lived cache.
#[derive(Debug)]
pub struct Authenticator {
    ttl: Duration,
    cache: Mutex<HashMap<KeyHash, (Known, Instant)>>,
}

impl Authenticator {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The caller `api_key` belongs to; UNAUTHENTICATED for an unknown,
    /// expired or revoked key; UNAVAILABLE when no control plane answers.
    pub async fn authenticate(
        &self,
        cp: &ControlPlanes,
        api_key: &str,
        timeout: Duration,
    ) -> Result<Caller, Status> {
        let hash: KeyHash = sha2::Sha256::digest(api_key.as_bytes()).into();
        let known = match self.cached(&hash) {
            Some(k) => k,
            None => {
                let known = self.ask(cp, api_key, timeout).await?;
                self.store(hash, known.clone());
                known
            }
        };
        match known {
            Known::Valid {
                caller,
                expires_unix_ms,
            } => {
                if expires_unix_ms != 0 && expires_unix_ms <= now_unix_ms() {
                    return Err(Status::unauthenticated(
                        "the API key has expired; create a new one",
                    ));
                }
                Ok(caller)
            }
            Known::Invalid(message) => Err(Status::unauthenticated(message)),
        }
    }

    /// Forgets `api_key` at once (this gateway revoked it).
    pub fn forget(&self, api_key: &str) {
        let hash: KeyHash = sha2::Sha256::digest(api_key.as_bytes()).into();
        self.cache.lock().remove(&hash);
    }

    fn cached(&self, hash: &KeyHash) -> Option<Known> {
        let cache = self.cache.lock();
        let (known, at) = cache.get(hash)?;
        (at.elapsed() < self.ttl).then(|| known.clone())
    }

    fn store(&self, hash: KeyHash, known: Known) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED_KEYS {
            let ttl = self.ttl;
            cache.retain(|_, (_, at)| at.elapsed() < ttl);
            if cache.len() >= MAX_CACHED_KEYS
                && let Some(victim) = cache.keys().next().copied()
            {
                cache.remove(&victim);
            }
        }
        cache.insert(hash, (known, Instant::now()));
    }

    async fn ask(
        &self,
        cp: &ControlPlanes,
        api_key: &str,
        timeout: Duration,
    ) -> Result<Known, Status> {
        let answer = cp
            .read(|mut c| {
                let mut req = tonic::Request::new(pb::AuthenticateRequest {
                    api_key: api_key.to_string(),
                });
                req.set_timeout(timeout);
                async move { c.authenticate(req).await }
            })
            .await;
        match answer {
            Ok(r) => Ok(Known::Valid {
                caller: Caller {
                    tenant: r.tenant,
                    admin: r.admin,
                },
                expires_unix_ms: r.expires_unix_ms,
            }),
            Err(s) if s.code() == Code::Unauthenticated => {
                Ok(Known::Invalid(s.message().to_string()))
            }
            Err(s) if s.code() == Code::DeadlineExceeded => Err(s),
            Err(s) => Err(Status::unavailable(format!(
                "cannot check the API key now ({}: {}); retry later",
                s.code(),
                s.message()
            ))),
        }
    }
}

fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
