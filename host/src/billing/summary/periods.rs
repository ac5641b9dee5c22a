//! The daily and monthly rows of a summary (`summary --daily/--monthly`):
//! one row per day or calendar month, days without data marked, with the
//! models inside each row on request (`--breakdown`), and their table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{Days, NaiveDate};
use serde::Serialize;

use super::{BreakdownLine, Summary};
use crate::billing::money::Money;
use crate::billing::period::DayState;

/// One row of `summary --daily` or `--monthly`: a day or a month.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodLine {
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub period: String,
    /// Exact cost of its collected days (absent when none is collected).
    pub cost: Option<String>,
    /// Tokens of its collected days.
    pub tokens: Option<i64>,
    /// Days of the row inside the summary's period.
    pub days: usize,
    /// Of them, days with data.
    pub days_collected: usize,
    /// Finished days without data (not zeros).
    pub days_missing: usize,
    /// Today or later: not finished, so neither collected nor missing.
    pub days_future: usize,
    /// With `--breakdown`: the models (or projects) inside the row.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breakdown: Vec<BreakdownLine>,
    /// Its calls from local logs at list prices (exact, priced calls only):
    /// an estimate, never billed, never in `cost`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<String>,
    /// Those calls' tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_tokens: Option<i64>,
}

/// The rows of `summary --daily` (`by_month` false) or `--monthly`, with
/// the breakdown of each row when `detail` is given.
pub fn period_lines(
    s: &Summary,
    by_month: bool,
    detail: Option<&[crate::billing::storage::DayBreakdownRow]>,
) -> Vec<PeriodLine> {
    let key = |d: NaiveDate| {
        if by_month {
            d.format("%Y-%m").to_string()
        } else {
            d.to_string()
        }
    };
    let mut periods: BTreeMap<String, (Money, i64, PeriodLine)> = BTreeMap::new();
    for d in &s.daily {
        let k = key(d.date);
        let e = periods.entry(k.clone()).or_insert_with(|| {
            let line = PeriodLine {
                period: k,
                cost: None,
                tokens: None,
                days: 0,
                days_collected: 0,
                days_missing: 0,
                days_future: 0,
                breakdown: Vec::new(),
                estimated_cost: None,
                estimated_tokens: None,
            };
            (Money::zero(), 0, line)
        });
        e.2.days += 1;
        match (d.state, &d.cost) {
            (DayState::Collected, Some(cost)) => {
                e.0 += &Money::from_stored(cost);
                e.1 += d.tokens.unwrap_or(0);
                e.2.days_collected += 1;
            }
            (DayState::Future, _) => e.2.days_future += 1,
            _ => e.2.days_missing += 1,
        }
        if let Some(tokens) = d.estimated_tokens {
            let line = &mut e.2;
            let cost = Money::from_stored(line.estimated_cost.as_deref().unwrap_or("0"))
                + Money::from_stored(d.estimated_cost.as_deref().unwrap_or("0"));
            line.estimated_cost = Some(cost.to_stored());
            line.estimated_tokens = Some(line.estimated_tokens.unwrap_or(0) + tokens);
        }
    }
    // Period key → (provider, model or project) → (cost, tokens).
    type Inner = BTreeMap<(String, String), (Money, i64)>;
    let mut inner: BTreeMap<String, Inner> = BTreeMap::new();
    for r in detail.unwrap_or_default() {
        let e = inner
            .entry(key(r.day))
            .or_default()
            .entry((r.row.provider.clone(), r.row.key.clone()))
            .or_default();
        e.0 += &Money::from_stored(&r.row.cost);
        e.1 += r.row.tokens;
    }
    periods
        .into_iter()
        .map(|(k, (cost, tokens, mut line))| {
            if line.days_collected > 0 {
                line.cost = Some(cost.to_string());
                line.tokens = Some(tokens);
            }
            line.breakdown = inner
                .remove(&k)
                .unwrap_or_default()
                .into_iter()
                .map(|((provider, key), (c, t))| BreakdownLine {
                    provider,
                    key: if key.is_empty() { "(default)".into() } else { key },
                    cost: c.to_string(),
                    tokens: t,
                })
                .collect();
            line
        })
        .collect()
}

/// The `--daily` or `--monthly` table: one row per day or month, "no data"
/// where nothing was collected; days after today are left out of `--daily`
/// (they are not missing) and counted apart in `--monthly`.
pub fn render_periods(
    s: &Summary,
    by_month: bool,
    detail: Option<&[crate::billing::storage::DayBreakdownRow]>,
) -> String {
    use crate::table::{count, money, render as table, Align};
    let lines = period_lines(s, by_month, detail);
    let with_estimates = lines.iter().any(|l| l.estimated_tokens.is_some());
    // Future days exist only when the period reaches today, and then the
    // last finished day is yesterday.
    let today = s.last_finished_day.map(|d| (d + Days::new(1)).to_string());
    let mut rows = Vec::new();
    let mut later = 0;
    for l in &lines {
        // Today gets a row (its spend so far); later days do not.
        if !by_month && l.days_future > 0 && Some(&l.period) != today.as_ref() {
            later += 1;
            continue;
        }
        let (cost, tokens) = match (&l.cost, l.tokens) {
            (Some(c), Some(t)) => (money(c), count(t)),
            // Calls but no bill: never "no data".
            _ if l.estimated_tokens.is_some() => ("not billed".to_string(), String::new()),
            _ if l.days_future == l.days => ("not finished".to_string(), String::new()),
            _ => ("no data".to_string(), String::new()),
        };
        let mut notes = Vec::new();
        if by_month && l.days_missing > 0 && l.days_collected > 0 {
            notes.push(format!("{} day(s) without data", l.days_missing));
        }
        if by_month && l.days_future > 0 {
            notes.push(format!("{} day(s) still to come", l.days_future));
        }
        if !by_month && Some(&l.period) == today.as_ref() {
            notes.push("today, not finished".to_string());
        }
        let mut row = vec![l.period.clone(), String::new(), cost, tokens];
        if with_estimates {
            row.push(l.estimated_cost.as_deref().map(money).unwrap_or_default());
            row.push(l.estimated_tokens.map(count).unwrap_or_default());
        }
        row.push(notes.join("; "));
        rows.push(row);
        for b in &l.breakdown {
            let mut row = vec![
                String::new(),
                crate::table::clip(&format!("{} {}", b.provider, b.key), 48),
                money(&b.cost),
                count(b.tokens),
            ];
            if with_estimates {
                row.extend([String::new(), String::new()]);
            }
            row.push(String::new());
            rows.push(row);
        }
    }
    let first = if by_month { "Month" } else { "Day" };
    let mut header = vec![
        (first, Align::Left),
        ("", Align::Left),
        ("Cost (USD)", Align::Right),
        ("Tokens", Align::Right),
    ];
    if with_estimates {
        header.push(("Estimated, NOT billed (USD)", Align::Right));
        header.push(("Est. tokens", Align::Right));
    }
    header.push(("", Align::Left));
    let mut out = table(2, &header, &rows);
    if later > 0 {
        let _ = writeln!(out, "  ({later} later day(s) of the period are still to come)");
    }
    out
}
