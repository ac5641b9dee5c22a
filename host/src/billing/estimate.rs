//! Estimated cost: token counts times the price table, from the calls local
//! logs hold and from the priced counts collectors send with their usage.
//! An estimate is always labelled as one and never added to a billed amount.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::money::Money;
use super::prices::{Estimate, PriceTable};
use crate::billing::storage::{BillingReads, PricedGroup};
use crate::billing::storage::{Breakdown, DayTotal};
use crate::store::StoreError;

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
    let counts = group.counts;
    // Tiers price whole requests: a group holds calls of one tier, so the
    // tier is the group's, never its summed input.
    let over = if group.long_context {
        let model = table.find(&group.provider, &group.model);
        model.and_then(|m| m.first_tier()).unwrap_or(0)
    } else {
        group.over
    };
    let input = if over > 0 { over + 1 } else { 0 };
    Priced {
        tokens: counts.tokens(),
        estimate: table.estimate(&group.provider, &group.model, group.day, input, &counts),
        group,
    }
}

/// Lays each day's estimate from the calls of local logs (`lines` from
/// [`from_calls`]) onto `days`, beside what was billed: a day with calls is
/// never a day without data. Usage groups (a collector's own usage at list
/// prices) are `reconcile`'s, not a day's estimate.
pub fn onto_days(days: &mut [super::summary::DayLine], lines: &[Priced]) {
    let mut by_day: BTreeMap<NaiveDate, (Money, i64)> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.group.calls > 0) {
        let e = by_day.entry(l.group.day).or_default();
        if let Some(cost) = l.cost() {
            e.0 += cost;
        }
        e.1 += l.tokens as i64;
    }
    for d in days {
        if let Some((cost, tokens)) = by_day.remove(&d.date) {
            d.estimated_cost = Some(cost.to_stored());
            d.estimated_tokens = Some(tokens);
        }
    }
}

/// The calls of local logs between two days, priced.
pub fn from_calls(
    store: &impl BillingReads,
    table: &PriceTable,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Priced>, StoreError> {
    let groups = store.call_groups(from, to, &table.tier_starts())?;
    Ok(groups.into_iter().map(|g| price(table, g)).collect())
}

/// One stored call, priced alone: the long-context tier is the largest of
/// `starts` (as [`PriceTable::tier_starts`] gives them) its own input
/// exceeded, as [`from_calls`] groups them.
pub fn price_call(
    table: &PriceTable,
    starts: &[u64],
    call: &crate::billing::storage::CallLine,
) -> Priced {
    let input = call.counts.all_input();
    let over = starts.iter().copied().find(|s| input > *s).unwrap_or(0);
    price(
        table,
        PricedGroup {
            day: call.day,
            provider: call.provider.clone(),
            name: call.name.clone(),
            account: String::new(),
            model: call.model.clone(),
            project: call.project.clone(),
            tier: call.tier.clone(),
            calls: 1,
            over,
            long_context: false,
            not_in_cost: false,
            counts: call.counts,
        },
    )
}

/// The usage collectors reported between two days, priced (what the admin
/// API's own token counts should have cost).
pub fn from_usage(
    store: &impl BillingReads,
    table: &PriceTable,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Priced>, StoreError> {
    let groups = store.usage_groups(from, to)?;
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
    /// Estimated cost of the priced calls, exact; `None` when none of its
    /// calls has a price (an unpriced model is never $0).
    pub cost: Option<String>,
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
            let priced = group.iter().any(|p| matches!(p.estimate, Estimate::Cost(_)));
            by_provider(group).into_iter().map(move |e| KeyEstimate {
                provider: name.to_string(),
                key: if key.is_empty() { "(none)".to_string() } else { key.to_string() },
                cost: priced.then_some(e.cost),
                tokens: e.tokens,
                calls: e.calls,
                unpriced_tokens: e.unpriced_tokens,
            })
        })
        .collect()
}

/// The most unpriced reasons listed (one per model): the rest are counted
/// in the unpriced tokens.
const MAX_REASONS: usize = 20;

/// The estimate lines summed per display name (in the order of names).
pub fn by_provider<'a>(lines: impl IntoIterator<Item = &'a Priced>) -> Vec<ProviderEstimate> {
    let mut acc: BTreeMap<&str, (Money, ProviderEstimate)> = BTreeMap::new();
    let mut reasons = std::collections::BTreeSet::new();
    for p in lines {
        let (cost, e) = acc.entry(p.group.name.as_str()).or_default();
        e.tokens = e.tokens.saturating_add(p.tokens);
        e.calls += p.group.calls;
        match &p.estimate {
            Estimate::Cost(m) => *cost += m,
            Estimate::Unpriced(why) => {
                e.unpriced_tokens = e.unpriced_tokens.saturating_add(p.tokens);
                if reasons.len() < MAX_REASONS {
                    reasons.insert((p.group.name.as_str(), why.as_str()));
                }
            }
        }
    }
    acc.into_iter()
        .map(|(name, (cost, e))| ProviderEstimate {
            provider: name.to_string(),
            cost: cost.to_stored(),
            unpriced: reasons
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, why)| why.to_string())
                .collect(),
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
        total_tokens: providers.iter().fold(0u64, |n, p| n.saturating_add(p.tokens)),
        calls: providers.iter().map(|p| p.calls).sum(),
        providers,
        breakdown: Vec::new(),
    })
}

/// The `results` rows of `period` with the estimate's stand-ins (see
/// [`stand_ins`]) for the providers without billed data: what budgets,
/// alerts and the daily export count.
pub fn with_stand_ins(
    store: &impl BillingReads,
    prices: &PriceTable,
    period: super::period::Period,
    today: NaiveDate,
) -> Result<Vec<DayTotal>, StoreError> {
    let mut days = store.day_totals(period.from, period.to)?;
    let lines = from_calls(store, prices, period.from, period.to)?;
    days.extend(stand_ins(&days, &lines, &period.finished_days(today)));
    Ok(days)
}

/// The estimate's lines of the providers without billed data in `period`:
/// what the detail and FOCUS exports list as `estimated` (a provider with
/// billed data is never also counted by estimate, as in [`stand_ins`]).
pub fn stand_in_lines(
    store: &impl BillingReads,
    prices: &PriceTable,
    period: super::period::Period,
) -> Result<Vec<Priced>, StoreError> {
    let billed = store.day_totals(period.from, period.to)?;
    let has_billed: std::collections::HashSet<&str> =
        billed.iter().filter(|d| !d.estimated).map(|d| d.provider.as_str()).collect();
    let mut lines = from_calls(store, prices, period.from, period.to)?;
    lines.retain(|p| !has_billed.contains(p.group.name.as_str()));
    Ok(lines)
}

/// Day totals of the estimate for the providers without a billed day in
/// `billed`, labelled `NAME (estimated)`: what budgets, forecasts and alerts
/// count for someone with only local logs. A provider with billed data is
/// never also counted by estimate. Every day of `days` from the provider's
/// first call on gets a row (a day without calls is a day that cost
/// nothing, not a day without data); `not_in_cost_tokens` holds the tokens
/// left out of the estimate because no price is known.
pub fn stand_ins(billed: &[DayTotal], lines: &[Priced], days: &[NaiveDate]) -> Vec<DayTotal> {
    let has_billed: std::collections::HashSet<&str> =
        billed.iter().filter(|d| !d.estimated).map(|d| d.provider.as_str()).collect();
    let mut acc: BTreeMap<&str, BTreeMap<NaiveDate, (Money, i64, i64)>> = BTreeMap::new();
    for p in lines.iter().filter(|p| !has_billed.contains(p.group.name.as_str())) {
        let e = acc.entry(p.group.name.as_str()).or_default().entry(p.group.day).or_default();
        let tokens = i64::try_from(p.tokens).unwrap_or(i64::MAX);
        e.1 = e.1.saturating_add(tokens);
        match p.cost() {
            Some(cost) => e.0 += cost,
            None => e.2 = e.2.saturating_add(tokens),
        }
    }
    let mut out = Vec::new();
    for (name, mut per_day) in acc {
        if let Some(first) = per_day.keys().next().copied() {
            for d in days.iter().filter(|d| **d > first) {
                per_day.entry(*d).or_default();
            }
        }
        out.extend(per_day.into_iter().map(|(date, (cost, tokens, unpriced))| DayTotal {
            provider: format!("{name} (estimated)"),
            date,
            tokens,
            cost: cost.to_stored(),
            collected_at: String::new(),
            not_in_cost_tokens: unpriced,
            estimated: true,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(over: u64, cache_read: u64, calls: i64) -> PricedGroup {
        PricedGroup {
            day: "2026-11-01".parse().unwrap(),
            provider: "anthropic".into(),
            name: "Anthropic".into(),
            account: "default".into(),
            model: "claude-sonnet-4-5".into(),
            project: String::new(),
            tier: String::new(),
            calls,
            over,
            long_context: false,
            not_in_cost: false,
            counts: billing_records::Priced { cache_read, ..Default::default() },
        }
    }

    // See: issue 24, point 7 (an unpriced model showed 0.00 and "cost": "0").
    #[test]
    fn an_unpriced_model_has_no_cost_never_zero() {
        let t = PriceTable::embedded();
        let mut unknown = group(0, 1_000, 2);
        unknown.model = "no-such-model-anywhere".into();
        let lines = vec![price(&t, group(0, 300_000, 3)), price(&t, unknown)];
        let keys = by_key(&lines, Breakdown::Model);
        insta::assert_snapshot!(
            "unpriced_model_json",
            serde_json::to_string_pretty(&keys).unwrap()
        );
        assert_eq!(keys.iter().find(|k| k.key.starts_with("no-such")).unwrap().cost, None);
    }

    #[test]
    fn tiers_price_each_request_never_a_group_s_sum() {
        let t = PriceTable::embedded();
        // Three calls of 100k cache reads each: every one below 200k.
        let small = price(&t, group(0, 300_000, 3));
        assert_eq!(small.cost().unwrap().to_stored(), "0.09", "300000 x 0.3 per million");
        // Calls that each exceeded 200k input: the long-context rate.
        let long = price(&t, group(200_000, 300_000, 1));
        assert_eq!(long.cost().unwrap().to_stored(), "0.18", "300000 x 0.6 per million");
    }

    #[test]
    fn days_without_calls_count_as_zero_and_unpriced_tokens_are_carried() {
        let t = PriceTable::embedded();
        let mut unknown = group(0, 1_000, 1);
        unknown.model = "claude-unknown-9".into();
        let lines = [price(&t, group(0, 1_000_000, 1)), price(&t, unknown)];
        let days: Vec<NaiveDate> =
            "2026-10-31".parse::<NaiveDate>().unwrap().iter_days().take(4).collect();
        let rows = stand_ins(&[], &lines, &days);
        // From the first call on: 11-01 (the calls), 11-02 and 11-03 at $0.
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].cost.as_str(), rows[0].not_in_cost_tokens), ("0.3", 1_000));
        assert!(rows[1..].iter().all(|r| r.cost == "0" && r.estimated));
        assert_eq!(rows[0].provider, "Anthropic (estimated)");
    }
}
