//! Global concurrency limit that sheds: a request that finds every slot
//! taken is answered RESOURCE_EXHAUSTED at once, so an overload costs a
//! refusal, not a queue that grows until deadlines pass.

use std::sync::Arc;
use std::task::Context;
use std::task::Poll;

use tokio::sync::Semaphore;
use tower::Layer;
use tower::Service;

use super::BoxFuture;
use super::reply;
use super::take_ready;

/// Sheds requests beyond `max` in flight.
#[derive(Debug, Clone)]
pub struct ShedLayer {
    slots: Arc<Semaphore>,
    max: usize,
}

impl ShedLayer {
    /// At most `max` requests at once.
    pub fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed {
            inner,
            layer: self.clone(),
        }
    }
}

/// Service of [`ShedLayer`].
#[derive(Debug, Clone)]
pub struct Shed<S> {
    inner: S,
    layer: ShedLayer,
}

impl<S, B, R> Service<http::Request<B>> for Shed<S>
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
        let Ok(permit) = self.layer.slots.clone().try_acquire_owned() else {
            let max = self.layer.max;
            return Box::pin(async move {
                Ok(reply(tonic::Status::resource_exhausted(format!(
                    "the gateway is handling its maximum of {max} requests; retry with backoff"
                ))))
            });
        };
        let fut = take_ready(&mut self.inner).call(req);
        Box::pin(async move {
            let resp = fut.await;
            drop(permit);
            resp
        })
    }
}
