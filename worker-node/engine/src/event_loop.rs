//! The loop that drives one load or invocation of an isolate: it starts one
//! evaluation at a time, drains the messages `runtime.js` posts (through the
//! mailbox or as an evaluation's result), answers host calls, fires timers,
//! and stops at the wall-time, CPU-time or memory limit.

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
use crate::ffi::tag;
use crate::types::ErrorKind;
use crate::types::HostFunctions;
use crate::types::Limits;
use crate::types::LogLine;
use crate::types::WorkerError;

/// How often a running invocation is checked against its CPU and memory limits.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

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
    limits: Limits,
    host: &'a dyn HostFunctions,
    deadline: Instant,
    cpu_start: Option<Duration>,
    /// Code waiting to be evaluated, in order.
    queue: VecDeque<String>,
    in_flight: Option<TaskId>,
    /// The mailbox had more than one look could take: drain it by evaluation.
    drain_wanted: bool,
    timers: BinaryHeap<Reverse<Timer>>,
    last_poll: Instant,
}

impl<'a> EventLoop<'a> {
    /// A loop over `context` under `limits`, answering host calls with `host`.
    pub fn new(context: &'a RawContext, limits: Limits, host: &'a dyn HostFunctions) -> Self {
        let now = Instant::now();
        EventLoop {
            context,
            limits,
            host,
            deadline: now + limits.wall_time,
            cpu_start: context.isolate_cpu_time(),
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
        let cpu_used = match (self.cpu_start, self.context.isolate_cpu_time()) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => Duration::ZERO,
        };
        Finished {
            result,
            in_flight: self.in_flight,
            cpu_used,
        }
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
            self.in_flight = Some(self.context.eval("__edge.drain()"));
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
            self.queue
                .push_back(format!("__edge.fire({}, {})", timer.inv, timer.id));
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
        if let (Some(start), Some(used)) = (self.cpu_start, self.context.isolate_cpu_time())
            && used.saturating_sub(start) > self.limits.cpu_time
        {
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
        for message in messages {
            match &message {
                Message::Call {
                    inv,
                    id,
                    name,
                    args,
                } => self.answer_call(*inv, *id, name, args),
                Message::Timer { inv, id, ms } => self.timers.push(Reverse(Timer {
                    due: Instant::now() + Duration::from_millis(*ms),
                    inv: *inv,
                    id: *id,
                })),
                _ if found.is_none() && wanted(&message) => found = Some(message),
                _ => {}
            }
        }
        Ok(found)
    }

    fn answer_call(&mut self, inv: u64, id: u64, name: &str, args: &str) {
        let answer = match self.host.call(name, args) {
            Ok(value) => serde_json::json!({"inv": inv, "id": id, "ok": true, "value": value}),
            Err(error) => serde_json::json!({"inv": inv, "id": id, "ok": false, "error": error}),
        };
        self.queue.push_back(format!(
            "__edge.settle({})",
            js_literal(&answer.to_string())
        ));
    }
}

/// JSON text as a JS string literal (JSON strings are valid JS literals since
/// ES2019), so the runtime parses it with `JSON.parse` on its side.
pub(crate) fn js_literal(json: &str) -> String {
    format!("JSON.parse({})", serde_json::Value::String(json.to_owned()))
}
