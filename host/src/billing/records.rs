//! The billing record kinds collectors send (defined once, in the
//! `billing-records` crate), checked and turned into typed rows keyed by
//! their natural key. Pure: JSON text in, rows or a reason out.
//!
//! Payloads are read tolerantly: fields a newer collector adds are ignored.
//! A value that cannot be stored exactly (an amount that does not read, a
//! currency other than USD) costs its day only ([`RecordError::Day`]); a
//! record that breaks the contract itself (no day, a provider name that is
//! not one, a day outside the run) rejects the run.

use std::collections::BTreeMap;

use billing_records::{CallPayload, CostPayload, DayOf, Priced, ProviderPayload, UsagePayload};
use chrono::NaiveDate;

use super::money::Money;

/// The natural key of a cost row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CostKey {
    /// Lowercase provider name.
    pub provider: String,
    /// The account label.
    pub account: String,
    /// UTC day.
    pub day: NaiveDate,
    /// Project or workspace.
    pub project: String,
    /// API key id.
    pub api_key: String,
    /// The provider's line item or description.
    pub line_item: String,
    /// Model.
    pub model: String,
    /// Token type.
    pub token_type: String,
    /// Cost type.
    pub cost_type: String,
    /// Service tier.
    pub service_tier: String,
    /// Context window.
    pub context_window: String,
}

/// One billed amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRow {
    /// Natural key.
    pub key: CostKey,
    /// Exact amount in USD.
    pub amount: Money,
    /// ISO 4217, uppercase.
    pub currency: String,
    /// What was billed, as exact text.
    pub quantity: Option<String>,
    /// Its unit.
    pub quantity_unit: Option<String>,
}

/// The natural key of a usage row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageKey {
    /// Provider.
    pub provider: String,
    /// Account label.
    pub account: String,
    /// UTC day.
    pub day: NaiveDate,
    /// Endpoint (`completions`, `messages`, ...).
    pub source: String,
    /// Model.
    pub model: String,
    /// Project or workspace.
    pub project: String,
    /// API key id.
    pub api_key: String,
    /// User id.
    pub user_id: String,
    /// Service tier.
    pub service_tier: String,
    /// Other dimensions, as canonical `k=v;k=v` text.
    pub dims: String,
    /// The counter's name.
    pub metric: String,
}

/// One counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// Natural key.
    pub key: UsageKey,
    /// The count.
    pub quantity: i64,
    /// Whether it is part of the day's "tokens" total.
    pub counts_as_tokens: bool,
    /// Whether the provider's cost report leaves this usage out.
    pub not_in_cost: bool,
}

/// A usage payload's [`Priced`] counts with the dimensions prices depend
/// on: one row per payload, beside its metric rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedUsage {
    /// Provider.
    pub provider: String,
    /// Account label.
    pub account: String,
    /// UTC day.
    pub day: NaiveDate,
    /// Model.
    pub model: String,
    /// Project.
    pub project: String,
    /// Service tier.
    pub service_tier: String,
    /// Past the model's first long-context threshold.
    pub long_context: bool,
    /// Left out of the provider's cost report.
    pub not_in_cost: bool,
    /// The counts.
    pub priced: Priced,
}

/// A usage payload, checked: one row per metric, and its priced counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUsage {
    /// One row per metric.
    pub rows: Vec<UsageRow>,
    /// The counts as prices see them, when the collector sent them.
    pub priced: Option<PricedUsage>,
}

/// One API call from a local log, checked ([`CallPayload`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    /// Provider whose prices apply.
    pub provider: String,
    /// Account label.
    pub account: String,
    /// Which log (`claude_code`, `codex`).
    pub source: String,
    /// The call's identity within its source.
    pub key: String,
    /// UTC day.
    pub day: NaiveDate,
    /// When it was logged.
    pub at: Option<String>,
    /// Model.
    pub model: String,
    /// Project (the agent's folder).
    pub project: String,
    /// Session.
    pub session: String,
    /// Service tier.
    pub service_tier: String,
    /// Speed mode.
    pub speed: String,
    /// The counts.
    pub priced: Priced,
}

/// Checked billing rows of one run.
#[derive(Debug, Default, Clone)]
pub struct Rows {
    /// Cost rows, one per key (duplicates summed).
    pub costs: BTreeMap<CostKey, CostRow>,
    /// Usage rows, one per key (duplicates summed).
    pub usage: BTreeMap<UsageKey, UsageRow>,
    /// Tokens per provider and day so far.
    day_tokens: BTreeMap<(String, NaiveDate), i64>,
}

/// Why a record cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// A value of this day cannot be stored exactly: the day is not stored
    /// and is asked for again next run.
    Day(NaiveDate, String),
    /// The record breaks the contract: the run stores nothing.
    Run(String),
}

impl RecordError {
    /// The reason, prefixed with what the record was.
    pub fn context(self, at: impl Fn(String) -> String) -> RecordError {
        match self {
            RecordError::Day(d, why) => RecordError::Day(d, at(why)),
            RecordError::Run(why) => RecordError::Run(at(why)),
        }
    }
}

/// How a provider is named and exported, as its collector describes it.
pub type ProviderInfo = ProviderPayload;

fn dim(v: Option<String>) -> String {
    v.unwrap_or_default()
}

fn check_provider(p: &str) -> Result<(), RecordError> {
    let ok = !p.is_empty()
        && p.len() <= 40
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(RecordError::Run(format!("provider {p:?} is not a lowercase name")))
    }
}

fn parse_day(day: &str, window: Option<(NaiveDate, NaiveDate)>) -> Result<NaiveDate, RecordError> {
    let d: NaiveDate =
        super::period::parse_day(day).map_err(|e| RecordError::Run(e.to_string()))?;
    if let Some((from, to)) = window {
        if d < from || d > to {
            return Err(RecordError::Run(format!("day {d} is outside the requested {from}..{to}")));
        }
    }
    Ok(d)
}

/// Reads a payload of `kind`; one that does not read costs its day when its
/// day can still be read, the run otherwise.
fn read<T: serde::de::DeserializeOwned>(
    kind: &str,
    payload: &str,
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<T, RecordError> {
    serde_json::from_str(payload).map_err(|e| {
        let why = format!("invalid {kind} record: {e}");
        match serde_json::from_str::<DayOf>(payload).ok().map(|d| parse_day(&d.day, window)) {
            Some(Ok(day)) => RecordError::Day(day, why),
            _ => RecordError::Run(why),
        }
    })
}

/// Checks one `cost` payload.
pub fn parse_cost(
    payload: &str,
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<CostRow, RecordError> {
    let p: CostPayload = read("cost", payload, window)?;
    check_provider(&p.provider)?;
    let day = parse_day(&p.day, window)?;
    let bad = |why: String| RecordError::Day(day, why);
    let currency = p.currency.to_ascii_uppercase();
    if currency != "USD" {
        return Err(bad(format!("currency {:?} is not supported (only USD)", p.currency)));
    }
    let amount = match p.unit.as_str() {
        "major" => Money::parse_major(&p.amount),
        "cents" => Money::parse_cents(&p.amount),
        other => {
            return Err(bad(format!("amount unit {other:?} is neither \"major\" nor \"cents\"")))
        }
    }
    .map_err(|e| bad(format!("amount {e}")))?;
    if let Some(q) = &p.quantity {
        super::money::parse_decimal(q).map_err(|e| bad(format!("quantity {e}")))?;
    }
    Ok(CostRow {
        key: CostKey {
            provider: p.provider,
            account: p.account,
            day,
            project: dim(p.project),
            api_key: dim(p.api_key),
            line_item: dim(p.line_item),
            model: dim(p.model),
            token_type: dim(p.token_type),
            cost_type: dim(p.cost_type),
            service_tier: dim(p.service_tier),
            context_window: dim(p.context_window),
        },
        amount,
        currency,
        quantity: p.quantity,
        quantity_unit: p.quantity_unit,
    })
}

/// Checks one `usage` payload: one row per metric, and its priced counts.
pub fn parse_usage(
    payload: &str,
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<CheckedUsage, RecordError> {
    let p: UsagePayload = read("usage", payload, window)?;
    check_provider(&p.provider)?;
    let day = parse_day(&p.day, window)?;
    if p.source.is_empty() {
        return Err(RecordError::Day(day, "usage record without a source".into()));
    }
    let dims = p.dims.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(";");
    let base = UsageKey {
        provider: p.provider,
        account: p.account,
        day,
        source: p.source,
        model: dim(p.model),
        project: dim(p.project),
        api_key: dim(p.api_key),
        user_id: dim(p.user),
        service_tier: dim(p.service_tier),
        dims,
        metric: String::new(),
    };
    let tokens = p.token_metrics;
    if p.priced.iter().flat_map(Priced::buckets).any(|(_, n)| n > MAX_COUNT as u64) {
        return Err(RecordError::Day(day, format!("a priced count is over {MAX_COUNT}")));
    }
    let priced = p.priced.map(|priced| PricedUsage {
        provider: base.provider.clone(),
        account: base.account.clone(),
        day,
        model: base.model.clone(),
        project: base.project.clone(),
        service_tier: base.service_tier.clone(),
        long_context: p.long_context,
        not_in_cost: p.not_in_cost,
        priced,
    });
    let rows = p
        .metrics
        .into_iter()
        .map(|(metric, value)| {
            let quantity =
                i64::try_from(value).ok().filter(|q| *q <= MAX_COUNT).ok_or_else(|| {
                    RecordError::Day(day, format!("metric {metric} = {value} is too large"))
                })?;
            Ok(UsageRow {
                counts_as_tokens: tokens.contains(&metric),
                key: UsageKey { metric, ..base.clone() },
                quantity,
                not_in_cost: p.not_in_cost,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(CheckedUsage { rows, priced })
}

/// The most any count of one call may be: a million times the largest
/// context window, so sums over years of calls stay far from overflowing.
pub const MAX_CALL_COUNT: u64 = 10_000_000_000;

/// Checks one `call` payload: a call from a local log.
pub fn parse_call(payload: &str) -> Result<CallRow, RecordError> {
    let p: CallPayload = read("call", payload, None)?;
    check_provider(&p.provider)?;
    let day = parse_day(&p.day, None)?;
    // The key is the plugin's text: shown short, never whole.
    let shown: String = p.key.chars().take(60).collect();
    let bad = |why: &str| RecordError::Day(day, format!("call {shown:?}: {why}"));
    if p.source.is_empty() || p.key.is_empty() || p.model.is_empty() {
        return Err(bad("source, key and model must not be empty"));
    }
    if p.key.len() > 512 || p.source.len() > 64 || p.model.len() > 200 {
        return Err(bad("key, source or model is too long"));
    }
    if p.priced.buckets().iter().any(|(_, n)| *n > MAX_CALL_COUNT) {
        return Err(bad(&format!(
            "a count is over {MAX_CALL_COUNT}, more than any one call holds"
        )));
    }
    Ok(CallRow {
        provider: p.provider,
        account: p.account,
        source: p.source,
        key: p.key,
        day,
        at: p.at,
        model: p.model,
        project: dim(p.project),
        session: dim(p.session),
        service_tier: dim(p.service_tier),
        speed: dim(p.speed),
        priced: p.priced,
    })
}

/// The letters and digits of a name, lowercased: `OpenAI`, `open_ai` and
/// `Open AI` are one name.
pub fn name_key(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Checks one `provider` payload. Its display name must be its id written
/// for people (`OpenAI` for `openai`, `Mistral AI` for `mistral_ai`), so no
/// plugin can show its figures under another provider's name.
pub fn parse_provider(payload: &str) -> Result<ProviderInfo, RecordError> {
    let p: ProviderPayload = serde_json::from_str(payload)
        .map_err(|e| RecordError::Run(format!("invalid provider record: {e}")))?;
    check_provider(&p.provider)?;
    let fields = [
        Some(&p.display_name),
        p.service_name.as_ref(),
        p.service_category.as_ref(),
        p.service_subcategory.as_ref(),
        p.sub_account_type.as_ref(),
    ];
    let texts = fields
        .into_iter()
        .flatten()
        .map(|f| (f, 80))
        .chain(p.not_in_cost_note.iter().map(|n| (n, 300)));
    for (f, max) in texts {
        let unprintable = f.chars().any(|c| c.is_control() || crate::logging::is_format(c));
        if f.trim().is_empty() || f.chars().count() > max || unprintable {
            return Err(RecordError::Run(format!(
                "provider {}: {:?} is not 1 to {max} printable characters",
                p.provider,
                crate::logging::printable(f, false)
            )));
        }
    }
    if !p.display_name.starts_with(char::is_alphanumeric)
        || name_key(&p.display_name) != name_key(&p.provider)
    {
        return Err(RecordError::Run(format!(
            "provider {}: the display name {:?} is not its name (only case, spaces and punctuation may differ)",
            p.provider, p.display_name
        )));
    }
    Ok(p)
}

/// The most a usage counter may hold, and a provider's tokens of one day
/// may add up to: far above any real day, far below where sums overflow.
pub const MAX_COUNT: i64 = 1_000_000_000_000_000;

impl Rows {
    /// Adds a cost row, summing exactly with an earlier row of the same key.
    pub fn add_cost(&mut self, row: CostRow) {
        match self.costs.get_mut(&row.key) {
            Some(existing) => existing.amount += &row.amount,
            None => {
                self.costs.insert(row.key.clone(), row);
            }
        }
    }

    /// Adds a usage row, summing with an earlier row of the same key; a day
    /// whose tokens for a provider add up past [`MAX_COUNT`] costs that day.
    pub fn add_usage(&mut self, row: UsageRow) -> Result<(), RecordError> {
        if row.counts_as_tokens {
            let total = self.day_tokens.entry((row.key.provider.clone(), row.key.day)).or_default();
            *total = total.saturating_add(row.quantity);
            if *total > MAX_COUNT {
                return Err(RecordError::Day(
                    row.key.day,
                    format!(
                        "{}'s tokens of {} add up past {MAX_COUNT}",
                        row.key.provider, row.key.day
                    ),
                ));
            }
        }
        match self.usage.get_mut(&row.key) {
            Some(existing) => existing.quantity = existing.quantity.saturating_add(row.quantity),
            None => {
                self.usage.insert(row.key.clone(), row);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_in_cents_is_divided_exactly() {
        let row = parse_cost(
            r#"{"provider":"anthropic","day":"2025-08-01","project":null,"line_item":"x",
                "amount":"123.78912","unit":"cents","currency":"USD"}"#,
            None,
        )
        .unwrap();
        assert_eq!(row.amount.to_stored(), "1.2378912");
        assert_eq!(row.key.project, "");
        assert_eq!(row.key.account, "default");
    }

    #[test]
    fn wrong_types_and_dates_are_rejected() {
        let bad = [
            r#"{"provider":"openai","day":"2025-02-30","amount":"1","unit":"major","currency":"usd"}"#,
            r#"{"provider":"openai","day":"2025-02-01","amount":1.5,"unit":"major","currency":"usd"}"#,
            r#"{"provider":"openai","day":"2025-02-01","amount":"x","unit":"major","currency":"usd"}"#,
            r#"{"provider":"openai","day":"2025-02-01","amount":"1","unit":"major","currency":"eur"}"#,
            r#"{"provider":"OpenAI!","day":"2025-02-01","amount":"1","unit":"major","currency":"usd"}"#,
        ];
        for b in bad {
            assert!(parse_cost(b, None).is_err(), "{b}");
        }
        let window = Some(("2025-01-01".parse().unwrap(), "2025-01-31".parse().unwrap()));
        let outside = r#"{"provider":"openai","day":"2025-02-01","amount":"1","unit":"major","currency":"usd"}"#;
        assert!(
            matches!(parse_cost(outside, window), Err(RecordError::Run(e)) if e.contains("outside"))
        );
    }

    #[test]
    fn a_bad_value_costs_its_day_and_a_broken_contract_the_run() {
        let day: NaiveDate = "2025-02-01".parse().unwrap();
        let per_day = [
            (
                r#"{"provider":"openai","day":"2025-02-01","amount":"1","unit":"major","currency":"eur"}"#,
                "not supported",
            ),
            (
                r#"{"provider":"openai","day":"2025-02-01","amount":null,"unit":"major","currency":"usd"}"#,
                "invalid cost record",
            ),
            (
                r#"{"provider":"openai","day":"2025-02-01","amount":"1e-401","unit":"major","currency":"usd"}"#,
                "decimal places",
            ),
            (
                r#"{"provider":"openai","day":"2025-02-01","amount":"1","unit":"major","currency":"usd","quantity":"x"}"#,
                "quantity",
            ),
        ];
        for (payload, why) in per_day {
            match parse_cost(payload, None) {
                Err(RecordError::Day(d, e)) => assert!(d == day && e.contains(why), "{e}"),
                other => panic!("{payload}: {other:?}"),
            }
        }
        for payload in [
            r#"{"provider":"openai","amount":"1"}"#,
            "[1]",
            r#"{"provider":"Open AI","day":"2025-02-01","amount":"1","unit":"major","currency":"usd"}"#,
        ] {
            assert!(matches!(parse_cost(payload, None), Err(RecordError::Run(_))), "{payload}");
        }
    }

    #[test]
    fn a_provider_is_shown_only_under_its_own_name() {
        let p = |id: &str, name: &str| {
            parse_provider(&format!(r#"{{"provider":"{id}","display_name":"{name}"}}"#))
        };
        assert!(p("openai", "OpenAI").is_ok());
        assert!(p("mistral_ai", "Mistral AI").is_ok());
        for (id, name) in [
            ("evil", "OpenAI"),
            ("openai", "OpenAI\\u200b"),
            ("openai", " "),
            ("openai", "Open\\u202eAI"),
            ("openai", "=OpenAI"),
        ] {
            assert!(matches!(p(id, name), Err(RecordError::Run(_))), "{id} {name}");
        }
        assert_eq!(name_key("Open AI"), name_key("open_ai"));
    }

    #[test]
    fn fields_of_a_newer_collector_are_ignored() {
        let row = parse_cost(
            r#"{"schema":9,"provider":"openai","day":"2025-08-01","amount":"0.5","unit":"major",
                "currency":"usd","inference_geo":"us","discount":{"kind":"commit"}}"#,
            None,
        )
        .unwrap();
        assert_eq!(row.amount.to_stored(), "0.5");
        let rows = parse_usage(
            r#"{"provider":"anthropic","day":"2025-08-01","source":"messages","speed":"fast",
                "metrics":{"output_tokens":5},"token_metrics":["output_tokens"],"not_in_cost":true}"#,
            None,
        )
        .unwrap()
        .rows;
        assert!(rows[0].counts_as_tokens && rows[0].not_in_cost);
    }

    #[test]
    fn usage_expands_metrics_and_marks_tokens() {
        let rows = parse_usage(
            r#"{"provider":"openai","day":"2025-08-01","source":"completions","model":"m",
                "metrics":{"input_tokens":10,"output_tokens":5,"input_cached_tokens":3,"num_model_requests":1},
                "token_metrics":["input_tokens","output_tokens"]}"#,
            None,
        )
        .unwrap()
        .rows;
        let tokens: i64 = rows.iter().filter(|r| r.counts_as_tokens).map(|r| r.quantity).sum();
        assert_eq!(rows.len(), 4);
        assert_eq!(tokens, 15);
        assert!(parse_usage(
            r#"{"provider":"openai","day":"2025-08-01","source":"c","metrics":{"x":-1}}"#,
            None
        )
        .is_err());
    }
}
