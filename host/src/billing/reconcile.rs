//! Reconciliation: per provider and day (and per model where both sides
//! have it), the billed cost next to two estimates — the admin API's own
//! usage times the price table, and the calls of local logs times the same
//! table — with the drift in percent and the causes that can be seen.

use std::collections::{BTreeMap, BTreeSet};

use bigdecimal::{BigDecimal, RoundingMode};
use chrono::NaiveDate;
use serde::Serialize;

use super::estimate::{self, Priced};
use super::money::Money;
use super::period::Period;
use super::prices::{Estimate, PriceTable};
use crate::billing::storage::{BillingReads, Breakdown};
use crate::store::StoreError;

/// The default drift past which a day is flagged (`RECONCILE_DRIFT_PCT`).
pub const DEFAULT_THRESHOLD_PCT: u32 = 5;

/// Billed against the two estimates, for one provider and day or model.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Figures {
    /// Billed cost, exact; absent when nothing is billed.
    pub billed: Option<String>,
    /// The admin API's usage at list prices; absent without priced usage.
    pub usage_estimate: Option<String>,
    /// Local logs at list prices; absent without calls.
    pub local_estimate: Option<String>,
    /// `(usage_estimate - billed) / billed` in percent, two decimals.
    pub usage_drift_pct: Option<String>,
    /// `(local_estimate - billed) / billed` in percent, two decimals.
    pub local_drift_pct: Option<String>,
}

/// One model of a provider's day that both sides name.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    /// Model.
    pub model: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// One provider and day.
#[derive(Debug, Clone, Serialize)]
pub struct DayRow {
    /// Provider display name.
    pub provider: String,
    /// UTC day.
    pub date: NaiveDate,
    /// The day's figures.
    #[serde(flatten)]
    pub figures: Figures,
    /// A drift past the threshold.
    pub flagged: bool,
    /// What explains a difference, where it can be seen.
    pub causes: Vec<String>,
    /// Per model, where billed and an estimate both name it.
    pub models: Vec<ModelRow>,
}

/// `agent-host reconcile`.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    /// The days.
    pub period: Period,
    /// Drift in percent past which a day is flagged.
    pub threshold_pct: u32,
    /// The price table both estimates use.
    pub price_table: String,
    /// Its date.
    pub price_table_date: String,
    /// The period's totals: `billed` is every billed amount; each
    /// estimate sums the provider-days that have a billed amount, and its
    /// drift compares it with the billed cost of those same days (below).
    pub totals: Figures,
    /// The billed cost each total drift is measured against: of the
    /// provider-days with a usage estimate, and with a local one.
    pub totals_compared: Compared,
    /// Per provider and day.
    pub days: Vec<DayRow>,
}

/// The billed cost behind each total drift, exact.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Compared {
    /// Billed, over the provider-days the usage estimate covers.
    pub usage_billed: Option<String>,
    /// Billed, over the provider-days the local estimate covers.
    pub local_billed: Option<String>,
}

/// Money summed per key, with the unpriced reasons and tokens seen.
#[derive(Default)]
struct Side {
    cost: Option<Money>,
    unpriced: BTreeSet<String>,
    not_in_cost: (u64, Money),
    tokens: u64,
    /// Tiers and speeds (`priority`, `fast`) the table has no rates for,
    /// priced at standard rates.
    at_standard: BTreeSet<String>,
}

impl Side {
    fn add(&mut self, p: &Priced) {
        self.tokens = self.tokens.saturating_add(p.tokens);
        let tier =
            p.group.tier.split_whitespace().filter(|t| !matches!(*t, "standard" | "default"));
        self.at_standard.extend(tier.map(str::to_string));
        match &p.estimate {
            Estimate::Cost(m) => {
                *self.cost.get_or_insert_with(Money::zero) += m;
                if p.group.not_in_cost {
                    self.not_in_cost.0 = self.not_in_cost.0.saturating_add(p.tokens);
                    self.not_in_cost.1 += m;
                }
            }
            Estimate::Unpriced(why) => {
                self.unpriced.insert(why.clone());
            }
        }
    }
}

type DayKey = (String, NaiveDate);

fn sides(lines: &[Priced]) -> (BTreeMap<DayKey, Side>, BTreeMap<(DayKey, String), Side>) {
    let (mut days, mut models): (BTreeMap<_, Side>, BTreeMap<_, Side>) = Default::default();
    for p in lines {
        let key = (p.group.name.clone(), p.group.day);
        days.entry(key.clone()).or_default().add(p);
        models.entry((key, p.group.model.clone())).or_default().add(p);
    }
    (days, models)
}

/// `(estimate - billed) / billed` in percent, rounded half-even to two
/// decimals from the exact quotient; none without a billed amount.
pub fn drift_pct(billed: &Money, estimate: &Money) -> Option<String> {
    if billed.is_zero() {
        return None;
    }
    // In hundredths of a percent, rounded once from the exact quotient.
    let d = (estimate.decimal() - billed.decimal()) * BigDecimal::from(10_000) / billed.decimal();
    let (units, _) = d.with_scale_round(0, RoundingMode::HalfEven).into_bigint_and_exponent();
    let sign = if units.sign() == bigdecimal::num_bigint::Sign::Minus { "-" } else { "" };
    let abs = units.magnitude();
    let hundred = bigdecimal::num_bigint::BigUint::from(100u32);
    Some(format!("{sign}{}.{:02}", abs / &hundred, abs % &hundred))
}

fn figures(billed: Option<&Money>, usage: Option<&Side>, local: Option<&Side>) -> Figures {
    let cost = |s: Option<&Side>| s.and_then(|s| s.cost.clone());
    let (u, l) = (cost(usage), cost(local));
    let drift = |e: &Option<Money>| billed.zip(e.as_ref()).and_then(|(b, e)| drift_pct(b, e));
    Figures {
        billed: billed.map(Money::to_stored),
        usage_drift_pct: drift(&u),
        local_drift_pct: drift(&l),
        usage_estimate: u.map(|m| m.to_stored()),
        local_estimate: l.map(|m| m.to_stored()),
    }
}

fn past(threshold: u32, drift: &Option<String>) -> bool {
    drift.as_deref().and_then(|d| d.parse::<BigDecimal>().ok()).is_some_and(|d| d.abs() > threshold)
}

/// The causes of a day's difference that the data shows; `billed_only`
/// are the billed lines (model or line item) no estimate names.
fn causes(
    billed: Option<&Money>,
    usage: Option<&Side>,
    local: Option<&Side>,
    billed_only: &[(&str, &Money)],
) -> Vec<String> {
    let mut out = Vec::new();
    let shown: Vec<String> = billed_only
        .iter()
        .filter(|(_, m)| !m.is_zero())
        .map(|(k, m)| format!("{k} ${}", crate::table::money(&m.to_stored())))
        .collect();
    if !shown.is_empty() && (usage.is_some() || local.is_some()) {
        out.push(format!("billed, with nothing in usage or logs to price: {}", shown.join(", ")));
    }
    if let Some(u) = usage.filter(|u| u.not_in_cost.0 > 0) {
        out.push(format!(
            "{} tokens of priority-tier usage have no billed cost (estimated ${})",
            crate::table::count(u.not_in_cost.0 as i64),
            crate::table::money(&u.not_in_cost.1.to_stored())
        ));
    }
    for (side, what) in [(usage, "usage"), (local, "local logs")] {
        for why in side.iter().flat_map(|s| &s.unpriced) {
            out.push(format!("unpriced in {what}: {why}"));
        }
        let tiers: Vec<&str> =
            side.iter().flat_map(|s| &s.at_standard).map(String::as_str).collect();
        if !tiers.is_empty() {
            out.push(format!(
                "{what}: {} priced at standard rates (the price table has no rate for it)",
                tiers.join(", ")
            ));
        }
    }
    match (billed.is_some(), usage.is_some(), local.is_some()) {
        // A $0.00 day without usage is a day off, not a difference.
        (true, false, false) if !billed.is_some_and(Money::is_zero) => {
            out.push("billed, but no usage or local calls this day".into())
        }
        (false, _, true) => out.push("in local logs only: nothing billed this day".into()),
        (false, true, false) => out.push("usage without any billed cost".into()),
        _ => {}
    }
    if billed.is_some_and(Money::is_zero) && usage.is_some_and(|u| u.tokens > 0) {
        out.push("usage without any cost: the day's billed cost is $0".into());
    }
    out
}

/// Reconciles a period; `threshold` is the drift in percent past which a
/// day is flagged.
pub fn reconcile(
    store: &impl BillingReads,
    prices: &PriceTable,
    period: Period,
    threshold: u32,
) -> Result<Reconciliation, StoreError> {
    let (from, to) = (period.from, period.to);
    let billed_days: BTreeMap<DayKey, Money> = store
        .day_totals(from, to)?
        .into_iter()
        .map(|d| ((d.provider, d.date), Money::from_stored(&d.cost)))
        .collect();
    let billed_models: BTreeMap<(DayKey, String), Money> = store
        .breakdown_by_day(from, to, Breakdown::Model)?
        .into_iter()
        .map(|r| (((r.row.provider, r.day), r.row.key), Money::from_stored(&r.row.cost)))
        .collect();
    let usage = estimate::from_usage(store, prices, from, to)?;
    let local = estimate::from_calls(store, prices, from, to)?;
    let (usage_days, usage_models) = sides(&usage);
    let (local_days, local_models) = sides(&local);
    let keys: BTreeSet<&DayKey> =
        billed_days.keys().chain(usage_days.keys()).chain(local_days.keys()).collect();
    let days = keys
        .into_iter()
        .map(|key| {
            let (b, u, l) = (billed_days.get(key), usage_days.get(key), local_days.get(key));
            let day_figures = figures(b, u, l);
            let models = billed_models
                .range((key.clone(), String::new())..)
                .take_while(|((k, _), _)| k == key)
                .filter_map(|((k, model), billed)| {
                    let mk = (k.clone(), model.clone());
                    let (u, l) = (usage_models.get(&mk), local_models.get(&mk));
                    (u.is_some() || l.is_some()).then(|| ModelRow {
                        model: model.clone(),
                        figures: figures(Some(billed), u, l),
                    })
                })
                .collect();
            let billed_only: Vec<(&str, &Money)> = billed_models
                .range((key.clone(), String::new())..)
                .take_while(|((k, _), _)| k == key)
                .filter(|(mk, _)| !usage_models.contains_key(mk) && !local_models.contains_key(mk))
                .map(|((_, model), m)| (model.as_str(), m))
                .collect();
            let flagged = past(threshold, &day_figures.usage_drift_pct)
                || past(threshold, &day_figures.local_drift_pct);
            let mut causes = causes(b, u, l, &billed_only);
            if flagged && causes.is_empty() {
                causes.push(
                    "no cause in the data: the rates differ from the bill (is the price table current? see `agent-host prices`)"
                        .into(),
                );
            }
            DayRow {
                provider: key.0.clone(),
                date: key.1,
                flagged,
                causes,
                figures: day_figures,
                models,
            }
        })
        .collect();
    // Totals compare like with like: estimates only of the provider-days
    // that have a billed amount (the days on one side are in `days`).
    let sum = |side: &BTreeMap<DayKey, Side>| -> Option<Money> {
        billed_days.keys().filter_map(|k| side.get(k)?.cost.clone()).reduce(|a, b| a + b)
    };
    let billed = billed_days.values().cloned().reduce(|a, b| a + b);
    // Each estimate's drift is against the billed cost of the days it
    // covers, never against providers it has no figures for.
    let billed_of = |side: &BTreeMap<DayKey, Side>| -> Option<Money> {
        billed_days
            .iter()
            .filter(|(k, _)| side.get(*k).is_some_and(|s| s.cost.is_some()))
            .map(|(_, m)| m.clone())
            .reduce(|a, b| a + b)
    };
    let (usage_billed, local_billed) = (billed_of(&usage_days), billed_of(&local_days));
    let (ut, lt) = (
        Side { cost: sum(&usage_days), ..Side::default() },
        Side { cost: sum(&local_days), ..Side::default() },
    );
    let mut totals = figures(
        billed.as_ref(),
        ut.cost.is_some().then_some(&ut),
        lt.cost.is_some().then_some(&lt),
    );
    let drift = |b: &Option<Money>, e: &Option<Money>| {
        b.as_ref().zip(e.as_ref()).and_then(|(b, e)| drift_pct(b, e))
    };
    totals.usage_drift_pct = drift(&usage_billed, &ut.cost);
    totals.local_drift_pct = drift(&local_billed, &lt.cost);
    Ok(Reconciliation {
        period,
        threshold_pct: threshold,
        price_table: prices.source.clone(),
        price_table_date: prices.date.clone(),
        totals,
        totals_compared: Compared {
            usage_billed: usage_billed.map(|m| m.to_stored()),
            local_billed: local_billed.map(|m| m.to_stored()),
        },
        days,
    })
}

/// The reconciliation as a table, flagged days with their causes.
pub fn render(r: &Reconciliation) -> String {
    use crate::table::{money, render as table, Align};
    use std::fmt::Write;
    let opt = |v: &Option<String>| v.as_deref().map(money).unwrap_or_else(|| "-".into());
    let pct =
        |v: &Option<String>| v.as_deref().map(|d| format!("{d} %")).unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Reconcile {}..{}: billed against estimates at list prices ({}); flagged past {} %",
        r.period.from, r.period.to, r.price_table, r.threshold_pct
    );
    let _ = writeln!(out);
    if r.days.is_empty() {
        let _ = writeln!(out, "  Nothing billed, reported or logged in this period.");
        return out;
    }
    let mut rows: Vec<Vec<String>> = r
        .days
        .iter()
        .map(|d| {
            let f = &d.figures;
            vec![
                d.provider.clone(),
                d.date.to_string(),
                opt(&f.billed),
                opt(&f.usage_estimate),
                pct(&f.usage_drift_pct),
                opt(&f.local_estimate),
                pct(&f.local_drift_pct),
                if d.flagged { "DRIFT".into() } else { String::new() },
            ]
        })
        .collect();
    let t = &r.totals;
    rows.push(vec![
        "Total".into(),
        String::new(),
        opt(&t.billed),
        opt(&t.usage_estimate),
        pct(&t.usage_drift_pct),
        opt(&t.local_estimate),
        pct(&t.local_drift_pct),
        String::new(),
    ]);
    out.push_str(&table(
        2,
        &[
            ("Provider", Align::Left),
            ("Date", Align::Left),
            ("Billed", Align::Right),
            ("Est. usage", Align::Right),
            ("Drift", Align::Right),
            ("Est. logs", Align::Right),
            ("Drift", Align::Right),
            ("", Align::Left),
        ],
        &rows,
    ));
    let c = &r.totals_compared;
    let partial = |b: &Option<String>| b.is_some() && b != &t.billed;
    if partial(&c.usage_billed) || partial(&c.local_billed) {
        let _ = writeln!(
            out,
            "  Total drifts compare each estimate with the billed cost of the days it covers: {} (usage), {} (logs)",
            c.usage_billed.as_deref().map_or("-".into(), |b| format!("${}", money(b))),
            c.local_billed.as_deref().map_or("-".into(), |b| format!("${}", money(b))),
        );
    }
    for d in r.days.iter().filter(|d| d.flagged || !d.causes.is_empty()) {
        for c in &d.causes {
            let _ = writeln!(out, "  {} {}: {c}", d.provider, d.date);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_exact_then_rounded_half_even() {
        let m = |s: &str| Money::parse_major(s).unwrap();
        assert_eq!(drift_pct(&m("10"), &m("10.5")).as_deref(), Some("5.00"));
        assert_eq!(drift_pct(&m("3"), &m("2")).as_deref(), Some("-33.33"));
        assert_eq!(drift_pct(&m("8"), &m("8.0001")).as_deref(), Some("0.00"));
        assert_eq!(drift_pct(&m("0"), &m("1")), None);
        assert!(past(5, &Some("-5.01".into())));
        assert!(!past(5, &Some("5.00".into())));
    }
}
