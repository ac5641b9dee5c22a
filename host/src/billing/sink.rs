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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::reports::Breakdown;
    use crate::store::Store;
    use chrono::NaiveDate;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cost(d: &str, model: &str, project: &str, amount: &str) -> WireRecord {
        let payload = serde_json::json!({
            "provider": "anthropic", "account": "default", "day": d, "model": model,
            "project": project, "line_item": format!("{model} tokens"), "amount": amount,
            "unit": "major", "currency": "usd",
        });
        WireRecord { kind: "cost".into(), key: String::new(), payload: payload.to_string() }
    }

    fn usage(d: &str, model: &str, project: &str, tokens: u64) -> WireRecord {
        let payload = serde_json::json!({
            "provider": "anthropic", "account": "default", "day": d, "source": "messages",
            "model": model, "project": project, "metrics": { "output_tokens": tokens },
        });
        WireRecord { kind: "usage".into(), key: String::new(), payload: payload.to_string() }
    }

    /// One run of the sink over `days`, committed.
    fn store_run(store: &mut Store, days: &[NaiveDate], records: Vec<WireRecord>) {
        let claims = vec!["anthropic".to_string()];
        let input = SinkInput {
            plugin: "p",
            run_id: "r",
            window: Some((days[0], days[days.len() - 1])),
            complete_days: days,
            metadata: r#"{"provider":"anthropic"}"#,
            collected_at: "2025-01-01T00:00:00Z",
            claims: &claims,
        };
        let batch = BillingSink.prepare(&input, records).unwrap();
        let tx = store.transaction().unwrap();
        BillingSink.write(&tx, &input, batch).unwrap();
        tx.commit().unwrap();
    }

    fn assert_totals_match_rows(store: &Store) {
        let (from, to) = (day("2025-01-01"), day("2025-01-31"));
        for by in [Breakdown::Model, Breakdown::Project] {
            let kept = store.breakdown(from, to, by).unwrap();
            assert!(!kept.is_empty());
            assert_eq!(kept, store.breakdown_from_rows(from, to, by).unwrap(), "{by:?}");
        }
    }

    #[test]
    fn daily_totals_equal_the_detailed_rows_through_revisions_and_replacements() {
        let mut store = Store::open_in_memory().unwrap();
        let days = [day("2025-01-01"), day("2025-01-02")];
        store_run(
            &mut store,
            &days,
            vec![
                cost("2025-01-01", "opus", "a", "1.10"),
                cost("2025-01-01", "haiku", "b", "0.000001"),
                cost("2025-01-02", "opus", "b", "2.5"),
                usage("2025-01-01", "opus", "a", 1000),
                usage("2025-01-02", "haiku", "a", 7),
            ],
        );
        assert_totals_match_rows(&store);
        // A re-pull revises one amount, drops a row and adds a model.
        store_run(
            &mut store,
            &days,
            vec![
                cost("2025-01-01", "opus", "a", "1.15"),
                cost("2025-01-02", "opus", "b", "2.5"),
                cost("2025-01-02", "sonnet", "", "3"),
                usage("2025-01-01", "opus", "a", 1200),
            ],
        );
        assert_totals_match_rows(&store);
        // A later day alone leaves the others' totals as they were.
        store_run(&mut store, &[day("2025-01-03")], vec![cost("2025-01-03", "opus", "a", "9")]);
        assert_totals_match_rows(&store);
        let models =
            store.breakdown(day("2025-01-01"), day("2025-01-31"), Breakdown::Model).unwrap();
        let opus = models.iter().find(|r| r.key == "opus").unwrap();
        assert_eq!((opus.cost.as_str(), opus.tokens), ("12.65", 1200));
        assert!(models.iter().all(|r| r.key != "haiku" || r.tokens == 0));
    }
}
