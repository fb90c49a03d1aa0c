//! Authentication: `authorization: Bearer <api key>` to a tenant through
//! the cached [`Authenticator`]; the [`Caller`] is left in the request's
//! extensions for the layers below and the handlers.

use std::sync::Arc;
use std::task::Context;
use std::task::Poll;

use tokio::time::Instant;
use tower::Layer;
use tower::Service;

use super::BoxFuture;
use super::reply;
use super::take_ready;
use crate::auth::Authenticator;
use crate::context::Deadline;
use crate::upstream::ControlPlanes;

/// Longest API key accepted (ours are ~67 characters).
const MAX_KEY_LEN: usize = 512;

/// Requires a valid API key on every request.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
    cp: Arc<ControlPlanes>,
}

impl AuthLayer {
    /// Checks keys with `auth`, asking `cp` on a cache miss.
    pub fn new(auth: Arc<Authenticator>, cp: Arc<ControlPlanes>) -> Self {
        Self { auth, cp }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            layer: self.clone(),
        }
    }
}

/// Service of [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    layer: AuthLayer,
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

impl<S, B, R> Service<http::Request<B>> for Auth<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let key = match bearer_key(req.headers()) {
            Ok(k) => k.to_string(),
            Err(status) => return Box::pin(async move { Ok(reply(status)) }),
        };
        let timeout = req
            .extensions()
            .get::<Deadline>()
            .map(|d| d.0.saturating_duration_since(Instant::now()))
            .unwrap_or(crate::upstream::CONNECT_TIMEOUT);
        let layer = self.layer.clone();
        let mut inner = take_ready(&mut self.inner);
        Box::pin(async move {
            match layer.auth.authenticate(&layer.cp, &key, timeout).await {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(status) => Ok(reply(status)),
            }
        })
    }
}
