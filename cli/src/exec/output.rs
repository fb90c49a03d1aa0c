//! What `edgectl exec` prints: exactly one JSON object on stdout, and the
//! Worker's console lines on stderr.

use edge_engine::ErrorKind;
use edge_engine::HttpResponse;
use edge_engine::InvocationStats;
use edge_engine::InvocationValue;
use edge_engine::LogLine;
use edge_engine::WorkerError;
use serde_json::Value;
use serde_json::json;

use super::json;

/// Prints `{"ok":true,"value":...,"stats":{...}}`, or the error when the
/// value cannot be printed.
pub(super) fn print_value(value: InvocationValue, load_ms: f64, stats: &InvocationStats) -> bool {
    let value = match value {
        // The Worker's own JSON text, checked: any depth, lone surrogates kept.
        InvocationValue::Json(text) => match json::compact(&text) {
            Ok(text) => text,
            Err(e) => {
                print_error(&WorkerError::new(
                    ErrorKind::Runtime,
                    format!("the Worker's result is not valid JSON: {e}"),
                ));
                return false;
            }
        },
        InvocationValue::Http(response) => http_json(response).to_string(),
    };
    let stats = json!({
        "load_ms": load_ms + stats.load_ms,
        "run_ms": stats.run_ms,
        "cpu_ms": stats.cpu_ms,
        "heap_used_bytes": stats.heap_used_bytes,
    });
    println!("{{\"ok\":true,\"value\":{value},\"stats\":{stats}}}");
    true
}

/// `{"status":..,"headers":{..},"body":".."}`. A header name that repeats
/// (`set-cookie`) maps to an array of its values in order; others to a string.
fn http_json(response: HttpResponse) -> Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in response.headers {
        match headers.get_mut(&name) {
            None => {
                headers.insert(name, Value::String(value));
            }
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(first) => {
                let first = first.take();
                headers.insert(name, Value::Array(vec![first, Value::String(value)]));
            }
        }
    }
    let mut out = json!({"status": response.status, "headers": headers});
    match String::from_utf8(response.body) {
        Ok(text) => out["body"] = text.into(),
        Err(e) => {
            use base64::Engine as _;
            let bytes = e.into_bytes();
            out["body"] = String::from_utf8_lossy(&bytes).into_owned().into();
            out["body_base64"] = base64::engine::general_purpose::STANDARD
                .encode(&bytes)
                .into();
        }
    }
    out
}

/// Prints `{"ok":false,"error":{"kind":..,"message":..}}`.
pub(super) fn print_error(error: &WorkerError) {
    println!(
        "{}",
        json!({"ok": false, "error": {"kind": error.kind.as_str(), "message": error.message}})
    );
}

/// The Worker's console lines, one per line on stderr.
pub(super) fn print_logs(lines: &[LogLine]) {
    for line in lines {
        eprintln!("[{}] {}", line.level, line.message);
    }
}
