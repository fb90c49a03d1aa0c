//! Between the wire (`edge_proto::v1`) and the engine's types
//! (`edge_engine`): plain field-by-field mapping, no policy.

use std::time::Duration;
use std::time::SystemTime;

use edge_engine::Bundle;
use edge_engine::ErrorKind;
use edge_engine::HttpRequest;
use edge_engine::Invocation;
use edge_engine::InvocationValue;
use edge_engine::Limits;
use edge_engine::LogLine;
use edge_engine::Module;
use edge_engine::Outcome;
use edge_proto::v1 as pb;
use edge_proto::v1::invoke_outcome;
use edge_proto::v1::node_invoke_request;

/// A wire bundle as the engine's.
pub fn bundle(b: pb::Bundle) -> Bundle {
    Bundle {
        modules: b
            .modules
            .into_iter()
            .map(|m| Module {
                name: m.name,
                source: m.source,
            })
            .collect(),
        main_module: b.main_module,
    }
}

/// The engine's bundle as the wire's.
pub fn bundle_to_pb(b: &Bundle) -> pb::Bundle {
    pb::Bundle {
        modules: b
            .modules
            .iter()
            .map(|m| pb::Module {
                name: m.name.clone(),
                source: m.source.clone(),
            })
            .collect(),
        main_module: b.main_module.clone(),
    }
}

/// `base` with each non-zero field of `wire` in its place (zero means "the
/// default"). Not validated here.
pub fn limits(wire: Option<&pb::Limits>, base: Limits) -> Limits {
    let Some(wire) = wire else {
        return base;
    };
    let mut limits = base;
    if wire.memory_mb != 0 {
        limits.memory_bytes = u64::from(wire.memory_mb) << 20;
    }
    if wire.timeout_ms != 0 {
        limits.wall_time = Duration::from_millis(wire.timeout_ms.into());
    }
    if wire.cpu_ms != 0 {
        limits.cpu_time = Duration::from_millis(wire.cpu_ms.into());
    }
    limits
}

/// A wire invocation as the engine's.
pub fn invocation(wire: node_invoke_request::Invocation) -> Invocation {
    match wire {
        node_invoke_request::Invocation::Fetch(r) => Invocation::Fetch(HttpRequest {
            method: r.method,
            url: r.url,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
        }),
        node_invoke_request::Invocation::Call(c) => Invocation::Call {
            method: c.method,
            input_json: c.input_json,
        },
    }
}

/// The wire's error kind.
pub fn error_kind(kind: ErrorKind) -> pb::ErrorKind {
    match kind {
        ErrorKind::Compile => pb::ErrorKind::Compile,
        ErrorKind::Runtime => pb::ErrorKind::Runtime,
        ErrorKind::Timeout => pb::ErrorKind::Timeout,
        ErrorKind::Memory => pb::ErrorKind::Memory,
        ErrorKind::OutputTooLarge => pb::ErrorKind::OutputTooLarge,
        ErrorKind::BundleTooLarge => pb::ErrorKind::BundleTooLarge,
        ErrorKind::NotFound => pb::ErrorKind::NotFound,
        ErrorKind::BadRequest => pb::ErrorKind::BadRequest,
        ErrorKind::Crashed => pb::ErrorKind::Crashed,
    }
}

/// A log line stamped with `at`.
pub fn log_line(line: LogLine, at: SystemTime) -> pb::LogLine {
    pb::LogLine {
        level: line.level,
        message: line.message,
        unix_ms: unix_ms(at),
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// An engine outcome as the wire's, its logs stamped with `at`.
pub fn outcome(outcome: Outcome, warm: bool, at: SystemTime) -> pb::InvokeOutcome {
    let result = match outcome.result {
        Ok(InvocationValue::Json(json)) => invoke_outcome::Result::Json(json),
        Ok(InvocationValue::Http(r)) => invoke_outcome::Result::Http(pb::HttpResponse {
            status: r.status.into(),
            headers: r
                .headers
                .into_iter()
                .map(|(name, value)| pb::Header { name, value })
                .collect(),
            body: r.body,
        }),
        Err(e) => invoke_outcome::Result::Error(pb::WorkerError {
            kind: error_kind(e.kind) as i32,
            message: e.message,
        }),
    };
    let stats = outcome.stats;
    pb::InvokeOutcome {
        result: Some(result),
        stats: Some(pb::InvocationStats {
            load_ms: stats.load_ms,
            run_ms: stats.run_ms,
            cpu_ms: stats.cpu_ms,
            heap_used_bytes: stats.heap_used_bytes,
            warm,
        }),
        logs: outcome
            .logs
            .into_iter()
            .map(|line| log_line(line, at))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_keep_the_base_and_others_replace_it() {
        let base = Limits::default();
        assert_eq!(limits(None, base), base);
        assert_eq!(limits(Some(&pb::Limits::default()), base), base);
        let set = limits(
            Some(&pb::Limits {
                memory_mb: 64,
                timeout_ms: 0,
                cpu_ms: 250,
            }),
            base,
        );
        assert_eq!(set.memory_bytes, 64 << 20);
        assert_eq!(set.wall_time, base.wall_time);
        assert_eq!(set.cpu_time, Duration::from_millis(250));
    }

    #[test]
    fn bundles_cross_unchanged_both_ways() {
        let b = Bundle {
            modules: vec![
                Module {
                    name: "./main.ts".into(),
                    source: "import './a.ts'".into(),
                },
                Module {
                    name: "./a.ts".into(),
                    source: "".into(),
                },
            ],
            main_module: "./main.ts".into(),
        };
        assert_eq!(bundle(bundle_to_pb(&b)), b);
    }
}
