//! The snapshot format. The data is, for each data tree in the order of
//! [`StateReader::trees`], its name, its entry count (u64, big-endian) and
//! its keys and values, each prefixed by its length (u32, big-endian). The
//! stored form, in tree `sm_meta`, is the length-prefixed JSON of openraft's
//! snapshot meta followed by the data.

use openraft::BasicNode;
use openraft::SnapshotMeta;

use super::encode;
use super::reader::FIRST_OPTIONAL_TREE;
use super::reader::StateReader;
use crate::error::SnapshotError;
use crate::error::StoreError;
use crate::types::NodeId;

/// openraft's description of a snapshot.
pub(super) type Meta = SnapshotMeta<NodeId, BasicNode>;

/// Serializes the data trees.
pub(super) fn dump(state: &StateReader) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    for (name, tree) in state.trees() {
        put_bytes(&mut out, name.as_bytes());
        let entries: Vec<(sled::IVec, sled::IVec)> = tree.iter().collect::<Result<_, _>>()?;
        out.extend_from_slice(&(entries.len() as u64).to_be_bytes());
        for (k, v) in entries {
            put_bytes(&mut out, &k);
            put_bytes(&mut out, &v);
        }
    }
    Ok(out)
}

/// Replaces the data trees with the snapshot `data`. A snapshot of an
/// older version ends before the trees added since; those are emptied.
pub(super) fn load(state: &StateReader, data: &[u8]) -> Result<(), SnapshotError> {
    let mut cur = data;
    for (i, (name, tree)) in state.trees().into_iter().enumerate() {
        if i >= FIRST_OPTIONAL_TREE && cur.is_empty() {
            tree.clear()?;
            continue;
        }
        load_tree(&mut cur, name, tree)?;
    }
    if !cur.is_empty() {
        return Err(SnapshotError::TrailingBytes(cur.len()));
    }
    state.recount_ledger();
    Ok(())
}

/// Replaces `tree` with the next tree of the snapshot, which must be `name`.
fn load_tree(cur: &mut &[u8], name: &'static str, tree: &sled::Tree) -> Result<(), SnapshotError> {
    let found = take_bytes(cur)?;
    if found != name.as_bytes() {
        return Err(SnapshotError::WrongTree {
            found: String::from_utf8_lossy(found).into_owned(),
            expected: name,
        });
    }
    let count = u64::from_be_bytes(take_array(cur)?);
    tree.clear()?;
    let mut batch = sled::Batch::default();
    for _ in 0..count {
        let k = take_bytes(cur)?;
        let v = take_bytes(cur)?;
        batch.insert(k, v);
    }
    tree.apply_batch(batch)?;
    Ok(())
}

/// The stored form of a snapshot: its meta, then its data.
pub(super) fn stored(meta: &Meta, data: &[u8]) -> Vec<u8> {
    let meta_json = encode(meta);
    let mut bytes = Vec::with_capacity(data.len() + meta_json.len() + 4);
    put_bytes(&mut bytes, &meta_json);
    bytes.extend_from_slice(data);
    bytes
}

/// Splits a stored snapshot into its meta and its data.
pub(super) fn split(bytes: &[u8]) -> Result<(Meta, &[u8]), SnapshotError> {
    let mut cur = bytes;
    let meta_json = take_bytes(&mut cur)?;
    let meta = serde_json::from_slice(meta_json).map_err(SnapshotError::Meta)?;
    Ok((meta, cur))
}

/// Appends `b` with its length.
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// Takes the next `n` bytes.
fn take<'a>(cur: &mut &'a [u8], n: usize) -> Result<&'a [u8], SnapshotError> {
    if cur.len() < n {
        return Err(SnapshotError::Truncated);
    }
    let (head, tail) = cur.split_at(n);
    *cur = tail;
    Ok(head)
}

/// Takes the next `N` bytes as an array.
fn take_array<const N: usize>(cur: &mut &[u8]) -> Result<[u8; N], SnapshotError> {
    let mut out = [0; N];
    out.copy_from_slice(take(cur, N)?);
    Ok(out)
}

/// Takes the next length-prefixed field.
fn take_bytes<'a>(cur: &mut &'a [u8]) -> Result<&'a [u8], SnapshotError> {
    let len = u32::from_be_bytes(take_array(cur)?) as usize;
    take(cur, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TenantRecord;

    /// `dump` of only the first `n` trees.
    fn dump_first(state: &StateReader, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, tree) in state.trees().into_iter().take(n) {
            put_bytes(&mut out, name.as_bytes());
            out.extend_from_slice(&(tree.len() as u64).to_be_bytes());
            for item in tree.iter() {
                let (k, v) = item.unwrap();
                put_bytes(&mut out, &k);
                put_bytes(&mut out, &v);
            }
        }
        out
    }

    #[test]
    fn a_snapshot_replaces_the_state_and_names_damage() {
        let source = StateReader::temporary();
        source
            .tenants
            .insert("acme", encode(&TenantRecord { admin: true }))
            .unwrap();
        source.ledger.insert("key", &b"first"[..]).unwrap();
        let data = dump(&source).unwrap();

        let target = StateReader::temporary();
        target.nodes.insert("stale", &b"{}"[..]).unwrap();
        load(&target, &data).unwrap();
        assert_eq!(
            target.tenant("acme").unwrap(),
            Some(TenantRecord { admin: true })
        );
        assert!(target.nodes.is_empty());
        assert_eq!(target.ledger_size(), 1);

        let short = &data[..data.len() - 1];
        assert!(matches!(
            load(&target, short),
            Err(SnapshotError::Truncated)
        ));
        // A snapshot of the version before tree `cluster` ends after
        // `ledger`; loading it empties `cluster`.
        target
            .cluster
            .insert(super::super::reader::INIT_KEY, &b"{}"[..])
            .unwrap();
        let without_cluster = dump_first(&source, FIRST_OPTIONAL_TREE);
        load(&target, &without_cluster).unwrap();
        assert!(target.cluster.is_empty());
        assert_eq!(target.ledger_size(), 1);

        let mut long = data.clone();
        long.push(0);
        assert!(matches!(
            load(&target, &long),
            Err(SnapshotError::TrailingBytes(1))
        ));
    }
}
