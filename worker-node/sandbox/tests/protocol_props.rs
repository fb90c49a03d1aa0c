//! Property tests of the sandbox protocol's decoder: whatever bytes arrive,
//! it returns messages or an error, never panics, never allocates much more
//! than a small input holds, and valid frames round-trip.
//!
//! Allocation is measured per thread by a counting global allocator.

use std::alloc::GlobalAlloc;
use std::alloc::Layout;
use std::alloc::System;
use std::cell::Cell;
use std::time::Duration;

use bytes::BytesMut;
use edge_engine::Bundle;
use edge_engine::ErrorKind;
use edge_engine::HttpRequest;
use edge_engine::HttpResponse;
use edge_engine::Invocation;
use edge_engine::InvocationStats;
use edge_engine::InvocationValue;
use edge_engine::Limits;
use edge_engine::LogLine;
use edge_engine::Outcome;
use edge_engine::WorkerError;
use edge_sandbox::Probe;
use edge_sandbox::Syscall;
use edge_sandbox::protocol::BlockingReader;
use edge_sandbox::protocol::FrameCodec;
use edge_sandbox::protocol::FromSandbox;
use edge_sandbox::protocol::Loaded;
use edge_sandbox::protocol::MAX_FRAME;
use edge_sandbox::protocol::Reply;
use edge_sandbox::protocol::Request;
use edge_sandbox::protocol::ToSandbox;
use edge_sandbox::protocol::encode_frame;
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest::test_runner::TestCaseError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::codec::Decoder;

/// Cases per property: enough to find shape bugs, a few seconds in all.
const CASES: u32 = 1024;
/// Most bytes decoding a small input (under 1 KiB) may allocate at once: the
/// reader's two 64 KiB buffers, serde's cautious preallocation, slack.
const SMALL_INPUT_BUDGET: usize = 2 << 20;
/// Most messages read from one input before giving up (a loop guard).
const MAX_MESSAGES: usize = 64;
/// Most decode calls fed with one chunked input.
const MAX_DECODES: usize = 4096;

// ---- allocation accounting -----------------------------------------------

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting this thread's live bytes and their peak.
struct Counting;

fn note_alloc(size: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + size;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn note_free(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping
// touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (so from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        note_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `realloc`'s contract, passed on as is.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            note_free(layout.size());
            note_alloc(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result and the most bytes it held at once on
/// this thread beyond what was live before.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let value = f();
    let peak = PEAK.with(Cell::get);
    (value, peak.saturating_sub(base))
}

// ---- decoding helpers ------------------------------------------------------

/// Every message a blocking reader gets from `bytes`, and how it stopped:
/// `Ok(())` at a clean end, `Err` with the error's text otherwise.
fn read_all<In: DeserializeOwned>(bytes: &[u8]) -> (Vec<In>, Result<(), String>) {
    let mut reader = BlockingReader::<_, In>::new(bytes);
    let mut messages = Vec::new();
    for _ in 0..MAX_MESSAGES {
        match reader.next_message() {
            Ok(Some(message)) => messages.push(message),
            Ok(None) => return (messages, Ok(())),
            Err(error) => return (messages, Err(error.to_string())),
        }
    }
    (messages, Err("too many messages".into()))
}

/// Feeds `bytes` to a `FrameCodec` in chunks cut at `cuts`, collecting what
/// it decodes until the bytes run out or it errs.
fn decode_chunked<In: DeserializeOwned>(bytes: &[u8], cuts: &[usize]) -> (Vec<In>, bool) {
    let mut codec = FrameCodec::<In, ()>::default();
    let mut buffer = BytesMut::new();
    let mut messages = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    bounds.push(bytes.len());
    bounds.sort_unstable();
    let mut fed = 0;
    for bound in bounds {
        buffer.extend_from_slice(&bytes[fed..bound]);
        fed = bound;
        for _ in 0..MAX_DECODES {
            match codec.decode(&mut buffer) {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => break,
                Err(_) => return (messages, true),
            }
        }
    }
    (messages, false)
}

/// Fails the case if decoding `input` held more than the small-input budget.
fn small_allocation(peak: usize, input: &[u8], what: &str) -> Result<(), TestCaseError> {
    let head: Vec<u8> = input.iter().take(8).copied().collect();
    prop_assert!(
        peak <= SMALL_INPUT_BUDGET,
        "{what} allocated {peak} bytes for {} input bytes starting {head:?}",
        input.len()
    );
    Ok(())
}

fn frames<T: Serialize + Clone>(messages: &[T]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for message in messages {
        bytes.extend_from_slice(&encode_frame::<(), _>(message.clone()).expect("encodes"));
    }
    bytes
}

// ---- strategies ------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..24).prop_map(|chars| chars.into_iter().collect())
}

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    prop_oneof![
        Just(ErrorKind::Compile),
        Just(ErrorKind::Runtime),
        Just(ErrorKind::Timeout),
        Just(ErrorKind::Memory),
        Just(ErrorKind::OutputTooLarge),
        Just(ErrorKind::BundleTooLarge),
        Just(ErrorKind::NotFound),
        Just(ErrorKind::BadRequest),
        Just(ErrorKind::Crashed),
    ]
}

fn worker_error() -> impl Strategy<Value = WorkerError> {
    (error_kind(), text()).prop_map(|(kind, message)| WorkerError::new(kind, message))
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((text(), text()), 0..4)
}

fn invocation() -> impl Strategy<Value = Invocation> {
    let call =
        (text(), text()).prop_map(|(method, input_json)| Invocation::Call { method, input_json });
    let fetch = (
        text(),
        text(),
        headers(),
        proptest::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(|(method, url, headers, body)| {
            Invocation::Fetch(HttpRequest {
                method,
                url,
                headers,
                body,
            })
        });
    prop_oneof![call, fetch]
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(memory_bytes, wall, cpu, output, bundle)| Limits {
            memory_bytes,
            wall_time: Duration::from_nanos(wall),
            cpu_time: Duration::from_nanos(cpu),
            max_output_bytes: output as usize,
            max_bundle_bytes: bundle as usize,
        })
}

fn to_sandbox() -> impl Strategy<Value = ToSandbox> {
    let request = prop_oneof![
        Just(Request::Ping),
        any::<u64>().prop_map(|isolate| Request::Unload { isolate }),
        (
            any::<u64>(),
            invocation(),
            proptest::collection::vec(text(), 0..3),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(
                |(isolate, invocation, bindings, wall_cap_ms)| Request::Invoke {
                    isolate,
                    invocation,
                    bindings,
                    wall_cap_ms,
                }
            ),
        (any::<u64>(), limits(), text(), text()).prop_map(|(isolate, limits, name, source)| {
            Request::Load {
                isolate,
                limits,
                bundle: Bundle::single(name, source),
            }
        }),
        (any::<u64>(), any::<bool>(), text()).prop_map(|(call, ok, value)| Request::HostReply {
            call,
            result: if ok { Ok(value) } else { Err(value) },
        }),
        text().prop_map(|path| Request::Probe(Probe::ReadFile(path))),
        Just(Request::Probe(Probe::ForbiddenSyscall(Syscall::Mount))),
    ];
    (any::<u64>(), request).prop_map(|(id, request)| ToSandbox { id, request })
}

fn outcome() -> impl Strategy<Value = Outcome> {
    let value = prop_oneof![
        text().prop_map(|json| Ok(InvocationValue::Json(json))),
        (
            any::<u16>(),
            headers(),
            proptest::collection::vec(any::<u8>(), 0..32)
        )
            .prop_map(
                |(status, headers, body)| Ok(InvocationValue::Http(HttpResponse {
                    status,
                    headers,
                    body
                }))
            ),
        worker_error().prop_map(Err),
    ];
    let logs = proptest::collection::vec(
        (text(), text()).prop_map(|(level, message)| LogLine { level, message }),
        0..4,
    );
    (value, logs, 0.0..1e6f64, 0.0..1e6f64, any::<u64>()).prop_map(
        |(result, logs, run_ms, cpu_ms, heap)| Outcome {
            result,
            logs,
            stats: InvocationStats {
                load_ms: 0.0,
                run_ms,
                cpu_ms,
                heap_used_bytes: heap,
            },
        },
    )
}

fn from_sandbox() -> impl Strategy<Value = FromSandbox> {
    let reply = prop_oneof![
        Just(Reply::Unloaded),
        (any::<u32>(), any::<u32>()).prop_map(|(isolates, prewarmed)| Reply::Pong {
            isolates,
            prewarmed
        }),
        (any::<u64>(), text(), text()).prop_map(|(call, name, args_json)| Reply::HostCall {
            call,
            name,
            args_json
        }),
        outcome().prop_map(Reply::Invoked),
        worker_error().prop_map(|error| Reply::Loaded(Err(error))),
        (0.0..1e6f64, any::<u64>(), any::<bool>()).prop_map(
            |(load_ms, heap_used_bytes, prewarmed)| {
                Reply::Loaded(Ok(Loaded {
                    load_ms,
                    logs: Vec::new(),
                    heap_used_bytes,
                    prewarmed,
                }))
            }
        ),
        (any::<u64>(), text()).prop_map(|(isolate, reason)| Reply::Disposed { isolate, reason }),
        (any::<bool>(), text())
            .prop_map(|(succeeded, detail)| Reply::ProbeResult { succeeded, detail }),
    ];
    (any::<u64>(), reply).prop_map(|(id, reply)| FromSandbox { id, reply })
}

/// A frame length: anything, with weight near and above `MAX_FRAME`.
fn frame_length() -> impl Strategy<Value = u32> {
    let max = MAX_FRAME as u32;
    prop_oneof![
        0u32..64,
        any::<u32>(),
        (max - 1024)..=(max + 1024),
        Just(60 << 20),
        Just(u32::MAX),
    ]
}

fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---- properties ------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_frames_round_trip_alone_and_concatenated(
        to in proptest::collection::vec(to_sandbox(), 1..6),
        from in proptest::collection::vec(from_sandbox(), 1..6),
    ) {
        let (read, end) = read_all::<ToSandbox>(&frames(&to));
        prop_assert_eq!(&read, &to);
        prop_assert_eq!(end, Ok(()));
        let (read, end) = read_all::<FromSandbox>(&frames(&from));
        prop_assert_eq!(&read, &from);
        prop_assert_eq!(end, Ok(()));
    }

    #[test]
    fn frames_fed_in_arbitrary_chunks_decode_to_the_same_messages(
        from in proptest::collection::vec(from_sandbox(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let (decoded, failed) = decode_chunked::<FromSandbox>(&frames(&from), &cuts);
        prop_assert!(!failed);
        prop_assert_eq!(decoded, from);
    }

    #[test]
    fn random_bytes_give_messages_or_an_error_within_a_small_allocation(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
    ) {
        let (_, peak) = peak_allocation(|| read_all::<ToSandbox>(&bytes));
        small_allocation(peak, &bytes, "the reader (to the sandbox)")?;
        let (_, peak) = peak_allocation(|| read_all::<FromSandbox>(&bytes));
        small_allocation(peak, &bytes, "the reader (from the sandbox)")?;
        let (_, peak) = peak_allocation(|| decode_chunked::<FromSandbox>(&bytes, &cuts));
        small_allocation(peak, &bytes, "the codec")?;
    }

    #[test]
    fn a_frame_cut_short_is_an_error_and_never_a_message(
        message in to_sandbox(),
        cut in any::<usize>(),
    ) {
        let bytes = frames(std::slice::from_ref(&message));
        let cut = cut % bytes.len();
        let (read, end) = read_all::<ToSandbox>(&bytes[..cut]);
        prop_assert!(read.is_empty());
        prop_assert_eq!(end.is_ok(), cut == 0, "cut at {}: {:?}", cut, end);
    }

    #[test]
    fn mutated_frames_give_messages_or_an_error(
        messages in proptest::collection::vec(from_sandbox(), 1..4),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = frames(&messages);
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        let (read, _) = read_all::<FromSandbox>(&bytes);
        prop_assert!(read.len() <= MAX_MESSAGES);
        let (read, _) = read_all::<ToSandbox>(&bytes);
        prop_assert!(read.len() <= MAX_MESSAGES);
    }

    #[test]
    fn a_length_prefix_is_never_allocated_before_its_bytes_arrive(
        length in frame_length(),
        tail in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        let ((read, end), peak) = peak_allocation(|| read_all::<ToSandbox>(&bytes));
        small_allocation(peak, &bytes, "the reader")?;
        prop_assert!(read.len() <= 1);
        if length as usize > tail.len() {
            prop_assert!(read.is_empty() && end.is_err(), "length {}: {:?}", length, end);
        }
        let (_, peak) = peak_allocation(|| decode_chunked::<ToSandbox>(&bytes, &[]));
        small_allocation(peak, &bytes, "the codec")?;
    }
}

#[test]
fn a_60_mib_length_prefix_followed_by_10_bytes_allocates_little() {
    const CLAIMED: u32 = 60 << 20;
    const FOLLOWING: usize = 10;
    let mut bytes = CLAIMED.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0x2a; FOLLOWING]);
    let ((read, end), peak) = peak_allocation(|| read_all::<ToSandbox>(&bytes));
    assert!(read.is_empty());
    assert!(end.is_err(), "a stream cut inside a frame is an error");
    assert!(
        peak <= SMALL_INPUT_BUDGET,
        "the blocking reader allocated {peak} bytes for a 14-byte input"
    );
    let mut codec = FrameCodec::<ToSandbox, ()>::default();
    let mut buffer = BytesMut::from(&bytes[..]);
    let (decoded, peak) = peak_allocation(|| codec.decode(&mut buffer).map(|m| m.is_some()));
    assert!(matches!(decoded, Ok(false)), "{decoded:?}");
    assert!(
        peak <= SMALL_INPUT_BUDGET,
        "the codec reserved {peak} bytes (buffer capacity {}) for a 14-byte input",
        buffer.capacity()
    );
}

#[test]
fn a_message_larger_than_a_frame_is_an_encode_error() {
    let source = "x".repeat(MAX_FRAME + 1);
    let load = ToSandbox {
        id: 1,
        request: Request::Load {
            isolate: 1,
            limits: Limits::default(),
            bundle: Bundle::single("./main.js", source),
        },
    };
    assert!(encode_frame::<(), _>(load).is_err());
}
