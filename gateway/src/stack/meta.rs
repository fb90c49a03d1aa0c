//! The first layer inside the request span: gives each request an id (and
//! names it on the span), and makes every response carry `x-request-id`, `x-edge-region` and
//! `x-edge-node` (the handler's values when it set them, else the
//! gateway's). It also turns tonic's codec refusals into the statuses the
//! contract names: a message over the size limit is RESOURCE_EXHAUSTED, a
//! message that does not decode (e.g. non-UTF-8 text) INVALID_ARGUMENT.

use std::future::Future;
use std::future::ready;

use http::HeaderValue;
use tokio::time::Instant;

use super::Admission;
use super::Gate;
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
pub struct MetaGate {
    region: HeaderValue,
}

impl MetaGate {
    /// Responses the gateway answers itself name `region`.
    pub fn new(region: &str) -> Self {
        Self {
            region: HeaderValue::from_str(region).unwrap_or(HeaderValue::from_static("unknown")),
        }
    }
}

/// A ticket of [`MetaGate`]: what the response is stamped and logged with.
#[derive(Debug)]
pub struct Stamp {
    id: String,
    path: String,
    started: Instant,
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

impl Gate for MetaGate {
    type Ticket = Stamp;

    fn admit<B: Send + 'static>(
        &self,
        mut request: http::Request<B>,
    ) -> impl Future<Output = Admission<B, Self::Ticket>> + Send + 'static {
        let stamp = Stamp {
            started: Instant::now(),
            id: request_id(request.headers()),
            path: request.uri().path().to_string(),
            region: self.region.clone(),
        };
        request.extensions_mut().insert(RequestContext {
            request_id: stamp.id.clone(),
        });
        ready(Ok((request, stamp)))
    }

    async fn finish<F, R, E>(stamp: Stamp, response: F) -> Result<http::Response<R>, E>
    where
        F: Future<Output = Result<http::Response<R>, E>> + Send,
        R: Default + Send,
    {
        let Stamp {
            id,
            path,
            started,
            region,
        } = stamp;
        // Polled inside the request span (`edge_telemetry::TraceContextLayer`),
        // which saw only a client-sent id; name the one the gateway made too.
        tracing::Span::current().record("request_id", id.as_str());
        let mut resp = response.await?;
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
