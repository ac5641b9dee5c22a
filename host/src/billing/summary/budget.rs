//! The month-to-date view of a summary: spend against the monthly budget,
//! and the run-rate forecast for the month's end. Pure: day totals in.

use bigdecimal::BigDecimal;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::billing::money::Money;
use crate::billing::period::Period;
use crate::billing::storage::DayTotal;

/// The budget view of the month holding the period's end.
#[derive(Debug, Clone, Serialize)]
pub struct Budget {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Monthly budget.
    pub monthly_budget: String,
    /// Spend in that month so far (or in all of it, for a past month).
    pub month_to_date: String,
    /// Share of the budget used, in percent, one decimal.
    pub percent_used: String,
    /// Month-end forecast, when the month is under way.
    pub forecast: Option<Forecast>,
    /// Of `month_to_date`, the part estimated from local logs (providers
    /// without billed data), exact; absent when all of it is billed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated: Option<String>,
    /// Tokens of those providers that no known price covers: left out of
    /// `month_to_date`, never counted as $0.
    #[serde(skip_serializing_if = "is_zero")]
    pub estimated_unpriced_tokens: i64,
    /// With one provider asked for: its name. The budget covers every
    /// provider, so `month_to_date` and `percent_used` stay everyone's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// With one provider asked for: its part of `month_to_date`, exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_month_to_date: Option<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A run-rate forecast.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    /// Forecast month-end spend, rounded to cents (an estimate, not a bill).
    pub month_end: String,
    /// Collected days the rate is based on.
    pub days_so_far: i64,
    /// Finished days of the month without data: left out of the rate, not
    /// counted as $0.
    pub days_missing: i64,
    /// Days in the month.
    pub days_in_month: i64,
    /// How it was computed, in words.
    pub method: String,
}

/// Month-to-date against the budget, and the run-rate forecast.
pub fn budget_view(
    day: NaiveDate,
    today: NaiveDate,
    month_days: &[DayTotal],
    budget: &Money,
) -> Budget {
    let month = Period::month_of(day);
    let mtd: Money = month_days
        .iter()
        .filter(|d| d.date >= month.from && d.date <= month.to)
        .map(|d| Money::from_stored(&d.cost))
        .sum();
    let percent = if budget.is_zero() {
        Money::zero()
    } else {
        Money::from_decimal(mtd.decimal() * BigDecimal::from(100) / budget.decimal()).rounded(1)
    };
    let forecast = forecast(month, today, month_days);
    let in_month = |d: &&DayTotal| d.date >= month.from && d.date <= month.to;
    let estimated = month_days.iter().filter(in_month).any(|d| d.estimated).then(|| {
        let m: Money = month_days
            .iter()
            .filter(in_month)
            .filter(|d| d.estimated)
            .map(|d| Money::from_stored(&d.cost))
            .sum();
        m.to_string()
    });
    let estimated_unpriced_tokens = month_days
        .iter()
        .filter(in_month)
        .filter(|d| d.estimated)
        .fold(0i64, |n, d| n.saturating_add(d.not_in_cost_tokens));
    Budget {
        month: month.from.format("%Y-%m").to_string(),
        monthly_budget: budget.to_string(),
        month_to_date: mtd.to_string(),
        percent_used: percent.decimal().with_scale(1).to_plain_string(),
        forecast,
        estimated,
        estimated_unpriced_tokens,
        provider: None,
        provider_month_to_date: None,
    }
}

/// The month-end forecast, once a day of `month` has finished: each
/// provider's run rate over the days its data is stored, summed, times the
/// month's days; with the method spelled out.
fn forecast(month: Period, today: NaiveDate, month_days: &[DayTotal]) -> Option<Forecast> {
    let finished = (today - month.from).num_days().clamp(0, month.days());
    // Each provider's rate comes from the days its data is stored: a missing
    // day is left out, never counted as a day that cost nothing, and one
    // provider's gaps do not dilute another's rate.
    let mut per_provider: BTreeMap<&str, (Money, i64)> = BTreeMap::new();
    for d in month_days.iter().filter(|d| d.date >= month.from && d.date < today) {
        let e = per_provider.entry(d.provider.as_str()).or_default();
        e.0 += &Money::from_stored(&d.cost);
        e.1 += 1;
    }
    let days_so_far = per_provider.values().map(|(_, n)| *n).max().unwrap_or(0);
    let days_missing: i64 = per_provider.values().map(|(_, n)| finished - n).sum();
    (today > month.from && today <= month.to && days_so_far > 0).then(|| {
        let rate: Money = per_provider
            .values()
            .map(|(cost, n)| Money::from_decimal(cost.decimal() / BigDecimal::from(*n)))
            .sum();
        let end = Money::from_decimal(rate.decimal() * BigDecimal::from(month.days())).rounded(2);
        let parts: Vec<String> = per_provider
            .iter()
            .map(|(p, (cost, n))| {
                let gap = match finished - n {
                    0 => String::new(),
                    m => format!(", {m} day(s) without data left out, not counted as $0"),
                };
                format!("{p} ${} over {n} day(s){gap}", crate::table::money(&cost.to_string()))
            })
            .collect();
        Forecast {
            month_end: end.to_string(),
            days_so_far,
            days_missing,
            days_in_month: month.days(),
            method: format!(
                "run rate per provider over its collected days of {} ({}) = ${}/day, times {} days",
                month.from.format("%Y-%m"),
                parts.join("; "),
                crate::table::money(&rate.to_stored()),
                month.days()
            ),
        }
    })
}
