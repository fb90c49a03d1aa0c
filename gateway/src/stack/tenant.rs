//! Per-tenant admission: the tenant's token bucket and in-flight cap
//! ([`crate::ratelimit::TenantLimits`]), after authentication.

use std::sync::Arc;
use std::task::Context;
use std::task::Poll;

use tower::Layer;
use tower::Service;

use super::BoxFuture;
use super::reply;
use super::take_ready;
use crate::context::Caller;
use crate::ratelimit::TenantLimits;

/// Applies [`TenantLimits`] to the authenticated caller.
#[derive(Debug, Clone)]
pub struct TenantLimitLayer {
    limits: Arc<TenantLimits>,
}

impl TenantLimitLayer {
    /// Uses `limits`.
    pub fn new(limits: Arc<TenantLimits>) -> Self {
        Self { limits }
    }
}

impl<S> Layer<S> for TenantLimitLayer {
    type Service = TenantLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantLimit {
            inner,
            limits: self.limits.clone(),
        }
    }
}

/// Service of [`TenantLimitLayer`].
#[derive(Debug, Clone)]
pub struct TenantLimit<S> {
    inner: S,
    limits: Arc<TenantLimits>,
}

impl<S, B, R> Service<http::Request<B>> for TenantLimit<S>
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

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(caller) = req.extensions().get::<Caller>() else {
            return Box::pin(async {
                Ok(reply(tonic::Status::internal(
                    "gateway bug: tenant limits ran before authentication",
                )))
            });
        };
        let permit = match self.limits.admit(&caller.tenant) {
            Ok(p) => p,
            Err(refused) => {
                let status = tonic::Status::resource_exhausted(refused.to_string());
                return Box::pin(async move { Ok(reply(status)) });
            }
        };
        let fut = take_ready(&mut self.inner).call(req);
        Box::pin(async move {
            let resp = fut.await;
            drop(permit);
            resp
        })
    }
}
