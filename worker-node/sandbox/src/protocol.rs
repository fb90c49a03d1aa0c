//! The supervisor ↔ sandbox protocol. Both ends are the same binary, so the
//! messages are typed Rust enums carrying the engine's own values
//! ([`Limits`], [`Bundle`], [`Outcome`] ...), encoded with postcard, one
//! message per frame (a big-endian u32 length, then the payload; the
//! framing of tokio-util's `LengthDelimitedCodec`, decoded here without
//! reserving what a length claims before the bytes arrive). [`FrameCodec`]
//! is the one codec: the supervisor uses it through `FramedRead` and
//! [`encode_frame`], the sandbox's blocking loop through [`BlockingReader`]
//! and [`encode_frame`].
//!
//! Every encode and decode failure is an error, never an empty value. The
//! sandbox's first message, [`Ready`], carries [`PROTOCOL_VERSION`]; the
//! supervisor refuses a sandbox that speaks another version.

use std::io;
use std::io::Read;
use std::marker::PhantomData;

use bytes::Buf;
use bytes::BufMut;
use bytes::BytesMut;
use edge_engine::Bundle;
use edge_engine::Invocation;
use edge_engine::Limits;
use edge_engine::LogLine;
use edge_engine::Outcome;
use edge_engine::WorkerError;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::codec::Decoder;
use tokio_util::codec::Encoder;

/// The version both ends must speak; raise it with every change of a message.
pub const PROTOCOL_VERSION: u32 = 3;

/// Largest frame a sandbox accepts (a bundle or an invocation's input).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Largest frame the supervisor accepts from a sandbox: the largest output
/// an invocation may have, plus its bounded logs and error message. A
/// sandbox runs Worker code and may be made to send anything; this is the
/// most one frame can cost the supervisor.
pub const MAX_REPLY_FRAME: usize = 40 * 1024 * 1024;

/// Supervisor → sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToSandbox {
    /// Request id, echoed by the answer (0 for messages that expect none).
    pub id: u64,
    /// What the sandbox is asked to do.
    pub request: Request,
}

/// What the supervisor asks of a sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Load a bundle into isolate `isolate` (a pre-warmed one when available).
    Load {
        /// The isolate's id, chosen by the supervisor.
        isolate: u64,
        /// Limits for the isolate and each invocation in it.
        limits: Limits,
        /// The Worker's code.
        bundle: Bundle,
    },
    /// Run one invocation of the Worker loaded in `isolate`.
    Invoke {
        /// The isolate holding the Worker.
        isolate: u64,
        /// What to call.
        invocation: Invocation,
        /// Names of the bindings the Worker sees; calls come back as
        /// [`Reply::HostCall`].
        bindings: Vec<String>,
        /// Lowers the Worker's wall-time limit for this call only, in ms
        /// (the caller's deadline is nearer).
        wall_cap_ms: Option<u32>,
    },
    /// Drop the isolate and its Worker.
    Unload {
        /// The isolate to drop.
        isolate: u64,
    },
    /// Are you alive? Answered with [`Reply::Pong`].
    Ping,
    /// Measure the V8 heap of `isolate` now (about 0.5 ms of the isolate's
    /// thread, so not done on every call). Answered with [`Reply::HeapUsed`].
    HeapUsed {
        /// The isolate.
        isolate: u64,
    },
    /// The supervisor's answer to a [`Reply::HostCall`].
    HostReply {
        /// The call this answers.
        call: u64,
        /// A JSON value, or the error message the Worker's promise rejects with.
        result: Result<String, String>,
    },
    /// Try something the walls must forbid (test builds only act on it).
    Probe(Probe),
}

/// Something a sandbox's walls must forbid, tried on request to show they
/// hold. Only the supervisor can ask; a probe can demonstrate a hole, never
/// open one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probe {
    /// Open a TCP connection to this `ip:port`.
    TcpConnect(String),
    /// Read this file.
    ReadFile(String),
    /// List the open descriptors (described by `stat`).
    ListFds,
    /// List the environment's variable names.
    Env,
    /// List a directory (`.` is the working directory).
    ListDir(String),
    /// Create and write this file.
    WriteFile(String),
    /// Every thread's root directory listing.
    ThreadRoots,
    /// The network interfaces in the sandbox's namespace.
    NetInterfaces,
    /// The effective uid (a breach when it is root).
    Uid,
    /// A system call the seccomp filter kills the process for.
    ForbiddenSyscall(Syscall),
}

/// System calls for [`Probe::ForbiddenSyscall`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Syscall {
    /// `mount`.
    Mount,
    /// `umount2`.
    Umount2,
    /// `pivot_root`.
    PivotRoot,
    /// `chroot`.
    Chroot,
}

/// Sandbox → supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FromSandbox {
    /// The request this answers, or 0 for unsolicited messages.
    pub id: u64,
    /// The answer.
    pub reply: Reply,
}

/// What a sandbox tells the supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// Sent once, first, when the walls are up (or the sandbox cannot start).
    Ready(Ready),
    /// The answer to [`Request::Load`].
    Loaded(Result<Loaded, WorkerError>),
    /// The answer to [`Request::Invoke`].
    Invoked(Outcome),
    /// The answer to [`Request::Unload`].
    Unloaded,
    /// The answer to [`Request::Ping`].
    Pong {
        /// Isolates holding Workers.
        isolates: u32,
        /// Isolates pre-warmed and free.
        prewarmed: u32,
    },
    /// A Worker called a binding; the supervisor runs it and sends
    /// [`Request::HostReply`]. Carries the invocation's request id.
    HostCall {
        /// Names this call in the reply.
        call: u64,
        /// The binding's name.
        name: String,
        /// The arguments, JSON.
        args_json: String,
    },
    /// The answer to [`Request::HeapUsed`]: bytes in use, if the isolate
    /// answered in time.
    HeapUsed(Option<u64>),
    /// The answer to [`Request::Probe`].
    ProbeResult {
        /// Whether the forbidden thing succeeded (a breach).
        succeeded: bool,
        /// What happened.
        detail: String,
    },
    /// The sandbox disposed an isolate on its own (it kept burning CPU after
    /// its invocation); its Worker reloads on the next call.
    Disposed {
        /// The isolate.
        isolate: u64,
        /// Why.
        reason: String,
    },
}

/// The sandbox's first message: the protocol it speaks and which walls stand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ready {
    /// [`PROTOCOL_VERSION`] of the sandbox's build.
    pub protocol: u32,
    /// The sandbox's process id.
    pub pid: u32,
    /// Isolates pre-warmed at start.
    pub prewarmed: u32,
    /// Whether it runs in an empty network namespace.
    pub network_namespace: bool,
    /// Whether it runs in a root filesystem of its own (see `rootfs`).
    pub private_root: bool,
    /// Whether the seccomp filter is installed.
    pub seccomp: bool,
    /// Its effective uid.
    pub uid: u32,
    /// Walls that could not be put up, for the supervisor to log loudly.
    pub warnings: Vec<String>,
    /// The V8 version it runs.
    pub v8_version: String,
    /// Why the sandbox cannot start (e.g. no V8 library); it exits next.
    pub fatal: Option<String>,
}

/// A successful load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    /// Time the sandbox spent: isolate taken or made, bundle evaluated.
    pub load_ms: f64,
    /// What the Worker's top-level code logged.
    pub logs: Vec<LogLine>,
    /// V8 heap in use after the load: measured for a sandbox's first load;
    /// for later ones the previous load's figure, since the sandbox measures
    /// after answering and the Worker's first invocation reports the
    /// measured heap.
    pub heap_used_bytes: u64,
    /// Whether a pre-warmed isolate served it (false: created on demand).
    pub prewarmed: bool,
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The socket failed, or a frame was longer than [`MAX_FRAME`].
    #[error("sandbox socket: {0}")]
    Io(#[from] io::Error),
    /// A frame's payload is not a message of the expected type.
    #[error("unreadable sandbox message: {0}")]
    Decode(postcard::Error),
    /// A message could not be encoded.
    #[error("cannot encode a sandbox message: {0}")]
    Encode(postcard::Error),
}

/// Bytes of a frame's length prefix.
const HEADER: usize = 4;

/// Frames of typed messages: decodes `In`, encodes `Out`.
pub struct FrameCodec<In, Out> {
    max_frame: usize,
    _types: PhantomData<fn(Out) -> In>,
}

impl<In, Out> Default for FrameCodec<In, Out> {
    fn default() -> Self {
        FrameCodec::with_max_frame(MAX_FRAME)
    }
}

impl<In, Out> FrameCodec<In, Out> {
    /// A codec refusing frames longer than `max_frame` bytes (both ways).
    pub fn with_max_frame(max_frame: usize) -> Self {
        FrameCodec {
            max_frame,
            _types: PhantomData,
        }
    }

    fn too_large(&self, len: usize) -> ProtocolError {
        ProtocolError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "a frame of {len} bytes exceeds the {}-byte maximum",
                self.max_frame
            ),
        ))
    }
}

impl<In: DeserializeOwned, Out> Decoder for FrameCodec<In, Out> {
    type Item = In;
    type Error = ProtocolError;

    /// Waits (returns `None`) until the whole frame is buffered; the buffer
    /// grows only as bytes arrive, never by what a length prefix claims.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, ProtocolError> {
        let Some(header) = src.get(..HEADER) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len > self.max_frame {
            return Err(self.too_large(len));
        }
        if src.len() < HEADER + len {
            return Ok(None);
        }
        src.advance(HEADER);
        let frame = src.split_to(len);
        postcard::from_bytes(&frame)
            .map(Some)
            .map_err(ProtocolError::Decode)
    }
}

impl<In, Out: Serialize> Encoder<Out> for FrameCodec<In, Out> {
    type Error = ProtocolError;

    fn encode(&mut self, item: Out, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let payload = postcard::to_stdvec(&item).map_err(ProtocolError::Encode)?;
        if payload.len() > self.max_frame {
            return Err(self.too_large(payload.len()));
        }
        dst.reserve(HEADER + payload.len());
        dst.put_u32(payload.len() as u32);
        dst.put_slice(&payload);
        Ok(())
    }
}

/// The supervisor's end of a sandbox's socket.
pub type SupervisorCodec = FrameCodec<FromSandbox, ToSandbox>;
/// The sandbox's end of its socket.
pub type SandboxCodec = FrameCodec<ToSandbox, FromSandbox>;

/// Encodes one message as a complete frame, for blocking writers.
pub fn encode_frame<In, Out: Serialize>(message: Out) -> Result<BytesMut, ProtocolError> {
    let mut frame = BytesMut::new();
    FrameCodec::<In, Out>::default().encode(message, &mut frame)?;
    Ok(frame)
}

/// Reads typed messages from a blocking stream with [`FrameCodec`].
pub struct BlockingReader<R, In> {
    reader: R,
    buffer: BytesMut,
    scratch: Box<[u8]>,
    codec: FrameCodec<In, ()>,
}

/// How much a blocking reader asks the socket for at a time.
const READ_CHUNK: usize = 64 * 1024;

impl<R: Read, In: DeserializeOwned> BlockingReader<R, In> {
    /// Reads from `reader`.
    pub fn new(reader: R) -> Self {
        BlockingReader {
            reader,
            buffer: BytesMut::with_capacity(READ_CHUNK),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            codec: FrameCodec::default(),
        }
    }

    /// The next message; `Ok(None)` at a clean end of the stream.
    ///
    /// # Errors
    ///
    /// A broken socket, a frame over [`MAX_FRAME`], an unreadable message,
    /// or a stream that ends inside a frame.
    pub fn next_message(&mut self) -> Result<Option<In>, ProtocolError> {
        loop {
            if let Some(message) = self.codec.decode(&mut self.buffer)? {
                return Ok(Some(message));
            }
            let read = match self.reader.read(&mut self.scratch) {
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if read == 0 {
                return match self.buffer.is_empty() {
                    true => Ok(None),
                    false => Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                };
            }
            self.buffer.extend_from_slice(&self.scratch[..read]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use edge_engine::ErrorKind;

    use super::*;

    fn invoke(id: u64) -> ToSandbox {
        ToSandbox {
            id,
            request: Request::Invoke {
                isolate: 3,
                invocation: Invocation::Call {
                    method: "run".into(),
                    input_json: "{\"n\":1}".into(),
                },
                bindings: vec!["KV".into()],
                wall_cap_ms: None,
            },
        }
    }

    #[test]
    fn frames_round_trip_through_a_byte_stream() {
        let mut bytes = encode_frame::<(), _>(invoke(7)).unwrap().to_vec();
        bytes.extend(
            encode_frame::<(), _>(ToSandbox {
                id: 8,
                request: Request::Ping,
            })
            .unwrap(),
        );
        let mut reader = BlockingReader::<_, ToSandbox>::new(&bytes[..]);
        assert_eq!(reader.next_message().unwrap(), Some(invoke(7)));
        assert_eq!(reader.next_message().unwrap().unwrap().id, 8);
        assert_eq!(reader.next_message().unwrap(), None);
    }

    #[test]
    fn engine_values_cross_unchanged() {
        let limits = Limits {
            wall_time: Duration::from_millis(1500),
            ..Limits::default()
        };
        let load = ToSandbox {
            id: 1,
            request: Request::Load {
                isolate: 9,
                limits,
                bundle: Bundle::single("./main.ts", "export default {}"),
            },
        };
        let reply = FromSandbox {
            id: 1,
            reply: Reply::Loaded(Err(WorkerError::new(ErrorKind::Compile, "x"))),
        };
        let frame = encode_frame::<(), _>(load.clone()).unwrap();
        let mut reader = BlockingReader::<_, ToSandbox>::new(&frame[..]);
        assert_eq!(reader.next_message().unwrap(), Some(load));
        let frame = encode_frame::<(), _>(reply.clone()).unwrap();
        let mut reader = BlockingReader::<_, FromSandbox>::new(&frame[..]);
        assert_eq!(reader.next_message().unwrap(), Some(reply));
    }

    #[test]
    fn a_stream_cut_inside_a_frame_is_an_error_not_an_empty_message() {
        let frame = encode_frame::<(), _>(invoke(1)).unwrap();
        let mut reader = BlockingReader::<_, ToSandbox>::new(&frame[..frame.len() - 1]);
        assert!(reader.next_message().is_err());
    }

    #[test]
    fn an_oversized_length_is_refused_before_reading_the_payload() {
        let header = ((MAX_FRAME + 1) as u32).to_be_bytes();
        let mut reader = BlockingReader::<_, ToSandbox>::new(&header[..]);
        assert!(matches!(reader.next_message(), Err(ProtocolError::Io(_))));
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let mut frame = 4u32.to_be_bytes().to_vec();
        frame.extend([0xff, 0xff, 0xff, 0xff]);
        let mut reader = BlockingReader::<_, ToSandbox>::new(&frame[..]);
        assert!(matches!(
            reader.next_message(),
            Err(ProtocolError::Decode(_))
        ));
    }
}
