//! Spend summaries: totals by provider, an optional breakdown by model or
//! project, days covered and missing, month-to-date against the budget, a
//! run-rate forecast and a per-day sparkline. Pure: stored rows in, a
//! [`Summary`] (printable or JSON) out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bigdecimal::BigDecimal;
use chrono::{Days, NaiveDate};
use serde::Serialize;

use super::breakdown::By;
use super::money::Money;
use super::period::Period;
use crate::store::reports::{BreakdownRow, DayTotal};

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
    pub state: &'static str,
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
    let daily = period
        .from
        .iter_days()
        .take_while(|d| *d <= period.to)
        .map(|d| match by_day.get(&d) {
            Some((cost, tokens)) => DayLine {
                date: d,
                collected: true,
                state: "collected",
                cost: Some(cost.to_string()),
                tokens: Some(*tokens),
                estimated_cost: None,
                estimated_tokens: None,
            },
            None => DayLine {
                date: d,
                collected: false,
                state: if d < today { "missing" } else { "future" },
                cost: None,
                tokens: None,
                estimated_cost: None,
                estimated_tokens: None,
            },
        })
        .collect();
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
    let forecast = (today > month.from && today <= month.to && days_so_far > 0).then(|| {
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
    });
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
    detail: Option<&[crate::store::reports::DayBreakdownRow]>,
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
            ("collected", Some(cost)) => {
                e.0 += &Money::from_stored(cost);
                e.1 += d.tokens.unwrap_or(0);
                e.2.days_collected += 1;
            }
            ("future", _) => e.2.days_future += 1,
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
    detail: Option<&[crate::store::reports::DayBreakdownRow]>,
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

/// One character per day: ▁ (lowest) to █ (highest); `·` for a day
/// without data, which is not a zero day.
pub fn sparkline(values: &[Option<Money>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().flatten().max().cloned().unwrap_or_default();
    values
        .iter()
        .map(|v| match v {
            None => '·',
            Some(_) if max.is_zero() => BARS[0],
            Some(v) => {
                let idx = Money::from_decimal(v.decimal() * BigDecimal::from(7) / max.decimal());
                BARS[idx.rounded(0).to_stored().parse::<usize>().unwrap_or(0).min(7)]
            }
        })
        .collect()
}

/// The summary for a person: tables with headers, money rounded to cents
/// (the exact values are in `--json` and the exports), counts with
/// thousands separators.
pub fn render(s: &Summary) -> String {
    use crate::table::{count, money, render as table, Align};
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Spend {}..{} (UTC days; money rounded to cents, exact in --json and exports)",
        s.period.from, s.period.to
    );
    let _ = writeln!(out);
    if s.providers.is_empty() && s.estimated.is_some() {
        let _ =
            writeln!(out, "  No billed data in this period: the estimates below are all there is.");
    } else if s.providers.is_empty() {
        let _ = writeln!(out, "  No data in this period: run `agent-host run-all` first.");
    } else {
        let finished = s.daily.iter().filter(|d| Some(d.date) <= s.last_finished_day).count();
        let mut rows: Vec<Vec<String>> = s
            .providers
            .iter()
            .map(|p| {
                let missing = p.days_missing.len();
                let days = match missing {
                    0 => format!("{} of {finished}", p.days_covered),
                    n => format!("{} of {finished} ({n} missing)", p.days_covered),
                };
                vec![p.provider.clone(), money(&p.cost), count(p.tokens), days]
            })
            .collect();
        rows.push(vec!["Total".into(), money(&s.total_cost), count(s.total_tokens), String::new()]);
        out.push_str(&table(
            2,
            &[
                ("Provider", Align::Left),
                ("Cost (USD)", Align::Right),
                ("Tokens", Align::Right),
                ("Days collected", Align::Left),
            ],
            &rows,
        ));
    }
    if let Some(by) = s.breakdown_by {
        let _ = writeln!(out);
        let rows: Vec<Vec<String>> = s
            .breakdown
            .iter()
            .map(|b| {
                vec![
                    b.provider.clone(),
                    crate::table::clip(&b.key, 48),
                    money(&b.cost),
                    count(b.tokens),
                ]
            })
            .collect();
        let title = by.title();
        out.push_str(&table(
            2,
            &[
                ("Provider", Align::Left),
                (title, Align::Left),
                ("Cost (USD)", Align::Right),
                ("Tokens", Align::Right),
            ],
            &rows,
        ));
    }
    for p in s.providers.iter().filter(|p| p.tokens_without_billed_cost > 0) {
        let days = s.without_billed_cost.iter().filter(|w| w.provider == p.provider).count();
        let why =
            p.without_billed_cost_note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {} tokens of {} on {days} day(s) have no billed cost; its total leaves them out{why}",
            count(p.tokens_without_billed_cost),
            p.provider
        );
    }
    for p in s.providers.iter().filter(|p| !p.days_missing.is_empty()) {
        let days = &p.days_missing;
        let list = if days.len() <= 5 {
            days.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        } else {
            format!("{} days from {} to {}", days.len(), days[0], days[days.len() - 1])
        };
        let _ = writeln!(out);
        let _ = writeln!(out, "  {} has no data for {list}", p.provider);
    }
    if let Some(e) = &s.estimated {
        render_estimate(&mut out, e);
    }
    let b = &s.budget;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  Budget {}: ${} spent of ${} ({} %)",
        b.month,
        money(&b.month_to_date),
        money(&b.monthly_budget),
        b.percent_used
    );
    if let Some(e) = &b.estimated {
        let _ = writeln!(
            out,
            "    of which ${} is estimated from local logs (providers without billed data)",
            money(e)
        );
    }
    if b.estimated_unpriced_tokens > 0 {
        let _ = writeln!(
            out,
            "    and {} tokens of them have no known price: left out, not counted as $0",
            count(b.estimated_unpriced_tokens)
        );
    }
    if let (Some(p), Some(part)) = (&b.provider, &b.provider_month_to_date) {
        let _ = writeln!(out, "    all providers; {p}'s part: ${}", money(part));
    }
    if let Some(f) = &b.forecast {
        let _ = writeln!(out, "  Forecast: ${} at month end ({})", money(&f.month_end), f.method);
    }
    // Days not yet finished get no bar, and the label says which days the
    // bars cover.
    // The bars are billed spend: with estimates alone there is nothing to draw.
    let shown: Vec<&DayLine> = if s.providers.is_empty() && s.estimated.is_some() {
        Vec::new()
    } else {
        s.daily.iter().take_while(|d| Some(d.date) <= s.last_finished_day).collect()
    };
    if let (Some(first), Some(last)) = (shown.first(), shown.last()) {
        let costs: Vec<Option<Money>> =
            shown.iter().map(|d| d.cost.as_deref().map(Money::from_stored)).collect();
        let missing = shown.iter().filter(|d| !d.collected).count();
        let legend = if missing > 0 { "  (· = no data)" } else { "" };
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  Daily cost {} .. {}{legend}",
            first.date.format("%m-%d"),
            last.date.format("%m-%d")
        );
        let _ = writeln!(out, "  {}", sparkline(&costs));
    }
    out
}

/// The estimate section of the summary: clearly apart from billed figures.
fn render_estimate(out: &mut String, e: &super::estimate::EstimateSummary) {
    use crate::table::{count, money, render as table, Align};
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Estimated from local logs (NOT billed; list prices from {}):",
        e.price_table
    );
    let mut rows: Vec<Vec<String>> = e
        .providers
        .iter()
        .map(|p| {
            let unpriced = match p.unpriced_tokens {
                0 => String::new(),
                n => format!("{} tokens unpriced", count(n as i64)),
            };
            vec![
                p.provider.clone(),
                money(&p.cost),
                count(p.tokens as i64),
                count(p.calls),
                unpriced,
            ]
        })
        .collect();
    rows.push(vec![
        "Total".into(),
        money(&e.total_cost),
        count(e.total_tokens as i64),
        count(e.calls),
        String::new(),
    ]);
    out.push_str(&table(
        2,
        &[
            ("Provider", Align::Left),
            ("Estimated (USD)", Align::Right),
            ("Tokens", Align::Right),
            ("Calls", Align::Right),
            ("", Align::Left),
        ],
        &rows,
    ));
    if !e.breakdown.is_empty() {
        let _ = writeln!(out);
        let rows: Vec<Vec<String>> = e
            .breakdown
            .iter()
            .map(|b| {
                let unpriced = match b.unpriced_tokens {
                    0 => String::new(),
                    n => format!("{} tokens unpriced", count(n as i64)),
                };
                vec![
                    b.provider.clone(),
                    crate::table::clip(&b.key, 48),
                    // Never $0 for a model without a price.
                    b.cost.as_deref().map_or_else(|| "unpriced".into(), money),
                    count(b.tokens as i64),
                    count(b.calls),
                    unpriced,
                ]
            })
            .collect();
        out.push_str(&table(
            2,
            &[
                ("Provider", Align::Left),
                ("Model, project or account", Align::Left),
                ("Estimated (USD)", Align::Right),
                ("Tokens", Align::Right),
                ("Calls", Align::Right),
                ("", Align::Left),
            ],
            &rows,
        ));
    }
    for p in &e.providers {
        for why in &p.unpriced {
            let _ = writeln!(out, "  {}: unpriced, left out of the estimate: {why}", p.provider);
        }
    }
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
        let detail = vec![crate::store::reports::DayBreakdownRow {
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
        let states: Vec<&str> = s.daily.iter().map(|d| d.state).collect();
        // Today has spend so far: collected, though not finished.
        assert_eq!(
            &states[..7],
            ["collected", "missing", "collected", "missing", "collected", "collected", "future"]
        );
        let detail = vec![crate::store::reports::DayBreakdownRow {
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
