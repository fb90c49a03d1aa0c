//! The one place that turns what a Worker's runtime reported into the
//! outcome a client sees. Nothing the runtime says is taken as given: error
//! kinds a Worker could claim are limited to the ones that are its own
//! (`runtime`, `not_found`, `output_too_large`); platform kinds (`timeout`,
//! `memory`, `crashed`, ...) are assigned by the host alone, in the event
//! loop. Every string and list is bounded, and a cut says so.

use base64::Engine as _;

use crate::event_loop::WireValue;
use crate::types::ErrorKind;
use crate::types::HttpResponse;
use crate::types::InvocationValue;
use crate::types::Limits;
use crate::types::LogLine;
use crate::types::Outcome;
use crate::types::WorkerError;

/// Longest error message kept, bytes.
pub(crate) const MAX_ERROR_MESSAGE: usize = 64 * 1024;
/// Most console lines kept per invocation (runtime.js keeps 1,000 plus a
/// note of how many it dropped).
pub(crate) const MAX_LOG_LINES: usize = 1001;
/// Most console bytes kept per invocation (runtime.js keeps 256 KiB plus
/// one line of up to 16 KiB).
pub(crate) const MAX_LOG_BYTES: usize = 256 * 1024 + 16 * 1024 + 1024;
/// Most response headers.
pub(crate) const MAX_RESPONSE_HEADERS: usize = 256;
/// Most bytes of response header names and values together.
pub(crate) const MAX_RESPONSE_HEADER_BYTES: usize = 128 * 1024;

/// `outcome` held to the bounds every outcome obeys: the value within
/// `limits.max_output_bytes`, the error message and the logs bounded. For
/// hosts that receive outcomes from another process (a supervisor from its
/// sandboxes) and check them again rather than trust that process.
pub fn bound_outcome(mut outcome: Outcome, limits: &Limits) -> Outcome {
    outcome.logs = bounded_logs(outcome.logs);
    outcome.result = match outcome.result {
        Ok(value) => check_size(value, limits.max_output_bytes),
        Err(error) => Err(bounded_error(error)),
    };
    outcome
}

/// `error` with its message cut to the bound every error message obeys.
pub fn bounded_error(error: WorkerError) -> WorkerError {
    WorkerError::new(error.kind, cut(error.message, MAX_ERROR_MESSAGE))
}

fn check_size(value: InvocationValue, max_output: usize) -> Result<InvocationValue, WorkerError> {
    let size = match &value {
        InvocationValue::Json(json) => json.len(),
        InvocationValue::Http(response) => {
            check_headers(&response.headers)?;
            response.body.len()
        }
    };
    if size > max_output {
        return Err(too_large(size, max_output));
    }
    Ok(value)
}

/// The error a Worker reported, with a kind it may report.
pub(crate) fn worker_error(kind: &str, message: String) -> WorkerError {
    let kind = match kind {
        "not_found" => ErrorKind::NotFound,
        "output_too_large" => ErrorKind::OutputTooLarge,
        _ => ErrorKind::Runtime,
    };
    WorkerError::new(kind, cut(message, MAX_ERROR_MESSAGE))
}

/// `text` cut to at most `max` bytes (at a character boundary), with the cut said.
pub(crate) fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let dropped = text.len() - end;
    text.truncate(end);
    text.push_str(&format!("… ({dropped} more bytes cut)"));
    text
}

/// The console lines kept: bounded in number and bytes, with a last line
/// saying how many were dropped.
pub fn bounded_logs(mut logs: Vec<LogLine>) -> Vec<LogLine> {
    let mut bytes = 0;
    let mut kept = 0;
    for line in &mut logs {
        if kept == MAX_LOG_LINES || bytes >= MAX_LOG_BYTES {
            break;
        }
        line.level.truncate(16);
        let room = MAX_LOG_BYTES - bytes;
        if line.message.len() > room {
            line.message = cut(std::mem::take(&mut line.message), room);
        }
        bytes += line.message.len();
        kept += 1;
    }
    if kept < logs.len() {
        let dropped = logs.len() - kept;
        logs.truncate(kept);
        logs.push(LogLine {
            level: "warn".into(),
            message: format!("{dropped} further console lines were dropped by the host"),
        });
    }
    logs
}

/// A failed load's message followed by what the Worker logged before it
/// failed (a load has no outcome to carry logs), at most 20 lines.
pub(crate) fn with_console(message: String, logs: &[LogLine]) -> String {
    const MAX_LINES: usize = 20;
    if logs.is_empty() {
        return message;
    }
    let mut text = format!("{message}\nconsole output before the failure:");
    for line in logs.iter().take(MAX_LINES) {
        text.push_str(&format!("\n[{}] {}", line.level, line.message));
    }
    if logs.len() > MAX_LINES {
        text.push_str(&format!("\n({} more lines)", logs.len() - MAX_LINES));
    }
    cut(text, MAX_ERROR_MESSAGE)
}

/// An invocation's value, checked against the output limit and the bounds
/// on responses.
pub(crate) fn value_from_wire(
    value: Option<WireValue>,
    max_output: usize,
) -> Result<InvocationValue, WorkerError> {
    let value = match value {
        Some(WireValue::Json(json)) => InvocationValue::Json(json),
        Some(WireValue::Http(response)) => {
            if !(200..=599).contains(&response.status) {
                return Err(WorkerError::new(
                    ErrorKind::Runtime,
                    format!("the response status {} is not 200..599", response.status),
                ));
            }
            // Refused before decoding: base64 is 4 bytes per 3.
            let encoded = response.body_base64.len();
            if encoded > max_output.div_ceil(3).saturating_mul(4) {
                return Err(too_large(encoded / 4 * 3, max_output));
            }
            let body = base64::engine::general_purpose::STANDARD
                .decode(response.body_base64.as_bytes())
                .map_err(|e| {
                    WorkerError::new(ErrorKind::Runtime, format!("unreadable response body: {e}"))
                })?;
            InvocationValue::Http(HttpResponse {
                status: response.status,
                headers: response.headers,
                body,
            })
        }
        None => InvocationValue::Json("null".into()),
    };
    check_size(value, max_output)
}

fn too_large(size: usize, max_output: usize) -> WorkerError {
    WorkerError::new(
        ErrorKind::OutputTooLarge,
        format!("the result is {size} bytes; the output limit is {max_output} bytes"),
    )
}

fn check_headers(headers: &[(String, String)]) -> Result<(), WorkerError> {
    let bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if headers.len() > MAX_RESPONSE_HEADERS || bytes > MAX_RESPONSE_HEADER_BYTES {
        return Err(WorkerError::new(
            ErrorKind::OutputTooLarge,
            format!(
                "the response has {} headers of {bytes} bytes; the limits are {MAX_RESPONSE_HEADERS} headers and {MAX_RESPONSE_HEADER_BYTES} bytes",
                headers.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_cannot_claim_a_platform_error_kind() {
        for kind in [
            "memory",
            "timeout",
            "crashed",
            "compile",
            "bad_request",
            "bundle_too_large",
        ] {
            assert_eq!(
                worker_error(kind, "x".into()).kind,
                ErrorKind::Runtime,
                "{kind}"
            );
        }
        assert_eq!(
            worker_error("not_found", "x".into()).kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn cuts_say_what_they_cut_and_respect_characters() {
        let cut_text = cut("é".repeat(10), 5);
        assert!(cut_text.starts_with("éé…"), "{cut_text}");
        assert!(cut_text.contains("16 more bytes cut"), "{cut_text}");
        assert_eq!(cut("short".into(), 10), "short");
    }

    #[test]
    fn logs_are_bounded_in_lines_and_bytes() {
        let many = vec![
            LogLine {
                level: "log".into(),
                message: "x".into(),
            };
            5000
        ];
        let kept = bounded_logs(many);
        assert_eq!(kept.len(), MAX_LOG_LINES + 1);
        assert!(kept.last().unwrap().message.contains("3999 further"));
        let huge = vec![LogLine {
            level: "log".into(),
            message: "y".repeat(10 << 20),
        }];
        let kept = bounded_logs(huge);
        assert!(kept[0].message.len() < MAX_LOG_BYTES + 64);
    }
}
