//! Authentication: `authorization: Bearer <api key>` to a tenant through
//! the cached [`Authenticator`]; the [`Caller`](crate::context::Caller) is
//! left in the request's extensions for the layers below and the handlers.

use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;

use super::Admission;
use super::Gate;
use crate::auth::Authenticator;
use crate::context::Deadline;
use crate::upstream::ControlPlanes;

/// Longest API key accepted (ours are ~67 characters).
const MAX_KEY_LEN: usize = 512;

/// Requires a valid API key on every request.
#[derive(Debug, Clone)]
pub struct AuthGate {
    auth: Arc<Authenticator>,
    cp: Arc<ControlPlanes>,
}

impl AuthGate {
    /// Checks keys with `auth`, asking `cp` on a cache miss.
    pub fn new(auth: Arc<Authenticator>, cp: Arc<ControlPlanes>) -> Self {
        Self { auth, cp }
    }
}

/// The key in `authorization: Bearer <key>`, or why there is none.
pub fn bearer_key(headers: &http::HeaderMap) -> Result<&str, tonic::Status> {
    let missing = || {
        tonic::Status::unauthenticated(
            "missing API key: send metadata `authorization: Bearer <api key>`",
        )
    };
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, key) = value.trim().split_once(' ').ok_or_else(missing)?;
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() {
        return Err(missing());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(tonic::Status::unauthenticated("unknown API key"));
    }
    Ok(key)
}

impl Gate for AuthGate {
    type Ticket = ();

    fn admit<B: Send + 'static>(
        &self,
        mut request: http::Request<B>,
    ) -> impl Future<Output = Admission<B, Self::Ticket>> + Send + 'static {
        let key = bearer_key(request.headers()).map(str::to_string);
        let timeout = request
            .extensions()
            .get::<Deadline>()
            .map(|d| d.0.saturating_duration_since(Instant::now()))
            .unwrap_or(crate::upstream::CONNECT_TIMEOUT);
        let gate = self.clone();
        async move {
            let caller = gate.auth.authenticate(&gate.cp, &key?, timeout).await?;
            request.extensions_mut().insert(caller);
            Ok((request, ()))
        }
    }
}
