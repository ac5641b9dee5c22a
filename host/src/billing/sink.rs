//! The billing application's [`RecordSink`]: `cost` and `usage` records become
//! normalized rows that replace the run's complete days (keeping revisions),
//! then the per-day `results` are refreshed. Other kinds are kept generically.

use std::collections::BTreeSet;

use crate::kernel::protocol::WireRecord;
use crate::kernel::sink::{generic, RecordSink, SinkInput, WriteStats};
use crate::store::runs::GenericRecord;
use crate::store::{self, Tx};

use super::records::{parse_cost, parse_usage, Rows};

/// Stores billing records in the normalized tables.
pub struct BillingSink;

/// A checked run: billing rows, other records, and the providers touched.
pub struct Batch {
    rows: Rows,
    generic: Vec<GenericRecord>,
    providers: BTreeSet<String>,
}

/// A plugin writes billing rows only for the providers its manifest claims,
/// so it can never change another provider's totals.
fn claimed(input: &SinkInput<'_>, provider: &str) -> Result<(), String> {
    if input.claims.iter().any(|c| c == provider) {
        return Ok(());
    }
    Err(format!(
        "provider {provider:?} is not one this plugin's manifest declares ({})",
        if input.claims.is_empty() {
            "it declares none".to_string()
        } else {
            input.claims.join(", ")
        }
    ))
}

impl RecordSink for BillingSink {
    type Batch = Batch;

    fn prepare(&self, input: &SinkInput<'_>, records: Vec<WireRecord>) -> Result<Batch, String> {
        let mut rows = Rows::default();
        let mut generic_records = Vec::new();
        let mut providers = BTreeSet::new();
        // A provider named in the metadata has its results refreshed even on
        // days with no records at all (zero days).
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(input.metadata) {
            if let Some(p) = m.get("provider").and_then(|p| p.as_str()) {
                claimed(input, p).map_err(|e| format!("metadata: {e}"))?;
                providers.insert(p.to_string());
            }
        }
        for (i, r) in records.into_iter().enumerate() {
            let at = |e: String| format!("record {i} ({}): {e}", r.kind);
            match r.kind.as_str() {
                "cost" => {
                    let row = parse_cost(&r.payload, input.window).map_err(at)?;
                    claimed(input, &row.key.provider).map_err(at)?;
                    providers.insert(row.key.provider.clone());
                    rows.add_cost(row).map_err(at)?;
                }
                "usage" => {
                    for row in parse_usage(&r.payload, input.window).map_err(at)? {
                        claimed(input, &row.key.provider).map_err(at)?;
                        providers.insert(row.key.provider.clone());
                        rows.add_usage(row).map_err(at)?;
                    }
                }
                _ => generic_records.push(generic(i, r)?),
            }
        }
        Ok(Batch { rows, generic: generic_records, providers })
    }

    fn write(&self, tx: &Tx<'_>, input: &SinkInput<'_>, batch: Batch) -> store::Result<WriteStats> {
        let mut stats = WriteStats::default();
        if input.window.is_some() {
            let written = tx.replace_billing_days(input, &batch.rows)?;
            for r in &written.revisions {
                tracing::info!(
                    plugin = input.plugin,
                    "revised {} {} [{}]: {} -> {}",
                    r.table,
                    r.day,
                    r.natural_key,
                    r.old_value.as_deref().unwrap_or("(none)"),
                    r.new_value.as_deref().unwrap_or("(removed)")
                );
            }
            stats.written += written.written;
            stats.changed += written.revisions.len();
            tx.refresh_results(&batch.providers, input.complete_days, input.collected_at)?;
        }
        stats.written +=
            tx.upsert_records(input.plugin, input.run_id, input.collected_at, &batch.generic)?;
        Ok(stats)
    }
}
