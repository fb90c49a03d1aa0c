//! All of the engine's unsafe code: every declaration of the
//! mini-racer C ABI (see DESIGN.md, "The V8 engine").
//!
//! The library is opened with `dlopen(RTLD_NOW | RTLD_LOCAL)` and never linked,
//! because it exports its own `malloc`/`free`, which must not replace ours.
//!
//! Model: each [`RawContext`] is one V8 isolate with its own thread inside the
//! library. Evaluations are asynchronous tasks whose results, like the JS
//! "notify" function's calls, arrive on one process-wide C callback on the
//! isolate's thread. That callback does nothing but route the raw value to the
//! owning context's channel, so the isolate thread is never held up by us.

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::CStr;
use std::ffi::CString;
use std::ffi::c_char;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::AtomicI32;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use libloading::os::unix::Library;
use libloading::os::unix::RTLD_LOCAL;
use libloading::os::unix::RTLD_NOW;
use parking_lot::Mutex;
use parking_lot::MutexGuard;

/// The V8 flags every isolate of this process shares. `--single-threaded`
/// keeps each isolate's GC and compilers on its own thread, so an isolate costs
/// one thread and CPU time per isolate is measurable on that thread.
const V8_FLAGS: &str = "--single-threaded";
/// How long a fresh isolate may take to hand over its global object.
const FRESH_ISOLATE_TIMEOUT: Duration = Duration::from_secs(30);

/// Failure to bring up the engine itself (not a Worker's fault).
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(
        "V8 library not found at {}: build the edge-engine crate (its build fetches mini-racer==0.14.1 with pip) or set EDGE_V8_DIR to a directory holding libmini_racer.so and icudtl.dat",
        .0.display()
    )]
    /// The library or its ICU data is not where it was looked for.
    LibraryMissing(PathBuf),
    #[error("cannot load {}: {reason}", path.display())]
    /// `dlopen` refused the library.
    LibraryLoad {
        /// The library's path.
        path: PathBuf,
        /// What `dlopen` said.
        reason: String,
    },
    #[error("{0} lacks symbol {1}: is it the mini-racer 0.14.1 build?")]
    /// The library lacks a function of the ABI.
    SymbolMissing(PathBuf, &'static str),
    #[error("V8 refused to create an isolate")]
    /// V8 could not create an isolate.
    ContextCreation,
    #[error("setting up a fresh isolate failed: {0}")]
    /// The web APIs or runtime did not evaluate in a fresh isolate.
    Setup(String),
}

/// The layout of mini-racer's value handle: `{ union value; size_t len; uint8_t type }`, packed.
#[repr(C, packed)]
struct RawValue {
    value: u64,
    len: usize,
    kind: u8,
}

type RawHandle = *mut RawValue;
type Callback = extern "C" fn(u64, RawHandle);

/// Value type tags of the ABI (`_objects.py`).
pub(crate) mod tag {
    pub const NULL: u8 = 1;
    pub const BOOL: u8 = 2;
    pub const INTEGER: u8 = 3;
    pub const DOUBLE: u8 = 4;
    pub const STRING: u8 = 5;
    pub const UNDEFINED: u8 = 11;
    pub const SHARED_ARRAY_BUFFER: u8 = 101;
    pub const PARSE_EXCEPTION: u8 = 201;
    pub const OOM_EXCEPTION: u8 = 202;
    pub const TIMEOUT_EXCEPTION: u8 = 203;
    pub const TERMINATED_EXCEPTION: u8 = 204;
}

/// A JS value copied out of a handle: scalars and strings by value, anything
/// else only by its tag (we never hold V8 objects on the Rust side).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsValue {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// An exception or termination: the tag and V8's message.
    Error {
        tag: u8,
        message: String,
    },
    /// A value of another type (object, function, promise, ...).
    Other(u8),
    /// A string longer than the context's cap ([`RawContext::set_max_string`]),
    /// left uncopied: its length in bytes.
    Oversized(usize),
}

struct Api {
    init_v8: unsafe extern "C" fn(*const c_char, *const c_char),
    init_context: unsafe extern "C" fn(Callback) -> u64,
    eval: unsafe extern "C" fn(u64, RawHandle, u64) -> u64,
    free_value: unsafe extern "C" fn(u64, RawHandle),
    alloc_string_val: unsafe extern "C" fn(u64, *const c_char, u64, u8) -> RawHandle,
    free_context: unsafe extern "C" fn(u64),
    context_count: unsafe extern "C" fn() -> usize,
    cancel_task: unsafe extern "C" fn(u64, u64),
    heap_stats: unsafe extern "C" fn(u64) -> RawHandle,
    make_js_callback: unsafe extern "C" fn(u64, u64) -> RawHandle,
    set_object_item: unsafe extern "C" fn(u64, RawHandle, RawHandle, RawHandle) -> RawHandle,
    set_hard_memory_limit: unsafe extern "C" fn(u64, usize),
    low_memory_notification: unsafe extern "C" fn(u64),
    hard_memory_limit_reached: unsafe extern "C" fn(u64) -> bool,
    v8_version: unsafe extern "C" fn() -> *const c_char,
}

/// The loaded, initialised engine. One per process, never unloaded.
pub struct V8 {
    api: Api,
    version: String,
}

static ENGINE: OnceLock<Result<V8, EngineError>> = OnceLock::new();

/// Where the library lives: `EDGE_V8_DIR` if set, else where the build put it.
pub fn library_dir() -> PathBuf {
    match std::env::var_os("EDGE_V8_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("EDGE_V8_BUILD_DIR")),
    }
}

impl V8 {
    /// The process's engine, loading and initialising V8 from
    /// [`library_dir`] on first use.
    pub fn get() -> Result<&'static V8, EngineError> {
        V8::start(&library_dir())
    }

    /// The process's engine, loading and initialising V8 from `dir` on first
    /// use. V8 starts once per process: a later call returns the engine the
    /// first one started, whatever `dir` it names. Sandboxes start with an
    /// empty environment and are told the directory explicitly.
    pub fn start(dir: &Path) -> Result<&'static V8, EngineError> {
        ENGINE
            .get_or_init(|| V8::load(dir))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn load(dir: &Path) -> Result<V8, EngineError> {
        let lib_path = dir.join("libmini_racer.so");
        let icu_path = dir.join("icudtl.dat");
        for path in [&lib_path, &icu_path] {
            if !path.is_file() {
                return Err(EngineError::LibraryMissing(path.clone()));
            }
        }
        // SAFETY: loading runs the library's static initialisers; mini-racer's
        // are self-contained. RTLD_LOCAL keeps its malloc/free out of the global
        // symbol namespace, so they never interpose on the process allocator.
        let lib =
            unsafe { Library::open(Some(&lib_path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
                EngineError::LibraryLoad {
                    path: lib_path.clone(),
                    reason: e.to_string(),
                }
            })?;
        // The library stays loaded for the life of the process: isolate threads
        // run its code until exit, so it must never be unloaded.
        let lib: &'static Library = Box::leak(Box::new(lib));
        macro_rules! symbol {
            ($name:literal) => {
                // SAFETY: the symbol's type is the one `_dll.py` of the pinned
                // wheel declares; the wheel's sha256 is checked by build.rs.
                *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                    .map_err(|_| EngineError::SymbolMissing(lib_path.clone(), $name))?
            };
        }
        let api = Api {
            init_v8: symbol!("mr_init_v8"),
            init_context: symbol!("mr_init_context"),
            eval: symbol!("mr_eval"),
            free_value: symbol!("mr_free_value"),
            alloc_string_val: symbol!("mr_alloc_string_val"),
            free_context: symbol!("mr_free_context"),
            context_count: symbol!("mr_context_count"),
            cancel_task: symbol!("mr_cancel_task"),
            heap_stats: symbol!("mr_heap_stats"),
            make_js_callback: symbol!("mr_make_js_callback"),
            set_object_item: symbol!("mr_set_object_item"),
            set_hard_memory_limit: symbol!("mr_set_hard_memory_limit"),
            low_memory_notification: symbol!("mr_low_memory_notification"),
            hard_memory_limit_reached: symbol!("mr_hard_memory_limit_reached"),
            v8_version: symbol!("mr_v8_version"),
        };
        let flags = CString::new(V8_FLAGS).expect("flags have no NUL");
        let icu = CString::new(icu_path.as_os_str().as_encoded_bytes())
            .map_err(|_| EngineError::LibraryMissing(icu_path.clone()))?;
        // SAFETY: called once per process (guarded by ENGINE's OnceLock) with
        // valid NUL-terminated strings, as the ABI requires.
        unsafe { (api.init_v8)(flags.as_ptr(), icu.as_ptr()) };
        // SAFETY: returns a static NUL-terminated string owned by the library.
        let version = unsafe { CStr::from_ptr((api.v8_version)()) }
            .to_string_lossy()
            .into_owned();
        Ok(V8 { api, version })
    }

    /// The V8 version string, e.g. "14.4.258.23".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many contexts the library holds right now (leak checks).
    pub fn context_count(&self) -> usize {
        // SAFETY: no arguments; reads a counter.
        unsafe { (self.api.context_count)() }
    }
}

/// Which of a context's two callback ids a value arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// The result of the one evaluation in flight.
    EvalResult,
    /// The JS notify function was called.
    Notify,
}

/// A raw handle in transit from the isolate thread to its owner.
struct Delivery {
    channel: Channel,
    handle: RawHandle,
}

// SAFETY: a handle is an opaque pointer into the library's value registry,
// which is thread-safe (`mr_free_value` may be called from any thread; PyMiniRacer
// does so from Python's GC). We only read the plain-data header of the value.
unsafe impl Send for Delivery {}

struct Route {
    channel: Channel,
    tx: mpsc::Sender<Delivery>,
    cpu_clock: Arc<AtomicI32>,
}

/// Callback ids are process-wide, because the C callback carries no context.
static ROUTES: OnceLock<Mutex<HashMap<u64, Route>>> = OnceLock::new();
static NEXT_CALLBACK_ID: AtomicU64 = AtomicU64::new(1);
static CREATING: Mutex<()> = Mutex::new(());

fn routes() -> MutexGuard<'static, HashMap<u64, Route>> {
    ROUTES.get_or_init(Default::default).lock()
}

/// CPU time the calling thread has used (the host's share of a Worker's
/// work: parsing its messages, answering its calls).
pub(crate) fn current_thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid out-pointer and CLOCK_THREAD_CPUTIME_ID is
    // always a valid clock for the calling thread.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    (rc == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

/// The CPU-time clock of the calling thread (0 if unavailable; real clock
/// ids of threads are negative on Linux).
fn current_thread_cpu_clock() -> i32 {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: pthread_self has no preconditions and `clock` is a valid
    // out-pointer for pthread_getcpuclockid.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    if rc == 0 { clock } else { 0 }
}

/// Runs on an isolate's thread for every evaluation result and notification.
/// It must return quickly and never unwind into C.
extern "C" fn on_value(callback_id: u64, handle: RawHandle) {
    let _ = std::panic::catch_unwind(|| {
        let routes = routes();
        if let Some(route) = routes.get(&callback_id) {
            route
                .cpu_clock
                .store(current_thread_cpu_clock(), Ordering::Relaxed);
            // A closed channel means the owner is gone; the library frees the
            // value with its context.
            let _ = route.tx.send(Delivery {
                channel: route.channel,
                handle,
            });
        }
    });
}

/// One V8 isolate with its context and thread, owned by exactly one Rust value.
pub(crate) struct RawContext {
    v8: &'static V8,
    id: u64,
    eval_callback: u64,
    notify_callback: u64,
    rx: mpsc::Receiver<Delivery>,
    cpu_clock: Arc<AtomicI32>,
    mailbox: Option<Mailbox>,
    /// Longest string copied out of the isolate; longer ones are refused
    /// (strings) or cut (exception messages) before any copy is made.
    max_string: AtomicUsize,
}

/// The string cap of a fresh context, until its owner sets one.
const DEFAULT_MAX_STRING: usize = 64 * 1024 * 1024;
/// How much of an over-long exception message is kept.
const MAX_EXCEPTION_MESSAGE: usize = 64 * 1024;

/// An evaluation started with [`RawContext::eval`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskId(u64);

impl RawContext {
    /// Creates an isolate and installs the notify function as the global
    /// `notify_global`.
    pub fn new(v8: &'static V8, notify_global: &str) -> Result<RawContext, EngineError> {
        // V8's process-wide lazy set-up (the allocator's address-space pools)
        // races when the first isolates are created on several threads at
        // once and aborts the process, so creation is serialised.
        let id = {
            let _creating = CREATING.lock();
            // SAFETY: `on_value` matches the callback type and lives forever.
            // Context ids start at 0; creation cannot fail short of aborting.
            unsafe { (v8.api.init_context)(on_value) }
        };
        let (tx, rx) = mpsc::channel();
        let cpu_clock = Arc::new(AtomicI32::new(0));
        let eval_callback = NEXT_CALLBACK_ID.fetch_add(2, Ordering::Relaxed);
        let notify_callback = eval_callback + 1;
        {
            let mut routes = routes();
            for (callback, channel) in [
                (eval_callback, Channel::EvalResult),
                (notify_callback, Channel::Notify),
            ] {
                routes.insert(
                    callback,
                    Route {
                        channel,
                        tx: tx.clone(),
                        cpu_clock: cpu_clock.clone(),
                    },
                );
            }
        }
        let context = RawContext {
            v8,
            id,
            eval_callback,
            notify_callback,
            rx,
            cpu_clock,
            mailbox: None,
            max_string: AtomicUsize::new(DEFAULT_MAX_STRING),
        };
        context.install_notify(notify_global)?;
        Ok(context)
    }

    /// Puts a JS function that notifies us onto the global object. Runs only
    /// on a fresh isolate, whose thread is idle, so the synchronous calls return.
    fn install_notify(&self, name: &str) -> Result<(), EngineError> {
        let api = &self.v8.api;
        self.eval("globalThis");
        let global = match self.rx.recv_timeout(FRESH_ISOLATE_TIMEOUT) {
            Ok(delivery) => delivery.handle,
            Err(_) => return Err(EngineError::ContextCreation),
        };
        // SAFETY: `self.id` is a live context; every handle passed was returned
        // by the library for this context and is freed exactly once below.
        unsafe {
            let function = (api.make_js_callback)(self.id, self.notify_callback);
            let key = self.alloc_string(name);
            let result = (api.set_object_item)(self.id, global, key, function);
            for handle in [result, key, function, global] {
                if !handle.is_null() {
                    (api.free_value)(self.id, handle);
                }
            }
        }
        Ok(())
    }

    fn alloc_string(&self, text: &str) -> RawHandle {
        // SAFETY: the pointer and length describe `text`'s bytes, which the
        // library copies before returning.
        unsafe {
            (self.v8.api.alloc_string_val)(
                self.id,
                text.as_ptr().cast(),
                text.len() as u64,
                tag::STRING,
            )
        }
    }

    /// Starts evaluating `code` as a classic script; the result arrives as
    /// [`Channel::EvalResult`]. At most one evaluation may be in flight.
    pub fn eval(&self, code: &str) -> TaskId {
        let code_handle = self.alloc_string(code);
        // SAFETY: live context and a handle it just allocated; the library keeps
        // its own reference to the code while the task runs, so we free ours.
        unsafe {
            let task = (self.v8.api.eval)(self.id, code_handle, self.eval_callback);
            (self.v8.api.free_value)(self.id, code_handle);
            TaskId(task)
        }
    }

    /// Interrupts the evaluation if it is still running (a terminated
    /// exception is then delivered as its result); ignored if it finished.
    pub fn cancel(&self, task: TaskId) {
        // SAFETY: live context; unknown or finished task ids are ignored.
        unsafe { (self.v8.api.cancel_task)(self.id, task.0) }
    }

    /// Waits for the next value from the isolate.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<(Channel, JsValue)> {
        let delivery = self.rx.recv_timeout(timeout).ok()?;
        Some((delivery.channel, self.take(delivery.handle)))
    }

    /// Copies a value out of its handle and frees the handle.
    fn take(&self, handle: RawHandle) -> JsValue {
        if handle.is_null() {
            return JsValue::Undefined;
        }
        // SAFETY: the handle came from the library for this context and has not
        // been freed; the header is plain data (read unaligned: it is packed),
        // and for string and exception tags `value` points at `len` bytes.
        unsafe {
            let raw = std::ptr::read_unaligned(handle);
            let max = self.max_string.load(Ordering::Relaxed);
            // At most `limit` bytes, cut at a character boundary, copied.
            let bytes = |limit: usize| {
                if raw.value == 0 || raw.len == 0 {
                    String::new()
                } else {
                    let len = raw.len.min(limit);
                    let slice = std::slice::from_raw_parts(raw.value as *const u8, len);
                    let mut text = String::from_utf8_lossy(slice).into_owned();
                    if len < raw.len {
                        text.push_str(&format!("… ({} more bytes cut)", raw.len - len));
                    }
                    text
                }
            };
            let value = match raw.kind {
                tag::UNDEFINED => JsValue::Undefined,
                tag::NULL => JsValue::Null,
                tag::BOOL => JsValue::Bool(raw.value as i64 == 1),
                tag::INTEGER => JsValue::Number(raw.value as i64 as f64),
                tag::DOUBLE => JsValue::Number(f64::from_bits(raw.value)),
                tag::STRING if raw.len > max => JsValue::Oversized(raw.len),
                tag::STRING => JsValue::String(bytes(usize::MAX)),
                200..=206 => JsValue::Error {
                    tag: raw.kind,
                    message: bytes(MAX_EXCEPTION_MESSAGE),
                },
                other => JsValue::Other(other),
            };
            (self.v8.api.free_value)(self.id, handle);
            value
        }
    }

    /// Sets the longest string [`RawContext::recv_timeout`] copies out.
    pub fn set_max_string(&self, bytes: usize) {
        self.max_string.store(bytes, Ordering::Relaxed);
    }

    /// Asks V8 for a full garbage collection on the isolate's thread.
    pub fn low_memory_notification(&self) {
        // SAFETY: live context; the call takes the context id only.
        unsafe { (self.v8.api.low_memory_notification)(self.id) }
    }

    pub fn set_hard_memory_limit(&self, bytes: u64) {
        // SAFETY: live context; the call only stores the limit.
        unsafe { (self.v8.api.set_hard_memory_limit)(self.id, bytes as usize) }
    }

    /// Whether the GC found the heap over the hard limit (and terminated JS).
    pub fn hard_memory_limit_reached(&self) -> bool {
        // SAFETY: live context; the call only reads a flag.
        unsafe { (self.v8.api.hard_memory_limit_reached)(self.id) }
    }

    /// CPU time the isolate's thread has used, once its first callback told
    /// us which thread it is. Read from the kernel's per-thread CPU clock,
    /// so it needs no file system (sandboxes have none of the host's).
    pub fn isolate_cpu_time(&self) -> Option<Duration> {
        let clock = self.cpu_clock.load(Ordering::Relaxed);
        if clock == 0 {
            return None;
        }
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid out-pointer; the clock id names the
        // isolate's thread, alive as long as this context (a stale id would
        // only make the call fail with EINVAL).
        let rc = unsafe { libc::clock_gettime(clock, &mut now) };
        (rc == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
    }

    /// Evaluates `code`, which must yield a SharedArrayBuffer of at least
    /// [`Mailbox::HEADER`] bytes, and keeps it as this context's mailbox: a
    /// region both the isolate's JS (through `Atomics`) and we can read and
    /// write without an evaluation, so messages reach us even while the
    /// isolate's thread is busy. Runs only during set-up, on an idle isolate.
    pub fn open_mailbox(&mut self, code: &str, timeout: Duration) -> Result<(), EngineError> {
        self.eval(code);
        let delivery = self.rx.recv_timeout(timeout).map_err(|_| {
            EngineError::Setup("runtime.js: the mailbox evaluation did not finish".into())
        })?;
        // SAFETY: a handle the library just delivered for this context; the
        // header is plain data and, for a shared array buffer, `value` is the
        // backing store's address and `len` its size. The value holds a V8
        // global reference to the buffer, so the store stays alive (and in
        // place: shared buffers never move) until we free the handle in Drop.
        let raw = unsafe { std::ptr::read_unaligned(delivery.handle) };
        let aligned = raw.value % std::mem::align_of::<AtomicI32>() as u64 == 0;
        if raw.kind != tag::SHARED_ARRAY_BUFFER
            || raw.len < Mailbox::HEADER
            || raw.value == 0
            || !aligned
        {
            let kind = raw.kind;
            // SAFETY: as above; the handle is not kept, so free it now.
            unsafe { (self.v8.api.free_value)(self.id, delivery.handle) };
            return Err(EngineError::Setup(format!(
                "runtime.js: the mailbox is not a shared buffer (type {kind})"
            )));
        }
        self.mailbox = Some(Mailbox {
            handle: delivery.handle,
            base: raw.value as *mut u8,
            len: raw.len,
        });
        Ok(())
    }

    /// The mailbox, once opened.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        self.mailbox.as_ref()
    }

    /// V8's heap statistics as JSON. This call waits for the isolate thread,
    /// so it runs on a helper thread and gives up after `timeout` (an isolate
    /// that is busy that long is wedged and about to be disposed anyway).
    pub fn heap_stats_json(&self, timeout: Duration) -> Option<String> {
        let (tx, rx) = mpsc::channel();
        let v8 = self.v8;
        let id = self.id;
        let spawned = std::thread::Builder::new()
            .name("v8-heap-stats".into())
            .spawn(move || {
                // SAFETY: contexts are looked up by id in the library's
                // registry and held by shared pointer during the call, so a
                // context freed meanwhile yields an error value, never a
                // dangling access.
                let handle = unsafe { (v8.api.heap_stats)(id) };
                let _ = tx.send(Delivery {
                    channel: Channel::EvalResult,
                    handle,
                });
            });
        if spawned.is_err() {
            return None;
        }
        let delivery = rx.recv_timeout(timeout).ok()?;
        match self.take(delivery.handle) {
            JsValue::String(json) => Some(json),
            _ => None,
        }
    }
}

impl Drop for RawContext {
    fn drop(&mut self) {
        if let Some(mailbox) = self.mailbox.take() {
            // SAFETY: the handle was returned for this live context and is
            // freed once; nothing reads the buffer after this point.
            unsafe { (self.v8.api.free_value)(self.id, mailbox.handle) };
        }
        {
            let mut routes = routes();
            routes.remove(&self.eval_callback);
            routes.remove(&self.notify_callback);
        }
        // SAFETY: the context is live and this is its only owner. Freeing
        // terminates any running JavaScript first, then joins the isolate's
        // thread, so it returns even if the Worker's code is spinning.
        unsafe { (self.v8.api.free_context)(self.id) }
    }
}

/// A shared-memory message slot between the isolate's JS and the host.
///
/// Layout (little-endian i32 words, then bytes), mirrored in `runtime.js`:
/// `[0]` state (0 empty: JS may write; 1 full: the host must read),
/// `[1]` notified (JS rang the notify function and the host has not yet
/// looked), `[2]` pending (messages wait in JS's outbox for a drain),
/// `[3]` length in bytes of the UTF-8 JSON batch that follows the header.
pub(crate) struct Mailbox {
    handle: RawHandle,
    base: *mut u8,
    len: usize,
}

// SAFETY: the region is shared memory designed for concurrent access: words
// are only touched atomically, and the payload is read only while the state
// word says the host owns it (JS writes it only before publishing "full").
unsafe impl Send for Mailbox {}

impl Mailbox {
    /// Bytes before the payload.
    pub const HEADER: usize = 16;

    fn word(&self, index: usize) -> &AtomicI32 {
        debug_assert!(index < Self::HEADER / 4);
        // SAFETY: `base` is 4-byte aligned (checked when opened), the
        // header lies inside the buffer, and the buffer outlives `self`.
        unsafe { &*(self.base.add(index * 4) as *const AtomicI32) }
    }

    /// Takes the batch JS published, if any, and hands the slot back.
    pub fn take(&self) -> Option<String> {
        if self.word(0).load(Ordering::SeqCst) != 1 {
            return None;
        }
        let length =
            (self.word(3).load(Ordering::SeqCst).max(0) as usize).min(self.len - Self::HEADER);
        // SAFETY: the state word is "full", so JS has finished writing these
        // bytes and will not touch them until we store "empty" below.
        let bytes = unsafe { std::slice::from_raw_parts(self.base.add(Self::HEADER), length) };
        let text = String::from_utf8_lossy(bytes).into_owned();
        self.word(0).store(0, Ordering::SeqCst);
        Some(text)
    }

    /// Re-arms the notify function (call before looking at the slot).
    pub fn acknowledge_notify(&self) {
        self.word(1).store(0, Ordering::SeqCst);
    }

    /// Whether messages wait in JS's outbox (too large for the slot, or the
    /// slot was full): the host must evaluate a drain to get them.
    pub fn pending(&self) -> bool {
        self.word(2).load(Ordering::SeqCst) != 0
    }
}
