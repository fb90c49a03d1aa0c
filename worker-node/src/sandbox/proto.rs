//! The supervisor ↔ sandbox wire protocol: prost messages, each frame a
//! big-endian u32 length followed by the encoded message. The engine's own
//! request and result types (already serde plain data) travel as JSON text
//! inside the prost fields that carry them.

use std::io;
use std::io::Read;

use prost::Message;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;

/// Largest frame either side accepts (a bundle or result plus JSON overhead).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Supervisor → sandbox.
#[derive(Clone, PartialEq, Message)]
pub struct ToSandbox {
    /// Request id, echoed by the answer (0 for messages that expect none).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(oneof = "to_sandbox::Body", tags = "2, 3, 4, 5, 6, 7")]
    pub body: Option<to_sandbox::Body>,
}

pub mod to_sandbox {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        #[prost(message, tag = "2")]
        Load(super::Load),
        #[prost(message, tag = "3")]
        Invoke(super::Invoke),
        #[prost(message, tag = "4")]
        Unload(super::Unload),
        #[prost(message, tag = "5")]
        Ping(super::Ping),
        #[prost(message, tag = "6")]
        HostReply(super::HostReply),
        #[prost(message, tag = "7")]
        Probe(super::Probe),
    }
}

/// Load a bundle into isolate `isolate` (a pre-warmed one when available).
#[derive(Clone, PartialEq, Message)]
pub struct Load {
    #[prost(uint64, tag = "1")]
    pub isolate: u64,
    /// `engine::Limits` as JSON.
    #[prost(string, tag = "2")]
    pub limits_json: String,
    /// `engine::Bundle` as JSON.
    #[prost(string, tag = "3")]
    pub bundle_json: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Invoke {
    #[prost(uint64, tag = "1")]
    pub isolate: u64,
    /// `engine::Invocation` as JSON.
    #[prost(string, tag = "2")]
    pub invocation_json: String,
    /// Names of the bindings the Worker sees; calls come back as `HostCall`.
    #[prost(string, repeated, tag = "3")]
    pub bindings: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Unload {
    #[prost(uint64, tag = "1")]
    pub isolate: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Ping {}

/// The supervisor's answer to a `HostCall`.
#[derive(Clone, PartialEq, Message)]
pub struct HostReply {
    #[prost(uint64, tag = "1")]
    pub call: u64,
    #[prost(bool, tag = "2")]
    pub ok: bool,
    /// JSON value when ok, else the error message.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// Asks the sandbox to try something its walls must forbid (test builds only
/// act on it; see `child::probe`).
#[derive(Clone, PartialEq, Message)]
pub struct Probe {
    /// `tcp_connect`, `read_file`, `list_fds`, `env`, `cwd`.
    #[prost(string, tag = "1")]
    pub action: String,
    #[prost(string, tag = "2")]
    pub arg: String,
}

/// Sandbox → supervisor.
#[derive(Clone, PartialEq, Message)]
pub struct FromSandbox {
    /// The request this answers, or 0 for unsolicited messages.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(oneof = "from_sandbox::Body", tags = "2, 3, 4, 5, 6, 7, 8, 9")]
    pub body: Option<from_sandbox::Body>,
}

pub mod from_sandbox {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        #[prost(message, tag = "2")]
        Ready(super::Ready),
        #[prost(message, tag = "3")]
        Loaded(super::Loaded),
        #[prost(message, tag = "4")]
        Invoked(super::Invoked),
        #[prost(message, tag = "5")]
        Unloaded(super::Unloaded),
        #[prost(message, tag = "6")]
        Pong(super::Pong),
        #[prost(message, tag = "7")]
        HostCall(super::HostCall),
        #[prost(message, tag = "8")]
        ProbeResult(super::ProbeResult),
        #[prost(message, tag = "9")]
        Disposed(super::Disposed),
    }
}

/// Sent once, when V8 is up, isolates are pre-warmed and the walls are in place.
#[derive(Clone, PartialEq, Message)]
pub struct Ready {
    #[prost(uint32, tag = "1")]
    pub pid: u32,
    #[prost(uint32, tag = "2")]
    pub prewarmed: u32,
    #[prost(bool, tag = "3")]
    pub network_namespace: bool,
    #[prost(bool, tag = "4")]
    pub seccomp: bool,
    #[prost(uint32, tag = "5")]
    pub uid: u32,
    /// Walls that could not be put up, for the supervisor to log loudly.
    #[prost(string, repeated, tag = "6")]
    pub warnings: Vec<String>,
    #[prost(string, tag = "7")]
    pub v8_version: String,
    /// Set when the sandbox could not start (e.g. no V8 library); it exits next.
    #[prost(string, tag = "8")]
    pub fatal: String,
    /// Whether it runs in a root filesystem of its own (see `rootfs`).
    #[prost(bool, tag = "9")]
    pub private_root: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Loaded {
    #[prost(bool, tag = "1")]
    pub ok: bool,
    /// `engine::WorkerError` as JSON when not ok.
    #[prost(string, tag = "2")]
    pub error_json: String,
    #[prost(double, tag = "3")]
    pub load_ms: f64,
    /// `Vec<engine::LogLine>` as JSON.
    #[prost(string, tag = "4")]
    pub logs_json: String,
    /// V8 heap in use after the load.
    #[prost(uint64, tag = "5")]
    pub heap_used_bytes: u64,
    /// Whether a pre-warmed isolate served it (false: created on demand).
    #[prost(bool, tag = "6")]
    pub prewarmed: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Invoked {
    /// `engine::Outcome` as JSON.
    #[prost(string, tag = "1")]
    pub outcome_json: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Unloaded {}

#[derive(Clone, PartialEq, Message)]
pub struct Pong {
    #[prost(uint32, tag = "1")]
    pub isolates: u32,
    #[prost(uint32, tag = "2")]
    pub prewarmed: u32,
}

/// A Worker called a binding; the supervisor runs it and sends `HostReply`.
#[derive(Clone, PartialEq, Message)]
pub struct HostCall {
    #[prost(uint64, tag = "1")]
    pub call: u64,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub args_json: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProbeResult {
    /// Whether the forbidden thing succeeded (a breach).
    #[prost(bool, tag = "1")]
    pub succeeded: bool,
    #[prost(string, tag = "2")]
    pub detail: String,
}

/// The sandbox disposed an isolate on its own (it kept burning CPU after its
/// invocation or stopped answering); its Worker reloads on the next call.
#[derive(Clone, PartialEq, Message)]
pub struct Disposed {
    #[prost(uint64, tag = "1")]
    pub isolate: u64,
    #[prost(string, tag = "2")]
    pub reason: String,
}

fn frame(message: &impl Message) -> Vec<u8> {
    let len = message.encoded_len();
    let mut buf = Vec::with_capacity(4 + len);
    buf.extend_from_slice(&(len as u32).to_be_bytes());
    message.encode(&mut buf).expect("a Vec grows as needed");
    buf
}

/// Encodes `message` as one frame.
pub fn encode(message: &impl Message) -> Vec<u8> {
    frame(message)
}

fn too_large(len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("frame of {len} bytes exceeds {MAX_FRAME}"),
    )
}

fn decode<M: Message + Default>(buf: &[u8]) -> io::Result<M> {
    M::decode(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads one frame (blocking side, in the sandbox). `Ok(None)` at a clean end.
pub fn read_blocking<M: Message + Default>(reader: &mut impl Read) -> io::Result<Option<M>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(too_large(len));
    }
    let mut buf = vec![0u8; len];
    reader.read_exact(&mut buf)?;
    decode(&buf).map(Some)
}

/// Reads one frame (async side, in the supervisor). `Ok(None)` at a clean end.
pub async fn read_async<M: Message + Default>(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
) -> io::Result<Option<M>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(too_large(len));
    }
    let mut buf = vec![0u8; len];
    reader.read_exact(&mut buf).await?;
    decode(&buf).map(Some)
}

/// Writes one pre-encoded frame (async side).
pub async fn write_async(
    writer: &mut (impl tokio::io::AsyncWrite + Unpin),
    frame: &[u8],
) -> io::Result<()> {
    writer.write_all(frame).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_a_byte_stream() {
        let message = ToSandbox {
            id: 7,
            body: Some(to_sandbox::Body::Invoke(Invoke {
                isolate: 3,
                invocation_json: "{\"Call\":{}}".into(),
                bindings: vec!["KV".into()],
            })),
        };
        let mut bytes = encode(&message);
        bytes.extend(encode(&ToSandbox {
            id: 8,
            body: Some(to_sandbox::Body::Ping(Ping {})),
        }));
        let mut reader = &bytes[..];
        assert_eq!(
            read_blocking::<ToSandbox>(&mut reader).unwrap(),
            Some(message)
        );
        assert_eq!(
            read_blocking::<ToSandbox>(&mut reader).unwrap().unwrap().id,
            8
        );
        assert_eq!(read_blocking::<ToSandbox>(&mut reader).unwrap(), None);
    }
}
