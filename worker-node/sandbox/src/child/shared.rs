//! What the sandbox's threads share: the socket's writing end, the
//! pre-warmed isolates and the binding calls waiting for the supervisor.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use edge_engine::Isolate;
use edge_engine::Limits;
use parking_lot::Mutex;

use super::ChildOptions;
use crate::protocol::FromSandbox;
use crate::protocol::Reply;
use crate::protocol::encode_frame;

/// Exit code: the socket could not be duplicated for writing.
const EXIT_NO_WRITER: i32 = 67;
/// Exit code: a message could not be encoded (a bug; never sent half).
const EXIT_ENCODE: i32 = 70;

/// State shared by the reader, the isolate threads and the refill thread.
pub(super) struct Shared {
    out: Mutex<UnixStream>,
    prewarmed: Mutex<Vec<Isolate>>,
    /// Binding calls waiting for the supervisor's answer, by call id.
    pub host_calls: Mutex<HashMap<u64, mpsc::Sender<Result<String, String>>>>,
    /// The next binding call's id.
    pub next_call: AtomicU64,
    /// Isolates assigned to Workers (not counting pre-warmed ones).
    pub live_isolates: AtomicUsize,
    /// The options the sandbox was started with.
    pub options: ChildOptions,
}

impl Shared {
    pub fn new(socket: &UnixStream, prewarmed: Vec<Isolate>, options: ChildOptions) -> Self {
        let out = socket
            .try_clone()
            .unwrap_or_else(|_| std::process::exit(EXIT_NO_WRITER));
        Shared {
            out: Mutex::new(out),
            prewarmed: Mutex::new(prewarmed),
            host_calls: Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(1),
            live_isolates: AtomicUsize::new(0),
            options,
        }
    }

    /// Sends one message to the supervisor, whole.
    pub fn send(&self, id: u64, reply: Reply) {
        let frame = encode_frame::<(), _>(FromSandbox { id, reply })
            .unwrap_or_else(|_| std::process::exit(EXIT_ENCODE));
        if self.out.lock().write_all(&frame).is_err() {
            // The supervisor is gone; nothing here outlives it.
            std::process::exit(0);
        }
    }

    pub fn prewarmed_count(&self) -> usize {
        self.prewarmed.lock().len()
    }

    pub fn take_prewarmed(&self) -> Option<Isolate> {
        self.prewarmed.lock().pop()
    }
}

/// Starts the thread that tops up the pre-warmed isolates whenever it is
/// poked (after each one is taken).
pub(super) fn spawn_refill(shared: Arc<Shared>) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    let _ = std::thread::Builder::new()
        .name("prewarm".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                refill(&shared);
            }
        });
    let _ = tx.send(());
    tx
}

fn refill(shared: &Shared) {
    loop {
        let live = shared.live_isolates.load(Ordering::Relaxed);
        let warm = shared.prewarmed_count();
        if warm >= shared.options.prewarm || live + warm >= shared.options.max_isolates {
            return;
        }
        match Isolate::new(Limits::default()) {
            Ok(isolate) => shared.prewarmed.lock().push(isolate),
            Err(_) => return,
        }
    }
}
