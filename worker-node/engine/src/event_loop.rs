//! The loop that drives one load or invocation of an isolate: it starts one
//! evaluation at a time, drains the messages `runtime.js` posts (through the
//! mailbox or as an evaluation's result), answers host calls, fires timers,
//! and stops at the wall-time, CPU-time or memory limit.
//!
//! This is the one place that reads what comes out of an isolate, and it
//! trusts none of it: batches are bounded before they are copied, every
//! message is checked (its invocation, the bindings it names, its sizes),
//! host calls and timers are counted per invocation, the deadline is
//! checked while a batch is handled, and the host's own CPU time spent on
//! the Worker's messages counts against the Worker's CPU limit.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::VecDeque;
use std::time::Duration;
use std::time::Instant;

use serde::Deserialize;

use crate::ffi::Channel;
use crate::ffi::JsValue;
use crate::ffi::RawContext;
use crate::ffi::TaskId;
use crate::ffi::current_thread_cpu_time;
use crate::ffi::tag;
use crate::types::ErrorKind;
use crate::types::HostFunctions;
use crate::types::Limits;
use crate::types::LogLine;
use crate::types::WorkerError;

/// How often a running invocation is checked against its CPU and memory limits.
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Most binding calls one invocation may make (runtime.js refuses more).
pub(crate) const MAX_HOST_CALLS: u32 = 1000;
/// Most timers one invocation may have pending (runtime.js refuses more).
const MAX_PENDING_TIMERS: usize = 1000;
/// Largest JSON text of one binding call's arguments, bytes.
const MAX_CALL_ARGS: usize = 1024 * 1024;
/// Longest timer delay, as in browsers (2^31 - 1 ms).
const MAX_TIMER_MS: u64 = (1 << 31) - 1;
/// How many messages of a batch are handled between deadline checks.
const DEADLINE_CHECK_EVERY: usize = 64;
/// Batch size a runtime needs beyond the output itself: logs (256 KiB of
/// text, escaped), an error message, framing.
const BATCH_OVERHEAD: usize = 4 * 1024 * 1024;
/// Worst-case growth of text quoted into JSON (`\u0000` for one byte).
const JSON_ESCAPE_GROWTH: usize = 6;

/// A context whose runtime is sealed: its entry points are bound to a
/// global lexical `const` named after a secret (see runtime.js), which
/// exists nowhere in the isolate but in the host's own evaluations.
pub(crate) struct Context {
    pub raw: RawContext,
    /// The name of the runtime's binding.
    binding: String,
}

impl Context {
    /// `raw`, whose runtime was sealed under the binding `binding`.
    pub fn new(raw: RawContext, binding: String) -> Context {
        Context { raw, binding }
    }

    /// The code that seals a fresh runtime under `binding`.
    pub fn seal_code(binding: &str) -> String {
        format!("const {binding} = globalThis.__edge.seal();")
    }

    /// The code that calls runtime entry point `name` with `args` (JS
    /// source of literals).
    pub fn entry(&self, name: &str, args: &str) -> String {
        format!("{}.{name}({args})", self.binding)
    }
}

/// The largest batch a runtime can legitimately send under `limits`.
pub(crate) fn max_batch_bytes(limits: &Limits) -> usize {
    limits
        .max_output_bytes
        .saturating_mul(JSON_ESCAPE_GROWTH + 1)
        .saturating_add(BATCH_OVERHEAD)
}

/// A message from `runtime.js`.
#[derive(Debug, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub(crate) enum Message {
    /// The Worker's modules evaluated and its default export resolved.
    Loaded {
        #[serde(default)]
        logs: Vec<LogLine>,
    },
    /// Evaluating the Worker failed.
    Failed {
        kind: String,
        message: String,
        #[serde(default)]
        logs: Vec<LogLine>,
    },
    /// An invocation finished.
    Done {
        inv: u64,
        ok: bool,
        #[serde(default)]
        value: Option<WireValue>,
        #[serde(default)]
        kind: String,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        logs: Vec<LogLine>,
    },
    /// The Worker called a binding.
    Call {
        inv: u64,
        id: u64,
        name: String,
        args: String,
    },
    /// The Worker set a timer.
    Timer { inv: u64, id: u64, ms: u64 },
}

/// An invocation's value as the runtime sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WireValue {
    Json(String),
    Http(WireResponse),
}

/// A `fetch` handler's response as the runtime sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body_base64: String,
}

/// Why the event loop stopped early, and whether JS must be interrupted.
pub(crate) struct StopReason {
    pub error: WorkerError,
    pub terminate: bool,
}

/// A limit error; timeouts and memory failures interrupt the running JS.
pub(crate) fn limit_error(kind: ErrorKind, message: String) -> StopReason {
    let terminate = matches!(kind, ErrorKind::Timeout | ErrorKind::Memory);
    StopReason {
        error: WorkerError::new(kind, message),
        terminate,
    }
}

fn memory_error(limits: &Limits) -> StopReason {
    limit_error(
        ErrorKind::Memory,
        format!(
            "memory limit of {} MiB exceeded",
            limits.memory_bytes / (1024 * 1024)
        ),
    )
}

/// A timer the Worker set: when it is due, and which callback it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    due: Instant,
    inv: u64,
    id: u64,
}

/// How a run of the loop ended.
pub(crate) struct Finished {
    /// The awaited message, or why the loop stopped without it.
    pub result: Result<Message, StopReason>,
    /// The evaluation still running when the loop stopped, if any.
    pub in_flight: Option<TaskId>,
    /// CPU time the isolate's thread used meanwhile.
    pub cpu_used: Duration,
}

/// One run of the loop over one context.
pub(crate) struct EventLoop<'a> {
    context: &'a RawContext,
    sealed: &'a Context,
    limits: Limits,
    host: &'a dyn HostFunctions,
    /// The invocation being driven (`None` for a load): messages of any
    /// other are stale or forged and ignored.
    invocation: Option<u64>,
    calls_made: u32,
    deadline: Instant,
    cpu_start: Option<Duration>,
    /// This thread's CPU clock at the start: the host's work for the Worker.
    host_cpu_start: Option<Duration>,
    /// Whether the process's growth is watched (see
    /// [`Isolate::watch_process_memory`]).
    ///
    /// [`Isolate::watch_process_memory`]: crate::Isolate::watch_process_memory
    watch_process_memory: bool,
    /// The process's resident memory at the first look, one poll interval
    /// in: calls shorter than that never pay for reading it.
    resident_start: Option<u64>,
    /// Code waiting to be evaluated, in order.
    queue: VecDeque<String>,
    in_flight: Option<TaskId>,
    /// The mailbox had more than one look could take: drain it by evaluation.
    drain_wanted: bool,
    timers: BinaryHeap<Reverse<Timer>>,
    last_poll: Instant,
}

impl<'a> EventLoop<'a> {
    /// A loop over `sealed` under `limits` for `invocation` (`None`: a
    /// load), answering host calls with `host`.
    pub fn new(
        sealed: &'a Context,
        limits: Limits,
        host: &'a dyn HostFunctions,
        invocation: Option<u64>,
        watch_process_memory: bool,
    ) -> Self {
        let now = Instant::now();
        let context = &sealed.raw;
        context.set_max_string(max_batch_bytes(&limits));
        EventLoop {
            context,
            sealed,
            limits,
            host,
            invocation,
            calls_made: 0,
            deadline: now + limits.wall_time,
            cpu_start: context.isolate_cpu_time(),
            host_cpu_start: current_thread_cpu_time(),
            watch_process_memory,
            resident_start: None,
            queue: VecDeque::new(),
            in_flight: None,
            drain_wanted: false,
            timers: BinaryHeap::new(),
            last_poll: now,
        }
    }

    /// Evaluates `first`, then keeps draining messages until one satisfies
    /// `wanted`, a limit is hit, or the Worker fails.
    pub fn run(mut self, first: String, wanted: impl Fn(&Message) -> bool) -> Finished {
        self.queue.push_back(first);
        let result = loop {
            self.start_next();
            if Instant::now() >= self.deadline {
                break Err(limit_error(
                    ErrorKind::Timeout,
                    format!(
                        "wall-time limit of {} ms exceeded",
                        self.limits.wall_time.as_millis()
                    ),
                ));
            }
            if let Some(event) = self.context.recv_timeout(self.wait()) {
                match self.on_event(event, &wanted) {
                    Ok(Some(done)) => break Ok(done),
                    Ok(None) => {}
                    Err(stop) => break Err(stop),
                }
            }
            self.queue_due_timers();
            if let Some(stop) = self.check_limits() {
                break Err(stop);
            }
        };
        Finished {
            result,
            in_flight: self.in_flight,
            cpu_used: self.cpu_used(),
        }
    }

    /// CPU time spent on the Worker so far: its isolate's thread, plus this
    /// thread's work on its messages and calls.
    fn cpu_used(&self) -> Duration {
        let isolate = match (self.cpu_start, self.context.isolate_cpu_time()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => Duration::ZERO,
        };
        let host = match (self.host_cpu_start, current_thread_cpu_time()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => Duration::ZERO,
        };
        isolate + host
    }

    /// Starts the next queued evaluation, or a mailbox drain, if none runs.
    fn start_next(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        if let Some(code) = self.queue.pop_front() {
            self.in_flight = Some(self.context.eval(&code));
        } else if self.drain_wanted {
            self.drain_wanted = false;
            self.in_flight = Some(self.context.eval(&self.sealed.entry("drain", "")));
        }
    }

    /// How long to wait for the isolate: until the next poll, timer or deadline.
    fn wait(&self) -> Duration {
        let now = Instant::now();
        let mut wait = self
            .deadline
            .saturating_duration_since(now)
            .min(POLL_INTERVAL);
        if let Some(Reverse(timer)) = self.timers.peek() {
            wait = wait.min(timer.due.saturating_duration_since(now));
        }
        wait
    }

    fn on_event(
        &mut self,
        (channel, value): (Channel, JsValue),
        wanted: &impl Fn(&Message) -> bool,
    ) -> Result<Option<Message>, StopReason> {
        match channel {
            Channel::EvalResult => {
                self.in_flight = None;
                match value {
                    JsValue::String(text) => self.handle_messages(&text, wanted),
                    JsValue::Error { tag, message } => Err(self.error_from_tag(tag, message)),
                    JsValue::Oversized(bytes) => Err(limit_error(
                        ErrorKind::Runtime,
                        format!(
                            "the runtime sent a {bytes}-byte batch, more than the {} bytes this invocation's limits allow",
                            max_batch_bytes(&self.limits)
                        ),
                    )),
                    other => Err(limit_error(
                        ErrorKind::Runtime,
                        format!("the runtime returned an unexpected value {other:?}"),
                    )),
                }
            }
            Channel::Notify => self.on_notify(wanted),
        }
    }

    /// The runtime rang: take what its mailbox holds.
    fn on_notify(
        &mut self,
        wanted: &impl Fn(&Message) -> bool,
    ) -> Result<Option<Message>, StopReason> {
        let Some(mailbox) = self.context.mailbox() else {
            self.drain_wanted = true;
            return Ok(None);
        };
        // Re-arm the ring before looking, so a batch published after this
        // look rings again.
        mailbox.acknowledge_notify();
        let found = match mailbox.take() {
            Some(text) => self.handle_messages(&text, wanted)?,
            None => None,
        };
        self.drain_wanted |= mailbox.pending();
        Ok(found)
    }

    fn queue_due_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse(timer)) = self.timers.peek().copied() {
            if timer.due > now {
                break;
            }
            self.timers.pop();
            let args = format!("{}, {}", timer.inv, timer.id);
            self.queue.push_back(self.sealed.entry("fire", &args));
        }
    }

    /// The memory and CPU limits, looked at once per poll interval.
    fn check_limits(&mut self) -> Option<StopReason> {
        let now = Instant::now();
        if now.duration_since(self.last_poll) < POLL_INTERVAL {
            return None;
        }
        self.last_poll = now;
        if self.context.hard_memory_limit_reached() {
            return Some(memory_error(&self.limits));
        }
        // V8 checks its heap limit after a garbage collection, and fast
        // growth (or ArrayBuffers, outside the heap) can get far past it
        // first; the process's growth since the start is the earlier sign.
        if self.watch_process_memory
            && let Some(now) = resident_bytes()
        {
            let start = *self.resident_start.get_or_insert(now);
            if now.saturating_sub(start) > self.limits.memory_bytes {
                return Some(memory_error(&self.limits));
            }
        }
        if self.cpu_used() > self.limits.cpu_time {
            return Some(limit_error(
                ErrorKind::Timeout,
                format!(
                    "CPU-time limit of {} ms exceeded",
                    self.limits.cpu_time.as_millis()
                ),
            ));
        }
        None
    }

    fn error_from_tag(&self, tag: u8, message: String) -> StopReason {
        match tag {
            tag::OOM_EXCEPTION => memory_error(&self.limits),
            _ if self.context.hard_memory_limit_reached() => memory_error(&self.limits),
            tag::PARSE_EXCEPTION => StopReason {
                error: WorkerError::new(ErrorKind::Compile, message),
                terminate: false,
            },
            tag::TIMEOUT_EXCEPTION | tag::TERMINATED_EXCEPTION => limit_error(
                ErrorKind::Timeout,
                format!("execution was terminated: {message}"),
            ),
            _ => StopReason {
                error: WorkerError::new(ErrorKind::Runtime, message),
                terminate: false,
            },
        }
    }

    /// Handles a batch of runtime messages: host calls are answered (queued
    /// as evaluations), timers armed, and the first wanted message returned.
    fn handle_messages(
        &mut self,
        text: &str,
        wanted: &impl Fn(&Message) -> bool,
    ) -> Result<Option<Message>, StopReason> {
        let messages: Vec<Message> = serde_json::from_str(text).map_err(|e| {
            limit_error(
                ErrorKind::Runtime,
                format!("the runtime sent an unreadable message: {e}"),
            )
        })?;
        let mut found = None;
        for (index, message) in messages.into_iter().enumerate() {
            if index % DEADLINE_CHECK_EVERY == DEADLINE_CHECK_EVERY - 1 {
                self.check_deadline()?;
            }
            match message {
                Message::Call {
                    inv,
                    id,
                    name,
                    args,
                } => self.on_call(inv, id, &name, &args)?,
                Message::Timer { inv, id, ms } => self.on_timer(inv, id, ms)?,
                message if found.is_none() && wanted(&message) => found = Some(message),
                _ => {}
            }
        }
        Ok(found)
    }

    fn check_deadline(&mut self) -> Result<(), StopReason> {
        if Instant::now() >= self.deadline {
            return Err(limit_error(
                ErrorKind::Timeout,
                format!(
                    "wall-time limit of {} ms exceeded",
                    self.limits.wall_time.as_millis()
                ),
            ));
        }
        match self.check_limits() {
            Some(stop) => Err(stop),
            None => Ok(()),
        }
    }

    /// A binding call: only of the invocation being driven, only to granted
    /// bindings, bounded in size and number.
    fn on_call(&mut self, inv: u64, id: u64, name: &str, args: &str) -> Result<(), StopReason> {
        if self.invocation != Some(inv) {
            return Ok(());
        }
        self.calls_made += 1;
        if self.calls_made > MAX_HOST_CALLS {
            return Err(limit_error(
                ErrorKind::Runtime,
                format!("the Worker made more than {MAX_HOST_CALLS} binding calls in one request"),
            ));
        }
        // The granted names, looked up only when a call arrives.
        let answer = if !self.host.bindings().iter().any(|b| b == name) {
            Err(format!("binding '{name}' is not granted to this Worker"))
        } else if args.len() > MAX_CALL_ARGS {
            Err(format!(
                "binding '{name}': the arguments are larger than {MAX_CALL_ARGS} bytes"
            ))
        } else {
            self.host.call(name, args)
        };
        let answer = match answer {
            Ok(value) => serde_json::json!({"inv": inv, "id": id, "ok": true, "value": value}),
            Err(error) => serde_json::json!({"inv": inv, "id": id, "ok": false, "error": error}),
        };
        let code = self
            .sealed
            .entry("settle", &js_literal(&answer.to_string()));
        self.queue.push_back(code);
        Ok(())
    }

    /// A timer: only of the invocation being driven, bounded in number.
    fn on_timer(&mut self, inv: u64, id: u64, ms: u64) -> Result<(), StopReason> {
        if self.invocation != Some(inv) {
            return Ok(());
        }
        if self.timers.len() >= MAX_PENDING_TIMERS {
            return Err(limit_error(
                ErrorKind::Runtime,
                format!("the Worker set more than {MAX_PENDING_TIMERS} pending timers"),
            ));
        }
        self.timers.push(Reverse(Timer {
            due: Instant::now() + Duration::from_millis(ms.min(MAX_TIMER_MS)),
            inv,
            id,
        }));
        Ok(())
    }
}

/// This process's resident memory, from `/proc/self/statm` (pages of 4 KiB
/// on the x86_64 hosts sandboxes run on).
fn resident_bytes() -> Option<u64> {
    const PAGE: u64 = 4096;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * PAGE)
}

/// Text as a JS string literal (JSON strings are valid JS literals since
/// ES2019). The runtime parses JSON texts with the `JSON.parse` it captured;
/// the host's code never calls anything Worker code could have replaced.
pub(crate) fn js_literal(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}
