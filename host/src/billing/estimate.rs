//! Estimated cost: token counts times the price table, from the calls local
//! logs hold and from the priced counts collectors send with their usage.
//! An estimate is always labelled as one and never added to a billed amount.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::money::Money;
use super::prices::{Estimate, PriceTable};
use super::records::priced_from;
use crate::store::reports::PricedGroup;
use crate::store::reports::{Breakdown, DayTotal};
use crate::store::{Store, StoreError};

/// One group of calls or usage, priced.
#[derive(Debug, Clone)]
pub struct Priced {
    /// The group.
    pub group: PricedGroup,
    /// Its tokens (input of every kind and output).
    pub tokens: u64,
    /// The estimate, or why there is none.
    pub estimate: Estimate,
}

impl Priced {
    /// The cost, when priced.
    pub fn cost(&self) -> Option<&Money> {
        match &self.estimate {
            Estimate::Cost(m) => Some(m),
            Estimate::Unpriced(_) => None,
        }
    }
}

fn price(table: &PriceTable, group: PricedGroup) -> Priced {
    let counts = priced_from(group.buckets.iter().map(|(b, n)| (b.as_str(), *n)));
    let input = if group.over > 0 { group.over + 1 } else { counts.all_input() };
    Priced {
        tokens: counts.tokens(),
        estimate: table.estimate(&group.provider, &group.model, group.day, input, &counts),
        group,
    }
}

/// The calls of local logs between two days, priced.
pub fn from_calls(
    store: &Store,
    table: &PriceTable,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Priced>, StoreError> {
    let groups = store.call_groups(from, to, &table.tier_starts())?;
    Ok(groups.into_iter().map(|g| price(table, g)).collect())
}

/// The usage collectors reported between two days, priced (what the admin
/// API's own token counts should have cost).
pub fn from_usage(
    store: &Store,
    table: &PriceTable,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Priced>, StoreError> {
    let long = |provider: &str, model: &str| {
        table.find(provider, model).and_then(|m| m.first_tier()).unwrap_or(0)
    };
    let groups = store.usage_groups(from, to, long)?;
    Ok(groups.into_iter().map(|g| price(table, g)).collect())
}

/// One provider's estimate over a period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProviderEstimate {
    /// Display name.
    pub provider: String,
    /// Estimated cost of the priced calls, exact.
    pub cost: String,
    /// Tokens of every call.
    pub tokens: u64,
    /// Calls.
    pub calls: i64,
    /// Tokens of calls that could not be priced (left out of `cost`).
    pub unpriced_tokens: u64,
    /// Why, one line per reason.
    pub unpriced: Vec<String>,
}

/// What the local logs say a period cost (`summary`'s `estimated`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EstimateSummary {
    /// Always `estimated`: these figures are not billed amounts.
    pub kind: &'static str,
    /// What the figures are, in words.
    pub basis: String,
    /// The price table used.
    pub price_table: String,
    /// Its date.
    pub price_table_date: String,
    /// Estimated cost of every priced call, exact.
    pub total_cost: String,
    /// Tokens of every call.
    pub total_tokens: u64,
    /// Calls.
    pub calls: i64,
    /// Per provider.
    pub providers: Vec<ProviderEstimate>,
    /// Per provider and model or project, when the summary breaks down.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breakdown: Vec<KeyEstimate>,
}

/// One provider's estimate for one model or project.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeyEstimate {
    /// Display name.
    pub provider: String,
    /// The model or project.
    pub key: String,
    /// Estimated cost of the priced calls, exact.
    pub cost: String,
    /// Tokens.
    pub tokens: u64,
    /// Calls.
    pub calls: i64,
    /// Tokens of calls that could not be priced.
    pub unpriced_tokens: u64,
}

/// The estimate lines summed per display name and model, project or account.
pub fn by_key(lines: &[Priced], by: Breakdown) -> Vec<KeyEstimate> {
    let mut acc: BTreeMap<(&str, &str), Vec<&Priced>> = BTreeMap::new();
    for p in lines {
        let key = match by {
            Breakdown::Model => &p.group.model,
            Breakdown::Project => &p.group.project,
            Breakdown::Account => &p.group.account,
        };
        acc.entry((p.group.name.as_str(), key.as_str())).or_default().push(p);
    }
    acc.into_iter()
        .flat_map(|((name, key), group)| {
            by_provider(group).into_iter().map(move |e| KeyEstimate {
                provider: name.to_string(),
                key: if key.is_empty() { "(none)".to_string() } else { key.to_string() },
                cost: e.cost,
                tokens: e.tokens,
                calls: e.calls,
                unpriced_tokens: e.unpriced_tokens,
            })
        })
        .collect()
}

/// The estimate lines summed per display name (in the order of names).
pub fn by_provider<'a>(lines: impl IntoIterator<Item = &'a Priced>) -> Vec<ProviderEstimate> {
    let mut acc: BTreeMap<&str, (Money, ProviderEstimate)> = BTreeMap::new();
    for p in lines {
        let (cost, e) = acc.entry(p.group.name.as_str()).or_default();
        e.tokens += p.tokens;
        e.calls += p.group.calls;
        match &p.estimate {
            Estimate::Cost(m) => *cost += m,
            Estimate::Unpriced(why) => {
                e.unpriced_tokens += p.tokens;
                if !e.unpriced.contains(why) {
                    e.unpriced.push(why.clone());
                }
            }
        }
    }
    acc.into_iter()
        .map(|(name, (cost, e))| ProviderEstimate {
            provider: name.to_string(),
            cost: cost.to_stored(),
            ..e
        })
        .collect()
}

/// The local logs' estimate of a period, or `None` when no log has a call in it.
pub fn summarize(lines: &[Priced], table: &PriceTable) -> Option<EstimateSummary> {
    if lines.is_empty() {
        return None;
    }
    let providers = by_provider(lines);
    let total: Money = lines.iter().filter_map(Priced::cost).cloned().sum();
    Some(EstimateSummary {
        kind: "estimated",
        basis: "API calls in local agent logs (Claude Code, Codex) at list prices; not billed"
            .into(),
        price_table: table.source.clone(),
        price_table_date: table.date.clone(),
        total_cost: total.to_stored(),
        total_tokens: providers.iter().map(|p| p.tokens).sum(),
        calls: providers.iter().map(|p| p.calls).sum(),
        providers,
        breakdown: Vec::new(),
    })
}

/// Day totals of the estimate for the providers without a billed day in
/// `billed`, labelled `NAME (estimated)`: what budgets, forecasts and alerts
/// count for someone with only local logs. A provider with billed data is
/// never also counted by estimate.
pub fn stand_ins(billed: &[DayTotal], lines: &[Priced]) -> Vec<DayTotal> {
    let has_billed: std::collections::HashSet<&str> =
        billed.iter().filter(|d| !d.estimated).map(|d| d.provider.as_str()).collect();
    let mut acc: BTreeMap<(&str, NaiveDate), (Money, i64)> = BTreeMap::new();
    for p in lines.iter().filter(|p| !has_billed.contains(p.group.name.as_str())) {
        let Some(cost) = p.cost() else { continue };
        let e = acc.entry((p.group.name.as_str(), p.group.day)).or_default();
        e.0 += cost;
        e.1 = e.1.saturating_add(i64::try_from(p.tokens).unwrap_or(i64::MAX));
    }
    acc.into_iter()
        .map(|((name, date), (cost, tokens))| DayTotal {
            provider: format!("{name} (estimated)"),
            date,
            tokens,
            cost: cost.to_stored(),
            collected_at: String::new(),
            not_in_cost_tokens: 0,
            estimated: true,
        })
        .collect()
}
