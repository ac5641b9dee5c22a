//! The billing application's reads ([`BillingReads`]): its reports
//! (summaries, exports, alerts), single calls of local logs, and the record
//! of alerts already delivered. Money is summed in
//! SQL with the exact `dec_sum` aggregate and comes back as decimal text.

use super::sql::{args, Row, Val};
use chrono::NaiveDate;

use super::{Result, Store, StoreError};
use crate::billing::storage::{
    BillingReads, Breakdown, BreakdownRow, CallLine, CostLine, DayBreakdownRow, DayTotal,
    PricedGroup, SentAlert, TokenMix,
};

/// A provider's display name, as its collector described it (the id when
/// none did), for a query joining `providers p` to a table `t`.
pub(super) const DISPLAY: &str = "COALESCE(p.display_name, t.provider)";

fn count(r: &Row<'_>, i: usize) -> Result<u64> {
    Ok(r.get::<Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
}

/// The seven counts of a query row from column `first` on (`input`,
/// `output`, `cache_read`, `cache_write_5m`, `cache_write_1h`, `reasoning`,
/// `web_searches`, in that order); a NULL sum is 0.
pub(super) fn priced_columns(r: &Row<'_>, first: usize) -> Result<billing_records::Priced> {
    Ok(billing_records::Priced {
        input: count(r, first)?,
        output: count(r, first + 1)?,
        cache_read: count(r, first + 2)?,
        cache_write_5m: count(r, first + 3)?,
        cache_write_1h: count(r, first + 4)?,
        reasoning: count(r, first + 5)?,
        web_searches: count(r, first + 6)?,
    })
}

/// The SQL expressions of a breakdown's key in `cost_rows` and in `usage_rows`.
pub(super) fn keys(by: Breakdown) -> (&'static str, &'static str) {
    match by {
        Breakdown::Model => ("CASE WHEN model != '' THEN model ELSE line_item END", "model"),
        Breakdown::Project => ("project", "project"),
        Breakdown::Account => ("account", "account"),
    }
}

fn group_day(text: String) -> Result<NaiveDate> {
    super::stored_day(&text)
}

/// A breakdown row from the columns provider, key, cost, tokens starting at
/// column `at`.
fn breakdown_row(r: &Row<'_>, at: usize) -> Result<BreakdownRow> {
    Ok(BreakdownRow {
        provider: r.get(at)?,
        key: r.get(at + 1)?,
        cost: r.get(at + 2)?,
        tokens: r.get(at + 3)?,
    })
}

fn parse_date(s: &str) -> Result<NaiveDate> {
    s.parse().map_err(|_| StoreError::Invalid(format!("{s:?} is not a date")))
}

impl Store {
    /// Runs a breakdown query over `?1..?2` (and `?3`, the dimension, where
    /// the query names it).
    fn read_breakdown(
        &self,
        sql: &str,
        from: NaiveDate,
        to: NaiveDate,
        dim: &str,
    ) -> Result<Vec<BreakdownRow>> {
        let (from, to) = (from.to_string(), to.to_string());
        let args = if dim.is_empty() { args![from, to] } else { args![from, to, dim] };
        self.query_all("read a breakdown", sql, args, |r| breakdown_row(r, 0))
    }
}

impl Store {
    /// The tier starts the kept sums were made for, highest first.
    fn call_tiers(&self) -> Result<Vec<u64>> {
        self.query_all(
            "read calls",
            "SELECT start FROM call_tiers ORDER BY start DESC",
            args![],
            |r| count(r, 0),
        )
    }

    /// Makes the kept sums again for other tier starts, from the calls.
    pub fn rebuild_call_days(&self, starts: &[u64]) -> Result<()> {
        const WHAT: &str = "rebuild the sums of calls";
        let tx = self.begin()?;
        tx.db.exec(WHAT, "DELETE FROM call_tiers", args![])?;
        for s in starts {
            tx.db.exec(
                WHAT,
                "INSERT INTO call_tiers (start) VALUES (?1) ON CONFLICT DO NOTHING",
                args![*s],
            )?;
        }
        tx.db.batch(
            WHAT,
            "DELETE FROM call_days;
             INSERT INTO call_days (day, provider, account, model, project, service_tier, speed,
                 over, calls, input, output, cache_read, cache_write_5m, cache_write_1h,
                 reasoning, web_searches)
             SELECT day, provider, account, model, project, service_tier, speed,
                 coalesce((SELECT max(start) FROM call_tiers
                           WHERE start < input + cache_read + cache_write_5m + cache_write_1h), 0)
                   AS tier_over,
                 count(*), sum(input), sum(output), sum(cache_read), sum(cache_write_5m),
                 sum(cache_write_1h), sum(reasoning), sum(web_searches)
             FROM calls
             GROUP BY day, provider, account, model, project, service_tier, speed, tier_over;",
        )?;
        tx.commit()
    }

    /// [`Store::call_groups`] summed from the calls themselves.
    fn call_groups_from_calls(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        starts: &[u64],
    ) -> Result<Vec<PricedGroup>> {
        let over = if starts.is_empty() {
            "0".to_string()
        } else {
            let arms: String = starts
                .iter()
                .map(|s| {
                    format!(
                        " WHEN input + cache_read + cache_write_5m + cache_write_1h > {s} THEN {s}"
                    )
                })
                .collect();
            format!("CASE{arms} ELSE 0 END")
        };
        let sql = format!(
            "SELECT t.day, t.provider, {DISPLAY}, t.model, t.project,
                    trim(t.service_tier || ' ' || t.speed), {over} AS over, count(*),
                    SUM(input), SUM(output), SUM(cache_read), SUM(cache_write_5m),
                    SUM(cache_write_1h), SUM(reasoning), SUM(web_searches), t.account
             FROM calls t LEFT JOIN providers p USING (provider)
             WHERE t.day BETWEEN ?1 AND ?2
             GROUP BY t.day, t.provider, p.display_name, t.account, t.model, t.project,
                      t.service_tier, t.speed, over
             ORDER BY t.day"
        );
        self.query_all("read calls", &sql, args![from.to_string(), to.to_string()], call_group)
    }
}

/// A row of [`Store::call_groups`]' queries.
fn call_group(r: &Row<'_>) -> Result<PricedGroup> {
    Ok(PricedGroup {
        day: group_day(r.get(0)?)?,
        provider: r.get(1)?,
        name: r.get(2)?,
        account: r.get(15)?,
        model: r.get(3)?,
        project: r.get(4)?,
        tier: r.get(5)?,
        over: count(r, 6)?,
        long_context: false,
        calls: r.get(7)?,
        not_in_cost: false,
        counts: priced_columns(r, 8)?,
    })
}

/// The billing application's reads, on either engine.
impl BillingReads for Store {
    /// Every provider with data, as `(id, display name)`: those collectors
    /// described, and those only known by their id (local-log calls) or
    /// their name (`results` rows), by display name.
    fn provider_names(&self) -> Result<Vec<(String, String)>> {
        let stmt = "SELECT provider, display_name FROM providers
                 UNION SELECT DISTINCT provider, provider FROM calls
                   WHERE provider NOT IN (SELECT provider FROM providers)
                 UNION SELECT DISTINCT lower(provider), provider FROM results
                   WHERE provider NOT IN (SELECT display_name FROM providers)
                 ORDER BY 2";
        self.query_all("read providers", stmt, args![], |r| Ok((r.get(0)?, r.get(1)?)))
    }

    /// The `results` rows between two days, by date then provider.
    fn day_totals(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<DayTotal>> {
        let stmt =
            "SELECT provider, date, tokens, cost, collected_at, not_in_cost_tokens FROM results
                 WHERE date BETWEEN ?1 AND ?2 ORDER BY date, provider";
        let rows: Vec<(String, String, i64, String, String, i64)> =
            self.query_all("read results", stmt, args![from.to_string(), to.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })?;
        let mut out = Vec::new();
        for (provider, date, tokens, cost, collected_at, not_in_cost_tokens) in rows {
            out.push(DayTotal {
                provider,
                date: parse_date(&date)?,
                tokens,
                cost,
                collected_at,
                not_in_cost_tokens,
                estimated: false,
            });
        }
        Ok(out)
    }

    /// Per day between `from` and `to`, how many stored values re-pulls
    /// changed after the day was first stored (late-settled days).
    fn revisions_by_day(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<std::collections::BTreeMap<String, i64>> {
        self.query_all(
            "read revisions",
            "SELECT day, count(*) FROM revisions WHERE day BETWEEN ?1 AND ?2
             GROUP BY day ORDER BY day",
            args![from.to_string(), to.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Tokens between two days per provider (display name) and counter,
    /// counting only the counters that make up the day's tokens.
    fn token_mix(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<TokenMix>> {
        self.query_all(
            "read the token mix",
            &format!(
                "SELECT {DISPLAY} AS name, metric, SUM(quantity),
                        SUM(CASE WHEN not_in_cost = 1 THEN quantity ELSE 0 END)
                 FROM usage_rows t LEFT JOIN providers p USING (provider)
                 WHERE day BETWEEN ?1 AND ?2 AND counts_as_tokens = 1
                 GROUP BY name, metric ORDER BY name, metric"
            ),
            args![from.to_string(), to.to_string()],
            |r| {
                Ok(TokenMix {
                    provider: r.get(0)?,
                    metric: r.get(1)?,
                    tokens: r.get(2)?,
                    without_billed_cost: r.get(3)?,
                })
            },
        )
    }

    /// The alerts delivered, newest first, at most `limit`.
    fn alerts_sent(&self, limit: usize) -> Result<Vec<SentAlert>> {
        self.query_all(
            "read alerts",
            "SELECT rule_key, channel, sent_at, message FROM alerts_sent
             ORDER BY sent_at DESC LIMIT ?1",
            args![limit as i64],
            |r| {
                Ok(SentAlert {
                    key: r.get(0)?,
                    channel: r.get(1)?,
                    sent_at: r.get(2)?,
                    message: r.get(3)?,
                })
            },
        )
    }

    /// Each described provider's note on usage its cost report leaves out,
    /// by display name.
    fn not_in_cost_notes(&self) -> Result<std::collections::BTreeMap<String, String>> {
        self.query_all(
"read providers",
"SELECT display_name, not_in_cost_note FROM providers WHERE not_in_cost_note IS NOT NULL",
args![],
|r| Ok((r.get(0)?, r.get(1)?)),
)
    }

    /// Cost and tokens between two days, grouped by provider and `by`, from
    /// the daily totals (a few rows per day, whatever the detail).
    fn breakdown(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        by: Breakdown,
    ) -> Result<Vec<BreakdownRow>> {
        let dim = by.dim();
        self.read_breakdown(
            &format!(
                "SELECT {DISPLAY} AS name, key, dec_sum(cost), SUM(tokens) FROM daily_totals t
                 LEFT JOIN providers p USING (provider)
                 WHERE dim = ?3 AND day BETWEEN ?1 AND ?2
                 GROUP BY name, key ORDER BY name, key"
            ),
            from,
            to,
            dim,
        )
    }

    /// The breakdown per day, from the daily totals, by day, provider, key.
    fn breakdown_by_day(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        by: Breakdown,
    ) -> Result<Vec<DayBreakdownRow>> {
        let dim = by.dim();
        let stmt = &format!(
            "SELECT day, {DISPLAY} AS name, key, cost, tokens FROM daily_totals t
                 LEFT JOIN providers p USING (provider)
                 WHERE dim = ?3 AND day BETWEEN ?1 AND ?2 ORDER BY day, name, key"
        );
        let rows: Vec<(String, BreakdownRow)> = self.query_all(
            "read a breakdown",
            stmt,
            args![from.to_string(), to.to_string(), dim],
            |r| Ok((r.get(0)?, breakdown_row(r, 1)?)),
        )?;
        let mut out = Vec::new();
        for (day, row) in rows {
            out.push(DayBreakdownRow { day: parse_date(&day)?, row });
        }
        Ok(out)
    }

    /// The same breakdown computed from every detailed row (what the daily
    /// totals must always equal; for tests and checks).
    fn breakdown_from_rows(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        by: Breakdown,
    ) -> Result<Vec<BreakdownRow>> {
        let (cost_key, usage_key) = keys(by);
        let sql = format!(
            "SELECT {DISPLAY} AS name, k, dec_sum(cost), SUM(tokens) FROM (
                SELECT provider, {cost_key} AS k, amount AS cost, 0 AS tokens FROM cost_rows
                 WHERE day BETWEEN ?1 AND ?2
                UNION ALL
                SELECT provider, {usage_key} AS k, NULL AS cost, quantity AS tokens FROM usage_rows
                 WHERE day BETWEEN ?1 AND ?2 AND counts_as_tokens = 1
             ) t LEFT JOIN providers p USING (provider) GROUP BY name, k ORDER BY name, k"
        );
        self.read_breakdown(&sql, from, to, "")
    }

    /// Calls `f` for every cost row between two days, in key order, one row
    /// at a time and without copying its text.
    fn each_cost_line<E>(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        mut f: impl FnMut(&CostLine<'_>) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>> {
        let stmt =
            "SELECT t.provider, account, day, project, api_key, line_item, model, token_type,
                        cost_type, service_tier, context_window, amount, currency, quantity,
                        quantity_unit, collected_at, COALESCE(p.display_name, t.provider),
                        p.service_name, p.service_category, p.service_subcategory,
                        p.sub_account_type
                 FROM cost_rows t LEFT JOIN providers p USING (provider)
                 WHERE day BETWEEN ?1 AND ?2
                 ORDER BY day, t.provider, account, project, api_key, line_item, model, token_type,
                          cost_type, service_tier, context_window";
        let mut stopped = Ok(());
        self.db.each("read cost rows", stmt, args![from.to_string(), to.to_string()], |r| {
            // Each column as read: borrowed from SQLite's row, or decoded
            // (PostgreSQL's NUMERIC amounts) into this row's own text.
            let vals = (0..21).map(|i| r.val(i)).collect::<Result<Vec<Val<'_>>>>()?;
            let opt = |i: usize| -> Result<Option<&str>> {
                match &vals[i] {
                    Val::Text(t) => Ok(Some(t.as_ref())),
                    Val::Null => Ok(None),
                    _ => Err(StoreError::Invalid(format!("cost row column {i} is not text"))),
                }
            };
            let text = |i: usize| -> Result<&str> {
                opt(i)?.ok_or_else(|| StoreError::Invalid(format!("cost row column {i} is NULL")))
            };
            let line = CostLine {
                provider: text(0)?,
                account: text(1)?,
                day: text(2)?,
                project: text(3)?,
                api_key: text(4)?,
                line_item: text(5)?,
                model: text(6)?,
                token_type: text(7)?,
                cost_type: text(8)?,
                service_tier: text(9)?,
                context_window: text(10)?,
                amount: text(11)?,
                currency: text(12)?,
                quantity: opt(13)?,
                quantity_unit: opt(14)?,
                collected_at: text(15)?,
                provider_name: text(16)?,
                service: [opt(17)?, opt(18)?, opt(19)?, opt(20)?],
            };
            stopped = f(&line);
            Ok(stopped.is_ok())
        })?;
        Ok(stopped)
    }

    /// Whether an alert went out on `channel` already.
    fn alert_sent(&self, rule_key: &str, channel: &str) -> Result<bool> {
        self.db
            .row_opt(
                "read sent alerts",
                "SELECT 1 FROM alerts_sent WHERE rule_key = ?1 AND channel = ?2",
                args![rule_key, channel],
                |_| Ok(()),
            )
            .map(|o| o.is_some())
    }

    /// Records a delivered alert.
    fn record_alert(
        &mut self,
        rule_key: &str,
        channel: &str,
        now: &str,
        message: &str,
    ) -> Result<()> {
        self.db.exec(
            "record a sent alert",
            "INSERT INTO alerts_sent (rule_key, channel, sent_at, message) VALUES (?1, ?2, ?3, ?4)
                  ON CONFLICT DO NOTHING",
            args![rule_key, channel, now, message],
        )?;
        Ok(())
    }

    /// Calls from local logs between two days, summed per day, provider,
    /// model, project, tier and the largest of `starts` (long-context
    /// thresholds, highest first, as [`crate::billing::prices::PriceTable::tier_starts`]
    /// gives them) each call's input exceeded: tiers price whole
    /// requests, so calls are grouped by the tier they fall in. Read from
    /// the sums kept as calls are stored (`call_days`), rebuilt first when
    /// they were made for other tier starts; a read-only store that cannot
    /// rebuild them sums the calls themselves.
    fn call_groups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        starts: &[u64],
    ) -> Result<Vec<PricedGroup>> {
        if self.call_tiers()? != starts && self.rebuild_call_days(starts).is_err() {
            return self.call_groups_from_calls(from, to, starts);
        }
        let sql = format!(
            "SELECT t.day, t.provider, {DISPLAY}, t.model, t.project,
                    trim(t.service_tier || ' ' || t.speed), t.over, t.calls,
                    input, output, cache_read, cache_write_5m, cache_write_1h, reasoning,
                    web_searches, t.account
             FROM call_days t LEFT JOIN providers p USING (provider)
             WHERE t.day BETWEEN ?1 AND ?2 AND t.calls > 0
             ORDER BY t.day"
        );
        self.query_all("read calls", &sql, args![from.to_string(), to.to_string()], call_group)
    }

    /// The priced counts collectors sent with their usage between two days,
    /// per day, provider, account, model, project, tier, long context and
    /// whether the cost report covers them.
    fn usage_groups(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<PricedGroup>> {
        self.query_all(
            "read priced usage",
            &format!(
                "SELECT t.day, t.provider, {DISPLAY}, t.account, t.model, t.project,
                        t.service_tier, t.long_context, t.not_in_cost, SUM(input), SUM(output),
                        SUM(cache_read), SUM(cache_write_5m), SUM(cache_write_1h),
                        SUM(reasoning), SUM(web_searches)
                 FROM usage_priced t LEFT JOIN providers p USING (provider)
                 WHERE t.day BETWEEN ?1 AND ?2
                 GROUP BY t.day, t.provider, p.display_name, t.account, t.model, t.project,
                          t.service_tier,
                          t.long_context, t.not_in_cost
                 ORDER BY t.day"
            ),
            args![from.to_string(), to.to_string()],
            |r| {
                Ok(PricedGroup {
                    day: group_day(r.get(0)?)?,
                    over: 0,
                    long_context: r.get(7)?,
                    provider: r.get(1)?,
                    name: r.get(2)?,
                    account: r.get(3)?,
                    model: r.get(4)?,
                    project: r.get(5)?,
                    tier: r.get(6)?,
                    calls: 0,
                    not_in_cost: r.get(8)?,
                    counts: priced_columns(r, 9)?,
                })
            },
        )
    }

    /// Per plugin that reads local logs: its calls between two UTC days,
    /// and the newest instant among them.
    fn calls_by_plugin(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<std::collections::BTreeMap<String, (i64, Option<String>)>> {
        self.query_all(
            "read calls",
            "SELECT plugin_name, count(*), max(at) FROM calls WHERE day BETWEEN ?1 AND ?2
             GROUP BY plugin_name",
            args![from.to_string(), to.to_string()],
            |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))),
        )
    }

    /// Whether `plugin` has ever stored a call.
    fn has_calls(&self, plugin: &str) -> Result<bool> {
        self.db.row(
            "read calls",
            "SELECT EXISTS (SELECT 1 FROM calls WHERE plugin_name = ?1)",
            args![plugin],
            |r| r.get(0),
        )
    }

    /// Every call between two UTC days, oldest first (calls without an
    /// instant sort first on their day).
    fn calls_in(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<CallLine>> {
        let sql = format!(
            "SELECT t.source, t.provider, {DISPLAY}, t.day, t.at, t.model, t.project, t.session,
                    trim(t.service_tier || ' ' || t.speed), input, output, cache_read,
                    cache_write_5m, cache_write_1h, reasoning, web_searches, t.machine
             FROM calls t LEFT JOIN providers p USING (provider)
             WHERE t.day BETWEEN ?1 AND ?2
             ORDER BY t.day, t.at, t.source, t.key"
        );
        self.query_all("read calls", &sql, args![from.to_string(), to.to_string()], |r| {
            let day: String = r.get(3)?;
            Ok(CallLine {
                source: r.get(0)?,
                provider: r.get(1)?,
                name: r.get(2)?,
                day: super::stored_day(&day)?,
                at: r.get(4)?,
                model: r.get(5)?,
                project: r.get(6)?,
                session: r.get(7)?,
                tier: r.get(8)?,
                counts: priced_columns(r, 9)?,
                machine: r.get(16)?,
            })
        })
    }

    /// Per machine, the runs started between two UTC days and the newest
    /// start among them (runs from before machines were kept: `""`).
    fn runs_by_machine(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<std::collections::BTreeMap<String, (i64, String)>> {
        self.query_all(
            "read runs",
            "SELECT coalesce(machine, ''), count(*), max(started_at) FROM runs
             WHERE substr(started_at, 1, 10) BETWEEN ?1 AND ?2 GROUP BY coalesce(machine, '')",
            args![from.to_string(), to.to_string()],
            |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stores a call (or a larger copy of it) the way an import does.
    fn insert(store: &mut Store, key: &str, day: &str, model: &str, input: u64, output: u64) {
        let row = crate::billing::records::CallRow {
            provider: "anthropic".into(),
            account: "default".into(),
            source: "s".into(),
            key: key.into(),
            day: day.parse().unwrap(),
            at: None,
            model: model.into(),
            project: "/w".into(),
            session: "s1".into(),
            service_tier: "standard".into(),
            speed: String::new(),
            priced: billing_records::Priced { input, output, ..Default::default() },
        };
        let tx = store.transaction().unwrap();
        tx.upsert_calls("p", "r", &[row]).unwrap();
        tx.commit().unwrap();
    }

    /// The kept sums, as `call_groups` reads them.
    fn kept(store: &Store, starts: &[u64]) -> Vec<(String, String, u64, i64, u64, u64)> {
        let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let groups = |g: Vec<PricedGroup>| {
            let mut rows: Vec<_> = g
                .into_iter()
                .map(|g| {
                    (g.day.to_string(), g.model, g.over, g.calls, g.counts.input, g.counts.output)
                })
                .collect();
            rows.sort();
            rows
        };
        let kept = groups(store.call_groups(from, to, starts).unwrap());
        // Whatever happened, the sums are those of the calls themselves.
        assert_eq!(kept, groups(store.call_groups_from_calls(from, to, starts).unwrap()));
        kept
    }

    #[test]
    fn sums_kept_as_calls_are_stored_equal_the_sums_of_the_calls() {
        let mut store = Store::for_tests();
        insert(&mut store, "a", "2026-11-01", "m1", 10, 5);
        insert(&mut store, "b", "2026-11-01", "m1", 300_000, 7);
        insert(&mut store, "c", "2026-11-02", "m2", 1, 1);
        assert_eq!(
            kept(&store, &[]),
            [
                ("2026-11-01".into(), "m1".into(), 0, 2, 300_010, 12),
                ("2026-11-02".into(), "m2".into(), 0, 1, 1, 1)
            ]
        );
        // A copy that only grows a call's counts moves its group by the
        // difference.
        insert(&mut store, "c", "2026-11-02", "m2", 1, 4);
        assert_eq!(kept(&store, &[])[1], ("2026-11-02".into(), "m2".into(), 0, 1, 1, 4));
        // Another table's long-context start splits the day's calls by tier.
        let tiers = kept(&store, &[200_000]);
        assert_eq!(tiers.len(), 3, "{tiers:?}");
        assert!(tiers.contains(&("2026-11-01".into(), "m1".into(), 200_000, 1, 300_000, 7)));
        // A call that grows past the start moves to its tier; one deleted
        // leaves nothing behind.
        insert(&mut store, "a", "2026-11-01", "m1", 250_000, 9);
        store.db.exec("delete", "DELETE FROM calls WHERE key = 'c'", args![]).unwrap();
        assert_eq!(
            kept(&store, &[200_000]),
            [("2026-11-01".into(), "m1".into(), 200_000, 2, 550_000, 16)]
        );
        // Rows moved to another account keep their sums.
        store.db.exec("update", "UPDATE calls SET account = 'acme'", args![]).unwrap();
        assert_eq!(kept(&store, &[200_000]).len(), 1);
        let accounts: i64 = store
            .db
            .row("read", "SELECT count(*) FROM call_days WHERE account = 'default'", args![], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(accounts, 0);
    }
}
