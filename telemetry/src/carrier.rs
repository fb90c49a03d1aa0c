//! Adapters that let the W3C propagator read and write HTTP/gRPC headers.

use http::HeaderMap;
use http::HeaderName;
use http::HeaderValue;
use opentelemetry::propagation::Extractor;
use opentelemetry::propagation::Injector;

/// Reads propagation fields from request headers.
pub(crate) struct HeaderExtractor<'a>(pub(crate) &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // A value that is not visible ASCII cannot be a valid traceparent; treat it as absent.
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes propagation fields into request headers, replacing any earlier value.
pub(crate) struct HeaderInjector<'a>(pub(crate) &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator only produces lower-case ASCII keys and values; skip anything else.
        let Ok(name) = HeaderName::from_bytes(key.as_bytes()) else {
            return;
        };
        // W3C: an empty `tracestate` is not sent; dropping it also clears a stale one.
        if value.is_empty() {
            self.0.remove(name);
        } else if let Ok(value) = HeaderValue::from_str(&value) {
            self.0.insert(name, value);
        }
    }
}
