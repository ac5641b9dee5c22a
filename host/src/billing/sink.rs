//! The billing application's [`RecordSink`]: `cost` and `usage` records become
//! normalized rows that replace the run's complete days (keeping revisions),
//! `provider` records name the providers, then the per-day `results` are
//! refreshed. Other kinds are kept generically.

use std::collections::{BTreeMap, BTreeSet};

use billing_records::{CALL, COST, PROVIDER, USAGE};

use crate::kernel::ledger::{self, GenericRecord, Ledger};
use crate::kernel::protocol::WireRecord;
use crate::kernel::sink::{generic, Checked, RecordCheck, RecordSink, SinkInput, WriteStats};

use super::storage::{BillingWrites, NotInCost};

use super::records::{
    parse_call, parse_cost, parse_provider, parse_usage, CallRow, PricedUsage, ProviderInfo,
    RecordError, Rows,
};

/// Stores billing records in the normalized tables.
pub struct BillingSink;

/// A checked run: billing rows, provider descriptions, other records, and
/// the providers touched.
pub struct Batch {
    rows: Rows,
    /// Usage counts as prices see them (for estimates of the usage).
    priced: Vec<PricedUsage>,
    /// Descriptions sent by a plugin that only observes the provider.
    observed_infos: Vec<ProviderInfo>,
    calls: BTreeMap<(String, String), CallRow>,
    /// Calls that could not be stored: how many, and the first reason.
    bad_calls: (usize, Option<String>),
    infos: Vec<ProviderInfo>,
    generic: Vec<GenericRecord>,
    providers: BTreeSet<String>,
}

/// A plugin writes billing rows only for the providers its manifest claims,
/// so it can never change another provider's totals.
fn claimed(input: &SinkInput<'_>, provider: &str) -> Result<(), RecordError> {
    if input.claims.iter().any(|c| c == provider) {
        return Ok(());
    }
    Err(RecordError::Run(format!(
        "provider {provider:?} is not one this plugin's manifest declares ({})",
        if input.claims.is_empty() {
            "it declares none".to_string()
        } else {
            input.claims.join(", ")
        }
    )))
}

/// A job with an account label stores only rows of that account.
fn own_account(input: &SinkInput<'_>, account: &str) -> Result<(), RecordError> {
    match input.account {
        Some(a) if a != account => Err(RecordError::Run(format!(
            "a record for account {account:?}, but job {} collects account {a:?}",
            input.plugin
        ))),
        _ => Ok(()),
    }
}

/// Both: a row of this provider and account is the run's to write.
fn owned(input: &SinkInput<'_>, provider: &str, account: &str) -> Result<(), RecordError> {
    claimed(input, provider)?;
    own_account(input, account)
}

impl Batch {
    /// Checks one billing record into the batch.
    fn add(&mut self, input: &SinkInput<'_>, r: &WireRecord) -> Result<(), RecordError> {
        match r.kind.as_str() {
            COST => {
                let row = parse_cost(&r.payload, input.window)?;
                owned(input, &row.key.provider, &row.key.account)?;
                self.providers.insert(row.key.provider.clone());
                self.rows.add_cost(row);
            }
            USAGE => {
                let usage = parse_usage(&r.payload, input.window)?;
                for row in usage.rows {
                    owned(input, &row.key.provider, &row.key.account)?;
                    self.providers.insert(row.key.provider.clone());
                    self.rows.add_usage(row)?;
                }
                if let Some(p) = usage.priced {
                    owned(input, &p.provider, &p.account)?;
                    self.priced.push(p);
                }
            }
            PROVIDER => {
                let info = parse_provider(&r.payload)?;
                if input.observes.contains(&info.provider) {
                    self.observed_infos.push(info);
                } else {
                    claimed(input, &info.provider)?;
                    self.infos.push(info);
                }
            }
            CALL => {
                // Calls stand alone: a bad one is left out (and said), never
                // the run, or one bad log line would stop every later one.
                let call = match parse_call(&r.payload) {
                    Err(RecordError::Day(_, why)) => {
                        self.bad_calls.0 += 1;
                        self.bad_calls.1.get_or_insert(why);
                        return Ok(());
                    }
                    other => other?,
                };
                // Calls are estimates: a plugin that only observes a
                // provider may send them, and never touches billed rows.
                if !input.observes.contains(&call.provider) {
                    claimed(input, &call.provider)?;
                }
                own_account(input, &call.account)?;
                // A call sent twice keeps its most complete counts, as the
                // store does across runs.
                match self.calls.entry((call.source.clone(), call.key.clone())) {
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        e.get_mut().priced = e.get().priced.max(call.priced);
                    }
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(call);
                    }
                }
            }
            _ => unreachable!("only billing kinds are added"),
        }
        Ok(())
    }
}

impl RecordCheck for BillingSink {
    type Batch = Batch;

    fn prepare(
        &self,
        input: &SinkInput<'_>,
        records: Vec<WireRecord>,
    ) -> Result<Checked<Batch>, String> {
        let mut batch = Batch {
            rows: Rows::default(),
            priced: Vec::new(),
            observed_infos: Vec::new(),
            calls: BTreeMap::new(),
            bad_calls: (0, None),
            infos: Vec::new(),
            generic: Vec::new(),
            providers: BTreeSet::new(),
        };
        let mut rejected = BTreeMap::new();
        // A provider named in the metadata has its results refreshed even on
        // days with no records at all (zero days).
        // Only that key is read: the metadata may carry a large state.
        #[derive(serde::Deserialize)]
        struct Named {
            provider: Option<String>,
        }
        if let Ok(Named { provider: Some(p) }) = serde_json::from_str(input.metadata) {
            if let Err(RecordError::Run(e) | RecordError::Day(_, e)) = claimed(input, &p) {
                return Err(format!("metadata: {e}"));
            }
            batch.providers.insert(p);
        }
        for (i, r) in records.into_iter().enumerate() {
            if ![COST, USAGE, PROVIDER, CALL].contains(&r.kind.as_str()) {
                batch.generic.push(generic(i, r)?);
                continue;
            }
            let at = |e: String| format!("record {i} ({}): {e}", r.kind);
            match batch.add(input, &r).map_err(|e| e.context(at)) {
                Ok(()) => {}
                Err(RecordError::Day(day, why)) => {
                    rejected.entry(day).or_insert(why);
                }
                Err(RecordError::Run(why)) => return Err(why),
            }
        }
        Ok(Checked { batch, rejected })
    }
}

impl<L: Ledger + BillingWrites + ?Sized> RecordSink<L> for BillingSink {
    fn write(&self, tx: &L, input: &SinkInput<'_>, batch: Batch) -> ledger::Result<WriteStats> {
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
            tx.replace_priced_usage(input, &batch.priced)?;
            tx.upsert_providers(&batch.infos, input.collected_at)?;
            tx.refresh_results(&batch.providers, input.complete_days, input.collected_at)?;
            stats.notes = not_in_cost_notes(tx.not_in_cost(&batch.providers, input.complete_days)?);
        }
        tx.describe_new_providers(&batch.observed_infos, input.collected_at)?;
        if let (n @ 1.., Some(why)) = &batch.bad_calls {
            stats.notes.push(format!("{n} call(s) left out, not stored: {why}"));
        }
        if !batch.calls.is_empty() {
            let calls: Vec<CallRow> = batch.calls.into_values().collect();
            let (written, changed) = tx.upsert_calls(input.plugin, input.run_id, &calls)?;
            stats.written += written;
            stats.changed += changed;
            stats.notes.push(format!(
                "{} call(s) from local logs: {written} new, {changed} more complete than stored (estimates, not billed)",
                calls.len()
            ));
        }
        stats.written +=
            tx.upsert_records(input.plugin, input.run_id, input.collected_at, &batch.generic)?;
        Ok(stats)
    }
}

/// One note per provider whose stored days hold tokens no billed cost
/// covers: how many, on which days, and the provider's reason.
fn not_in_cost_notes(rows: Vec<NotInCost>) -> Vec<String> {
    let mut by_provider: BTreeMap<String, (i64, Vec<String>, Option<String>)> = BTreeMap::new();
    for r in rows {
        let e = by_provider.entry(r.provider).or_default();
        e.0 += r.tokens;
        e.1.push(r.day.to_string());
        e.2 = r.note;
    }
    by_provider
        .into_iter()
        .map(|(provider, (tokens, days, note))| {
            let days = match days.len() {
                1..=3 => days.join(", "),
                n => format!("{n} days from {} to {}", days[0], days[n - 1]),
            };
            let why = note.map(|n| format!(" ({n})")).unwrap_or_default();
            format!(
                "{provider}: {} tokens on {days} have no billed cost{why}",
                crate::table::count(tokens)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::storage::{BillingReads, Breakdown};
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
            "token_metrics": ["output_tokens"],
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
            observes: &[],
            account: None,
        };
        let checked = BillingSink.prepare(&input, records).unwrap();
        assert!(checked.rejected.is_empty());
        let batch = checked.batch;
        store.begin_commit().unwrap();
        BillingSink.write(store, &input, batch).unwrap();
        store.end_commit().unwrap();
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
    fn a_job_with_an_account_stores_only_that_account_s_rows() {
        let days = [day("2025-01-01")];
        let claims = vec!["anthropic".to_string()];
        let input = SinkInput {
            plugin: "anthropic-acme",
            run_id: "r",
            window: Some((days[0], days[0])),
            complete_days: &days,
            metadata: "{}",
            collected_at: "2025-01-02T00:00:00Z",
            claims: &claims,
            observes: &[],
            account: Some("acme"),
        };
        // The records say "default": another job's rows, refused.
        let e = BillingSink.prepare(&input, vec![cost("2025-01-01", "opus", "a", "1")]).err();
        assert!(e.unwrap().contains("collects account \"acme\""));
        let acme = cost("2025-01-01", "opus", "a", "1");
        let acme = WireRecord { payload: acme.payload.replace("\"default\"", "\"acme\""), ..acme };
        assert!(BillingSink.prepare(&input, vec![acme]).is_ok());
    }

    #[test]
    fn an_observer_sends_calls_but_never_billed_rows() {
        let observes = vec!["anthropic".to_string()];
        let input = SinkInput {
            plugin: "logs",
            run_id: "r",
            window: None,
            complete_days: &[],
            metadata: "{}",
            collected_at: "2026-11-01T00:00:00Z",
            claims: &[],
            observes: &observes,
            account: None,
        };
        let call = serde_json::json!({"provider": "anthropic", "source": "claude_code",
            "key": "msg_1", "day": "2026-11-01", "model": "claude-sonnet-4-5",
            "priced": {"input": 5}});
        let call =
            WireRecord { kind: "call".into(), key: "msg_1".into(), payload: call.to_string() };
        assert!(BillingSink.prepare(&input, vec![call.clone()]).is_ok());
        let e = BillingSink.prepare(&input, vec![cost("2026-11-01", "opus", "a", "1")]).err();
        assert!(e.unwrap().contains("not one this plugin's manifest declares"));
        let other = WireRecord { payload: call.payload.replace("anthropic", "openai"), ..call };
        assert!(BillingSink.prepare(&input, vec![other]).is_err());
        // It may name the provider, stored only where no claimant has.
        let named = |p: &str, n: &str| WireRecord {
            kind: "provider".into(),
            key: p.into(),
            payload: serde_json::json!({"provider": p, "display_name": n}).to_string(),
        };
        let mut store = Store::for_tests();
        store.begin_commit().unwrap();
        store
            .upsert_providers(
                &[parse_provider(&named("anthropic", "Anthropic").payload).unwrap()],
                "t",
            )
            .unwrap();
        let batch =
            BillingSink.prepare(&input, vec![named("anthropic", "ANTHROPIC")]).unwrap().batch;
        BillingSink.write(&store, &input, batch).unwrap();
        store.end_commit().unwrap();
        let names = store.query_all::<String, Vec<_>>(
            "read",
            "SELECT display_name FROM providers",
            crate::store::sql::args![],
            |r| r.get(0),
        );
        assert_eq!(names.unwrap(), ["Anthropic"], "the claimant's name stays");
        assert!(BillingSink.prepare(&input, vec![named("openai", "OpenAI")]).is_err());
    }

    #[test]
    fn daily_totals_equal_the_detailed_rows_through_revisions_and_replacements() {
        let mut store = Store::for_tests();
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

    fn priority_usage(d: &str, tokens: u64, not_in_cost: bool) -> WireRecord {
        let payload = serde_json::json!({
            "provider": "anthropic", "account": "default", "day": d, "source": "messages",
            "model": "opus", "project": "a", "service_tier": "priority",
            "metrics": { "output_tokens": tokens }, "token_metrics": ["output_tokens"],
            "not_in_cost": not_in_cost,
        });
        WireRecord { kind: "usage".into(), key: String::new(), payload: payload.to_string() }
    }

    fn revisions(store: &Store) -> i64 {
        let n: Vec<i64> = store
            .query_all("read", "SELECT count(*) FROM revisions", crate::store::sql::args![], |r| {
                r.get(0)
            })
            .unwrap();
        n[0]
    }

    #[test]
    fn a_re_pull_updates_every_attribute_and_only_moved_totals_are_revisions() {
        let mut store = Store::for_tests();
        let days = [day("2025-01-01")];
        // As a release that did not flag Priority Tier usage stored it.
        store_run(
            &mut store,
            &days,
            vec![cost("2025-01-01", "opus", "a", "1.10"), priority_usage("2025-01-01", 500, false)],
        );
        let flagged = |store: &Store| -> Vec<(i64, i64)> {
            store
                .query_all(
                    "read",
                    "SELECT u.not_in_cost, r.not_in_cost_tokens FROM usage_rows u, results r
                     WHERE r.date = u.day",
                    crate::store::sql::args![],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap()
        };
        assert_eq!(flagged(&store), [(0, 0)]);
        // The same quantity, now flagged: the row takes the flag, and the
        // day's totals did not move, so nothing is a revision.
        store_run(
            &mut store,
            &days,
            vec![cost("2025-01-01", "opus", "a", "1.1"), priority_usage("2025-01-01", 500, true)],
        );
        assert_eq!(flagged(&store), [(1, 500)], "the attribute is updated");
        assert_eq!(revisions(&store), 0, "an equal amount written otherwise is no revision");
        // The same totals under other keys (a collector that now names the
        // project): rows replaced, still no revision.
        store_run(
            &mut store,
            &days,
            vec![cost("2025-01-01", "opus", "b", "1.1"), priority_usage("2025-01-01", 500, true)],
        );
        assert_eq!(revisions(&store), 0, "a re-keyed day with the same totals");
        let projects: Vec<String> = store
            .query_all("read", "SELECT project FROM cost_rows", crate::store::sql::args![], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(projects, ["b"]);
        // A real revision: the amount moves; both the change and the row it
        // replaced are recorded.
        store_run(
            &mut store,
            &days,
            vec![cost("2025-01-01", "opus", "b", "1.25"), priority_usage("2025-01-01", 600, true)],
        );
        assert_eq!(revisions(&store), 2, "the cost and the usage moved");
        assert_totals_match_rows(&store);
    }
}
