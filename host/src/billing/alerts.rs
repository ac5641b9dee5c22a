//! Alert rules: budget thresholds, a forecast above budget, a broken
//! collector, and a spike. Pure: stored totals and last runs in, the alerts
//! that hold now out, each with a key naming its rule and period so it is
//! sent once and only once.

use std::collections::BTreeMap;

use bigdecimal::BigDecimal;
use chrono::{Days, NaiveDate};
use serde::Serialize;

use super::money::Money;
use super::period::Period;
use super::summary::budget_view;
use crate::billing::storage::DayTotal;
use crate::kernel::ledger::RunRow;
use crate::kernel::status::RunStatus;
use crate::table::money as cents;

/// Rule settings (all from the environment or `.env`).
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// `MONTHLY_BUDGET_USD`, default 50.
    pub budget: Money,
    /// `ALERT_BUDGET_THRESHOLDS`, percent, default 50,80,100.
    pub thresholds: Vec<u32>,
    /// `ALERT_SPIKE_FACTOR`: a day above this many times the trailing median.
    pub spike_factor: BigDecimal,
}

/// An alert that holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Rule and period, e.g. `budget-80:2025-08`; sent once per channel.
    pub key: String,
    /// `budget`, `forecast`, `collector`, `spike`.
    pub rule: &'static str,
    /// `warning` or `critical`.
    pub severity: &'static str,
    /// One line.
    pub title: String,
    /// The period it is about: a month (`2025-08`), a day, or a run's id.
    pub period: String,
    /// The detail; money in it is rounded to cents.
    pub message: String,
    /// The exact amounts behind the message (`month_to_date`, `budget`,
    /// `forecast`, `spend`, `median`), as exact decimal text.
    pub amounts: BTreeMap<&'static str, String>,
}

/// The sentences an alert on estimated spend carries.
fn estimated_note(view: &super::summary::Budget) -> String {
    let mut note = match &view.estimated {
        Some(e) => format!(
            " Of it, ${} is ESTIMATED from local logs (providers without billed data), not billed.",
            cents(e)
        ),
        None => String::new(),
    };
    if view.estimated_unpriced_tokens > 0 {
        note.push_str(&format!(
            " {} tokens have no known price and are left out.",
            view.estimated_unpriced_tokens
        ));
    }
    note
}

fn exact(pairs: &[(&'static str, &String)]) -> BTreeMap<&'static str, String> {
    pairs.iter().map(|(k, v)| (*k, Money::from_stored(v).to_stored())).collect()
}

fn median(mut v: Vec<Money>) -> Money {
    if v.is_empty() {
        return Money::zero();
    }
    v.sort();
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v.swap_remove(mid)
    } else {
        Money::from_decimal((v[mid - 1].decimal() + v[mid].decimal()) / BigDecimal::from(2))
    }
}

/// Evaluates every rule on `today`. `days` must hold the `results` rows of
/// the month of yesterday and the 15 days before yesterday.
pub fn evaluate(
    today: NaiveDate,
    days: &[DayTotal],
    last_runs: &[RunRow],
    s: &AlertSettings,
) -> Vec<Alert> {
    let yesterday = today - Days::new(1);
    let mut out = budget_alerts(today, days, s);
    out.extend(provider_alerts(yesterday, days, s));
    out.extend(failed_runs(last_runs));
    out
}

/// Budget thresholds (only the highest one crossed, so a first run in a
/// month already over budget sends one message, not three) and a forecast
/// above the budget.
fn budget_alerts(today: NaiveDate, days: &[DayTotal], s: &AlertSettings) -> Vec<Alert> {
    let mut out = Vec::new();
    let yesterday = today - Days::new(1);
    let month_key = Period::month_of(yesterday).from.format("%Y-%m").to_string();
    let view = budget_view(yesterday, today, days, &s.budget);
    let mtd = Money::from_stored(&view.month_to_date);
    let crossed = s
        .thresholds
        .iter()
        .filter(|t| {
            mtd.decimal() * BigDecimal::from(100) >= s.budget.decimal() * BigDecimal::from(**t)
        })
        .max();
    if let Some(t) = crossed {
        out.push(Alert {
            key: format!("budget-{t}:{month_key}"),
            rule: "budget",
            severity: if *t >= 100 { "critical" } else { "warning" },
            title: format!("AI spend reached {t} % of the monthly budget"),
            period: month_key.clone(),
            message: format!(
                "{month_key}: ${} spent of a ${} budget ({} %).{}",
                cents(&view.month_to_date),
                cents(&view.monthly_budget),
                view.percent_used,
                estimated_note(&view)
            ),
            amounts: exact(&[
                ("month_to_date", &view.month_to_date),
                ("budget", &view.monthly_budget),
            ]),
        });
    }
    if let Some(f) = view.forecast.as_ref().filter(|f| Money::from_stored(&f.month_end) > s.budget)
    {
        out.push(Alert {
            key: format!("forecast:{month_key}"),
            rule: "forecast",
            severity: "warning",
            title: format!("AI spend is on course to exceed the {month_key} budget"),
            period: month_key,
            message: format!(
                "Forecast ${} at month end against a ${} budget ({}).{}",
                cents(&f.month_end),
                cents(&view.monthly_budget),
                f.method,
                estimated_note(&view)
            ),
            amounts: exact(&[
                ("forecast", &f.month_end),
                ("month_to_date", &view.month_to_date),
                ("budget", &view.monthly_budget),
            ]),
        });
    }
    out
}

/// Per provider: a broken collector (no spend yesterday after a week with
/// some), or a spike above the trailing median.
fn provider_alerts(yesterday: NaiveDate, days: &[DayTotal], s: &AlertSettings) -> Vec<Alert> {
    let mut by_provider: BTreeMap<&str, (bool, BTreeMap<NaiveDate, Money>)> = BTreeMap::new();
    for d in days {
        let e = by_provider.entry(&d.provider).or_default();
        e.0 |= d.estimated;
        e.1.insert(d.date, Money::from_stored(&d.cost));
    }
    let before = |series: &BTreeMap<NaiveDate, Money>, n: u64| -> Vec<Money> {
        (1..=n)
            .map(|i| series.get(&(yesterday - Days::new(i))).cloned().unwrap_or_default())
            .collect()
    };
    let mut out = Vec::new();
    for (provider, (estimated, series)) in &by_provider {
        let had_spend = before(series, 7).iter().any(|m| *m > Money::zero());
        match series.get(&yesterday) {
            // A day without calls in local logs is a day off, not a broken collector.
            c if had_spend && c.is_none_or(Money::is_zero) && !estimated => {
                let what = if series.contains_key(&yesterday) { "zero" } else { "missing" };
                out.push(Alert {
                    key: format!("collector:{provider}:{yesterday}"),
                    rule: "collector",
                    severity: "warning",
                    title: format!("{provider}: no spend recorded for {yesterday}"),
                    period: yesterday.to_string(),
                    message: format!(
                        "{provider} spend for {yesterday} is {what} while the week before had spend; \
                         the collector or the account may be broken. Check `agent-host runs`."
                    ),
                    amounts: BTreeMap::new(),
                });
            }
            Some(cost) => {
                let m = median(before(series, 14));
                if m > Money::zero() && cost.decimal() > &(m.decimal() * &s.spike_factor) {
                    out.push(Alert {
                        key: format!("spike:{provider}:{yesterday}"),
                        rule: "spike",
                        severity: "warning",
                        title: format!("{provider}: spend spike on {yesterday}"),
                        period: yesterday.to_string(),
                        message: format!(
                            "{provider} spent ${} on {yesterday}, more than {} times the median of the 14 days before (${}).",
                            cents(&cost.to_stored()),
                            s.spike_factor,
                            cents(&m.to_stored())
                        ),
                        amounts: exact(&[("spend", &cost.to_stored()), ("median", &m.to_stored())]),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// The last run of a collector failed or was partial.
fn failed_runs(last_runs: &[RunRow]) -> Vec<Alert> {
    last_runs
        .iter()
        // The store keeps the status as text.
        .filter(|r| r.status.parse().is_ok_and(RunStatus::fell_short))
        .map(|r| Alert {
            key: format!("run-failed:{}:{}", r.plugin_name, r.id),
            rule: "collector",
            severity: "critical",
            title: format!("{}: the last run {}", r.plugin_name, r.status),
            period: r.started_at.get(..10).unwrap_or(&r.started_at).to_string(),
            message: format!(
                "Run {} of {} at {}: {}",
                r.id.get(..8).unwrap_or(&r.id),
                r.plugin_name,
                r.started_at,
                r.error.as_deref().unwrap_or("no reason given")
            ),
            amounts: BTreeMap::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(provider: &str, date: &str, cost: &str) -> DayTotal {
        DayTotal {
            provider: provider.into(),
            date: date.parse().unwrap(),
            tokens: 0,
            cost: cost.into(),
            collected_at: String::new(),
            not_in_cost_tokens: 0,
            estimated: false,
        }
    }

    fn settings() -> AlertSettings {
        AlertSettings {
            budget: Money::parse_major("50").unwrap(),
            thresholds: vec![50, 80, 100],
            spike_factor: BigDecimal::from(3),
        }
    }

    #[test]
    fn only_the_highest_threshold_fires() {
        let days: Vec<DayTotal> =
            (1..=9).map(|d| t("OpenAI", &format!("2025-08-0{d}"), "5")).collect();
        let alerts = evaluate("2025-08-10".parse().unwrap(), &days, &[], &settings());
        let keys: Vec<&str> = alerts.iter().map(|a| a.key.as_str()).collect();
        assert!(keys.contains(&"budget-80:2025-08"), "{keys:?}");
        assert!(!keys.contains(&"budget-50:2025-08"));
        assert!(keys.contains(&"forecast:2025-08"));
    }

    #[test]
    fn a_silent_collector_and_a_spike_are_caught() {
        let mut days: Vec<DayTotal> =
            (1..=9).map(|d| t("OpenAI", &format!("2025-08-0{d}"), "0.10")).collect();
        days.extend((1..=8).map(|d| t("Anthropic", &format!("2025-08-0{d}"), "0.10")));
        days.push(t("Anthropic", "2025-08-09", "0"));
        days[8] = t("OpenAI", "2025-08-09", "1.00");
        let alerts = evaluate("2025-08-10".parse().unwrap(), &days, &[], &settings());
        let keys: Vec<&str> = alerts.iter().map(|a| a.key.as_str()).collect();
        assert!(keys.contains(&"collector:Anthropic:2025-08-09"), "{keys:?}");
        assert!(keys.contains(&"spike:OpenAI:2025-08-09"), "{keys:?}");
        assert!(!keys.iter().any(|k| k.starts_with("budget")));
    }

    // See: issue 24, point 3 (a float residue reached Discord unrounded).
    #[test]
    fn alert_texts_round_to_cents_and_keep_the_exact_amounts() {
        let mut days: Vec<DayTotal> =
            (1..=9).map(|d| t("OpenAI", &format!("2026-12-0{d}"), "8")).collect();
        days[0] = t("OpenAI", "2026-12-01", "11.41574922000000019551115123125783");
        days.push(t("OpenAI", "2026-12-10", "40.12345"));
        let alerts = evaluate("2026-12-11".parse().unwrap(), &days, &[], &settings());
        let text: Vec<String> =
            alerts.iter().map(|a| format!("{} | {} | {}", a.key, a.title, a.message)).collect();
        insta::assert_snapshot!("alert_texts", text.join("\n"));
        let budget = alerts.iter().find(|a| a.rule == "budget").unwrap();
        assert_eq!(budget.amounts["month_to_date"], "115.53919922000000019551115123125783");
        assert_eq!(budget.amounts["budget"], "50");
        let spike = alerts.iter().find(|a| a.rule == "spike").unwrap();
        assert_eq!(spike.amounts["spend"], "40.12345");
    }
}
