//! What `edgectl exec` prints: exactly one JSON object on stdout, and the
//! Worker's console lines on stderr. The client commands `invoke` and `run`
//! print the same object with fields of their own appended.

use edge_engine::ErrorKind;
use edge_engine::HttpResponse;
use edge_engine::InvocationStats;
use edge_engine::InvocationValue;
use edge_engine::LogLine;
use edge_engine::WorkerError;
use serde_json::Value;
use serde_json::json;

use super::json;

/// Fields appended after the standard ones, in order.
pub(crate) type Extra<'a> = &'a [(&'a str, Value)];

/// Prints `{"ok":true,"value":...,"stats":{...}}`, or the error when the
/// value cannot be printed.
pub(super) fn print_value(value: InvocationValue, load_ms: f64, stats: &InvocationStats) -> bool {
    match value_line(value, stats_json(load_ms, stats), &[]) {
        Ok(line) => {
            println!("{line}");
            true
        }
        Err(error) => {
            print_error(&error);
            false
        }
    }
}

/// `{"load_ms":..,"run_ms":..,"cpu_ms":..,"heap_used_bytes":..}`; `load_ms`
/// is added to the invocation's own.
pub(crate) fn stats_json(load_ms: f64, stats: &InvocationStats) -> Value {
    json!({
        "load_ms": load_ms + stats.load_ms,
        "run_ms": stats.run_ms,
        "cpu_ms": stats.cpu_ms,
        "heap_used_bytes": stats.heap_used_bytes,
    })
}

/// `{"ok":true,"value":...,"stats":{...},<extra>}`, or a `runtime` error
/// when a method's result is not valid JSON.
pub(crate) fn value_line(
    value: InvocationValue,
    stats: Value,
    extra: Extra<'_>,
) -> Result<String, WorkerError> {
    let value = match value {
        // The Worker's own JSON text, checked: any depth, lone surrogates kept.
        InvocationValue::Json(text) => json::compact(&text).map_err(|e| {
            WorkerError::new(
                ErrorKind::Runtime,
                format!("the Worker's result is not valid JSON: {e}"),
            )
        })?,
        InvocationValue::Http(response) => http_json(response).to_string(),
    };
    Ok(format!(
        "{{\"ok\":true,\"value\":{value},\"stats\":{stats}{}}}",
        extra_fields(extra)
    ))
}

/// `{"ok":false,"error":{"kind":..,"message":..},<extra>}`.
pub(crate) fn error_line(error: &WorkerError, extra: Extra<'_>) -> String {
    let error = json!({"kind": error.kind.as_str(), "message": error.message});
    format!("{{\"ok\":false,\"error\":{error}{}}}", extra_fields(extra))
}

/// `,"name":value` for each extra field.
fn extra_fields(extra: Extra<'_>) -> String {
    extra
        .iter()
        .map(|(name, value)| format!(",{}:{value}", Value::from(*name)))
        .collect()
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
pub(crate) fn print_error(error: &WorkerError) {
    println!("{}", error_line(error, &[]));
}

/// The Worker's console lines, one per line on stderr.
pub(crate) fn print_logs(lines: &[LogLine]) {
    for line in lines {
        eprintln!("[{}] {}", line.level, line.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_follow_the_standard_ones() {
        let extra = [("region", json!("eu")), ("node", json!("eu-1"))];
        let line = value_line(
            InvocationValue::Json("[1, 2]".into()),
            json!({"run_ms": 1.0}),
            &extra,
        )
        .unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(
            line,
            r#"{"ok":true,"value":[1,2],"stats":{"run_ms":1.0},"region":"eu","node":"eu-1"}"#
        );
        let error = WorkerError::new(ErrorKind::Timeout, "too slow \"x\"");
        let parsed: Value = serde_json::from_str(&error_line(&error, &extra)).unwrap();
        assert_eq!(
            parsed,
            json!({"ok": false, "error": {"kind": "timeout", "message": "too slow \"x\""}, "region": "eu", "node": "eu-1"})
        );
    }

    #[test]
    fn a_result_that_is_not_json_is_a_runtime_error() {
        let error = value_line(InvocationValue::Json("{".into()), json!({}), &[])
            .expect_err("invalid JSON is refused");
        assert_eq!(error.kind, ErrorKind::Runtime);
    }
}
