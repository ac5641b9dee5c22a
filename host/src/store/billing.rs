//! The billing application's tables: cost and usage rows by natural key,
//! their revisions, and the per-provider per-day `results`.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use rusqlite::params;

use super::{Context, Result, Tx};
use crate::billing::records::{CostKey, Rows, UsageKey};
use crate::kernel::sink::SinkInput;

/// A stored value that a re-pull changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// `cost_rows` or `usage_rows`.
    pub table: &'static str,
    /// The day.
    pub day: NaiveDate,
    /// The key, as readable text.
    pub natural_key: String,
    /// The value before (`None`: the row is new).
    pub old_value: Option<String>,
    /// The value after (`None`: the row disappeared).
    pub new_value: Option<String>,
}

/// What [`Tx::replace_billing_days`] did.
#[derive(Debug, Default)]
pub struct Replaced {
    /// Rows inserted or updated.
    pub written: usize,
    /// Values that changed on days already stored.
    pub revisions: Vec<Revision>,
}

/// The display name the `results` table uses for a provider.
pub fn provider_display(provider: &str) -> String {
    match provider {
        "openai" => "OpenAI".into(),
        "anthropic" => "Anthropic".into(),
        other => other.to_string(),
    }
}

fn cost_key_text(k: &CostKey) -> String {
    [
        &k.account,
        &k.project,
        &k.api_key,
        &k.line_item,
        &k.model,
        &k.token_type,
        &k.cost_type,
        &k.service_tier,
        &k.context_window,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect::<Vec<_>>()
    .join("|")
}

fn usage_key_text(k: &UsageKey) -> String {
    [
        &k.account,
        &k.source,
        &k.model,
        &k.project,
        &k.api_key,
        &k.user_id,
        &k.service_tier,
        &k.dims,
        &k.metric,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect::<Vec<_>>()
    .join("|")
}

impl Tx<'_> {
    /// Makes the stored rows of this plugin on the run's complete days equal
    /// to `rows`: new keys are inserted, changed values updated, vanished keys
    /// deleted; every change to a day that was already stored is a revision.
    pub fn replace_billing_days(&self, input: &SinkInput<'_>, rows: &Rows) -> Result<Replaced> {
        let mut out = Replaced::default();
        let days: BTreeSet<NaiveDate> = input.complete_days.iter().copied().collect();
        let (Some(first), Some(last)) = (days.first(), days.last()) else {
            return Ok(out);
        };
        let (first, last) = (first.to_string(), last.to_string());
        let now = input.collected_at;
        let run_id = input.run_id;

        // Costs.
        let mut existing: HashMap<CostKey, String> = HashMap::new();
        {
            let mut stmt = self
                .tx
                .prepare_cached(
                    "SELECT provider, account, day, project, api_key, line_item, model, token_type,
                            cost_type, service_tier, context_window, amount
                     FROM cost_rows WHERE plugin_name = ?1 AND day BETWEEN ?2 AND ?3",
                )
                .ctx("read stored costs")?;
            let mut q = stmt.query(params![input.plugin, first, last]).ctx("read stored costs")?;
            while let Some(r) = q.next().ctx("read stored costs")? {
                let day: String = r.get(2).ctx("read stored costs")?;
                let Ok(day) = day.parse::<NaiveDate>() else { continue };
                if !days.contains(&day) {
                    continue;
                }
                let key = CostKey {
                    provider: r.get(0).ctx("read")?,
                    account: r.get(1).ctx("read")?,
                    day,
                    project: r.get(3).ctx("read")?,
                    api_key: r.get(4).ctx("read")?,
                    line_item: r.get(5).ctx("read")?,
                    model: r.get(6).ctx("read")?,
                    token_type: r.get(7).ctx("read")?,
                    cost_type: r.get(8).ctx("read")?,
                    service_tier: r.get(9).ctx("read")?,
                    context_window: r.get(10).ctx("read")?,
                };
                existing.insert(key, r.get(11).ctx("read")?);
            }
        }
        let stored_cost_days: BTreeSet<NaiveDate> = existing.keys().map(|k| k.day).collect();
        {
            let mut upsert = self
                .tx
                .prepare_cached(
                    "INSERT INTO cost_rows (provider, account, day, project, api_key, line_item, model,
                        token_type, cost_type, service_tier, context_window, amount, currency, quantity,
                        quantity_unit, plugin_name, run_id, collected_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                     ON CONFLICT DO UPDATE SET amount = excluded.amount, currency = excluded.currency,
                        quantity = excluded.quantity, quantity_unit = excluded.quantity_unit,
                        plugin_name = excluded.plugin_name, run_id = excluded.run_id,
                        collected_at = excluded.collected_at",
                )
                .ctx("store costs")?;
            for row in rows.costs.values().filter(|r| days.contains(&r.key.day)) {
                let k = &row.key;
                let amount = row.amount.to_stored();
                let old = existing.remove(k);
                if old.as_deref() == Some(amount.as_str()) {
                    continue;
                }
                upsert
                    .execute(params![
                        k.provider,
                        k.account,
                        k.day.to_string(),
                        k.project,
                        k.api_key,
                        k.line_item,
                        k.model,
                        k.token_type,
                        k.cost_type,
                        k.service_tier,
                        k.context_window,
                        amount,
                        row.currency,
                        row.quantity,
                        row.quantity_unit,
                        input.plugin,
                        run_id,
                        now
                    ])
                    .ctx("store costs")?;
                out.written += 1;
                if old.is_some() || stored_cost_days.contains(&k.day) {
                    out.revisions.push(Revision {
                        table: "cost_rows",
                        day: k.day,
                        natural_key: format!("{}|{}", k.provider, cost_key_text(k)),
                        old_value: old,
                        new_value: Some(amount),
                    });
                }
            }
            let mut delete = self
                .tx
                .prepare_cached(
                    "DELETE FROM cost_rows WHERE provider = ?1 AND account = ?2 AND day = ?3 AND
                     project = ?4 AND api_key = ?5 AND line_item = ?6 AND model = ?7 AND
                     token_type = ?8 AND cost_type = ?9 AND service_tier = ?10 AND context_window = ?11",
                )
                .ctx("remove vanished costs")?;
            for (k, old) in existing {
                delete
                    .execute(params![
                        k.provider,
                        k.account,
                        k.day.to_string(),
                        k.project,
                        k.api_key,
                        k.line_item,
                        k.model,
                        k.token_type,
                        k.cost_type,
                        k.service_tier,
                        k.context_window
                    ])
                    .ctx("remove vanished costs")?;
                out.revisions.push(Revision {
                    table: "cost_rows",
                    day: k.day,
                    natural_key: format!("{}|{}", k.provider, cost_key_text(&k)),
                    old_value: Some(old),
                    new_value: None,
                });
            }
        }

        // Usage.
        let mut existing: HashMap<UsageKey, i64> = HashMap::new();
        {
            let mut stmt = self
                .tx
                .prepare_cached(
                    "SELECT provider, account, day, source, model, project, api_key, user_id,
                            service_tier, dims, metric, quantity
                     FROM usage_rows WHERE plugin_name = ?1 AND day BETWEEN ?2 AND ?3",
                )
                .ctx("read stored usage")?;
            let mut q = stmt.query(params![input.plugin, first, last]).ctx("read stored usage")?;
            while let Some(r) = q.next().ctx("read stored usage")? {
                let day: String = r.get(2).ctx("read")?;
                let Ok(day) = day.parse::<NaiveDate>() else { continue };
                if !days.contains(&day) {
                    continue;
                }
                let key = UsageKey {
                    provider: r.get(0).ctx("read")?,
                    account: r.get(1).ctx("read")?,
                    day,
                    source: r.get(3).ctx("read")?,
                    model: r.get(4).ctx("read")?,
                    project: r.get(5).ctx("read")?,
                    api_key: r.get(6).ctx("read")?,
                    user_id: r.get(7).ctx("read")?,
                    service_tier: r.get(8).ctx("read")?,
                    dims: r.get(9).ctx("read")?,
                    metric: r.get(10).ctx("read")?,
                };
                existing.insert(key, r.get(11).ctx("read")?);
            }
        }
        let stored_usage_days: BTreeSet<NaiveDate> = existing.keys().map(|k| k.day).collect();
        {
            let mut upsert = self
                .tx
                .prepare_cached(
                    "INSERT INTO usage_rows (provider, account, day, source, model, project, api_key,
                        user_id, service_tier, dims, metric, quantity, counts_as_tokens, plugin_name,
                        run_id, collected_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                     ON CONFLICT DO UPDATE SET quantity = excluded.quantity,
                        counts_as_tokens = excluded.counts_as_tokens, plugin_name = excluded.plugin_name,
                        run_id = excluded.run_id, collected_at = excluded.collected_at",
                )
                .ctx("store usage")?;
            for row in rows.usage.values().filter(|r| days.contains(&r.key.day)) {
                let k = &row.key;
                let old = existing.remove(k);
                if old == Some(row.quantity) {
                    continue;
                }
                upsert
                    .execute(params![
                        k.provider,
                        k.account,
                        k.day.to_string(),
                        k.source,
                        k.model,
                        k.project,
                        k.api_key,
                        k.user_id,
                        k.service_tier,
                        k.dims,
                        k.metric,
                        row.quantity,
                        row.counts_as_tokens,
                        input.plugin,
                        run_id,
                        now
                    ])
                    .ctx("store usage")?;
                out.written += 1;
                if old.is_some() || stored_usage_days.contains(&k.day) {
                    out.revisions.push(Revision {
                        table: "usage_rows",
                        day: k.day,
                        natural_key: format!("{}|{}", k.provider, usage_key_text(k)),
                        old_value: old.map(|v| v.to_string()),
                        new_value: Some(row.quantity.to_string()),
                    });
                }
            }
            let mut delete = self
                .tx
                .prepare_cached(
                    "DELETE FROM usage_rows WHERE provider = ?1 AND account = ?2 AND day = ?3 AND
                     source = ?4 AND model = ?5 AND project = ?6 AND api_key = ?7 AND user_id = ?8 AND
                     service_tier = ?9 AND dims = ?10 AND metric = ?11",
                )
                .ctx("remove vanished usage")?;
            for (k, old) in existing {
                delete
                    .execute(params![
                        k.provider,
                        k.account,
                        k.day.to_string(),
                        k.source,
                        k.model,
                        k.project,
                        k.api_key,
                        k.user_id,
                        k.service_tier,
                        k.dims,
                        k.metric
                    ])
                    .ctx("remove vanished usage")?;
                out.revisions.push(Revision {
                    table: "usage_rows",
                    day: k.day,
                    natural_key: format!("{}|{}", k.provider, usage_key_text(&k)),
                    old_value: Some(old.to_string()),
                    new_value: None,
                });
            }
        }

        let mut insert_rev = self
            .tx
            .prepare_cached(
                "INSERT INTO revisions (table_name, day, natural_key, old_value, new_value, run_id, changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .ctx("store revisions")?;
        for r in &out.revisions {
            insert_rev
                .execute(params![
                    r.table,
                    r.day.to_string(),
                    r.natural_key,
                    r.old_value,
                    r.new_value,
                    run_id,
                    now
                ])
                .ctx("store revisions")?;
        }
        Ok(out)
    }

    /// Recomputes `results` (tokens and exact cost per provider and day).
    pub fn refresh_results(
        &self,
        providers: &BTreeSet<String>,
        days: &[NaiveDate],
        now: &str,
    ) -> Result<()> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO results (provider, date, tokens, cost, collected_at)
                 SELECT ?1, ?3,
                   (SELECT COALESCE(SUM(quantity), 0) FROM usage_rows
                     WHERE provider = ?2 AND day = ?3 AND counts_as_tokens = 1),
                   (SELECT dec_sum(amount) FROM cost_rows WHERE provider = ?2 AND day = ?3),
                   ?4
                 ON CONFLICT (provider, date) DO UPDATE SET tokens = excluded.tokens,
                   cost = excluded.cost, collected_at = excluded.collected_at",
            )
            .ctx("refresh results")?;
        for p in providers {
            let display = provider_display(p);
            for d in days {
                stmt.execute(params![display, p, d.to_string(), now]).ctx("refresh results")?;
            }
        }
        Ok(())
    }
}
