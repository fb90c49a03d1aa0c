//! The sandbox's main loop: reads the supervisor's requests and hands each
//! to the isolate thread it concerns, or answers it at once.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use edge_engine::Bundle;
use edge_engine::ErrorKind;
use edge_engine::Invocation;
use edge_engine::Limits;
use edge_engine::Outcome;
use edge_engine::WorkerError;

use super::probe;
use super::shared::Shared;
use super::slot;
use super::slot::SlotCmd;
use crate::protocol::BlockingReader;
use crate::protocol::Reply;
use crate::protocol::Request;
use crate::protocol::ToSandbox;

/// Serves requests until the supervisor closes the socket. Never returns.
pub(super) fn serve(socket: UnixStream, shared: Arc<Shared>, refill: mpsc::Sender<()>) -> ! {
    let mut reader = BlockingReader::<_, ToSandbox>::new(socket);
    let mut server = Server {
        shared,
        refill,
        slots: HashMap::new(),
    };
    loop {
        match reader.next_message() {
            Ok(Some(message)) => server.dispatch(message),
            // The supervisor closed the socket or sent garbage: stop at once.
            Ok(None) | Err(_) => std::process::exit(0),
        }
    }
}

struct Server {
    shared: Arc<Shared>,
    refill: mpsc::Sender<()>,
    /// Each isolate's thread, by isolate id.
    slots: HashMap<u64, mpsc::Sender<SlotCmd>>,
}

impl Server {
    fn dispatch(&mut self, message: ToSandbox) {
        let id = message.id;
        match message.request {
            Request::Load {
                isolate,
                limits,
                bundle,
            } => self.load(id, isolate, limits, bundle),
            Request::Invoke {
                isolate,
                invocation,
                bindings,
                wall_cap_ms,
            } => {
                let wall_cap = wall_cap_ms.map(|ms| Duration::from_millis(u64::from(ms)));
                self.invoke(id, isolate, invocation, bindings, wall_cap)
            }
            Request::Unload { isolate } => match self.slots.remove(&isolate) {
                Some(slot) if slot.send(SlotCmd::Unload { id }).is_ok() => {}
                _ => self.shared.send(id, Reply::Unloaded),
            },
            Request::HeapUsed { isolate } => {
                let sent = self
                    .slots
                    .get(&isolate)
                    .map(|slot| slot.send(SlotCmd::HeapUsed { id }).is_ok());
                if sent != Some(true) {
                    self.shared.send(id, Reply::HeapUsed(None));
                }
            }
            Request::Ping => self.shared.send(
                id,
                Reply::Pong {
                    isolates: self.shared.live_isolates.load(Ordering::Relaxed) as u32,
                    prewarmed: self.shared.prewarmed_count() as u32,
                },
            ),
            Request::HostReply { call, result } => {
                let waiter = self.shared.host_calls.lock().remove(&call);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(result);
                }
            }
            Request::Probe(request) => self.shared.send(id, probe::run(&request)),
        }
    }

    /// Starts a thread for the isolate (replacing one of the same id) and
    /// hands it the load.
    fn load(&mut self, id: u64, isolate: u64, limits: Limits, bundle: Bundle) {
        if let Some(old) = self.slots.remove(&isolate) {
            let _ = old.send(SlotCmd::Unload { id: 0 });
        }
        let (tx, rx) = mpsc::channel();
        let shared = self.shared.clone();
        let refill = self.refill.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("isolate-{isolate}"))
            .spawn(move || slot::run(isolate, shared, refill, rx));
        if spawned.is_err() {
            let error = WorkerError::new(
                ErrorKind::Crashed,
                "the sandbox cannot start another thread",
            );
            self.shared.send(id, Reply::Loaded(Err(error)));
            return;
        }
        let _ = tx.send(SlotCmd::Load { id, limits, bundle });
        self.slots.insert(isolate, tx);
    }

    fn invoke(
        &mut self,
        id: u64,
        isolate: u64,
        invocation: Invocation,
        bindings: Vec<String>,
        wall_cap: Option<Duration>,
    ) {
        let cmd = SlotCmd::Invoke {
            id,
            invocation,
            bindings,
            wall_cap,
        };
        let sent = self.slots.get(&isolate).map(|slot| slot.send(cmd).is_ok());
        if sent != Some(true) {
            self.slots.remove(&isolate);
            let error = WorkerError::new(
                ErrorKind::NotFound,
                format!("isolate {isolate} is not loaded"),
            );
            self.shared.send(id, Reply::Invoked(failed_outcome(error)));
        }
    }
}

/// An outcome that is only an error.
pub(super) fn failed_outcome(error: WorkerError) -> Outcome {
    Outcome {
        result: Err(error),
        logs: Vec::new(),
        stats: Default::default(),
    }
}
