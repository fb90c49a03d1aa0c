//! The first layer inside the request span: gives each request an id (and
//! names it on the span), and makes every response carry `x-request-id`, `x-edge-region` and
//! `x-edge-node` (the handler's values when it set them, else the
//! gateway's). It also turns tonic's codec refusals into the statuses the
//! contract names: a message over the size limit is RESOURCE_EXHAUSTED, a
//! message that does not decode (e.g. non-UTF-8 text) INVALID_ARGUMENT.

use std::task::Context;
use std::task::Poll;

use http::HeaderValue;
use tokio::time::Instant;
use tower::Layer;
use tower::Service;

use super::BoxFuture;
use super::take_ready;
use crate::context::EDGE_NODE;
use crate::context::EDGE_REGION;
use crate::context::GATEWAY_NODE;
use crate::context::REQUEST_ID;
use crate::context::RequestContext;
use crate::context::new_request_id;

/// Longest client-chosen request id kept; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// Request id and response metadata.
#[derive(Debug, Clone)]
pub struct MetaLayer {
    region: HeaderValue,
}

impl MetaLayer {
    /// Responses the gateway answers itself name `region`.
    pub fn new(region: &str) -> Self {
        Self {
            region: HeaderValue::from_str(region).unwrap_or(HeaderValue::from_static("unknown")),
        }
    }
}

impl<S> Layer<S> for MetaLayer {
    type Service = Meta<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Meta {
            inner,
            region: self.region.clone(),
        }
    }
}

/// Service of [`MetaLayer`].
#[derive(Debug, Clone)]
pub struct Meta<S> {
    inner: S,
    region: HeaderValue,
}

fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID)
        .map(str::to_string)
        .unwrap_or_else(new_request_id)
}

impl<S, B, R> Service<http::Request<B>> for Meta<S>
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
        let started = Instant::now();
        let id = request_id(req.headers());
        let path = req.uri().path().to_string();
        req.extensions_mut().insert(RequestContext {
            request_id: id.clone(),
        });
        let region = self.region.clone();
        let fut = take_ready(&mut self.inner).call(req);
        Box::pin(async move {
            // Polled inside the request span (`edge_telemetry::TraceContextLayer`),
            // which saw only a client-sent id; name the one the gateway made too.
            tracing::Span::current().record("request_id", id.as_str());
            let mut resp = fut.await?;
            let headers = resp.headers_mut();
            normalize_codec_status(headers);
            if let Ok(v) = HeaderValue::from_str(&id) {
                headers.insert(REQUEST_ID, v);
            }
            if !headers.contains_key(EDGE_REGION) {
                headers.insert(EDGE_REGION, region);
            }
            if !headers.contains_key(EDGE_NODE) {
                headers.insert(EDGE_NODE, HeaderValue::from_static(GATEWAY_NODE));
            }
            tracing::debug!(
                request_id = %id,
                %path,
                grpc_status = ?headers.get("grpc-status"),
                elapsed_us = started.elapsed().as_micros() as u64,
                "request"
            );
            Ok(resp)
        })
    }
}

/// Rewrites the status of tonic's own decode refusals (trailers-only
/// responses, so the status is in the headers).
fn normalize_codec_status(headers: &mut http::HeaderMap) {
    let Some(code) = headers.get("grpc-status").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .replace("%20", " ");
    let new = match code {
        // OUT_OF_RANGE "decoded message length too large" → RESOURCE_EXHAUSTED.
        "11" if message.contains("message length too large") => "8",
        // INTERNAL "failed to decode Protobuf message" → INVALID_ARGUMENT.
        "13" if message.contains("failed to decode Protobuf message") => "3",
        _ => return,
    };
    headers.insert("grpc-status", HeaderValue::from_static(new));
}
