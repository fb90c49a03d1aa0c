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
            memory_bytes: 128 * 1024 * 1024,
            wall_time: Duration::from_secs(30),
            cpu_time: Duration::from_secs(30),
            max_output_bytes: 8 * 1024 * 1024,
            max_bundle_bytes: 4 * 1024 * 1024,
        }
    }
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
    /// CPU time the isolate's thread used during the invocation.
    pub cpu_ms: f64,
    /// V8 heap in use after the invocation, where the caller measured it
    /// (`Isolate::heap_stats`); 0 otherwise.
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
