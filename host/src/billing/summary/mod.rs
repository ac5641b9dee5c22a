//! Spend summaries: totals by provider, an optional breakdown by model or
//! project, days covered and missing, month-to-date against the budget, a
//! run-rate forecast and a per-day sparkline. Pure: stored rows in, a
//! [`Summary`] (printable or JSON) out.
//!
//! The budget and forecast are in `budget`, the daily and monthly rows in
//! `periods`, the printed screen in `render`.

mod budget;
mod periods;
mod render;

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use serde::Serialize;

use super::breakdown::By;
use super::money::Money;
use super::period::{DayState, Period};
use crate::billing::storage::{BreakdownRow, DayTotal};

pub use self::budget::{budget_view, Budget, Forecast};
pub use self::periods::{period_lines, render_periods, PeriodLine};
pub use self::render::{render, sparkline};

/// One provider's line.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderLine {
    /// Display name.
    pub provider: String,
    /// Exact cost.
    pub cost: String,
    /// Tokens.
    pub tokens: i64,
    /// Days with data (zero days included).
    pub days_covered: usize,
    /// Finished days of the period without data.
    pub days_missing: Vec<NaiveDate>,
    /// Of `tokens`, those on usage the provider's cost report leaves out
    /// (a priority tier, say): `cost` does not cover them.
    pub tokens_without_billed_cost: i64,
    /// Why, as the provider's collector explains it.
    pub without_billed_cost_note: Option<String>,
}

/// Tokens of one provider and day that no billed cost covers.
#[derive(Debug, Clone, Serialize)]
pub struct WithoutBilledCost {
    /// Display name.
    pub provider: String,
    /// The day.
    pub date: NaiveDate,
    /// The tokens.
    pub tokens: i64,
}

/// One line of a breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct BreakdownLine {
    /// Display name of the provider.
    pub provider: String,
    /// Model, line item or project (`(default)` when the provider sent none).
    pub key: String,
    /// Exact cost.
    pub cost: String,
    /// Tokens.
    pub tokens: i64,
}

/// One day of the chart.
#[derive(Debug, Clone, Serialize)]
pub struct DayLine {
    /// The day.
    pub date: NaiveDate,
    /// Whether any provider's data for the day is stored; a day that is not
    /// has no cost and no tokens (never a made-up zero).
    pub collected: bool,
    /// `collected`, `missing` (a finished day without data) or `future`
    /// (today or later: not finished, so not missing), as the dashboard's
    /// daily view says.
    pub state: DayState,
    /// Exact cost, all providers.
    pub cost: Option<String>,
    /// Tokens, all providers.
    pub tokens: Option<i64>,
    /// The day's calls from local logs at list prices (exact, priced calls
    /// only): an estimate, never billed, never added to `cost`. A day with
    /// calls is never a day without data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<String>,
    /// Those calls' tokens (priced or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_tokens: Option<i64>,
}

/// Everything `agent-host summary` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The period.
    pub period: Period,
    /// Exact total cost.
    pub total_cost: String,
    /// Total tokens.
    pub total_tokens: i64,
    /// Per provider.
    pub providers: Vec<ProviderLine>,
    /// Per provider and day, the tokens no billed cost covers: totals leave
    /// their cost out because the provider's cost report does.
    pub without_billed_cost: Vec<WithoutBilledCost>,
    /// What the breakdown groups by, if one was asked for.
    pub breakdown_by: Option<By>,
    /// The breakdown.
    pub breakdown: Vec<BreakdownLine>,
    /// Per day.
    pub daily: Vec<DayLine>,
    /// Budget and forecast.
    pub budget: Budget,
    /// What local logs say the period cost: an estimate, never part of
    /// the billed figures above (absent without local logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated: Option<super::estimate::EstimateSummary>,
    /// Yesterday, when inside the period: later days are not finished.
    #[serde(skip)]
    pub last_finished_day: Option<NaiveDate>,
}

/// Builds the summary. `month_days` are the `results` rows of the month
/// holding `period.to` (for the budget); `today` decides which days are
/// finished.
pub fn summarize(
    period: Period,
    today: NaiveDate,
    days: &[DayTotal],
    breakdown: Option<(By, Vec<BreakdownRow>)>,
    month_days: &[DayTotal],
    budget: &Money,
) -> Summary {
    let yesterday = today - Days::new(1);
    // Per provider: cost, tokens, days covered, tokens without billed cost.
    let mut by_provider: BTreeMap<&str, (Money, i64, usize, i64)> = BTreeMap::new();
    let mut by_day: BTreeMap<NaiveDate, (Money, i64)> = BTreeMap::new();
    let (mut total, mut tokens) = (Money::default(), 0i64);
    for d in days {
        let cost = Money::from_stored(&d.cost);
        let p = by_provider.entry(d.provider.as_str()).or_default();
        p.0 += &cost;
        p.1 = p.1.saturating_add(d.tokens);
        p.2 += 1;
        p.3 = p.3.saturating_add(d.not_in_cost_tokens);
        let e = by_day.entry(d.date).or_default();
        e.0 += &cost;
        e.1 = e.1.saturating_add(d.tokens);
        total += &cost;
        tokens = tokens.saturating_add(d.tokens);
    }
    let stored: std::collections::HashSet<(&str, NaiveDate)> =
        days.iter().map(|d| (d.provider.as_str(), d.date)).collect();
    let finished = period.finished_days(today);
    let providers = by_provider
        .iter()
        .map(|(name, (cost, tokens, covered, without))| ProviderLine {
            provider: name.to_string(),
            cost: cost.to_string(),
            tokens: *tokens,
            days_covered: *covered,
            days_missing: finished
                .iter()
                .filter(|d| !stored.contains(&(*name, **d)))
                .copied()
                .collect(),
            tokens_without_billed_cost: *without,
            without_billed_cost_note: None,
        })
        .collect();
    let without_billed_cost = days
        .iter()
        .filter(|d| d.not_in_cost_tokens > 0)
        .map(|d| WithoutBilledCost {
            provider: d.provider.clone(),
            date: d.date,
            tokens: d.not_in_cost_tokens,
        })
        .collect();
    let daily = day_lines(period, today, &by_day);
    let (breakdown_by, breakdown) = match breakdown {
        Some((by, rows)) => (Some(by), breakdown_lines(rows)),
        None => (None, Vec::new()),
    };
    Summary {
        period,
        total_cost: total.to_string(),
        total_tokens: tokens,
        providers,
        without_billed_cost,
        breakdown_by,
        breakdown,
        daily,
        budget: budget_view(period.to, today, month_days, budget),
        estimated: None,
        last_finished_day: Some(yesterday.min(period.to)),
    }
}

/// One line per day of `period`: its cost and tokens, or why it has none.
fn day_lines(
    period: Period,
    today: NaiveDate,
    by_day: &BTreeMap<NaiveDate, (Money, i64)>,
) -> Vec<DayLine> {
    period
        .from
        .iter_days()
        .take_while(|d| *d <= period.to)
        .map(|d| match by_day.get(&d) {
            Some((cost, tokens)) => DayLine {
                date: d,
                collected: true,
                state: DayState::Collected,
                cost: Some(cost.to_string()),
                tokens: Some(*tokens),
                estimated_cost: None,
                estimated_tokens: None,
            },
            None => DayLine {
                date: d,
                collected: false,
                state: DayState::of(d, false, today),
                cost: None,
                tokens: None,
                estimated_cost: None,
                estimated_tokens: None,
            },
        })
        .collect()
}

/// Breakdown rows as shown: exact money with two decimals at least, the
/// default project or model named.
pub fn breakdown_lines(rows: Vec<BreakdownRow>) -> Vec<BreakdownLine> {
    rows.into_iter()
        .map(|r| BreakdownLine {
            provider: r.provider,
            key: if r.key.is_empty() { "(default)".into() } else { r.key },
            cost: Money::from_stored(&r.cost).to_string(),
            tokens: r.tokens,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn total(provider: &str, date: &str, tokens: i64, cost: &str) -> DayTotal {
        DayTotal {
            provider: provider.into(),
            date: d(date),
            tokens,
            cost: cost.into(),
            collected_at: String::new(),
            not_in_cost_tokens: 0,
            estimated: false,
        }
    }

    #[test]
    fn totals_are_exact_and_forecast_says_how() {
        let days = vec![
            total("OpenAI", "2025-08-01", 10, "0.1"),
            total("OpenAI", "2025-08-02", 20, "0.2"),
            total("Anthropic", "2025-08-01", 5, "1.2378912"),
        ];
        let budget = Money::parse_major("50").unwrap();
        let s = summarize(
            Period::month_of(d("2025-08-10")),
            d("2025-08-03"),
            &days,
            None,
            &days,
            &budget,
        );
        assert_eq!(s.total_cost, "1.5378912");
        assert_eq!(s.total_tokens, 35);
        assert_eq!(s.providers[1].provider, "OpenAI");
        assert_eq!(s.providers[1].cost, "0.30");
        assert_eq!(s.providers[0].days_missing, vec![d("2025-08-02")]);
        let f = s.budget.forecast.as_ref().unwrap();
        // Per provider: OpenAI 0.3 over 2 days, Anthropic 1.2378912 over its
        // 1 day (1 missing): 1.3878912/day × 31 = 43.0246272 → 43.02
        assert_eq!(f.month_end, "43.02");
        assert!(f.method.contains("OpenAI $0.30 over 2 day(s)"), "{}", f.method);
        assert!(
            f.method.contains("Anthropic $1.24 over 1 day(s), 1 day(s) without data"),
            "{}",
            f.method
        );
        assert_eq!(s.budget.percent_used, "3.1");
        let text = render(&s);
        assert!(text.contains("1.54") && text.contains("Forecast: $43.02"), "{text}");
        assert!(!text.contains("1.5378912"), "the screen rounds: {text}");
        assert!(text.lines().all(|l| l == l.trim_end()), "trailing spaces: {text}");
    }

    /// The human summary, as a reviewer sees it change.
    #[test]
    fn the_summary_screen() {
        let days = vec![
            total("OpenAI", "2025-08-01", 1_234_567, "1234.5678"),
            total("OpenAI", "2025-08-02", 20, "0.2"),
            total("Anthropic", "2025-08-01", 213_955_403, "98.765"),
        ];
        let breakdown = vec![
            BreakdownRow {
                provider: "Anthropic".into(),
                key: "claude-opus-4".into(),
                cost: "98.765".into(),
                tokens: 213_955_403,
            },
            BreakdownRow {
                provider: "OpenAI".into(),
                key: "gpt-4o".into(),
                cost: "1234.7678".into(),
                tokens: 1_234_587,
            },
        ];
        let budget = Money::parse_major("1000").unwrap();
        let s = summarize(
            Period::month_of(d("2025-08-01")),
            d("2025-08-04"),
            &days,
            Some((By::Model, breakdown)),
            &days,
            &budget,
        );
        insta::assert_snapshot!(render(&s));
    }

    #[test]
    fn the_daily_and_monthly_tables() {
        let days = vec![
            total("OpenAI", "2025-08-01", 1_000, "1.005"),
            total("Anthropic", "2025-08-01", 2_000, "2"),
            total("OpenAI", "2025-08-03", 10, "0.1"),
        ];
        let budget = Money::parse_major("50").unwrap();
        let s = summarize(
            Period { from: d("2025-07-31"), to: d("2025-08-03") },
            d("2025-08-04"),
            &days,
            None,
            &days,
            &budget,
        );
        let detail = vec![crate::billing::storage::DayBreakdownRow {
            day: d("2025-08-01"),
            row: BreakdownRow {
                provider: "OpenAI".into(),
                key: "gpt-4o".into(),
                cost: "1.005".into(),
                tokens: 1_000,
            },
        }];
        let daily = render_periods(&s, false, Some(&detail));
        let monthly = render_periods(&s, true, None);
        insta::assert_snapshot!(format!("{daily}\n{monthly}"));
    }

    // See: issue 24, points 4 and 10.
    #[test]
    fn days_after_today_are_future_not_missing_and_json_has_the_rows() {
        let days = vec![
            total("OpenAI", "2026-12-01", 1_000, "1.005"),
            total("OpenAI", "2026-12-03", 10, "0.1"),
            total("OpenAI", "2026-12-05", 10, "0.2"),
            total("OpenAI", "2026-12-06", 10, "0.2"),
        ];
        let budget = Money::parse_major("50").unwrap();
        let s = summarize(
            Period::parse_month("2026-12").unwrap(),
            d("2026-12-06"),
            &days,
            None,
            &days,
            &budget,
        );
        let states: Vec<&str> = s.daily.iter().map(|d| d.state.as_str()).collect();
        // Today has spend so far: collected, though not finished.
        assert_eq!(
            &states[..7],
            ["collected", "missing", "collected", "missing", "collected", "collected", "future"]
        );
        let detail = vec![crate::billing::storage::DayBreakdownRow {
            day: d("2026-12-01"),
            row: BreakdownRow {
                provider: "OpenAI".into(),
                key: "a-model-name-long-enough-to-be-cut-in-the-table-of-days".into(),
                cost: "1.005".into(),
                tokens: 1_000,
            },
        }];
        let daily = render_periods(&s, false, Some(&detail));
        let monthly = render_periods(&s, true, None);
        insta::assert_snapshot!("future_days_tables", format!("{daily}\n{monthly}"));
        let json = serde_json::to_string_pretty(&period_lines(&s, true, Some(&detail))).unwrap();
        insta::assert_snapshot!("future_days_json", json);
    }

    #[test]
    fn months_parse_strictly() {
        assert_eq!(Period::parse_month("2024-02").unwrap().to, d("2024-02-29"));
        assert!(Period::parse_month("2024-13").is_err());
        assert!(Period::parse_month("2024-2").is_err());
    }

    #[test]
    fn sparkline_scales_to_the_maximum() {
        let v: Vec<Option<Money>> =
            ["0", "1", "2"].iter().map(|s| Some(Money::parse_major(s).unwrap())).collect();
        assert_eq!(sparkline(&v), "▁▅█");
        assert_eq!(sparkline(&[v[2].clone(), None, v[1].clone()]), "█·▅");
    }

    #[test]
    fn missing_days_are_left_out_of_the_forecast_and_marked() {
        // Two collected days of five finished ones: the rate is theirs.
        let days =
            vec![total("OpenAI", "2025-08-01", 1, "3"), total("OpenAI", "2025-08-04", 1, "1")];
        let budget = Money::parse_major("50").unwrap();
        let s = summarize(
            Period::month_of(d("2025-08-01")),
            d("2025-08-06"),
            &days,
            None,
            &days,
            &budget,
        );
        let f = s.budget.forecast.as_ref().unwrap();
        assert_eq!((f.days_so_far, f.days_missing), (2, 3));
        // 4 / 2 × 31 = 62
        assert_eq!(f.month_end, "62.00");
        assert!(f.method.contains("3 day(s) without data left out"), "{}", f.method);
        assert!(!s.daily[1].collected && s.daily[1].cost.is_none());
        assert!(s.daily[0].collected && s.daily[0].cost.as_deref() == Some("3.00"));
        let text = render(&s);
        assert!(text.contains("Daily cost 08-01 .. 08-05  (· = no data)"), "{text}");
        assert!(text.contains("█··▃·"), "{text}");
    }
}
