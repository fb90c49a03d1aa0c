//! One isolate's thread: loads its Worker, runs invocations, watches the
//! isolate between them, and brings the Worker back in a fresh isolate
//! after one was disposed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant;

use edge_engine::Bundle;
use edge_engine::ErrorKind;
use edge_engine::Invocation;
use edge_engine::Isolate;
use edge_engine::Limits;
use edge_engine::LoadReport;
use edge_engine::WorkerError;

use super::host::RemoteHost;
use super::serve::failed_outcome;
use super::shared::Shared;
use crate::protocol::Loaded;
use crate::protocol::Reply;

/// How long an isolate may sit after an invocation before it is checked for
/// CPU still burning (a promise-job loop that outlived its handler).
const IDLE_PROBE_AFTER: Duration = Duration::from_millis(20);
/// Share of one core an idle isolate's thread may use before it counts as burning.
const BURNING_SHARE: f64 = 0.5;
/// CPU an isolate may use in a window after its result without being suspect.
const POST_RESULT_CPU: Duration = Duration::from_millis(1);
/// Consecutive busy windows after which an isolate is disposed regardless.
const MAX_BUSY_WINDOWS: u32 = 10;
/// Invocations between heap checks of a busy isolate (a quiet one is
/// checked whenever it falls idle): a check costs about 0.5 ms of the
/// isolate's thread, a collection a few ms.
const HEAP_CHECK_EVERY: u32 = 1000;
/// How long a binding call may wait when no Worker limits are known.
const DEFAULT_HOST_WAIT: Duration = Duration::from_secs(30);

/// What the reader hands an isolate's thread.
pub(super) enum SlotCmd {
    /// Load this Worker (the first command a slot gets).
    Load {
        id: u64,
        limits: Limits,
        bundle: Bundle,
    },
    /// Run one invocation.
    Invoke {
        id: u64,
        invocation: Invocation,
        bindings: Vec<String>,
        /// The caller's deadline, when nearer than the Worker's wall time.
        wall_cap: Option<Duration>,
    },
    /// Measure the heap now.
    HeapUsed { id: u64 },
    /// Drop the isolate and end the thread (`id` 0: answer nobody).
    Unload { id: u64 },
}

/// The thread's `main`.
pub(super) fn run(
    isolate_id: u64,
    shared: Arc<Shared>,
    refill: mpsc::Sender<()>,
    commands: mpsc::Receiver<SlotCmd>,
) {
    shared.live_isolates.fetch_add(1, Ordering::Relaxed);
    let mut slot = Slot {
        isolate_id,
        shared: shared.clone(),
        refill: refill.clone(),
        isolate: None,
        worker: None,
        watch: None,
        last_heap: 0,
        calls_since_heap: 0,
    };
    loop {
        let cmd = match slot.next_command(&commands) {
            Next::Command(cmd) => Some(cmd),
            Next::Quiet => None,
            Next::Closed => break,
        };
        slot.judge_watch(cmd.is_some());
        let Some(cmd) = cmd else {
            if slot.watch.is_none() {
                slot.check_heap();
            }
            continue;
        };
        let carry_on = match cmd {
            SlotCmd::Load { id, limits, bundle } => slot.load(id, limits, bundle),
            SlotCmd::Invoke {
                id,
                invocation,
                bindings,
                wall_cap,
            } => {
                slot.invoke(id, &invocation, bindings, wall_cap);
                true
            }
            SlotCmd::HeapUsed { id } => {
                let heap = slot.isolate.as_ref().and_then(Isolate::heap_stats);
                if let Some(heap) = heap {
                    slot.last_heap = heap.used_heap_size;
                }
                shared.send(id, Reply::HeapUsed(heap.map(|h| h.used_heap_size)));
                true
            }
            SlotCmd::Unload { id } => {
                slot.isolate.take();
                if id != 0 {
                    shared.send(id, Reply::Unloaded);
                }
                false
            }
        };
        if !carry_on {
            break;
        }
    }
    drop(slot);
    shared.live_isolates.fetch_sub(1, Ordering::Relaxed);
    let _ = refill.send(());
}

enum Next {
    Command(SlotCmd),
    /// The watch window passed with no command.
    Quiet,
    /// The reader is gone.
    Closed,
}

struct Slot {
    isolate_id: u64,
    shared: Arc<Shared>,
    refill: mpsc::Sender<()>,
    /// The live isolate; `None` after it was disposed (the Worker comes back
    /// on the next invocation).
    isolate: Option<Isolate>,
    /// The Worker this slot serves and its limits.
    worker: Option<(Bundle, Limits)>,
    /// After an invocation, until its isolate is seen idle.
    watch: Option<Watch>,
    /// V8 heap in use as last measured (after the load, or while idle).
    last_heap: u64,
    /// Invocations since the heap was last checked.
    calls_since_heap: u32,
}

impl Slot {
    fn next_command(&self, commands: &mpsc::Receiver<SlotCmd>) -> Next {
        if self.watch.is_none() {
            return commands.recv().map_or(Next::Closed, Next::Command);
        }
        match commands.recv_timeout(IDLE_PROBE_AFTER) {
            Ok(cmd) => Next::Command(cmd),
            Err(mpsc::RecvTimeoutError::Timeout) => Next::Quiet,
            Err(mpsc::RecvTimeoutError::Disconnected) => Next::Closed,
        }
    }

    /// Judges the isolate after its invocation; one still burning CPU is
    /// disposed. A command that arrived meanwhile ends the watch: the next
    /// invocation's own limits take over.
    fn judge_watch(&mut self, command_arrived: bool) {
        let (Some(watching), Some(live)) = (self.watch.take(), self.isolate.as_ref()) else {
            return;
        };
        match watching.judge(live) {
            Verdict::Idle if self.calls_since_heap >= HEAP_CHECK_EVERY => self.check_heap(),
            Verdict::Idle => {}
            Verdict::Busy(next) if !command_arrived => self.watch = Some(next),
            Verdict::Busy(_) => {}
            Verdict::Dispose(reason) => {
                self.isolate = None; // frees the context, terminating its JavaScript
                self.shared.send(
                    0,
                    Reply::Disposed {
                        isolate: self.isolate_id,
                        reason,
                    },
                );
            }
        }
    }

    /// Seen idle: measures the heap now, off any request's path (asking V8
    /// costs a round trip to the isolate's thread), and collects garbage
    /// when the heap is past half its limit (see `Isolate::collect_garbage`).
    fn check_heap(&mut self) {
        self.calls_since_heap = 0;
        let Some(isolate) = self.isolate.as_ref() else {
            return;
        };
        let Some(heap) = isolate.heap_stats() else {
            return;
        };
        self.last_heap = heap.used_heap_size;
        if heap.used_heap_size > isolate.limits().memory_bytes / 2 {
            isolate.collect_garbage();
            if let Some(after) = isolate.heap_stats() {
                self.last_heap = after.used_heap_size;
            }
        }
    }

    /// An isolate with `bundle` loaded under `limits`: a pre-warmed one when
    /// there is one, else a new one. Also says whether it was pre-warmed.
    /// The caller pokes the refill thread once it has answered.
    fn fresh_loaded(
        &self,
        bundle: &Bundle,
        limits: Limits,
    ) -> Result<(Isolate, LoadReport, bool), WorkerError> {
        let (mut fresh, prewarmed) = match self.shared.take_prewarmed() {
            Some(isolate) => (isolate, true),
            None => (
                Isolate::new(limits)
                    .map_err(|e| WorkerError::new(ErrorKind::Crashed, e.to_string()))?,
                false,
            ),
        };
        fresh.set_limits(limits);
        // One tenant per sandbox: its growth is this tenant's, and stopping the
        // Worker beats the cgroup killing all of them.
        fresh.watch_process_memory(self.shared.options.memory_watch);
        let report = fresh.load(bundle)?;
        Ok((fresh, report, prewarmed))
    }

    /// Loads the slot's Worker; false if it failed (the slot then ends).
    ///
    /// The answer goes out before the heap is measured and before the
    /// pre-warmed isolate taken is replaced: both cost milliseconds of CPU
    /// the caller need not wait for. A sandbox's first load waits for its
    /// measurement; later ones report the previous load's figure, and the
    /// Worker's first invocation (queued behind the measurement) reports
    /// its own.
    fn load(&mut self, id: u64, limits: Limits, bundle: Bundle) -> bool {
        let started = Instant::now();
        match self.fresh_loaded(&bundle, limits) {
            Ok((fresh, report, prewarmed)) => {
                let known = self.shared.last_load_heap.load(Ordering::Relaxed);
                let measured = (known == 0).then(|| heap_of(&fresh));
                let loaded = Loaded {
                    load_ms: started.elapsed().as_secs_f64() * 1e3,
                    logs: report.logs,
                    heap_used_bytes: measured.unwrap_or(known),
                    prewarmed,
                };
                self.shared.send(id, Reply::Loaded(Ok(loaded)));
                let heap = measured.unwrap_or_else(|| heap_of(&fresh));
                self.last_heap = heap;
                if heap > 0 {
                    self.shared.last_load_heap.store(heap, Ordering::Relaxed);
                }
                self.isolate = Some(fresh);
                self.worker = Some((bundle, limits));
                let _ = self.refill.send(());
                true
            }
            Err(error) => {
                self.shared.send(id, Reply::Loaded(Err(error)));
                let _ = self.refill.send(());
                false
            }
        }
    }

    /// Brings the Worker back in a fresh isolate after one was disposed;
    /// returns how long that took.
    fn revive(&mut self) -> Result<f64, WorkerError> {
        let Some((bundle, limits)) = &self.worker else {
            return Ok(0.0);
        };
        let started = Instant::now();
        let fresh = self.fresh_loaded(bundle, *limits);
        let _ = self.refill.send(());
        self.isolate = Some(fresh?.0);
        Ok(started.elapsed().as_secs_f64() * 1e3)
    }

    fn invoke(
        &mut self,
        id: u64,
        invocation: &Invocation,
        bindings: Vec<String>,
        wall_cap: Option<Duration>,
    ) {
        let host = RemoteHost {
            shared: self.shared.clone(),
            request: id,
            bindings,
            wait: self
                .worker
                .as_ref()
                .map(|(_, l)| l.wall_time)
                .unwrap_or(DEFAULT_HOST_WAIT),
        };
        let mut reload_ms = 0.0;
        if self.isolate.is_none() {
            match self.revive() {
                Ok(ms) => reload_ms = ms,
                Err(error) => {
                    self.shared.send(id, Reply::Invoked(failed_outcome(error)));
                    return;
                }
            }
        }
        let Some(live) = self.isolate.as_mut() else {
            let error =
                WorkerError::new(ErrorKind::NotFound, "no Worker is loaded in this isolate");
            self.shared.send(id, Reply::Invoked(failed_outcome(error)));
            return;
        };
        let mut outcome = live.invoke_within(invocation, &host, wall_cap);
        outcome.stats.load_ms += reload_ms;
        if outcome.stats.heap_used_bytes == 0 {
            outcome.stats.heap_used_bytes = self.last_heap;
        }
        self.shared.send(id, Reply::Invoked(outcome));
        self.watch = Watch::start(live);
        self.calls_since_heap += 1;
    }
}

/// The V8 heap `isolate` uses now, bytes (0 if it did not answer).
fn heap_of(isolate: &Isolate) -> u64 {
    isolate.heap_stats().map_or(0, |h| h.used_heap_size)
}

/// Watching an isolate after its invocation: its thread should fall idle,
/// since JavaScript only runs when the host asks. One that keeps using CPU
/// (a promise-job loop that outlived its handler) is disposed.
struct Watch {
    since: Instant,
    cpu_then: Duration,
    /// Windows already seen busy.
    busy_windows: u32,
}

enum Verdict {
    Idle,
    /// Used CPU, but not enough to condemn it yet: watch another window.
    Busy(Watch),
    Dispose(String),
}

impl Watch {
    fn start(isolate: &Isolate) -> Option<Watch> {
        Some(Watch {
            since: Instant::now(),
            cpu_then: isolate.isolate_cpu_time()?,
            busy_windows: 0,
        })
    }

    fn judge(self, isolate: &Isolate) -> Verdict {
        let Some(now) = isolate.isolate_cpu_time() else {
            return Verdict::Idle;
        };
        let elapsed = self.since.elapsed();
        let cpu = now.saturating_sub(self.cpu_then);
        // A few microseconds of promise-job bookkeeping after the result are
        // normal; no need to wake the isolate with a probe.
        if cpu < POST_RESULT_CPU {
            return Verdict::Idle;
        }
        let burning = elapsed >= IDLE_PROBE_AFTER / 2
            && cpu.as_secs_f64() >= elapsed.as_secs_f64() * BURNING_SHARE;
        // On a loaded machine a spinning thread may get less than its share
        // in any one window, but it never falls idle: that is enough too.
        if burning || self.busy_windows + 1 >= MAX_BUSY_WINDOWS {
            return Verdict::Dispose(format!(
                "its thread kept running after the invocation ({:.1} ms CPU in {:.1} ms)",
                cpu.as_secs_f64() * 1e3,
                elapsed.as_secs_f64() * 1e3
            ));
        }
        Verdict::Busy(Watch {
            since: Instant::now(),
            cpu_then: now,
            busy_windows: self.busy_windows + 1,
        })
    }
}
