//! Why a supervisor or a sandbox could not start.

use std::io;
use std::path::PathBuf;

use crate::protocol::ProtocolError;

/// Why [`crate::Supervisor::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its working directory could not be made.
    #[error("cannot create the sandboxes' directory {path}: {source}")]
    Workdir {
        /// The directory.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
}

/// Why a sandbox process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A file-system step of the set-up failed.
    #[error("{what}: {source}")]
    Setup {
        /// The step.
        what: String,
        /// What the system said.
        source: io::Error,
    },
    /// The sandbox's memory cgroup could not be made.
    #[error("sandbox cgroup: {0}")]
    Cgroup(#[from] crate::cgroup::CgroupError),
    /// The process could not be started.
    #[error("cannot start sandbox {executable}: {source}")]
    Exec {
        /// The binary.
        executable: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// It started but said it cannot run (e.g. no V8 library).
    #[error("{0}")]
    Fatal(String),
    /// It did not say `Ready` in time, or said something else.
    #[error("sandbox did not become ready ({why}; exit {status})")]
    NotReady {
        /// What happened instead.
        why: String,
        /// How the process ended.
        status: String,
    },
    /// It speaks another version of the protocol (a mixed install).
    #[error(
        "sandbox speaks protocol {theirs}, this supervisor {ours}: the binary was replaced underneath the node"
    )]
    Version {
        /// The sandbox's version.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
    /// The socket failed during the handshake.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

impl SpawnError {
    /// A failed set-up step.
    pub(crate) fn setup(what: impl Into<String>) -> impl FnOnce(io::Error) -> SpawnError {
        let what = what.into();
        move |source| SpawnError::Setup { what, source }
    }
}
