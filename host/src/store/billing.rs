//! The billing application's tables: cost and usage rows by natural key,
//! their revisions, and the per-provider per-day `results`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;

use super::sql::{args, owned, Db, Row, Val};
use bigdecimal::{BigDecimal, Zero};
use chrono::NaiveDate;

use super::{Result, Store, StoreError, Tx};
use crate::billing::money::Money;
use crate::billing::records::{
    name_key, CallRow, CostKey, CostRow, PricedUsage, ProviderInfo, Rows, UsageKey, UsageRow,
};
use crate::billing::storage::Breakdown;
use crate::billing::storage::{BillingWrites, NotInCost, Replaced, Revision};
use crate::kernel::sink::SinkInput;

/// A normalized table whose rows a run replaces day by day: how to read,
/// upsert and delete its rows, and how to name them in a revision.
///
/// A row has a value (the amount, the count) and attributes beside it
/// (currency, quantity, whether usage counts as tokens or is left out of
/// the cost report). A re-pull rewrites a row when either changed, so rows
/// stored by an earlier release take on what the collector says today; only
/// a change of the day's totals is a revision.
trait DayTable {
    type Key: Eq + Hash;
    type Row;
    const TABLE: &'static str;
    /// Key columns, the value, then the attributes,
    /// `WHERE plugin_name = ?1 AND day BETWEEN ?2 AND ?3`.
    const SELECT: &'static str;
    const UPSERT: &'static str;
    /// `WHERE` the key columns equal the parameters, in key order.
    const DELETE: &'static str;
    /// A stored row's key, value and attributes; `None` for a day that does
    /// not parse.
    fn read(r: &Row<'_>) -> Result<Option<(Self::Key, Stored)>>;
    fn key(row: &Self::Row) -> &Self::Key;
    fn value(row: &Self::Row) -> String;
    /// The attributes as one comparable text.
    fn attributes(row: &Self::Row) -> String;
    /// A value as a number, for the day's totals.
    fn measure(value: &str) -> BigDecimal;
    fn day(key: &Self::Key) -> NaiveDate;
    /// The key's provider and account: a run replaces only rows of the
    /// providers it claims (and of its job's account, when set).
    fn owner(key: &Self::Key) -> (&str, &str);
    /// Which of the day's totals the row adds to (besides its provider and
    /// account): a re-pull that leaves every total of a day as it was is not
    /// a revision, however its rows are keyed.
    fn total(key: &Self::Key) -> &str;
    fn describe(key: &Self::Key) -> String;
    /// The arguments of [`DayTable::UPSERT`] for `row`.
    fn upsert_args(row: &Self::Row, input: &SinkInput<'_>) -> Vec<Val<'static>>;
    fn delete(db: &Db, key: &Self::Key) -> Result<usize>;
}

/// A stored row's value and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    value: String,
    attributes: String,
}

/// Optional texts joined into one comparable text (`None` and `""` differ).
fn attribute_text(parts: &[Option<&str>]) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Some(t) => {
                out.push('=');
                out.push_str(t);
            }
            None => out.push('-'),
        }
        out.push('\u{1f}');
    }
    out
}

/// A [`billing_records::Priced`]'s seven counts as SQL integers, in
/// column order.
fn count_params(p: &billing_records::Priced) -> [i64; 7] {
    p.buckets().map(|(_, n)| i64::try_from(n).unwrap_or(i64::MAX))
}

fn day_of(text: String) -> Option<NaiveDate> {
    text.parse().ok()
}

struct Costs;

impl DayTable for Costs {
    type Key = CostKey;
    type Row = CostRow;
    const TABLE: &'static str = "cost_rows";
    const SELECT: &'static str =
        "SELECT provider, account, day, project, api_key, line_item, model, token_type,
            cost_type, service_tier, context_window, amount, currency, quantity, quantity_unit
         FROM cost_rows WHERE plugin_name = ?1 AND day BETWEEN ?2 AND ?3";
    const UPSERT: &'static str =
        "INSERT INTO cost_rows (provider, account, day, project, api_key, line_item,
            model, token_type, cost_type, service_tier, context_window, amount, currency, quantity,
            quantity_unit, plugin_name, run_id, collected_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT (provider, account, day, project, api_key, line_item, model, token_type,
            cost_type, service_tier, context_window)
         DO UPDATE SET amount = excluded.amount, currency = excluded.currency,
            quantity = excluded.quantity, quantity_unit = excluded.quantity_unit,
            plugin_name = excluded.plugin_name, run_id = excluded.run_id,
            collected_at = excluded.collected_at";
    const DELETE: &'static str =
        "DELETE FROM cost_rows WHERE provider = ?1 AND account = ?2 AND day = ?3
         AND project = ?4 AND api_key = ?5 AND line_item = ?6 AND model = ?7 AND token_type = ?8
         AND cost_type = ?9 AND service_tier = ?10 AND context_window = ?11";

    fn read(r: &Row<'_>) -> Result<Option<(CostKey, Stored)>> {
        let Some(day) = day_of(r.get(2)?) else { return Ok(None) };
        let key = CostKey {
            provider: r.get(0)?,
            account: r.get(1)?,
            day,
            project: r.get(3)?,
            api_key: r.get(4)?,
            line_item: r.get(5)?,
            model: r.get(6)?,
            token_type: r.get(7)?,
            cost_type: r.get(8)?,
            service_tier: r.get(9)?,
            context_window: r.get(10)?,
        };
        let (currency, quantity, unit): (String, Option<String>, Option<String>) =
            (r.get(12)?, r.get(13)?, r.get(14)?);
        let attributes = attribute_text(&[Some(&currency), quantity.as_deref(), unit.as_deref()]);
        Ok(Some((key, Stored { value: r.get(11)?, attributes })))
    }

    fn key(row: &CostRow) -> &CostKey {
        &row.key
    }

    fn value(row: &CostRow) -> String {
        row.amount.to_stored()
    }

    fn attributes(row: &CostRow) -> String {
        attribute_text(&[
            Some(&row.currency),
            row.quantity.as_deref(),
            row.quantity_unit.as_deref(),
        ])
    }

    fn measure(value: &str) -> BigDecimal {
        // Stored by this program as plain decimal text; the same amount
        // written another way by an older release compares equal.
        Money::from_stored(value).decimal().clone()
    }

    fn total(_: &CostKey) -> &str {
        // One total per provider and account: the day's billed amount.
        ""
    }

    fn owner(key: &CostKey) -> (&str, &str) {
        (&key.provider, &key.account)
    }

    fn day(key: &CostKey) -> NaiveDate {
        key.day
    }

    fn describe(k: &CostKey) -> String {
        [&k.provider, &k.account, &k.project, &k.api_key, &k.line_item, &k.model, &k.token_type]
            .iter()
            .chain([&k.cost_type, &k.service_tier, &k.context_window].iter())
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("|")
    }

    fn upsert_args(row: &CostRow, input: &SinkInput<'_>) -> Vec<Val<'static>> {
        let k = &row.key;
        owned(args![
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
            row.amount.to_stored(),
            row.currency,
            row.quantity,
            row.quantity_unit,
            input.plugin,
            input.run_id,
            input.collected_at
        ])
    }

    fn delete(db: &Db, k: &CostKey) -> Result<usize> {
        db.exec(
            "store rows",
            Self::DELETE,
            args![
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
            ],
        )
    }
}

struct Usage;

fn usage_attributes(counts_as_tokens: bool, not_in_cost: bool) -> String {
    format!("tokens={counts_as_tokens};not_in_cost={not_in_cost}")
}

impl DayTable for Usage {
    type Key = UsageKey;
    type Row = UsageRow;
    const TABLE: &'static str = "usage_rows";
    const SELECT: &'static str =
        "SELECT provider, account, day, source, model, project, api_key, user_id,
            service_tier, dims, metric, quantity, counts_as_tokens, not_in_cost
         FROM usage_rows WHERE plugin_name = ?1 AND day BETWEEN ?2 AND ?3";
    const UPSERT: &'static str =
        "INSERT INTO usage_rows (provider, account, day, source, model, project,
            api_key, user_id, service_tier, dims, metric, quantity, counts_as_tokens, plugin_name,
            run_id, collected_at, not_in_cost)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (provider, account, day, source, model, project, api_key, user_id,
            service_tier, dims, metric)
         DO UPDATE SET quantity = excluded.quantity,
            counts_as_tokens = excluded.counts_as_tokens, not_in_cost = excluded.not_in_cost,
            plugin_name = excluded.plugin_name,
            run_id = excluded.run_id, collected_at = excluded.collected_at";
    const DELETE: &'static str =
        "DELETE FROM usage_rows WHERE provider = ?1 AND account = ?2 AND day = ?3
         AND source = ?4 AND model = ?5 AND project = ?6 AND api_key = ?7 AND user_id = ?8
         AND service_tier = ?9 AND dims = ?10 AND metric = ?11";

    fn read(r: &Row<'_>) -> Result<Option<(UsageKey, Stored)>> {
        let Some(day) = day_of(r.get(2)?) else { return Ok(None) };
        let key = UsageKey {
            provider: r.get(0)?,
            account: r.get(1)?,
            day,
            source: r.get(3)?,
            model: r.get(4)?,
            project: r.get(5)?,
            api_key: r.get(6)?,
            user_id: r.get(7)?,
            service_tier: r.get(8)?,
            dims: r.get(9)?,
            metric: r.get(10)?,
        };
        let (tokens, not_in_cost): (bool, bool) = (r.get(12)?, r.get(13)?);
        let value = r.get::<i64>(11)?.to_string();
        Ok(Some((key, Stored { value, attributes: usage_attributes(tokens, not_in_cost) })))
    }

    fn key(row: &UsageRow) -> &UsageKey {
        &row.key
    }

    fn value(row: &UsageRow) -> String {
        row.quantity.to_string()
    }

    fn attributes(row: &UsageRow) -> String {
        usage_attributes(row.counts_as_tokens, row.not_in_cost)
    }

    fn measure(value: &str) -> BigDecimal {
        value.parse().unwrap_or_default()
    }

    fn total(key: &UsageKey) -> &str {
        &key.metric
    }

    fn owner(key: &UsageKey) -> (&str, &str) {
        (&key.provider, &key.account)
    }

    fn day(key: &UsageKey) -> NaiveDate {
        key.day
    }

    fn describe(k: &UsageKey) -> String {
        [&k.provider, &k.account, &k.source, &k.model, &k.project, &k.api_key, &k.user_id]
            .iter()
            .chain([&k.service_tier, &k.dims, &k.metric].iter())
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("|")
    }

    fn upsert_args(row: &UsageRow, input: &SinkInput<'_>) -> Vec<Val<'static>> {
        let k = &row.key;
        owned(args![
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
            input.run_id,
            input.collected_at,
            row.not_in_cost
        ])
    }

    fn delete(db: &Db, k: &UsageKey) -> Result<usize> {
        db.exec(
            "store rows",
            Self::DELETE,
            args![
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
            ],
        )
    }
}

impl Tx<'_> {
    /// Makes the stored rows of this plugin on the run's complete days equal
    /// to `rows`: new keys are inserted, changed values and attributes
    /// updated, vanished keys deleted. The value changes of a day that was
    /// already stored are revisions when they move one of its totals.
    pub fn replace_billing_days(&self, input: &SinkInput<'_>, rows: &Rows) -> Result<Replaced> {
        let mut out = Replaced::default();
        let days: BTreeSet<NaiveDate> = input.complete_days.iter().copied().collect();
        if days.is_empty() {
            return Ok(out);
        }
        self.replace_days::<Costs>(input, &days, rows.costs.values(), &mut out)?;
        self.replace_days::<Usage>(input, &days, rows.usage.values(), &mut out)?;
        let insert_rev = "INSERT INTO revisions (table_name, day, natural_key, old_value, new_value, run_id, changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
        for r in &out.revisions {
            self.db.exec(
                "store revisions",
                insert_rev,
                args![
                    r.table,
                    r.day.to_string(),
                    r.natural_key,
                    r.old_value,
                    r.new_value,
                    input.run_id,
                    input.collected_at
                ],
            )?;
        }
        Ok(out)
    }

    /// One table's part of [`Tx::replace_billing_days`].
    fn replace_days<'r, T: DayTable + 'r>(
        &self,
        input: &SinkInput<'_>,
        days: &BTreeSet<NaiveDate>,
        rows: impl Iterator<Item = &'r T::Row>,
        out: &mut Replaced,
    ) -> Result<()> {
        let what = format!("store {}", T::TABLE);
        let (Some(first), Some(last)) = (days.first(), days.last()) else { return Ok(()) };
        let mut existing: HashMap<T::Key, Stored> = HashMap::new();
        let stored: Vec<Option<(T::Key, Stored)>> = self.db.rows(
            &what,
            T::SELECT,
            args![input.plugin, first.to_string(), last.to_string()],
            T::read,
        )?;
        // Rows a job name kept from another plugin or account are not this
        // run's to replace.
        for (key, stored) in stored.into_iter().flatten() {
            let (provider, account) = T::owner(&key);
            if days.contains(&T::day(&key)) && input.owns(provider, account) {
                existing.insert(key, stored);
            }
        }
        let stored_days: BTreeSet<NaiveDate> = existing.keys().map(T::day).collect();
        // Value changes of days already stored, and how each moves the
        // day's totals: revisions only where some total moved.
        let mut candidates: Vec<Revision> = Vec::new();
        let mut moved: BTreeMap<(NaiveDate, String, String, String), BigDecimal> = BTreeMap::new();
        let mut shift = |key: &T::Key, old: Option<&str>, new: Option<&str>| {
            let (provider, account) = T::owner(key);
            let delta =
                new.map(T::measure).unwrap_or_default() - old.map(T::measure).unwrap_or_default();
            let total = (T::day(key), provider.into(), account.into(), T::total(key).into());
            *moved.entry(total).or_default() += delta;
        };
        let mut writes = Vec::new();
        for row in rows.filter(|r| days.contains(&T::day(T::key(r)))) {
            let key = T::key(row);
            let value = T::value(row);
            let old = existing.remove(key);
            let same_value = old
                .as_ref()
                .is_some_and(|o| o.value == value || T::measure(&o.value) == T::measure(&value));
            if same_value && old.as_ref().is_some_and(|o| o.attributes == T::attributes(row)) {
                continue;
            }
            writes.push(T::upsert_args(row, input));
            if !same_value && (old.is_some() || stored_days.contains(&T::day(key))) {
                let old_value = old.map(|o| o.value);
                shift(key, old_value.as_deref(), Some(&value));
                candidates.push(Revision {
                    table: T::TABLE,
                    day: T::day(key),
                    natural_key: T::describe(key),
                    old_value,
                    new_value: Some(value),
                });
            }
        }
        // Keyed by the table's natural key, so no two rows share a conflict key.
        self.db.exec_rows("store rows", T::UPSERT, &writes)?;
        out.written += writes.len();
        for (key, old) in existing {
            T::delete(self.db, &key)?;
            shift(&key, Some(&old.value), None);
            candidates.push(Revision {
                table: T::TABLE,
                day: T::day(&key),
                natural_key: T::describe(&key),
                old_value: Some(old.value),
                new_value: None,
            });
        }
        let revised: BTreeSet<NaiveDate> =
            moved.into_iter().filter(|(_, d)| !d.is_zero()).map(|((day, ..), _)| day).collect();
        out.revisions.extend(candidates.into_iter().filter(|r| revised.contains(&r.day)));
        Ok(())
    }

    /// Stores calls from local logs by (plugin, source, key): how many were
    /// new, and how many stored ones grew.
    pub fn upsert_calls(
        &self,
        plugin: &str,
        run_id: &str,
        calls: &[CallRow],
    ) -> Result<(usize, usize)> {
        // A call already stored keeps its first copy's attributes and the
        // larger of each count: a shorter copy (an earlier streamed line,
        // a replay) never lowers what is stored.
        // Most calls are new (a first import is all new calls): each is
        // one insert that keeps a stored copy as it is. Only a call found
        // stored is read and compared.
        let insert =
            "INSERT INTO calls (plugin_name, source, key, provider, account, day, at, model,
                    project, session, service_tier, speed, input, output, cache_read,
                    cache_write_5m, cache_write_1h, reasoning, web_searches, run_id, machine)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, ?19, ?20, ?21)
                 ON CONFLICT (plugin_name, source, key) DO NOTHING";
        let read = "SELECT input, output, cache_read, cache_write_5m, cache_write_1h, reasoning,
                        web_searches, day, provider, account, model, project, service_tier, speed
                 FROM calls WHERE plugin_name = ?1 AND source = ?2 AND key = ?3";
        let grow = "UPDATE calls SET input = ?4, output = ?5, cache_read = ?6, cache_write_5m = ?7,
                    cache_write_1h = ?8, reasoning = ?9, web_searches = ?10, run_id = ?11
                 WHERE plugin_name = ?1 AND source = ?2 AND key = ?3";
        let mut sums = CallSums::new(self.db)?;
        let (mut written, mut changed) = (0, 0);
        for c in calls {
            let [input, output, read_, write_5m, write_1h, reasoning, searches] =
                count_params(&c.priced);
            let day = c.day.to_string();
            let args = args![
                plugin,
                c.source,
                c.key,
                c.provider,
                c.account,
                day,
                c.at,
                c.model,
                c.project,
                c.session,
                c.service_tier,
                c.speed,
                input,
                output,
                read_,
                write_5m,
                write_1h,
                reasoning,
                searches,
                run_id,
                self.machine
            ];
            if self.db.exec("store calls", insert, args)? == 1 {
                written += 1;
                let group = [
                    day,
                    c.provider.clone(),
                    c.account.clone(),
                    c.model.clone(),
                    c.project.clone(),
                    c.service_tier.clone(),
                    c.speed.clone(),
                ];
                sums.add(group, &c.priced);
                continue;
            }
            // A call already stored keeps its first copy's attributes and
            // the larger of each count: a shorter copy (an earlier streamed
            // line, a replay) never lowers what is stored.
            let stored =
                self.db.row_opt("read calls", read, args![plugin, c.source, c.key], |r| {
                    let group: [String; 7] = [
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                        r.get(11)?,
                        r.get(12)?,
                        r.get(13)?,
                    ];
                    Ok((super::reports::priced_columns(r, 0)?, group))
                })?;
            let Some((s, group)) = stored else { continue };
            let p = s.max(c.priced);
            if p == s {
                continue;
            }
            changed += 1;
            // The stored call keeps its group: only its counts grow.
            sums.remove(&group, &s)?;
            sums.add(group, &p);
            let [input, output, read_, write_5m, write_1h, reasoning, searches] = count_params(&p);
            self.db.exec(
                "store calls",
                grow,
                args![
                    plugin, c.source, c.key, input, output, read_, write_5m, write_1h, reasoning,
                    searches, run_id
                ],
            )?;
        }
        sums.flush()?;
        Ok((written, changed))
    }

    /// Replaces the run's complete days of priced usage (of its claimed
    /// providers, and of its job's account when set) with `rows`.
    pub fn replace_priced_usage(&self, input: &SinkInput<'_>, rows: &[PricedUsage]) -> Result<()> {
        const WHAT: &str = "store priced usage";
        let clear = "DELETE FROM usage_priced WHERE plugin_name = ?1
                 AND day BETWEEN ?2 AND ?3 AND provider = ?4 AND (account = ?5 OR ?5 IS NULL)";
        for (from, to) in spans(input.complete_days) {
            let (from, to) = (from.to_string(), to.to_string());
            for provider in input.claims {
                self.db.exec(
                    WHAT,
                    clear,
                    args![input.plugin, from, to, provider, input.account],
                )?;
            }
        }
        let insert =
            "INSERT INTO usage_priced (plugin_name, provider, account, day, model, project,
                    service_tier, long_context, not_in_cost, input, output, cache_read,
                    cache_write_5m, cache_write_1h, reasoning, web_searches)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
        let mut writes = Vec::new();
        for r in rows.iter().filter(|r| input.complete_days.contains(&r.day)) {
            let [input_, output, read_, write_5m, write_1h, reasoning, searches] =
                count_params(&r.priced);
            writes.push(owned(args![
                input.plugin,
                r.provider,
                r.account,
                r.day.to_string(),
                r.model,
                r.project,
                r.service_tier,
                r.long_context,
                r.not_in_cost,
                input_,
                output,
                read_,
                write_5m,
                write_1h,
                reasoning,
                searches
            ]));
        }
        // One row per (plugin, provider, account, day, model, …): the run's
        // days were cleared above, so no two rows conflict.
        self.db.exec_rows(WHAT, insert, &writes)?;
        Ok(())
    }

    /// Stores how providers are named and exported, as their collectors
    /// describe them.
    pub fn upsert_providers(&self, infos: &[ProviderInfo], now: &str) -> Result<()> {
        self.store_providers(infos, now, true)
    }

    /// Stores descriptions of providers that have none yet (an observer's:
    /// the claimant's description, when there is one, stays).
    pub fn describe_new_providers(&self, infos: &[ProviderInfo], now: &str) -> Result<()> {
        self.store_providers(infos, now, false)
    }

    fn store_providers(&self, infos: &[ProviderInfo], now: &str, replace: bool) -> Result<()> {
        if infos.is_empty() {
            return Ok(());
        }
        let on_conflict = if replace {
            "DO UPDATE SET display_name = ?2, service_name = ?3, service_category = ?4,
                service_subcategory = ?5, sub_account_type = ?6, not_in_cost_note = ?7,
                updated_at = ?8"
        } else {
            "DO NOTHING"
        };
        let stmt = &format!(
            "INSERT INTO providers (provider, display_name, service_name, service_category,
                    service_subcategory, sub_account_type, not_in_cost_note, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (provider) {on_conflict}"
        );
        let others = "SELECT provider, display_name FROM providers";
        let known: Vec<(String, String)> =
            self.db.rows("read providers", others, args![], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for p in infos {
            let key = name_key(&p.display_name);
            if let Some((other, _)) =
                known.iter().find(|(id, name)| *id != p.provider && name_key(name) == key)
            {
                return Err(StoreError::Invalid(format!(
                    "provider {} would be shown as {:?}, the name of provider {other}",
                    p.provider, p.display_name
                )));
            }
            self.db.exec(
                "store providers",
                stmt,
                args![
                    p.provider,
                    p.display_name,
                    p.service_name,
                    p.service_category,
                    p.service_subcategory,
                    p.sub_account_type,
                    p.not_in_cost_note,
                    now
                ],
            )?;
        }
        Ok(())
    }

    /// Recomputes `results` (tokens, exact cost, and the tokens the cost
    /// leaves out, per provider and day), under the provider's display name.
    pub fn refresh_results(
        &self,
        providers: &BTreeSet<String>,
        days: &[NaiveDate],
        now: &str,
    ) -> Result<()> {
        // Every day gets its row (a day collected with nothing on it is a
        // collected $0 day), then its sums from the day's rows: a span of
        // consecutive days at a time, not a round trip per day.
        let zero = "INSERT INTO results (provider, date, tokens, cost, collected_at,
                   not_in_cost_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (provider, date) DO UPDATE SET tokens = excluded.tokens,
                   cost = excluded.cost, collected_at = excluded.collected_at,
                   not_in_cost_tokens = excluded.not_in_cost_tokens";
        let tokens = "UPDATE results SET tokens = u.tokens, not_in_cost_tokens = u.not_in_cost
                 FROM (SELECT day, SUM(quantity) AS tokens,
                         SUM(CASE WHEN not_in_cost = 1 THEN quantity ELSE 0 END) AS not_in_cost
                       FROM usage_rows WHERE provider = ?1 AND day BETWEEN ?2 AND ?3
                         AND counts_as_tokens = 1 GROUP BY day) AS u
                 WHERE results.provider = ?4 AND results.date = u.day";
        let cost = "UPDATE results SET cost = c.cost
                 FROM (SELECT day, dec_sum(amount) AS cost FROM cost_rows
                       WHERE provider = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY day) AS c
                 WHERE results.provider = ?4 AND results.date = c.day";
        const WHAT: &str = "refresh results";
        for p in providers {
            // Results are kept under the provider's display name.
            let name: Option<Option<String>> = self.db.row_opt(
                WHAT,
                "SELECT display_name FROM providers WHERE provider = ?1",
                args![p],
                |r| r.get(0),
            )?;
            let name = name.flatten();
            let name = name.as_deref().unwrap_or(p);
            for (from, to) in spans(days) {
                let rows: Vec<_> = from
                    .iter_days()
                    .take_while(|d| *d <= to)
                    .map(|d| owned(args![name, d.to_string(), 0i64, "0", now, 0i64]))
                    .collect();
                self.db.exec_rows(WHAT, zero, &rows)?;
                let (from, to) = (from.to_string(), to.to_string());
                self.db.exec(WHAT, tokens, args![p, from, to, name])?;
                self.db.exec(WHAT, cost, args![p, from, to, name])?;
            }
        }
        self.refresh_daily_totals(providers, days)
    }

    /// Per provider and day among these, the tokens on usage the provider's
    /// cost report leaves out, with the provider's note.
    pub fn not_in_cost(
        &self,
        providers: &BTreeSet<String>,
        days: &[NaiveDate],
    ) -> Result<Vec<NotInCost>> {
        const WHAT: &str = "read tokens without billed cost";
        let stmt = "SELECT COALESCE(p.display_name, ?1), r.not_in_cost_tokens, p.not_in_cost_note,
                   r.date
                 FROM results r LEFT JOIN providers p ON p.provider = ?1
                 WHERE r.provider = COALESCE(p.display_name, ?1) AND r.date BETWEEN ?2 AND ?3
                   AND r.not_in_cost_tokens > 0
                 ORDER BY r.date";
        let mut out = Vec::new();
        for p in providers {
            for (from, to) in spans(days) {
                let rows: Vec<NotInCost> =
                    self.db.rows(WHAT, stmt, args![p, from.to_string(), to.to_string()], |r| {
                        let day: String = r.get(3)?;
                        Ok(NotInCost {
                            provider: r.get(0)?,
                            day: super::stored_day(&day)?,
                            tokens: r.get(1)?,
                            note: r.get(2)?,
                        })
                    })?;
                out.extend(rows);
            }
        }
        Ok(out)
    }

    /// Recomputes `daily_totals` (cost and tokens per model and per project)
    /// for these providers and days, from their detailed rows.
    fn refresh_daily_totals(&self, providers: &BTreeSet<String>, days: &[NaiveDate]) -> Result<()> {
        const WHAT: &str = "refresh daily totals";
        // Day by day would cost a round trip per day and statement (a
        // year's backfill: thousands); a span of consecutive days is one.
        let clear = "DELETE FROM daily_totals WHERE provider = ?1 AND day BETWEEN ?2 AND ?3";
        let fill: Vec<String> = Breakdown::ALL
            .iter()
            .map(|by| {
                let (dim, (cost_key, usage_key)) = (by.dim(), super::reports::keys(*by));
                format!(
                    "INSERT INTO daily_totals (provider, day, dim, key, cost, tokens)
                 SELECT ?1, d, '{dim}', k, dec_sum(cost), SUM(tokens) FROM (
                   SELECT day AS d, {cost_key} AS k, amount AS cost, 0 AS tokens FROM cost_rows
                    WHERE provider = ?1 AND day BETWEEN ?2 AND ?3
                   UNION ALL
                   SELECT day, {usage_key}, NULL, quantity FROM usage_rows
                    WHERE provider = ?1 AND day BETWEEN ?2 AND ?3 AND counts_as_tokens = 1
                 ) AS parts GROUP BY d, k"
                )
            })
            .collect();
        for p in providers {
            for (from, to) in spans(days) {
                let (from, to) = (from.to_string(), to.to_string());
                self.db.exec(WHAT, clear, args![p, from, to])?;
                for stmt in &fill {
                    self.db.exec(WHAT, stmt, args![p, from, to])?;
                }
            }
        }
        Ok(())
    }
}

/// `days` as spans of consecutive days, `(first, last)`, in order.
fn spans(days: &[NaiveDate]) -> Vec<(NaiveDate, NaiveDate)> {
    let mut sorted = days.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for d in sorted {
        match out.last_mut() {
            Some((_, last)) if last.succ_opt() == Some(d) => *last = d,
            _ => out.push((d, d)),
        }
    }
    out
}

/// Keeps `call_days` (the calls summed per day and group) as
/// [`Tx::upsert_calls`] writes: each call's counts added to its group, under
/// the long-context tier its input exceeded (the starts in `call_tiers`).
struct CallSums<'t> {
    db: &'t Db,
    tiers: Vec<u64>,
    /// What the calls stored so far add, per group and tier (calls, then
    /// the seven counts): written once per group by [`CallSums::flush`],
    /// not once per call.
    added: HashMap<([String; 7], i64), (i64, [i64; 7])>,
}

const SUMS_ADD: &str =
    "INSERT INTO call_days (day, provider, account, model, project, service_tier,
        speed, over, calls, input, output, cache_read, cache_write_5m,
        cache_write_1h, reasoning, web_searches)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
     ON CONFLICT (day, provider, account, model, project, service_tier, speed, over)
     DO UPDATE SET calls = call_days.calls + excluded.calls,
        input = call_days.input + excluded.input, output = call_days.output + excluded.output,
        cache_read = call_days.cache_read + excluded.cache_read,
        cache_write_5m = call_days.cache_write_5m + excluded.cache_write_5m,
        cache_write_1h = call_days.cache_write_1h + excluded.cache_write_1h,
        reasoning = call_days.reasoning + excluded.reasoning,
        web_searches = call_days.web_searches + excluded.web_searches";
const SUMS_REMOVE: &str = "UPDATE call_days SET calls = calls - 1, input = input - ?9,
        output = output - ?10, cache_read = cache_read - ?11,
        cache_write_5m = cache_write_5m - ?12, cache_write_1h = cache_write_1h - ?13,
        reasoning = reasoning - ?14, web_searches = web_searches - ?15
     WHERE day = ?1 AND provider = ?2 AND account = ?3 AND model = ?4
        AND project = ?5 AND service_tier = ?6 AND speed = ?7 AND over = ?8";
const SUMS_EMPTY: &str = "DELETE FROM call_days WHERE day = ?1 AND provider = ?2 AND account = ?3
        AND model = ?4 AND project = ?5 AND service_tier = ?6 AND speed = ?7
        AND over = ?8 AND calls = 0";

impl<'t> CallSums<'t> {
    fn new(db: &'t Db) -> Result<Self> {
        let tiers: Vec<i64> = db.rows(
            "keep the sums of calls",
            "SELECT start FROM call_tiers ORDER BY start DESC",
            args![],
            |r| r.get(0),
        )?;
        let tiers = tiers.into_iter().map(|t| t as u64).collect();
        Ok(CallSums { db, tiers, added: HashMap::new() })
    }

    /// The tier a call falls in: the largest start its input exceeded.
    fn over(&self, p: &billing_records::Priced) -> i64 {
        let input = p.input + p.cache_read + p.cache_write_5m + p.cache_write_1h;
        self.tiers.iter().copied().find(|s| input > *s).unwrap_or(0) as i64
    }

    /// Counts a call's counts into its group (written by [`CallSums::flush`]).
    fn add(&mut self, group: [String; 7], p: &billing_records::Priced) {
        let over = self.over(p);
        let (calls, sums) = self.added.entry((group, over)).or_default();
        *calls += 1;
        for (sum, n) in sums.iter_mut().zip(count_params(p)) {
            *sum = sum.saturating_add(n);
        }
    }

    /// Writes what [`CallSums::add`] counted, one statement per group.
    fn flush(&mut self) -> Result<()> {
        for ((g, over), (calls, counts)) in self.added.drain() {
            let [input, output, read, write_5m, write_1h, reasoning, searches] = counts;
            self.db.exec(
                "keep the sums of calls",
                SUMS_ADD,
                args![
                    g[0], g[1], g[2], g[3], g[4], g[5], g[6], over, calls, input, output, read,
                    write_5m, write_1h, reasoning, searches
                ],
            )?;
        }
        Ok(())
    }

    fn remove(&mut self, group: &[String; 7], p: &billing_records::Priced) -> Result<()> {
        let [input, output, read, write_5m, write_1h, reasoning, searches] = count_params(p);
        let (g, over) = (group, self.over(p));
        self.db.exec(
            "keep the sums of calls",
            SUMS_REMOVE,
            args![
                g[0], g[1], g[2], g[3], g[4], g[5], g[6], over, input, output, read, write_5m,
                write_1h, reasoning, searches
            ],
        )?;
        self.db.exec(
            "keep the sums of calls",
            SUMS_EMPTY,
            args![g[0], g[1], g[2], g[3], g[4], g[5], g[6], over],
        )?;
        Ok(())
    }
}

/// The billing application's writes, on either engine, inside the
/// transaction the kernel opened for the run.
impl BillingWrites for Store {
    fn replace_billing_days(&self, input: &SinkInput<'_>, rows: &Rows) -> Result<Replaced> {
        self.within().replace_billing_days(input, rows)
    }

    fn replace_priced_usage(&self, input: &SinkInput<'_>, rows: &[PricedUsage]) -> Result<()> {
        self.within().replace_priced_usage(input, rows)
    }

    fn upsert_providers(&self, infos: &[ProviderInfo], now: &str) -> Result<()> {
        self.within().upsert_providers(infos, now)
    }

    fn describe_new_providers(&self, infos: &[ProviderInfo], now: &str) -> Result<()> {
        self.within().describe_new_providers(infos, now)
    }

    fn refresh_results(
        &self,
        providers: &BTreeSet<String>,
        days: &[NaiveDate],
        now: &str,
    ) -> Result<()> {
        self.within().refresh_results(providers, days, now)
    }

    fn not_in_cost(
        &self,
        providers: &BTreeSet<String>,
        days: &[NaiveDate],
    ) -> Result<Vec<NotInCost>> {
        self.within().not_in_cost(providers, days)
    }

    fn upsert_calls(
        &self,
        plugin: &str,
        run_id: &str,
        calls: &[CallRow],
    ) -> Result<(usize, usize)> {
        self.within().upsert_calls(plugin, run_id, calls)
    }
}

#[cfg(test)]
mod tests {
    use super::spans;
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn days_make_spans_of_consecutive_days() {
        let days =
            [d("2025-03-02"), d("2025-02-28"), d("2025-03-01"), d("2025-03-05"), d("2025-03-02")];
        assert_eq!(
            spans(&days),
            vec![(d("2025-02-28"), d("2025-03-02")), (d("2025-03-05"), d("2025-03-05"))]
        );
        assert!(spans(&[]).is_empty());
    }
}
