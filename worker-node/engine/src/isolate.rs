//! A safe, typed isolate: create, load a Worker bundle, invoke it, read heap
//! statistics, dispose (drop). Built on `crate::ffi`; no unsafe code here.
//!
//! Each load or invocation is driven by an `event_loop::EventLoop` on the
//! caller's thread.

use std::time::Duration;
use std::time::Instant;

use base64::Engine as _;
use serde::Deserialize;

use crate::event_loop::Context;
use crate::event_loop::EventLoop;
use crate::event_loop::Message;
use crate::event_loop::StopReason;
use crate::event_loop::js_literal;
use crate::ffi::Channel;
use crate::ffi::EngineError;
use crate::ffi::JsValue;
use crate::ffi::RawContext;
use crate::ffi::TaskId;
use crate::ffi::V8;
use crate::loader;
use crate::types::*;
use crate::verdict;

const WEBAPI_JS: &str = include_str!("webapi.js");
const RUNTIME_JS: &str = include_str!("runtime.js");
const NOTIFY_GLOBAL: &str = "__edge_notify";
/// Takes the mailbox `runtime.js` leaves on the global object (and removes it
/// there, so Worker code never sees it).
const MAILBOX_HANDOVER: &str = "(() => { const m = globalThis.__edge_mailbox; delete globalThis.__edge_mailbox; return m; })()";

/// How long a terminated evaluation may take to hand back control before the
/// isolate is considered wedged and disposed.
const TERMINATION_GRACE: Duration = Duration::from_millis(250);
/// The least wall and CPU time a Worker's load (its top-level code) gets.
const LOAD_TIME_FLOOR: Duration = Duration::from_secs(5);
/// How long a heap-statistics request may wait for the isolate's thread.
const HEAP_STATS_TIMEOUT: Duration = Duration::from_millis(500);
/// Limit for setting up a fresh isolate's runtime.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// V8 heap figures of one isolate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct HeapStats {
    /// Bytes of live objects.
    pub used_heap_size: u64,
    /// Bytes the heap has reserved.
    pub total_heap_size: u64,
    /// Bytes of the heap backed by physical memory.
    pub total_physical_size: u64,
    /// The heap limit V8 works with.
    pub heap_size_limit: u64,
}

/// What loading a Worker produced.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Wall time of the load.
    pub load_ms: f64,
    /// What the Worker's top-level code wrote to the console.
    pub logs: Vec<LogLine>,
}

/// One V8 isolate that holds at most one Worker.
///
/// After a timeout or memory failure the isolate's heap cannot be trusted, so
/// it is replaced by a fresh one and the Worker reloaded on the next call,
/// transparently (that reload shows up as `load_ms`).
pub struct Isolate {
    v8: &'static V8,
    context: Option<Context>,
    limits: Limits,
    worker: Option<LoadedBundle>,
    next_invocation: u64,
    watch_process_memory: bool,
}

struct LoadedBundle {
    script: String,
    /// Whether the current context has this bundle evaluated.
    live: bool,
}

impl Isolate {
    /// A fresh, pre-warmed isolate: V8 context with the web APIs and runtime.
    pub fn new(limits: Limits) -> Result<Isolate, EngineError> {
        let v8 = V8::get()?;
        let context = new_context(v8, &limits)?;
        Ok(Isolate {
            v8,
            context: Some(context),
            limits,
            worker: None,
            next_invocation: 1,
            watch_process_memory: false,
        })
    }

    /// The limits invocations run under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Also stops an invocation (kind `memory`) once the whole process grew
    /// by more than the isolate's memory limit while it ran. V8 checks its
    /// heap limit only after a collection, so fast growth and ArrayBuffers
    /// get far past it; in a process that holds one tenant's isolates (a
    /// sandbox) this stops the Worker before the process's memory cgroup
    /// kills every isolate in it. Off by default: in a process shared with
    /// other work, another thread's growth would count too.
    pub fn watch_process_memory(&mut self, on: bool) {
        self.watch_process_memory = on;
    }

    /// Changes the limits for later invocations (the memory limit applies at once).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        if let Some(context) = &self.context {
            context.raw.set_hard_memory_limit(limits.memory_bytes);
        }
    }

    /// Loads a Worker: checks its size, compiles its modules to one script,
    /// evaluates it and resolves the default export. An isolate holds one
    /// Worker; loading another replaces the context first.
    pub fn load(&mut self, bundle: &Bundle) -> Result<LoadReport, WorkerError> {
        let started = Instant::now();
        self.limits.validate()?;
        let size = bundle.size_bytes();
        if size > self.limits.max_bundle_bytes {
            return Err(WorkerError::new(
                ErrorKind::BundleTooLarge,
                format!(
                    "the bundle is {size} bytes; the limit is {} bytes",
                    self.limits.max_bundle_bytes
                ),
            ));
        }
        let script = loader::compile_bundle(bundle)
            .map_err(|e| WorkerError::new(ErrorKind::Compile, e.to_string()))?;
        // A fresh context for every Worker: one that held another Worker, or
        // that a failed load or a limit disposed, is replaced.
        if self.worker.is_some() || self.context.is_none() {
            self.reset_context()?;
        }
        self.worker = Some(LoadedBundle {
            script,
            live: false,
        });
        let logs = self.evaluate_worker().inspect_err(|_| self.worker = None)?;
        Ok(LoadReport {
            load_ms: started.elapsed().as_secs_f64() * 1e3,
            logs,
        })
    }

    /// Runs one invocation of the loaded Worker. `host` answers the Worker's
    /// binding calls; the Worker sees one `env` entry per name in `host.bindings()`.
    pub fn invoke(&mut self, invocation: &Invocation, host: &dyn HostFunctions) -> Outcome {
        self.invoke_within(invocation, host, None)
    }

    /// [`Isolate::invoke`] with the wall-time limit lowered to `wall_cap` for
    /// this call only: a caller whose own deadline is nearer than the
    /// Worker's limit gets its CPU back when it stops waiting, without the
    /// Worker being reloaded with other limits.
    pub fn invoke_within(
        &mut self,
        invocation: &Invocation,
        host: &dyn HostFunctions,
        wall_cap: Option<Duration>,
    ) -> Outcome {
        let mut limits = self.limits;
        if let Some(cap) = wall_cap {
            limits.wall_time = limits.wall_time.min(cap);
        }
        let mut outcome = Outcome {
            result: Err(WorkerError::new(ErrorKind::NotFound, "no Worker is loaded")),
            logs: Vec::new(),
            stats: InvocationStats::default(),
        };
        let reload_started = Instant::now();
        match self.ensure_live() {
            Ok(true) => outcome.stats.load_ms = reload_started.elapsed().as_secs_f64() * 1e3,
            Ok(false) => {}
            Err(error) => {
                outcome.result = Err(error);
                return outcome;
            }
        }
        let message = match self.invocation_message(invocation, host) {
            Ok(message) => message,
            Err(error) => {
                outcome.result = Err(error);
                return outcome;
            }
        };
        let inv = self.next_invocation - 1;
        let started = Instant::now();
        let Some(code) = self.entry("invoke", &message) else {
            outcome.result = Err(WorkerError::new(ErrorKind::Crashed, "the isolate is gone"));
            return outcome;
        };
        let (result, cpu_used) =
            self.drive(code, limits, host, Some(inv), |message| match message {
                Message::Done { inv: done, .. } => *done == inv,
                _ => false,
            });
        outcome.stats.run_ms = started.elapsed().as_secs_f64() * 1e3;
        outcome.stats.cpu_ms = cpu_used.as_secs_f64() * 1e3;
        outcome.result = match result {
            Ok(Message::Done {
                ok,
                value,
                kind,
                message,
                logs,
                ..
            }) => {
                outcome.logs = verdict::bounded_logs(logs);
                if ok {
                    verdict::value_from_wire(value, self.limits.max_output_bytes)
                } else {
                    Err(verdict::worker_error(&kind, message.unwrap_or_default()))
                }
            }
            Ok(_) => unreachable!("drive returns only the awaited message"),
            Err(error) => Err(error),
        };
        // Heap statistics are not gathered here: asking V8 costs a round trip
        // to the isolate thread (~0.5 ms, more than a warm call). Callers that
        // want them ask `heap_stats()`.
        outcome
    }

    /// Runs a full garbage collection. V8 leaves garbage in the old
    /// generation until a full collection, and in a small heap that can take
    /// tens of thousands of calls: each call's host evaluation leaves a
    /// compiled script behind. The garbage counts towards the memory limit,
    /// so a Worker that is idle at half its limit should be collected. Call
    /// it only while the isolate is idle: the collection runs on its thread.
    pub fn collect_garbage(&self) {
        if let Some(context) = &self.context {
            context.raw.low_memory_notification();
        }
    }

    /// V8 heap statistics, or `None` if the isolate does not answer in time.
    pub fn heap_stats(&self) -> Option<HeapStats> {
        let json = self
            .context
            .as_ref()?
            .raw
            .heap_stats_json(HEAP_STATS_TIMEOUT)?;
        serde_json::from_str(&json).ok()
    }

    /// CPU time the isolate's thread has used since it started.
    pub fn isolate_cpu_time(&self) -> Option<Duration> {
        self.context.as_ref()?.raw.isolate_cpu_time()
    }

    /// The V8 version serving this isolate.
    pub fn v8_version(&self) -> &'static str {
        self.v8.version()
    }

    fn invocation_message(
        &mut self,
        invocation: &Invocation,
        host: &dyn HostFunctions,
    ) -> Result<String, WorkerError> {
        let inv = self.next_invocation;
        self.next_invocation += 1;
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        let base64 = base64::engine::general_purpose::STANDARD;
        // The seed travels as numbers: decoding base64 in the isolate would
        // pass it through string methods Worker code can replace.
        let mut message = serde_json::json!({
            "inv": inv,
            "seed": seed.to_vec(),
            "maxOutput": self.limits.max_output_bytes,
            "bindings": host.bindings(),
        });
        match invocation {
            Invocation::Fetch(request) => {
                request.validate()?;
                message["kind"] = "fetch".into();
                message["request"] = serde_json::json!({
                    "method": if request.method.is_empty() { "GET" } else { &request.method },
                    "url": request.url,
                    "headers": request.headers,
                    "body_base64": base64.encode(&request.body),
                });
            }
            Invocation::Call { method, input_json } => {
                if method.is_empty() {
                    return Err(WorkerError::new(
                        ErrorKind::BadRequest,
                        "the method name is empty",
                    ));
                }
                let input = if input_json.trim().is_empty() {
                    "null"
                } else {
                    input_json
                };
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(input) {
                    return Err(WorkerError::new(
                        ErrorKind::BadRequest,
                        format!("the input is not valid JSON: {e}"),
                    ));
                }
                message["kind"] = "call".into();
                message["method"] = method.as_str().into();
                message["input"] = input.into();
            }
        }
        Ok(js_literal(&message.to_string()))
    }

    /// The code that calls runtime entry point `name` of the current context.
    fn entry(&self, name: &str, args: &str) -> Option<String> {
        Some(self.context.as_ref()?.entry(name, args))
    }

    /// Makes sure a context exists and holds the Worker; true if it had to
    /// rebuild (after a failure) or evaluate the Worker again.
    fn ensure_live(&mut self) -> Result<bool, WorkerError> {
        let mut rebuilt = false;
        if self.context.is_none() {
            self.context = Some(new_context(self.v8, &self.limits).map_err(engine_failure)?);
            if let Some(worker) = &mut self.worker {
                worker.live = false;
            }
            rebuilt = true;
        }
        match &self.worker {
            None => Err(WorkerError::new(
                ErrorKind::NotFound,
                "no Worker is loaded in this isolate",
            )),
            Some(worker) if worker.live => Ok(rebuilt),
            Some(_) => {
                self.evaluate_worker()?;
                Ok(true)
            }
        }
    }

    fn reset_context(&mut self) -> Result<(), WorkerError> {
        self.dispose_context();
        self.context = Some(new_context(self.v8, &self.limits).map_err(engine_failure)?);
        Ok(())
    }

    /// Drops the context off the caller's thread: freeing it joins the
    /// isolate's thread, which may first have to unwind terminated JS.
    fn dispose_context(&mut self) {
        if let Some(context) = self.context.take() {
            if let Some(worker) = &mut self.worker {
                worker.live = false;
            }
            let _ = std::thread::Builder::new()
                .name("v8-dispose".into())
                .spawn(move || drop(context));
        }
    }

    fn evaluate_worker(&mut self) -> Result<Vec<LogLine>, WorkerError> {
        let script = match &self.worker {
            Some(worker) => worker.script.clone(),
            None => return Ok(Vec::new()),
        };
        // The loader's script sets `__edge_main`; the runtime's `load` then awaits it.
        let Some(load) = self.entry("load", "") else {
            return Err(WorkerError::new(ErrorKind::Crashed, "the isolate is gone"));
        };
        let code = format!("{script}\n;{load}");
        // A load gets at least LOAD_TIME_FLOOR: an invocation limit of a few
        // milliseconds is about the request, not about evaluating modules,
        // while a top-level infinite loop is still stopped.
        let limits = Limits {
            wall_time: self.limits.wall_time.max(LOAD_TIME_FLOOR),
            cpu_time: self.limits.cpu_time.max(LOAD_TIME_FLOOR),
            ..self.limits
        };
        let (result, _) = self.drive(code, limits, &NoHostFunctions, None, |message| {
            matches!(message, Message::Loaded { .. } | Message::Failed { .. })
        });
        match result {
            Ok(Message::Loaded { logs }) => {
                if let Some(worker) = &mut self.worker {
                    worker.live = true;
                }
                Ok(verdict::bounded_logs(logs))
            }
            Ok(Message::Failed {
                kind,
                message,
                logs,
            }) => {
                // A Worker whose top level throws leaves a half-built context.
                self.dispose_context();
                let error = verdict::worker_error(&kind, message);
                Err(WorkerError::new(
                    error.kind,
                    verdict::with_console(error.message, &logs),
                ))
            }
            Ok(_) => unreachable!("drive returns only the awaited message"),
            Err(error) => {
                self.dispose_context();
                Err(error)
            }
        }
    }

    /// Runs the event loop over the current context (see `event_loop`):
    /// evaluates `first` and waits for the message `wanted` picks, within
    /// `limits`. Also returns the CPU time the isolate's thread used.
    fn drive(
        &mut self,
        first: String,
        limits: Limits,
        host: &dyn HostFunctions,
        invocation: Option<u64>,
        wanted: impl Fn(&Message) -> bool,
    ) -> (Result<Message, WorkerError>, Duration) {
        let Some(context) = self.context.as_ref() else {
            return (
                Err(WorkerError::new(ErrorKind::Crashed, "the isolate is gone")),
                Duration::ZERO,
            );
        };
        let watch = self.watch_process_memory;
        let finished = EventLoop::new(context, limits, host, invocation, watch).run(first, wanted);
        let result = match finished.result {
            Ok(message) => Ok(message),
            Err(StopReason { error, terminate }) => {
                if terminate {
                    self.terminate(finished.in_flight);
                }
                Err(error)
            }
        };
        (result, finished.cpu_used)
    }

    /// Stops whatever the isolate runs after a limit was hit. A running
    /// evaluation is cancelled; the heap is then distrusted and the context
    /// replaced (on the next call), since a terminated Worker may have left
    /// its state half-updated and a promise-job loop cannot be cancelled.
    fn terminate(&mut self, in_flight: Option<TaskId>) {
        if let (Some(context), Some(task)) = (&self.context, in_flight) {
            context.raw.cancel(task);
            let _ = context.raw.recv_timeout(TERMINATION_GRACE);
        }
        self.dispose_context();
    }
}

impl Drop for Isolate {
    fn drop(&mut self) {
        // Dispose on this thread: callers that drop an isolate expect its
        // memory back when `drop` returns.
        self.context.take();
    }
}

fn engine_failure(error: EngineError) -> WorkerError {
    WorkerError::new(ErrorKind::Crashed, format!("the engine failed: {error}"))
}

/// A fresh context with the web APIs and runtime evaluated, the runtime
/// sealed with a new secret, and the memory limit set.
fn new_context(v8: &'static V8, limits: &Limits) -> Result<Context, EngineError> {
    let context = RawContext::new(v8, NOTIFY_GLOBAL)?;
    for (name, source) in [("webapi.js", WEBAPI_JS), ("runtime.js", RUNTIME_JS)] {
        context.eval(source);
        match context.recv_timeout(SETUP_TIMEOUT) {
            Some((Channel::EvalResult, JsValue::Error { message, .. })) => {
                return Err(EngineError::Setup(format!("{name} failed: {message}")));
            }
            Some((Channel::EvalResult, _)) => {}
            _ => return Err(EngineError::Setup(format!("{name} did not finish"))),
        }
    }
    let mut context = context;
    context.open_mailbox(MAILBOX_HANDOVER, SETUP_TIMEOUT)?;
    let mut secret = [0u8; 16];
    rand::fill(&mut secret);
    let binding = format!("__edge_{}", hex(&secret));
    context.eval(&Context::seal_code(&binding));
    match context.recv_timeout(SETUP_TIMEOUT) {
        Some((Channel::EvalResult, JsValue::Error { message, .. })) => {
            return Err(EngineError::Setup(format!(
                "sealing runtime.js failed: {message}"
            )));
        }
        Some((Channel::EvalResult, _)) => {}
        _ => {
            return Err(EngineError::Setup(
                "sealing runtime.js did not finish".into(),
            ));
        }
    }
    context.set_hard_memory_limit(limits.memory_bytes);
    Ok(Context::new(context, binding))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
