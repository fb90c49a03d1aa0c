//! Bundles of stored Workers, by (tenant, code hash): fetched from the
//! control plane's registry the first time, then kept in memory (bounded,
//! least recently used out) and on disk under `<data_dir>/bundles/`. A file
//! is checked against its hash on every read; one that does not match (a
//! torn write, a disk error, tampering) is removed and fetched again.
//!
//! Entries are per tenant: the registry answers GetBundle only for a tenant
//! that has a Worker with that hash, and the node keeps that answer apart
//! from other tenants' even when the code is the same.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use edge_engine::Bundle;
use edge_proto::v1 as pb;
use parking_lot::Mutex;
use prost::Message;
use sha2::Digest;
use tonic::Code;
use tonic::Status;

use crate::cache::code_hash;
use crate::convert;
use crate::cp_client::ControlPlane;

/// Why a bundle could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The code hash is not 64 lower-case hex digits.
    #[error("code hash {0:?} is not a sha256 in lower-case hex (64 characters)")]
    BadHash(String),
    /// The registry has no such bundle for the tenant.
    #[error("no Worker of this tenant has code hash {0}")]
    NotFound(String),
    /// The registry sent a bundle whose hash is another.
    #[error("the control plane sent a bundle that hashes to {actual}, not {expected}")]
    Mismatch {
        /// The hash asked for.
        expected: String,
        /// The hash of what came.
        actual: String,
    },
    /// The registry could not be asked.
    #[error("fetching the bundle from the control plane: {0}")]
    ControlPlane(Status),
}

/// A bundle with the hash it was verified against.
#[derive(Debug)]
pub struct StoredBundle {
    /// The code.
    pub bundle: Bundle,
    /// Its [`code_hash`].
    pub code_hash: String,
}

type Key = (String, String);

/// In-memory entries, least recently used out beyond the byte budget.
#[derive(Default)]
struct Memory {
    entries: HashMap<Key, (Arc<StoredBundle>, usize)>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, Key>,
    /// Key → its tick in `order`.
    ticks: HashMap<Key, u64>,
    tick: u64,
    bytes: usize,
}

impl Memory {
    fn get(&mut self, key: &Key) -> Option<Arc<StoredBundle>> {
        let bundle = self.entries.get(key)?.0.clone();
        self.touch(key);
        Some(bundle)
    }

    fn touch(&mut self, key: &Key) {
        self.tick += 1;
        if let Some(old) = self.ticks.insert(key.clone(), self.tick) {
            self.order.remove(&old);
        }
        self.order.insert(self.tick, key.clone());
    }

    fn insert(&mut self, key: Key, bundle: Arc<StoredBundle>, budget: usize) {
        let size = bundle.bundle.size_bytes();
        if size > budget {
            return;
        }
        if let Some((_, old)) = self.entries.insert(key.clone(), (bundle, size)) {
            self.bytes -= old;
        }
        self.bytes += size;
        self.touch(&key);
        while self.bytes > budget {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.ticks.remove(&oldest);
            if let Some((_, gone)) = self.entries.remove(&oldest) {
                self.bytes -= gone;
            }
        }
    }
}

/// The node's bundle store.
pub struct BundleStore {
    dir: PathBuf,
    cp: Arc<ControlPlane>,
    memory: Mutex<Memory>,
    memory_budget: usize,
}

impl BundleStore {
    /// A store under `dir` (created if missing) holding at most
    /// `memory_budget` bytes of source in memory, fetching through `cp`.
    pub fn open(
        dir: &Path,
        cp: Arc<ControlPlane>,
        memory_budget: usize,
    ) -> std::io::Result<BundleStore> {
        std::fs::create_dir_all(dir)?;
        Ok(BundleStore {
            dir: dir.to_path_buf(),
            cp,
            memory: Mutex::new(Memory::default()),
            memory_budget,
        })
    }

    /// Number of bundles in memory.
    pub fn cached(&self) -> usize {
        self.memory.lock().entries.len()
    }

    /// The bundle `tenant` stored under `hash`: from memory, else from
    /// disk (verified), else from the control plane (verified, then kept).
    pub async fn get(&self, tenant: &str, hash: &str) -> Result<Arc<StoredBundle>, BundleError> {
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(BundleError::BadHash(hash.to_owned()));
        }
        let key = (tenant.to_owned(), hash.to_owned());
        if let Some(found) = self.memory.lock().get(&key) {
            return Ok(found);
        }
        let path = self.path(tenant, hash);
        let stored = match read_verified(&path, hash).await {
            Some(bundle) => bundle,
            None => self.fetch(tenant, hash, &path).await?,
        };
        let stored = Arc::new(stored);
        self.memory
            .lock()
            .insert(key, stored.clone(), self.memory_budget);
        Ok(stored)
    }

    async fn fetch(
        &self,
        tenant: &str,
        hash: &str,
        path: &Path,
    ) -> Result<StoredBundle, BundleError> {
        let bundle = match self.cp.get_bundle(tenant, hash).await {
            Ok(bundle) => bundle,
            Err(status) if status.code() == Code::NotFound => {
                return Err(BundleError::NotFound(hash.to_owned()));
            }
            Err(status) => return Err(BundleError::ControlPlane(status)),
        };
        let encoded = bundle.encode_to_vec();
        let bundle = convert::bundle(bundle);
        let actual = code_hash(&bundle);
        if actual != hash {
            return Err(BundleError::Mismatch {
                expected: hash.to_owned(),
                actual,
            });
        }
        // The disk copy only saves a fetch; failing to write it costs nothing else.
        if let Err(e) = write_atomically(path, &encoded).await {
            tracing::warn!(path = %path.display(), error = %e, "could not keep a bundle on disk");
        }
        Ok(StoredBundle {
            bundle,
            code_hash: actual,
        })
    }

    /// `<dir>/<sha256(tenant) prefix>/<hash>.pb`: tenant names never reach
    /// the file system as paths.
    fn path(&self, tenant: &str, hash: &str) -> PathBuf {
        let tenant_dir = hex::encode(&sha2::Sha256::digest(tenant.as_bytes())[..16]);
        self.dir.join(tenant_dir).join(format!("{hash}.pb"))
    }
}

/// The bundle in `path` if it is there, decodes and hashes to `hash`; a
/// file that is there but wrong is removed.
async fn read_verified(path: &Path, hash: &str) -> Option<StoredBundle> {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable bundle file; fetching again");
            return None;
        }
    };
    let verified = pb::Bundle::decode(bytes.as_slice())
        .ok()
        .map(convert::bundle)
        .filter(|bundle| code_hash(bundle) == hash);
    match verified {
        Some(bundle) => Some(StoredBundle {
            bundle,
            code_hash: hash.to_owned(),
        }),
        None => {
            tracing::warn!(path = %path.display(), "bundle file does not match its hash; removing it and fetching again");
            let _ = tokio::fs::remove_file(path).await;
            None
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`, so a reader never sees half a file.
async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let temp = path.with_extension(format!("tmp-{}", hex::encode(rand::random::<[u8; 8]>())));
    tokio::fs::write(&temp, bytes).await?;
    let renamed = tokio::fs::rename(&temp, path).await;
    if renamed.is_err() {
        let _ = tokio::fs::remove_file(&temp).await;
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(source: &str) -> Arc<StoredBundle> {
        let bundle = Bundle::single("./main.js", source);
        Arc::new(StoredBundle {
            code_hash: code_hash(&bundle),
            bundle,
        })
    }

    #[test]
    fn memory_keeps_the_most_recently_used_within_its_budget() {
        let mut memory = Memory::default();
        let key = |n: u32| ("t".to_owned(), format!("h{n}"));
        let each = stored("x".repeat(100).as_str()).bundle.size_bytes();
        for n in 0..3 {
            memory.insert(key(n), stored(&"x".repeat(100)), each * 2);
            if n == 1 {
                assert!(memory.get(&key(0)).is_some(), "0 is now the most recent");
            }
        }
        assert!(memory.get(&key(0)).is_some());
        assert!(
            memory.get(&key(1)).is_none(),
            "1 was the least recently used"
        );
        assert!(memory.get(&key(2)).is_some());
        assert_eq!(memory.bytes, each * 2);
        memory.insert(key(9), stored(&"y".repeat(1000)), each * 2);
        assert!(
            memory.get(&key(9)).is_none(),
            "larger than the whole budget"
        );
    }

    #[tokio::test]
    async fn a_file_that_does_not_match_its_hash_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let good = stored("export default {}");
        let path = dir.path().join("a").join(format!("{}.pb", good.code_hash));
        let encoded = convert::bundle_to_pb(&good.bundle).encode_to_vec();
        write_atomically(&path, &encoded).await.unwrap();
        let read = read_verified(&path, &good.code_hash).await.unwrap();
        assert_eq!(read.bundle, good.bundle);

        let mut corrupt = encoded.clone();
        let last = corrupt.len() - 3;
        corrupt[last] ^= 0x20;
        std::fs::write(&path, &corrupt).unwrap();
        assert!(read_verified(&path, &good.code_hash).await.is_none());
        assert!(!path.exists(), "the corrupt file is gone");
        std::fs::write(&path, b"\xff\xff not protobuf").unwrap();
        assert!(read_verified(&path, &good.code_hash).await.is_none());
        assert!(!path.exists());
    }
}
