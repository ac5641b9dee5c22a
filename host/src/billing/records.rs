//! The billing record kinds collectors send, checked and turned into typed
//! rows keyed by their natural key. Pure: JSON text in, rows or a reason out.
//!
//! Kind `cost` (one billed line of one UTC day):
//! ```json
//! {"provider":"openai","account":"default","day":"2025-08-01",
//!  "project":"proj_1","api_key":null,"line_item":"gpt-4o, input",
//!  "model":null,"token_type":null,"cost_type":null,"service_tier":null,"context_window":null,
//!  "amount":"0.0123","unit":"major","currency":"usd","quantity":"1234","quantity_unit":"tokens"}
//! ```
//! `unit` is `major` (dollars) or `cents` (hundredths, divided exactly).
//!
//! Kind `usage` (counters of one UTC day and one combination of dimensions):
//! ```json
//! {"provider":"anthropic","account":"default","day":"2025-08-01","source":"messages",
//!  "model":"claude-sonnet-4","project":null,"api_key":null,"user":null,"service_tier":"standard",
//!  "dims":{"context_window":"0-200k"},"metrics":{"output_tokens":120,"uncached_input_tokens":900}}
//! ```
//! Null dimensions are stored as empty text (a null Anthropic workspace is
//! the default workspace), so they take part in the key like any value.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

use super::money::Money;

/// The natural key of a cost row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CostKey {
    /// `openai`, `anthropic`, ...
    pub provider: String,
    /// The account label.
    pub account: String,
    /// UTC day.
    pub day: NaiveDate,
    /// Project (OpenAI) or workspace (Anthropic).
    pub project: String,
    /// API key id.
    pub api_key: String,
    /// Line item (OpenAI) or description (Anthropic).
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
}

/// Checked billing rows of one run.
#[derive(Debug, Default, Clone)]
pub struct Rows {
    /// Cost rows, one per key (duplicates summed).
    pub costs: BTreeMap<CostKey, CostRow>,
    /// Usage rows, one per key (duplicates summed).
    pub usage: BTreeMap<UsageKey, UsageRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CostPayload {
    provider: String,
    #[serde(default)]
    account: Option<String>,
    day: String,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    line_item: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    cost_type: Option<String>,
    #[serde(default)]
    service_tier: Option<String>,
    #[serde(default)]
    context_window: Option<String>,
    amount: String,
    unit: String,
    currency: String,
    #[serde(default)]
    quantity: Option<String>,
    #[serde(default)]
    quantity_unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsagePayload {
    provider: String,
    #[serde(default)]
    account: Option<String>,
    day: String,
    source: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    service_tier: Option<String>,
    #[serde(default)]
    dims: BTreeMap<String, String>,
    metrics: BTreeMap<String, u64>,
}

/// Which counters make up a day's `tokens` total (see the README): OpenAI
/// completions input + output and embeddings/moderations input; Anthropic
/// uncached input, both cache writes, cache reads and output.
pub fn counts_as_tokens(provider: &str, source: &str, metric: &str) -> bool {
    match (provider, source) {
        ("openai", "completions") => matches!(metric, "input_tokens" | "output_tokens"),
        ("openai", "embeddings" | "moderations") => metric == "input_tokens",
        ("anthropic", "messages") => matches!(
            metric,
            "uncached_input_tokens"
                | "cache_creation.ephemeral_5m_input_tokens"
                | "cache_creation.ephemeral_1h_input_tokens"
                | "cache_read_input_tokens"
                | "output_tokens"
        ),
        _ => false,
    }
}

fn dim(v: Option<String>) -> String {
    v.unwrap_or_default()
}

fn check_provider(p: &str) -> Result<(), String> {
    let ok = !p.is_empty()
        && p.len() <= 40
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("provider {p:?} is not a lowercase name"))
    }
}

fn parse_day(day: &str, window: Option<(NaiveDate, NaiveDate)>) -> Result<NaiveDate, String> {
    let d: NaiveDate = crate::cli::parse_day(day)?;
    if let Some((from, to)) = window {
        if d < from || d > to {
            return Err(format!("day {d} is outside the requested {from}..{to}"));
        }
    }
    Ok(d)
}

/// Checks one `cost` payload.
pub fn parse_cost(
    payload: &str,
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<CostRow, String> {
    let p: CostPayload =
        serde_json::from_str(payload).map_err(|e| format!("invalid cost record: {e}"))?;
    check_provider(&p.provider)?;
    let day = parse_day(&p.day, window)?;
    let currency = p.currency.to_ascii_uppercase();
    if currency != "USD" {
        return Err(format!("currency {:?} is not supported (only USD)", p.currency));
    }
    let amount = match p.unit.as_str() {
        "major" => Money::parse_major(&p.amount),
        "cents" => Money::parse_cents(&p.amount),
        other => return Err(format!("amount unit {other:?} is neither \"major\" nor \"cents\"")),
    }
    .map_err(|e| format!("amount {e}"))?;
    if let Some(q) = &p.quantity {
        super::money::parse_decimal(q).map_err(|e| format!("quantity {e}"))?;
    }
    Ok(CostRow {
        key: CostKey {
            provider: p.provider,
            account: p.account.unwrap_or_else(|| "default".into()),
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

/// Checks one `usage` payload; one row per metric.
pub fn parse_usage(
    payload: &str,
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<Vec<UsageRow>, String> {
    let p: UsagePayload =
        serde_json::from_str(payload).map_err(|e| format!("invalid usage record: {e}"))?;
    check_provider(&p.provider)?;
    let day = parse_day(&p.day, window)?;
    if p.source.is_empty() {
        return Err("usage record without a source".into());
    }
    let dims = p.dims.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(";");
    let base = UsageKey {
        provider: p.provider,
        account: p.account.unwrap_or_else(|| "default".into()),
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
    p.metrics
        .into_iter()
        .map(|(metric, value)| {
            let quantity = i64::try_from(value)
                .map_err(|_| format!("metric {metric} = {value} is too large"))?;
            let counts = counts_as_tokens(&base.provider, &base.source, &metric);
            Ok(UsageRow {
                key: UsageKey { metric, ..base.clone() },
                quantity,
                counts_as_tokens: counts,
            })
        })
        .collect()
}

impl Rows {
    /// Adds a cost row, summing exactly with an earlier row of the same key.
    pub fn add_cost(&mut self, row: CostRow) -> Result<(), String> {
        match self.costs.get_mut(&row.key) {
            Some(existing) => {
                existing.amount = existing
                    .amount
                    .checked_add(row.amount)
                    .ok_or_else(|| "a day's amount overflows".to_string())?;
            }
            None => {
                self.costs.insert(row.key.clone(), row);
            }
        }
        Ok(())
    }

    /// Adds a usage row, summing with an earlier row of the same key.
    pub fn add_usage(&mut self, row: UsageRow) -> Result<(), String> {
        match self.usage.get_mut(&row.key) {
            Some(existing) => {
                existing.quantity = existing
                    .quantity
                    .checked_add(row.quantity)
                    .ok_or_else(|| "a counter overflows".to_string())?;
            }
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
        assert!(parse_cost(outside, window).unwrap_err().contains("outside"));
    }

    #[test]
    fn usage_expands_metrics_and_marks_tokens() {
        let rows = parse_usage(
            r#"{"provider":"openai","day":"2025-08-01","source":"completions","model":"m",
                "metrics":{"input_tokens":10,"output_tokens":5,"input_cached_tokens":3,"num_model_requests":1}}"#,
            None,
        )
        .unwrap();
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
