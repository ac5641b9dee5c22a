//! The summary screen: the tables and lines `agent-host summary` prints
//! (totals, breakdown, coverage, budget and forecast, the sparkline, and
//! the local logs' estimate beside them).

use std::fmt::Write as _;

use bigdecimal::BigDecimal;

use super::{Budget, DayLine, Summary};
use crate::billing::money::Money;
use crate::table::{count, money, render as table, Align};

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
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Spend {}..{} (UTC days; money rounded to cents, exact in --json and exports)",
        s.period.from, s.period.to
    );
    let _ = writeln!(out);
    totals(&mut out, s);
    breakdown(&mut out, s);
    gaps(&mut out, s);
    if let Some(e) = &s.estimated {
        render_estimate(&mut out, e);
    }
    budget(&mut out, &s.budget);
    daily_bars(&mut out, s);
    out
}

/// The table of totals by provider, or why there is none.
fn totals(out: &mut String, s: &Summary) {
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
}

/// The breakdown table, when one was asked for.
fn breakdown(out: &mut String, s: &Summary) {
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
}

/// What the totals leave out: tokens without a billed cost, days without data.
fn gaps(out: &mut String, s: &Summary) {
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
}

/// Month-to-date spend against the budget, and the forecast.
fn budget(out: &mut String, b: &Budget) {
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
}

/// The sparkline of billed spend over the finished days.
fn daily_bars(out: &mut String, s: &Summary) {
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
}

/// The estimate section of the summary: clearly apart from billed figures.
fn render_estimate(out: &mut String, e: &crate::billing::estimate::EstimateSummary) {
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
