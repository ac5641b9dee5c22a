//! What the billing application asks of a store, defined here and
//! implemented by the store on each engine: its writes inside a run's
//! transaction ([`BillingWrites`]) and its reads ([`BillingReads`]), with
//! the read models they answer in. The
//! application is written against these; it names no engine.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::records::{CallRow, PricedUsage, ProviderInfo, Rows};
use crate::kernel::ledger::{LedgerReads, Result};
use crate::kernel::sink::SinkInput;

/// The billing application's writes, each inside the transaction the
/// kernel opened for the run that sent the records.
pub trait BillingWrites {
    /// Makes the stored rows of the run's plugin on its complete days equal
    /// to `rows`: new keys inserted, changed values and attributes updated,
    /// vanished keys deleted; value changes that move a day's totals are
    /// revisions.
    fn replace_billing_days(&self, input: &SinkInput<'_>, rows: &Rows) -> Result<Replaced>;

    /// Replaces the run's complete days of priced usage (of its claimed
    /// providers, and of its job's account when set) with `rows`.
    fn replace_priced_usage(&self, input: &SinkInput<'_>, rows: &[PricedUsage]) -> Result<()>;

    /// Stores how providers are named and exported, as their collectors
    /// describe them.
    fn upsert_providers(&self, infos: &[ProviderInfo], now: &str) -> Result<()>;

    /// Stores descriptions of providers that have none yet.
    fn describe_new_providers(&self, infos: &[ProviderInfo], now: &str) -> Result<()>;

    /// Recomputes the per-provider per-day results (tokens, exact cost, and
    /// the tokens the cost leaves out).
    fn refresh_results(
        &self,
        providers: &BTreeSet<String>,
        days: &[NaiveDate],
        now: &str,
    ) -> Result<()>;

    /// Per provider and day among these, the tokens the provider's cost
    /// report leaves out, with the provider's note.
    fn not_in_cost(
        &self,
        providers: &BTreeSet<String>,
        days: &[NaiveDate],
    ) -> Result<Vec<NotInCost>>;

    /// Stores calls from local logs by (plugin, source, key), each once:
    /// how many were new, and how many stored ones grew.
    fn upsert_calls(&self, plugin: &str, run_id: &str, calls: &[CallRow])
        -> Result<(usize, usize)>;
}

/// The billing application's reads: its read models, summed in the store
/// (money as exact decimal text), single calls of local logs, and the
/// record of alerts delivered. The run ledger's reads come with it.
pub trait BillingReads: LedgerReads {
    /// Every provider with data, as `(id, display name)`, by display name.
    fn provider_names(&self) -> Result<Vec<(String, String)>>;

    /// The per-provider day totals between two days, by date then provider.
    fn day_totals(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<DayTotal>>;

    /// Per day between `from` and `to`, how many stored values re-pulls
    /// changed after the day was first stored (late-settled days).
    fn revisions_by_day(&self, from: NaiveDate, to: NaiveDate) -> Result<BTreeMap<String, i64>>;

    /// Tokens between two days per provider (display name) and counter.
    fn token_mix(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<TokenMix>>;

    /// The alerts delivered, newest first, at most `limit`.
    fn alerts_sent(&self, limit: usize) -> Result<Vec<SentAlert>>;

    /// Each described provider's note on usage its cost report leaves out,
    /// by display name.
    fn not_in_cost_notes(&self) -> Result<BTreeMap<String, String>>;

    /// Cost and tokens between two days, grouped by provider and `by`, from
    /// the daily totals (a few rows per day, whatever the detail).
    fn breakdown(&self, from: NaiveDate, to: NaiveDate, by: Breakdown)
        -> Result<Vec<BreakdownRow>>;

    /// The breakdown per day, by day, provider, key.
    fn breakdown_by_day(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        by: Breakdown,
    ) -> Result<Vec<DayBreakdownRow>>;

    /// The same breakdown computed from every detailed row (what the daily
    /// totals must always equal; for tests and checks).
    fn breakdown_from_rows(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        by: Breakdown,
    ) -> Result<Vec<BreakdownRow>>;

    /// Calls `f` for every cost row between two days, in key order, one row
    /// at a time and without copying its text; `f`'s first error stops it.
    fn each_cost_line<E>(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        f: impl FnMut(&CostLine<'_>) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>>;

    /// Whether an alert went out on `channel` already.
    fn alert_sent(&self, rule_key: &str, channel: &str) -> Result<bool>;

    /// Records a delivered alert.
    fn record_alert(
        &mut self,
        rule_key: &str,
        channel: &str,
        now: &str,
        message: &str,
    ) -> Result<()>;

    /// Calls from local logs between two days, summed per day, provider,
    /// model, project, tier and the largest of `starts` (long-context
    /// thresholds, highest first, as
    /// [`crate::billing::prices::PriceTable::tier_starts`] gives them) each
    /// call's input exceeded.
    fn call_groups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        starts: &[u64],
    ) -> Result<Vec<PricedGroup>>;

    /// The priced counts collectors sent with their usage between two days.
    fn usage_groups(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<PricedGroup>>;

    /// Per plugin that reads local logs: its calls between two UTC days,
    /// and the newest instant among them.
    fn calls_by_plugin(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<String, (i64, Option<String>)>>;

    /// Whether `plugin` has ever stored a call.
    fn has_calls(&self, plugin: &str) -> Result<bool>;

    /// Every call between two UTC days, oldest first.
    fn calls_in(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<CallLine>>;

    /// Per machine, the runs started between two UTC days and the newest
    /// start among them (runs from before machines were kept: `""`).
    fn runs_by_machine(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<String, (i64, String)>>;
}

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

/// Tokens of one provider and day that no billed cost covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInCost {
    /// Display name.
    pub provider: String,
    /// The day.
    pub day: NaiveDate,
    /// The tokens.
    pub tokens: i64,
    /// The provider's reason, if its collector gave one.
    pub note: Option<String>,
}

/// What [`BillingWrites::replace_billing_days`] did.
#[derive(Debug, Default)]
pub struct Replaced {
    /// Rows inserted or updated.
    pub written: usize,
    /// Values that changed on days already stored.
    pub revisions: Vec<Revision>,
}

/// One row of `results`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTotal {
    /// Display name, as the provider's collector gave it.
    pub provider: String,
    /// UTC day.
    pub date: NaiveDate,
    /// Tokens that day.
    pub tokens: i64,
    /// Exact USD text.
    pub cost: String,
    /// When it was collected.
    pub collected_at: String,
    /// Of `tokens`, those on usage the provider's cost report leaves out
    /// (a priority tier, say): no billed cost covers them.
    pub not_in_cost_tokens: i64,
    /// An estimate from local logs standing in for a provider without
    /// billed data (see `billing::estimate::stand_ins`), never from `results`.
    pub estimated: bool,
}

/// One provider's tokens of one kind (counter) over a period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenMix {
    /// Display name.
    pub provider: String,
    /// The counter (`output_tokens`, `cache_read_input_tokens`, ...).
    pub metric: String,
    /// Its total.
    pub tokens: i64,
    /// Of them, on usage no billed cost covers.
    pub without_billed_cost: i64,
}

/// An alert delivered to a channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SentAlert {
    /// Rule and period, e.g. `budget-80:2025-08`.
    pub key: String,
    /// `discord`, `slack` or `webhook`.
    pub channel: String,
    /// When (RFC 3339).
    pub sent_at: String,
    /// What was sent.
    pub message: String,
}

/// What a breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    /// Model, or line item where a provider's costs carry no model.
    Model,
    /// Project or workspace; empty is the default one.
    Project,
    /// Account label (one organization or key of a provider).
    Account,
}

impl Breakdown {
    /// Every breakdown `daily_totals` keeps.
    pub const ALL: [Breakdown; 3] = [Breakdown::Model, Breakdown::Project, Breakdown::Account];

    /// Its name in `daily_totals.dim` and in reports.
    pub fn dim(self) -> &'static str {
        match self {
            Breakdown::Model => "model",
            Breakdown::Project => "project",
            Breakdown::Account => "account",
        }
    }
}

/// One line of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakdownRow {
    /// Provider display name.
    pub provider: String,
    /// The model, line item or project; empty when the provider sent none.
    pub key: String,
    /// Exact USD text.
    pub cost: String,
    /// Tokens (from usage, where the provider reports them by this key).
    pub tokens: i64,
}

/// One day's cost and tokens for one provider and model or project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayBreakdownRow {
    /// UTC day.
    pub day: NaiveDate,
    /// The breakdown row.
    pub row: BreakdownRow,
}

/// A cost row as exported, borrowed from the database row, with how its
/// provider is named and exported (as its collector described it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostLine<'a> {
    /// Provider id.
    pub provider: &'a str,
    /// Provider display name (the id when no collector described it).
    pub provider_name: &'a str,
    /// FOCUS service name, category and subcategory, and what a project is
    /// called, where the collector said.
    pub service: [Option<&'a str>; 4],
    /// Account label.
    pub account: &'a str,
    /// UTC day.
    pub day: &'a str,
    /// Project or workspace.
    pub project: &'a str,
    /// API key id.
    pub api_key: &'a str,
    /// Line item or description.
    pub line_item: &'a str,
    /// Model.
    pub model: &'a str,
    /// Token type.
    pub token_type: &'a str,
    /// Cost type.
    pub cost_type: &'a str,
    /// Service tier.
    pub service_tier: &'a str,
    /// Context window.
    pub context_window: &'a str,
    /// Exact amount text (USD).
    pub amount: &'a str,
    /// Currency.
    pub currency: &'a str,
    /// Quantity text.
    pub quantity: Option<&'a str>,
    /// Its unit.
    pub quantity_unit: Option<&'a str>,
    /// When collected.
    pub collected_at: &'a str,
}

/// Token counts summed over a group of calls or usage rows, as prices see
/// them (the bucket names of [`billing_records::Priced`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedGroup {
    /// UTC day.
    pub day: NaiveDate,
    /// Provider id (whose prices apply).
    pub provider: String,
    /// Display name.
    pub name: String,
    /// Account label.
    pub account: String,
    /// Model.
    pub model: String,
    /// Project.
    pub project: String,
    /// Service tier, and speed for calls (`priority`, `fast`), as logged.
    pub tier: String,
    /// Calls the group holds (0 for usage rows, which do not say).
    pub calls: i64,
    /// The input size every request of the group exceeded (a long-context
    /// threshold), or 0.
    pub over: u64,
    /// Usage a collector marked as past the model's first long-context
    /// threshold (which threshold is the price table's to say).
    pub long_context: bool,
    /// Usage the provider's cost report leaves out.
    pub not_in_cost: bool,
    /// The counts summed.
    pub counts: billing_records::Priced,
}

/// One stored call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLine {
    /// Which log (`claude_code`, `codex`).
    pub source: String,
    /// Provider id (whose prices apply).
    pub provider: String,
    /// Display name.
    pub name: String,
    /// UTC day.
    pub day: NaiveDate,
    /// When it was logged (RFC 3339, UTC), when the log said.
    pub at: Option<String>,
    /// Model.
    pub model: String,
    /// Project (the agent's folder).
    pub project: String,
    /// The agent's session id (empty when the log had none).
    pub session: String,
    /// Service tier and speed, as `call_groups` joins them.
    pub tier: String,
    /// The token counts.
    pub counts: billing_records::Priced,
    /// The machine that first read it (empty before machines were kept).
    pub machine: String,
}
