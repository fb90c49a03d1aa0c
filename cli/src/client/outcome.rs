//! Printing an `InvokeOutcome` as `edgectl exec` prints a local run, plus
//! the region and node that served it.

use std::process::ExitCode;

use edge_engine::ErrorKind;
use edge_engine::HttpResponse;
use edge_engine::InvocationStats;
use edge_engine::InvocationValue;
use edge_engine::LogLine;
use edge_engine::WorkerError;
use edge_proto::v1 as pb;
use edge_proto::v1::invoke_outcome::Result as PbResult;
use serde_json::Value;

use crate::exec::output;

/// Prints the Worker's logs on stderr and the outcome on stdout; exit 0 when
/// the Worker succeeded, 1 when it failed.
pub(crate) fn print(outcome: pb::InvokeOutcome, region: &str, node: &str) -> ExitCode {
    let logs: Vec<LogLine> = outcome
        .logs
        .into_iter()
        .map(|l| LogLine {
            level: l.level,
            message: l.message,
        })
        .collect();
    output::print_logs(&logs);
    let (line, ok) = line(
        outcome.result,
        outcome.stats.unwrap_or_default(),
        region,
        node,
    );
    println!("{line}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The printed line, and whether the Worker succeeded.
fn line(
    result: Option<PbResult>,
    stats: pb::InvocationStats,
    region: &str,
    node: &str,
) -> (String, bool) {
    let extra = [("region", Value::from(region)), ("node", Value::from(node))];
    let value = match result {
        Some(PbResult::Json(text)) => InvocationValue::Json(text),
        Some(PbResult::Http(response)) => match u16::try_from(response.status) {
            Ok(status) => InvocationValue::Http(HttpResponse {
                status,
                headers: response
                    .headers
                    .into_iter()
                    .map(|h| (h.name, h.value))
                    .collect(),
                body: response.body,
            }),
            Err(_) => {
                let error = WorkerError::new(
                    ErrorKind::Runtime,
                    format!("HTTP status {} is out of range", response.status),
                );
                return (output::error_line(&error, &extra), false);
            }
        },
        Some(PbResult::Error(error)) => {
            return (output::error_line(&worker_error(error), &extra), false);
        }
        None => {
            let error = WorkerError::new(ErrorKind::Crashed, "the answer carries no result");
            return (output::error_line(&error, &extra), false);
        }
    };
    let mut stats_json = output::stats_json(
        0.0,
        &InvocationStats {
            load_ms: stats.load_ms,
            run_ms: stats.run_ms,
            cpu_ms: stats.cpu_ms,
            heap_used_bytes: stats.heap_used_bytes,
        },
    );
    stats_json["warm"] = stats.warm.into();
    match output::value_line(value, stats_json, &extra) {
        Ok(line) => (line, true),
        Err(error) => (output::error_line(&error, &extra), false),
    }
}

/// The engine's error for the protobuf one (an unknown kind is `crashed`,
/// the message kept).
fn worker_error(error: pb::WorkerError) -> WorkerError {
    let kind = match error.kind() {
        pb::ErrorKind::Compile => ErrorKind::Compile,
        pb::ErrorKind::Runtime => ErrorKind::Runtime,
        pb::ErrorKind::Timeout => ErrorKind::Timeout,
        pb::ErrorKind::Memory => ErrorKind::Memory,
        pb::ErrorKind::OutputTooLarge => ErrorKind::OutputTooLarge,
        pb::ErrorKind::BundleTooLarge => ErrorKind::BundleTooLarge,
        pb::ErrorKind::NotFound => ErrorKind::NotFound,
        pb::ErrorKind::BadRequest => ErrorKind::BadRequest,
        pb::ErrorKind::Crashed | pb::ErrorKind::Unspecified => ErrorKind::Crashed,
    };
    WorkerError::new(kind, error.message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).expect("one JSON object")
    }

    #[test]
    fn a_value_prints_like_exec_plus_region_and_node() {
        let stats = pb::InvocationStats {
            load_ms: 1.5,
            run_ms: 0.25,
            cpu_ms: 0.5,
            heap_used_bytes: 1024,
            warm: true,
        };
        let (text, ok) = line(
            Some(PbResult::Json("{\"a\": 1}".into())),
            stats,
            "us",
            "us-2",
        );
        assert!(ok);
        assert_eq!(
            parse(&text),
            json!({"ok": true, "value": {"a": 1}, "stats": {"load_ms": 1.5, "run_ms": 0.25, "cpu_ms": 0.5, "heap_used_bytes": 1024, "warm": true}, "region": "us", "node": "us-2"})
        );
    }

    #[test]
    fn an_http_response_prints_status_headers_and_body() {
        let response = pb::HttpResponse {
            status: 201,
            headers: vec![
                pb::Header {
                    name: "set-cookie".into(),
                    value: "a=1".into(),
                },
                pb::Header {
                    name: "set-cookie".into(),
                    value: "b=2".into(),
                },
            ],
            body: b"made".to_vec(),
        };
        let (text, ok) = line(
            Some(PbResult::Http(response)),
            Default::default(),
            "eu",
            "eu-1",
        );
        assert!(ok);
        let value = parse(&text);
        assert_eq!(value["value"]["status"], 201);
        assert_eq!(
            value["value"]["headers"]["set-cookie"],
            json!(["a=1", "b=2"])
        );
        assert_eq!(value["value"]["body"], "made");
        assert_eq!(value["node"], "eu-1");
    }

    #[test]
    fn worker_failures_print_their_kind() {
        let error = pb::WorkerError {
            kind: pb::ErrorKind::Timeout as i32,
            message: "wall time".into(),
        };
        let (text, ok) = line(
            Some(PbResult::Error(error)),
            Default::default(),
            "eu",
            "eu-1",
        );
        assert!(!ok);
        assert_eq!(
            parse(&text),
            json!({"ok": false, "error": {"kind": "timeout", "message": "wall time"}, "region": "eu", "node": "eu-1"})
        );
        let (text, ok) = line(Some(PbResult::Json("{".into())), Default::default(), "", "");
        assert!(!ok);
        assert_eq!(parse(&text)["error"]["kind"], "runtime");
        let (text, ok) = line(None, Default::default(), "", "");
        assert!(!ok);
        assert_eq!(parse(&text)["error"]["kind"], "crashed");
    }
}
