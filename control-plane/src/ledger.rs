//! The billing ledger: unique Worker loads per tenant per UTC day.
//!
//! Two sled trees hold it. `ledger` maps each unique Worker key `day \x1f
//! tenant \x1f worker id \x1f code hash` to the first load that billed it:
//! a retried or re-delivered load (same load id) and the same unique Worker
//! shipped by several nodes under different load ids all hit the same key,
//! so each unique Worker is billed once. `loads` records every load id
//! applied and the key it counted towards (an audit trail). Keys start with
//! the day, so an export is one range scan.

use std::collections::BTreeMap;

use edge_proto::billing::KEY_SEPARATOR;
use edge_proto::billing::UniqueWorker;
use edge_proto::billing::UtcDay;
use serde::Deserialize;
use serde::Serialize;

use crate::error::StoreError;
use crate::types::LoadRecord;
use crate::types::MICRO_USD_PER_UNIQUE_WORKER;

/// The character right after [`KEY_SEPARATOR`]: `day` followed by it is
/// above every key of that day, so it ends a range scan.
const AFTER_SEPARATOR: char = '\u{20}';

/// What the ledger stores per unique Worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FirstLoad {
    /// The load that billed it.
    load_id: String,
    /// The worker node that shipped that load.
    node_id: String,
}

/// Key of the unique Worker a load counts for ([`UniqueWorker::key`]).
pub(crate) fn unique_key(load: &LoadRecord) -> String {
    UniqueWorker {
        tenant: &load.tenant,
        worker_id: &load.worker_id,
        code_hash: &load.code_hash,
    }
    .key(&load.day)
}

/// Outcome of applying a batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Applied {
    /// Loads that billed a new unique Worker.
    pub new_unique: u32,
    /// Loads whose unique Worker was already billed (retries, redeliveries,
    /// the same Worker shipped by another node).
    pub duplicates: u32,
}

/// Applies already validated loads; idempotent by load id and by unique key.
///
/// The ledger entry is written before the load id: sled may persist any
/// prefix of these writes if the process dies before the apply is flushed,
/// and re-applying the entry over such a prefix must still bill the unique
/// Worker exactly once. (The other order would let a surviving load id mark
/// a re-applied load as a duplicate while its ledger entry was lost.)
pub(crate) fn apply(
    loads_tree: &sled::Tree,
    ledger_tree: &sled::Tree,
    batch: &[LoadRecord],
) -> sled::Result<Applied> {
    let mut out = Applied::default();
    for load in batch {
        let key = unique_key(load);
        let first = FirstLoad {
            load_id: load.load_id.clone(),
            node_id: load.node_id.clone(),
        };
        let value = serde_json::to_vec(&first).expect("ledger value serializes");
        let new_unique = ledger_tree
            .compare_and_swap(key.as_bytes(), None as Option<&[u8]>, Some(value))?
            .is_ok();
        loads_tree.insert(load.load_id.as_bytes(), key.as_bytes())?;
        if new_unique {
            out.new_unique += 1;
        } else {
            out.duplicates += 1;
        }
    }
    Ok(out)
}

/// One row per (day, tenant).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingRow {
    /// UTC day.
    pub day: String,
    /// Tenant.
    pub tenant: String,
    /// Unique Workers loaded that day.
    pub unique_workers: u64,
    /// unique_workers × 2,000 micro-dollars.
    pub amount_micro_usd: u64,
}

/// One row per unique Worker.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BillingDetailRow {
    /// UTC day.
    pub day: String,
    /// Tenant.
    pub tenant: String,
    /// Worker id.
    pub worker_id: String,
    /// Code hash.
    pub code_hash: String,
}

/// Per-tenant rows for days `from..=to`, and the detail rows if asked.
pub(crate) fn export(
    ledger_tree: &sled::Tree,
    from: &UtcDay,
    to: &UtcDay,
    detail: bool,
) -> Result<(Vec<BillingRow>, Vec<BillingDetailRow>), StoreError> {
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut details = Vec::new();
    let end = format!("{to}{AFTER_SEPARATOR}");
    for item in ledger_tree.range(from.as_str().as_bytes()..end.as_bytes()) {
        let (k, _) = item?;
        let row = parse_key(&k)?;
        *counts
            .entry((row.day.clone(), row.tenant.clone()))
            .or_default() += 1;
        if detail {
            details.push(row);
        }
    }
    let rows = counts
        .into_iter()
        .map(|((day, tenant), unique_workers)| BillingRow {
            day,
            tenant,
            unique_workers,
            amount_micro_usd: unique_workers * MICRO_USD_PER_UNIQUE_WORKER,
        })
        .collect();
    Ok((rows, details))
}

/// The unique Worker a ledger key stands for.
fn parse_key(key: &[u8]) -> Result<BillingDetailRow, StoreError> {
    let malformed = || {
        StoreError::malformed_key(
            "ledger",
            key,
            "day, tenant, worker id, code hash joined by U+001F",
        )
    };
    let text = std::str::from_utf8(key).map_err(|_| malformed())?;
    let mut parts = text.splitn(4, KEY_SEPARATOR);
    let (Some(day), Some(tenant), Some(worker_id), Some(code_hash)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    Ok(BillingDetailRow {
        day: day.to_string(),
        tenant: tenant.to_string(),
        worker_id: worker_id.to_string(),
        code_hash: code_hash.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(id: &str, worker: &str, day: &str) -> LoadRecord {
        LoadRecord {
            load_id: id.into(),
            tenant: "acme".into(),
            worker_id: worker.into(),
            code_hash: "h".into(),
            day: day.into(),
            node_id: "n1".into(),
        }
    }

    #[test]
    fn retries_and_other_nodes_never_double_count() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let loads = db.open_tree("loads").unwrap();
        let ledger = db.open_tree("ledger").unwrap();
        let a = apply(
            &loads,
            &ledger,
            &[load("1", "w", "2025-01-01"), load("2", "w", "2025-01-01")],
        )
        .unwrap();
        assert_eq!(
            a,
            Applied {
                new_unique: 1,
                duplicates: 1
            }
        );
        let b = apply(
            &loads,
            &ledger,
            &[load("1", "w", "2025-01-01"), load("3", "w", "2025-01-02")],
        )
        .unwrap();
        assert_eq!(
            b,
            Applied {
                new_unique: 1,
                duplicates: 1
            }
        );
        let day = |d: &str| UtcDay::parse(d).unwrap();
        let (rows, detail) = export(&ledger, &day("2025-01-01"), &day("2025-01-02"), true).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|r| r.unique_workers == 1 && r.amount_micro_usd == 2_000)
        );
        assert_eq!(detail.len(), 2);
        let (rows, _) = export(&ledger, &day("2025-01-02"), &day("2025-01-02"), false).unwrap();
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn ledger_keys_are_the_shared_unique_worker_keys() {
        assert_eq!(
            unique_key(&load("1", "w", "2025-01-01")),
            "2025-01-01\u{1f}acme\u{1f}w\u{1f}h"
        );
    }

    #[test]
    fn a_malformed_ledger_key_is_an_error_not_skipped() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let ledger = db.open_tree("ledger").unwrap();
        ledger.insert("2025-01-01\u{1f}acme", &b"{}"[..]).unwrap();
        let day = UtcDay::parse("2025-01-01").unwrap();
        assert!(matches!(
            export(&ledger, &day, &day, false),
            Err(StoreError::MalformedKey { tree: "ledger", .. })
        ));
    }
}
