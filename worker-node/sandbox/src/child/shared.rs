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

use bytes::BytesMut;
use edge_engine::ErrorKind;
use edge_engine::Isolate;
use edge_engine::Limits;
use edge_engine::WorkerError;
use parking_lot::Mutex;
use tokio_util::codec::Encoder;

use super::ChildOptions;
use crate::protocol::FrameCodec;
use crate::protocol::FromSandbox;
use crate::protocol::MAX_REPLY_FRAME;
use crate::protocol::Reply;

/// Exit code: the socket could not be duplicated for writing.
const EXIT_NO_WRITER: i32 = 67;
/// Exit code: a message could not be encoded, nor a stand-in for it (a
/// bug; nothing is ever sent half).
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
    /// V8 heap measured after the latest load, bytes (0: none yet): what
    /// the next load reports while its own is measured after the answer.
    pub last_load_heap: AtomicU64,
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
            last_load_heap: AtomicU64::new(0),
            options,
        }
    }

    /// Sends one message to the supervisor, whole. A reply too large for the
    /// supervisor to take becomes an `output_too_large` error.
    pub fn send(&self, id: u64, reply: Reply) {
        let stand_in = too_large_stand_in(&reply);
        let frame = encode_reply(id, reply)
            .or_else(|_| match stand_in {
                Some(stand_in) => encode_reply(id, stand_in),
                None => Err(()),
            })
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

/// The frame of one reply, if it fits what the supervisor takes.
fn encode_reply(id: u64, reply: Reply) -> Result<BytesMut, ()> {
    let mut frame = BytesMut::new();
    FrameCodec::<(), FromSandbox>::with_max_frame(MAX_REPLY_FRAME)
        .encode(FromSandbox { id, reply }, &mut frame)
        .map_err(|_| ())?;
    Ok(frame)
}

/// What to send instead of a reply too large to send.
fn too_large_stand_in(reply: &Reply) -> Option<Reply> {
    let error = || {
        WorkerError::new(
            ErrorKind::OutputTooLarge,
            format!("the reply is larger than the {MAX_REPLY_FRAME} bytes a sandbox may send"),
        )
    };
    match reply {
        Reply::Invoked(_) => Some(Reply::Invoked(super::serve::failed_outcome(error()))),
        Reply::Loaded(_) => Some(Reply::Loaded(Err(error()))),
        _ => None,
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
