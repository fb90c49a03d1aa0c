//! The engine's vocabulary: bundles, invocations, limits, outcomes and errors.
//! Every type here is plain data (serde), so an isolate can live in another
//! process and these values cross the boundary unchanged.

use std::time::Duration;

use serde::Deserialize;
use serde::Serialize;

/// One ES module of a Worker bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    /// The specifier other modules import it by, e.g. `./util.ts`.
    pub name: String,
    /// JavaScript or TypeScript source (TypeScript when the name ends in `.ts`).
    pub source: String,
}

/// A Worker's code: its modules and the entry point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Every module of the Worker.
    pub modules: Vec<Module>,
    /// Name of the module whose default export is the Worker.
    pub main_module: String,
}

impl Bundle {
    /// A bundle of one module.
    pub fn single(name: impl Into<String>, source: impl Into<String>) -> Self {
        let name = name.into();
        Bundle {
            modules: vec![Module {
                name: name.clone(),
                source: source.into(),
            }],
            main_module: name,
        }
    }

    /// Total source size in bytes, what the bundle limit is measured against.
    pub fn size_bytes(&self) -> usize {
        self.modules
            .iter()
            .map(|m| m.name.len() + m.source.len())
            .sum()
    }
}

/// Limits the engine enforces on one isolate and each invocation in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// V8 heap limit for the isolate.
    pub memory_bytes: u64,
    /// Wall-clock time one invocation (or a load) may take.
    pub wall_time: Duration,
    /// CPU time one invocation may use on the isolate's thread.
    pub cpu_time: Duration,
    /// Largest result (JSON text or response body) an invocation may return.
    pub max_output_bytes: usize,
    /// Largest bundle (sum of module names and sources) that may be loaded.
    pub max_bundle_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 128 * MIB,
            wall_time: Duration::from_secs(30),
            cpu_time: Duration::from_secs(30),
            max_output_bytes: 8 * MIB as usize,
            max_bundle_bytes: 4 * MIB as usize,
        }
    }
}

const MIB: u64 = 1024 * 1024;

impl Limits {
    /// Smallest heap limit: V8 cannot create a context in less.
    pub const MIN_MEMORY_BYTES: u64 = MIB;
    /// Largest heap limit: V8 (built with pointer compression) cannot give
    /// one isolate more than 4 GiB of heap, so a larger limit would promise
    /// what is never enforced.
    pub const MAX_MEMORY_BYTES: u64 = 4 * 1024 * MIB;
    /// Shortest wall or CPU time limit: the engine measures milliseconds.
    pub const MIN_TIME: Duration = Duration::from_millis(1);
    /// Longest wall-time limit: 15 minutes, Cloudflare's longest (Cron
    /// Triggers and Queues); the supervisor waits a small multiple of it.
    pub const MAX_WALL_TIME: Duration = Duration::from_secs(15 * 60);
    /// Longest CPU-time limit: as long as the longest wall time, since one
    /// thread cannot use more CPU than wall time.
    pub const MAX_CPU_TIME: Duration = Limits::MAX_WALL_TIME;
    /// Largest output limit: a result crosses from a sandbox in one reply
    /// frame of at most 40 MiB, with its logs.
    pub const MAX_OUTPUT_BYTES: usize = 32 * MIB as usize;
    /// Largest bundle limit: a bundle crosses into a sandbox in one request
    /// frame of at most 64 MiB, and its compile time grows with its size.
    pub const MAX_BUNDLE_BYTES: usize = 32 * MIB as usize;

    /// Checks every limit against its documented range.
    ///
    /// # Errors
    ///
    /// `bad_request`, naming the first limit out of range and its range.
    pub fn validate(&self) -> Result<(), WorkerError> {
        in_range(
            "memory limit",
            self.memory_bytes,
            Limits::MIN_MEMORY_BYTES,
            Limits::MAX_MEMORY_BYTES,
            "bytes",
        )?;
        in_range(
            "wall-time limit",
            self.wall_time.as_millis(),
            Limits::MIN_TIME.as_millis(),
            Limits::MAX_WALL_TIME.as_millis(),
            "ms",
        )?;
        in_range(
            "CPU-time limit",
            self.cpu_time.as_millis(),
            Limits::MIN_TIME.as_millis(),
            Limits::MAX_CPU_TIME.as_millis(),
            "ms",
        )?;
        in_range(
            "output limit",
            self.max_output_bytes,
            1,
            Limits::MAX_OUTPUT_BYTES,
            "bytes",
        )?;
        in_range(
            "bundle limit",
            self.max_bundle_bytes,
            1,
            Limits::MAX_BUNDLE_BYTES,
            "bytes",
        )
    }
}

/// `bad_request` unless `min <= value <= max`.
fn in_range<T: PartialOrd + std::fmt::Display>(
    what: &str,
    value: T,
    min: T,
    max: T,
    unit: &str,
) -> Result<(), WorkerError> {
    if value < min || value > max {
        return Err(WorkerError::new(
            ErrorKind::BadRequest,
            format!(
                "the {what} is {value} {unit}; it must be at least {min} and at most {max} {unit}"
            ),
        ));
    }
    Ok(())
}

/// An HTTP-shaped request for a Worker's `fetch` handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// The HTTP method (`GET` when empty).
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Header names and values, in order; a name may repeat.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// Longest method: real ones are a few letters.
    pub const MAX_METHOD_BYTES: usize = 32;
    /// Longest URL: what common servers accept in a request line.
    pub const MAX_URL_BYTES: usize = 16 * 1024;
    /// Most headers.
    pub const MAX_HEADERS: usize = 256;
    /// Longest header name.
    pub const MAX_HEADER_NAME_BYTES: usize = 256;
    /// Most bytes in all header names and values together.
    pub const MAX_HEADER_BYTES: usize = 64 * 1024;
    /// Largest body: a request crosses into a sandbox in one frame of at
    /// most 64 MiB.
    pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

    /// Checks the request is one HTTP could carry: the method a token, the
    /// URL absolute (`http:` or `https:`), header names tokens and values
    /// free of CR, LF and NUL, each within the limits above.
    ///
    /// # Errors
    ///
    /// `bad_request`, saying what is wrong.
    pub fn validate(&self) -> Result<(), WorkerError> {
        let bad = |message: String| Err(WorkerError::new(ErrorKind::BadRequest, message));
        if self.method.len() > HttpRequest::MAX_METHOD_BYTES
            || (!self.method.is_empty() && !is_token(&self.method))
        {
            return bad(format!(
                "the method {:?} is not an HTTP token of at most {} bytes",
                truncated(&self.method),
                HttpRequest::MAX_METHOD_BYTES
            ));
        }
        if let Err(why) = check_url(&self.url) {
            return bad(format!("the URL {:?} {why}", truncated(&self.url)));
        }
        self.validate_headers()?;
        if self.body.len() > HttpRequest::MAX_BODY_BYTES {
            return bad(format!(
                "the body is {} bytes; the maximum is {} bytes",
                self.body.len(),
                HttpRequest::MAX_BODY_BYTES
            ));
        }
        Ok(())
    }

    fn validate_headers(&self) -> Result<(), WorkerError> {
        let bad = |message: String| Err(WorkerError::new(ErrorKind::BadRequest, message));
        if self.headers.len() > HttpRequest::MAX_HEADERS {
            return bad(format!(
                "the request has {} headers; the maximum is {}",
                self.headers.len(),
                HttpRequest::MAX_HEADERS
            ));
        }
        let mut total = 0usize;
        for (name, value) in &self.headers {
            if !is_token(name) || name.len() > HttpRequest::MAX_HEADER_NAME_BYTES {
                return bad(format!(
                    "the header name {:?} is not an HTTP token of at most {} bytes",
                    truncated(name),
                    HttpRequest::MAX_HEADER_NAME_BYTES
                ));
            }
            if value.contains(['\r', '\n', '\0']) {
                return bad(format!(
                    "the value of header {name:?} contains CR, LF or NUL"
                ));
            }
            total = total.saturating_add(name.len() + value.len());
        }
        if total > HttpRequest::MAX_HEADER_BYTES {
            return bad(format!(
                "the headers take {total} bytes; the maximum is {} bytes",
                HttpRequest::MAX_HEADER_BYTES
            ));
        }
        Ok(())
    }
}

/// An RFC 9110 token: one or more of `!#$%&'*+-.^_`|~`, digits and letters.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Why `url` is not an absolute `http:`/`https:` URL of bounded length
/// without control characters or spaces.
fn check_url(url: &str) -> Result<(), String> {
    if url.len() > HttpRequest::MAX_URL_BYTES {
        return Err(format!(
            "is {} bytes long; the maximum is {} bytes",
            url.len(),
            HttpRequest::MAX_URL_BYTES
        ));
    }
    if url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err("contains a space or a control character".to_owned());
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err("is not an absolute http: or https: URL".to_owned());
    };
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
        return Err("has no host".to_owned());
    }
    Ok(())
}

/// At most the first 100 characters of `text`, for error messages.
fn truncated(text: &str) -> String {
    const SHOWN: usize = 100;
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// What a `fetch` handler returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Header names and values, in order; a name may repeat.
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Vec<u8>,
}

/// One invocation of a loaded Worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Invocation {
    /// Calls `fetch(request, env, ctx)` on the default export.
    Fetch(HttpRequest),
    /// Calls the named method of the default export with one JSON argument.
    Call {
        /// The method's name.
        method: String,
        /// JSON text of the argument.
        input_json: String,
    },
}

/// The successful result of an invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvocationValue {
    /// What a `fetch` handler returned.
    Http(HttpResponse),
    /// JSON text of the method's return value (`null` for `undefined`).
    Json(String),
}

/// A line a Worker wrote with `console.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `log`, `info`, `warn`, `error` or `debug`.
    pub level: String,
    /// The line as the console formatted it.
    pub message: String,
}

/// Measurements of one invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct InvocationStats {
    /// Time spent loading the Worker for this invocation (0 when warm).
    pub load_ms: f64,
    /// Wall time of the invocation itself.
    pub run_ms: f64,
    /// CPU time spent on the invocation: the isolate's thread, plus the
    /// host thread's work on the Worker's messages and binding calls.
    pub cpu_ms: f64,
    /// V8 heap in use as last measured: measuring costs the isolate about
    /// 0.5 ms, so sandboxes measure after a load and whenever an isolate
    /// falls idle, and callers that need a fresh figure ask for one
    /// (`Isolate::heap_stats`, `Supervisor::heap_used`, as `edgectl exec`
    /// does after its invocation); 0 where nothing measured it.
    pub heap_used_bytes: u64,
}

/// A finished invocation: its value or error, plus what it logged and cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The value, or why there is none.
    pub result: Result<InvocationValue, WorkerError>,
    /// What the Worker wrote with `console.*` meanwhile.
    pub logs: Vec<LogLine>,
    /// What it cost.
    pub stats: InvocationStats,
}

/// The kinds of failure a client can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The bundle does not parse, or imports something outside itself.
    Compile,
    /// The Worker threw, rejected, or returned something unusable.
    Runtime,
    /// Wall-time or CPU-time limit exceeded.
    Timeout,
    /// Memory limit exceeded.
    Memory,
    /// The result is larger than the output limit.
    OutputTooLarge,
    /// The bundle is larger than the bundle limit.
    BundleTooLarge,
    /// No such Worker, method or handler.
    NotFound,
    /// The request itself is malformed.
    BadRequest,
    /// The process hosting the isolate died.
    Crashed,
}

impl ErrorKind {
    /// The snake_case name used in JSON output and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Compile => "compile",
            ErrorKind::Runtime => "runtime",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Memory => "memory",
            ErrorKind::OutputTooLarge => "output_too_large",
            ErrorKind::BundleTooLarge => "bundle_too_large",
            ErrorKind::NotFound => "not_found",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Crashed => "crashed",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A structured failure of a load or an invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct WorkerError {
    /// What kind of failure, for clients to branch on.
    pub kind: ErrorKind,
    /// What happened, for a person.
    pub message: String,
}

impl WorkerError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        WorkerError {
            kind,
            message: message.into(),
        }
    }
}

/// Host functions a Worker may call (the basis of every binding). A call
/// arrives with the binding's name and JSON arguments and answers with JSON
/// or an error message that becomes a rejected promise in the Worker.
pub trait HostFunctions: Send + Sync {
    /// Names of the bindings the Worker sees in `env`.
    fn bindings(&self) -> Vec<String> {
        Vec::new()
    }
    /// Runs binding `name` with JSON arguments: JSON back, or the message the Worker's promise rejects with.
    fn call(&self, name: &str, args_json: &str) -> Result<String, String>;
}

/// No bindings at all: the default for a Worker granted nothing.
pub struct NoHostFunctions;

impl HostFunctions for NoHostFunctions {
    fn call(&self, name: &str, _args_json: &str) -> Result<String, String> {
        Err(format!("binding '{name}' is not granted to this Worker"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits_error(limits: Limits) -> String {
        let error = limits.validate().expect_err("out of range");
        assert_eq!(error.kind, ErrorKind::BadRequest);
        error.message
    }

    #[test]
    fn limits_outside_their_range_are_bad_requests() {
        assert_eq!(Limits::default().validate(), Ok(()));
        let max = Limits {
            memory_bytes: Limits::MAX_MEMORY_BYTES,
            wall_time: Limits::MAX_WALL_TIME,
            cpu_time: Limits::MAX_CPU_TIME,
            max_output_bytes: Limits::MAX_OUTPUT_BYTES,
            max_bundle_bytes: Limits::MAX_BUNDLE_BYTES,
        };
        assert_eq!(max.validate(), Ok(()));
        let message = limits_error(Limits {
            memory_bytes: 1 << 44,
            ..Limits::default()
        });
        assert!(
            message.contains("memory limit")
                && message.contains(&Limits::MAX_MEMORY_BYTES.to_string()),
            "{message}"
        );
        assert!(
            limits_error(Limits {
                memory_bytes: 0,
                ..Limits::default()
            })
            .contains("memory")
        );
        assert!(
            limits_error(Limits {
                wall_time: Duration::ZERO,
                ..Limits::default()
            })
            .contains("wall-time")
        );
        let message = limits_error(Limits {
            cpu_time: Duration::MAX,
            ..Limits::default()
        });
        assert!(
            message.contains("CPU-time") && message.contains("900000 ms"),
            "{message}"
        );
        assert!(
            limits_error(Limits {
                max_output_bytes: usize::MAX,
                ..Limits::default()
            })
            .contains("output")
        );
        assert!(
            limits_error(Limits {
                max_bundle_bytes: 0,
                ..Limits::default()
            })
            .contains("bundle")
        );
    }

    fn request() -> HttpRequest {
        HttpRequest {
            method: "GET".to_owned(),
            url: "https://example.test/a?b#c".to_owned(),
            headers: vec![("x-a".to_owned(), "1 2\t3".to_owned())],
            body: Vec::new(),
        }
    }

    fn request_error(request: HttpRequest) -> String {
        let error = request.validate().expect_err("invalid");
        assert_eq!(error.kind, ErrorKind::BadRequest);
        error.message
    }

    #[test]
    fn requests_http_could_not_carry_are_bad_requests() {
        assert_eq!(request().validate(), Ok(()));
        assert_eq!(
            HttpRequest {
                method: String::new(),
                url: "HTTP://X".to_owned(),
                ..request()
            }
            .validate(),
            Ok(())
        );
        for method in ["GE T", "GET\r\n", "G\0", "Ä", &"A".repeat(33)] {
            assert!(
                request_error(HttpRequest {
                    method: method.to_owned(),
                    ..request()
                })
                .contains("method"),
                "{method:?}"
            );
        }
        for url in [
            "/relative",
            "ftp://x/",
            "http://",
            "https:///x",
            "http://x/\r\nHost: y",
            "http://x/ y",
            &format!("http://x/{}", "a".repeat(20_000)),
        ] {
            assert!(
                request_error(HttpRequest {
                    url: url.to_owned(),
                    ..request()
                })
                .contains("URL"),
                "{url:?}"
            );
        }
        for (name, value) in [
            ("", "v"),
            ("a b", "v"),
            ("a:b", "v"),
            ("x", "a\r\nb: c"),
            ("x", "a\nb"),
            ("x", "a\0"),
        ] {
            let bad = HttpRequest {
                headers: vec![(name.to_owned(), value.to_owned())],
                ..request()
            };
            assert!(request_error(bad).contains("header"), "{name:?}: {value:?}");
        }
        let many = HttpRequest {
            headers: vec![("a".to_owned(), String::new()); 257],
            ..request()
        };
        assert!(request_error(many).contains("257 headers"));
        let big = HttpRequest {
            headers: vec![("a".to_owned(), "v".repeat(40_000)); 2],
            ..request()
        };
        assert!(request_error(big).contains("headers take"));
        let body = HttpRequest {
            body: vec![0; HttpRequest::MAX_BODY_BYTES + 1],
            ..request()
        };
        assert!(request_error(body).contains("body"));
    }
}
