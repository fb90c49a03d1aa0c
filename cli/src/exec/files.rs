//! Reading a Worker's modules from disk.
//!
//! Files the user names (`--file`, `--module NAME=PATH`) are read as named,
//! symbolic links included: the user chose them. Modules found by following
//! the Worker's own imports are read only from the directory of `--file`
//! (the bundle directory): a file whose real location is outside it — a
//! symbolic link, or a path through a linked directory, pointing elsewhere —
//! is refused, never read, so untrusted code cannot make `edgectl exec`
//! hand it (or print) a host file. Links that stay inside the directory are
//! followed. The check is made on the file actually opened (its device and
//! inode must be those of the canonical path inside the directory), so
//! swapping a link after the check does not get another file read.

use std::fs::File;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::path::PathBuf;

use edge_engine::Limits;

use super::UsageError;

/// The directory modules are gathered from, canonical.
pub(super) struct BundleDir {
    root: PathBuf,
}

impl BundleDir {
    /// The directory of `main` (the `--file`), as named: a linked `--file`
    /// still gathers next to the link.
    pub(super) fn of(main: &Path) -> Result<Self, UsageError> {
        let dir = match main.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let root = std::fs::canonicalize(dir)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", dir.display())))?;
        Ok(BundleDir { root })
    }

    /// The module `name` (a canonical module name: relative, no `..`) from
    /// the bundle directory; `None` when no regular file has that name.
    ///
    /// # Errors
    ///
    /// The file resolves outside the directory, is not a regular file, is
    /// too large or not UTF-8, or cannot be read.
    pub(super) fn read(&self, name: &str) -> Result<Option<String>, UsageError> {
        let path = self.root.join(name);
        let file = match open(&path) {
            Ok(file) => file,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(UsageError(format!("cannot read ./{name}: {e}"))),
        };
        let opened = file
            .metadata()
            .map_err(|e| UsageError(format!("cannot read ./{name}: {e}")))?;
        if opened.is_dir() {
            return Ok(None);
        }
        if !self.holds(&path, &opened) {
            return Err(UsageError(format!(
                "refusing to read ./{name}: it is a link to a file outside {}, the directory of \
                 --file (modules found by following imports must stay inside it; pass others \
                 with --module)",
                self.root.display()
            )));
        }
        read_regular(file, &opened, &format!("./{name}")).map(Some)
    }

    /// Whether the real location of `path` is inside the directory and is
    /// the file that was opened.
    fn holds(&self, path: &Path, opened: &std::fs::Metadata) -> bool {
        let Ok(real) = std::fs::canonicalize(path) else {
            return false;
        };
        let Ok(now) = std::fs::metadata(&real) else {
            return false;
        };
        real.starts_with(&self.root) && now.dev() == opened.dev() && now.ino() == opened.ino()
    }
}

/// A file the user named on the command line, links followed.
pub(super) fn read_named(path: &Path) -> Result<String, UsageError> {
    let what = path.display().to_string();
    let file = open(path).map_err(|e| UsageError(format!("cannot read {what}: {e}")))?;
    let metadata = file
        .metadata()
        .map_err(|e| UsageError(format!("cannot read {what}: {e}")))?;
    read_regular(file, &metadata, &what)
}

/// Opens for reading without blocking on a FIFO or taking a terminal.
fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

fn is_missing(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::NotFound || error.raw_os_error() == Some(libc::ENOTDIR)
}

/// The contents of an opened regular file of at most the largest bundle.
fn read_regular(
    file: File,
    metadata: &std::fs::Metadata,
    what: &str,
) -> Result<String, UsageError> {
    if !metadata.is_file() {
        return Err(UsageError(format!(
            "cannot read {what}: not a regular file"
        )));
    }
    let mut bytes = Vec::new();
    file.take(Limits::MAX_BUNDLE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UsageError(format!("cannot read {what}: {e}")))?;
    if bytes.len() > Limits::MAX_BUNDLE_BYTES {
        return Err(UsageError(format!(
            "cannot read {what}: larger than the largest bundle ({} bytes)",
            Limits::MAX_BUNDLE_BYTES
        )));
    }
    String::from_utf8(bytes).map_err(|_| UsageError(format!("cannot read {what}: not UTF-8")))
}
