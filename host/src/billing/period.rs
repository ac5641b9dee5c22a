//! Spans of UTC days: a day and a month as written (`YYYY-MM-DD`,
//! `YYYY-MM`), the [`Period`] a view covers, and the weekly rows of a
//! summary (`summary --weekly`): ISO weeks, Monday first, summed exactly
//! from the summary's daily rows, so weeks add up to days, with the local
//! logs' estimate of each week beside the billed figures.

use chrono::{Datelike, Days, Duration, NaiveDate};
use serde::Serialize;

use super::estimate::Priced;
use super::money::Money;
use super::summary::DayLine;

/// A day, a month or a span of days as written that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// Not a `YYYY-MM-DD` day (or an impossible one, like 2025-02-30).
    #[error("{0:?} is not a valid date (expected YYYY-MM-DD)")]
    Day(String),
    /// Not a `YYYY-MM` month.
    #[error("{0:?} is not a month (expected YYYY-MM)")]
    Month(String),
    /// A span that ends before it starts.
    #[error("from {from} is after to {to}")]
    Reversed {
        /// Its first day.
        from: NaiveDate,
        /// Its last day.
        to: NaiveDate,
    },
}

/// Parses a `YYYY-MM-DD` day, rejecting impossible dates like 2025-02-30.
pub fn parse_day(s: &str) -> Result<NaiveDate, PeriodError> {
    let ok_shape = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) if ok_shape => Ok(d),
        _ => Err(PeriodError::Day(s.into())),
    }
}

/// A span of UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    /// First day.
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
}

impl Period {
    /// The days from `from` to `to`, inclusive.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Period, PeriodError> {
        if from > to {
            return Err(PeriodError::Reversed { from, to });
        }
        Ok(Period { from, to })
    }

    /// The calendar month holding `day`.
    pub fn month_of(day: NaiveDate) -> Period {
        let from = day.with_day(1).unwrap_or(day);
        let next = from.checked_add_months(chrono::Months::new(1)).unwrap_or(from);
        Period { from, to: next - Days::new(1) }
    }

    /// A month written `YYYY-MM`.
    pub fn parse_month(s: &str) -> Result<Period, PeriodError> {
        let day = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
            .ok()
            .filter(|_| s.len() == 7)
            .ok_or_else(|| PeriodError::Month(s.into()))?;
        Ok(Period::month_of(day))
    }

    /// Number of days.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// Its days before `today` (finished UTC days).
    pub fn finished_days(&self, today: NaiveDate) -> Vec<NaiveDate> {
        self.from.iter_days().take_while(|d| *d <= self.to && *d < today).collect()
    }
}

/// Where a day of a view stands: the same three states for the summary's
/// rows, its tables and the dashboard's daily view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DayState {
    /// It has data.
    Collected,
    /// A finished day without data.
    Missing,
    /// Today or later: not finished, so not missing.
    Future,
}

impl DayState {
    /// The state of `day` on `today`, with or without data.
    pub fn of(day: NaiveDate, has_data: bool, today: NaiveDate) -> DayState {
        match (has_data, day < today) {
            (true, _) => DayState::Collected,
            (false, true) => DayState::Missing,
            (false, false) => DayState::Future,
        }
    }

    /// Its lowercase name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DayState::Collected => "collected",
            DayState::Missing => "missing",
            DayState::Future => "future",
        }
    }
}

/// One ISO week of the period (cut at the period's ends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeekLine {
    /// ISO week, `2026-W45`.
    pub week: String,
    /// Its Monday, or the period's first day when later.
    pub from: NaiveDate,
    /// Its Sunday, or the period's last day when earlier.
    pub to: NaiveDate,
    /// Days of the week inside the period.
    pub days: usize,
    /// Of those, days with data.
    pub days_collected: usize,
    /// Exact cost of the collected days (none when no day has data).
    pub cost: Option<String>,
    /// Tokens of the collected days (none when no day has data).
    pub tokens: Option<i64>,
    /// What local logs say the week cost: an estimate, never part of
    /// `cost` (none without calls that week).
    pub estimated_cost: Option<String>,
    /// Tokens of those calls.
    pub estimated_tokens: u64,
    /// Tokens of calls no price covers (left out of `estimated_cost`).
    pub estimated_unpriced_tokens: u64,
}

/// The ISO week a day falls in, `YYYY-Www`.
pub fn iso_week(day: NaiveDate) -> String {
    let w = day.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// The daily rows (in order) summed per ISO week, with the estimates of
/// the period's local-log calls.
pub fn weekly(days: &[DayLine], estimates: &[Priced]) -> Vec<WeekLine> {
    let mut out: Vec<(WeekLine, Money)> = Vec::new();
    for d in days {
        let week = iso_week(d.date);
        if out.last().is_none_or(|(w, _)| w.week != week) {
            let monday =
                d.date - Duration::days(i64::from(d.date.weekday().num_days_from_monday()));
            let line = WeekLine {
                week,
                from: d.date.max(monday),
                to: d.date,
                days: 0,
                days_collected: 0,
                cost: None,
                tokens: None,
                estimated_cost: None,
                estimated_tokens: 0,
                estimated_unpriced_tokens: 0,
            };
            out.push((line, Money::zero()));
        }
        let Some((w, cost)) = out.last_mut() else { continue };
        w.to = d.date;
        w.days += 1;
        if let (true, Some(c)) = (d.collected, &d.cost) {
            w.days_collected += 1;
            *cost += &Money::from_stored(c);
            w.tokens = Some(w.tokens.unwrap_or(0) + d.tokens.unwrap_or(0));
        }
    }
    let mut estimated: Vec<Option<Money>> = vec![None; out.len()];
    for p in estimates {
        let week = iso_week(p.group.day);
        let Some(i) = out.iter().position(|(w, _)| w.week == week) else { continue };
        let w = &mut out[i].0;
        w.estimated_tokens = w.estimated_tokens.saturating_add(p.tokens);
        let e = estimated[i].get_or_insert_with(Money::zero);
        match p.cost() {
            Some(c) => *e += c,
            None => {
                w.estimated_unpriced_tokens = w.estimated_unpriced_tokens.saturating_add(p.tokens)
            }
        }
    }
    out.into_iter()
        .zip(estimated)
        .map(|((mut w, cost), estimate)| {
            if w.days_collected > 0 {
                w.cost = Some(cost.to_stored());
            }
            w.estimated_cost = estimate.map(|e| e.to_stored());
            w
        })
        .collect()
}

/// The weeks as a table, money rounded to cents; the estimate column only
/// when local logs have calls in the period.
pub fn render(weeks: &[WeekLine]) -> String {
    use crate::table::{count, money, render as table, Align};
    let with_estimates = weeks.iter().any(|w| w.estimated_cost.is_some());
    let rows: Vec<Vec<String>> = weeks
        .iter()
        .map(|w| {
            let (cost, tokens) = match (&w.cost, w.tokens) {
                (Some(c), Some(t)) => (money(c), count(t)),
                _ => ("no data".to_string(), String::new()),
            };
            let missing = w.days - w.days_collected;
            let note = if missing > 0 && w.days_collected > 0 {
                format!("{missing} day(s) without data")
            } else {
                String::new()
            };
            let mut row = vec![w.week.clone(), format!("{}..{}", w.from, w.to), cost, tokens];
            if with_estimates {
                row.push(w.estimated_cost.as_deref().map(money).unwrap_or_default());
                let t = w.estimated_tokens.min(i64::MAX as u64) as i64;
                row.push(if w.estimated_cost.is_some() { count(t) } else { String::new() });
            }
            row.push(note);
            row
        })
        .collect();
    let mut header = vec![
        ("Week", Align::Left),
        ("Days", Align::Left),
        ("Billed (USD)", Align::Right),
        ("Tokens", Align::Right),
    ];
    if with_estimates {
        header.push(("Estimated (USD)", Align::Right));
        header.push(("Est. tokens", Align::Right));
    }
    header.push(("", Align::Left));
    table(2, &header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: &str, cost: Option<&str>, tokens: i64) -> DayLine {
        DayLine {
            date: d.parse().unwrap(),
            collected: cost.is_some(),
            state: if cost.is_some() { DayState::Collected } else { DayState::Missing },
            cost: cost.map(str::to_string),
            tokens: cost.map(|_| tokens),
            estimated_cost: None,
            estimated_tokens: None,
        }
    }

    #[test]
    fn weeks_start_on_monday_and_sum_their_days() {
        // 2026-11-01 is a Sunday (ISO week 44); Monday 11-02 opens week 45.
        let days = [
            day("2026-11-01", Some("0.1"), 10),
            day("2026-11-02", Some("0.25"), 20),
            day("2026-11-03", None, 0),
            day("2026-11-08", Some("1.000000001"), 5),
            day("2026-11-09", None, 0),
        ];
        let w = weekly(&days, &[]);
        let got: Vec<_> = w
            .iter()
            .map(|w| (w.week.as_str(), w.from.to_string(), w.days, w.cost.clone(), w.tokens))
            .collect();
        assert_eq!(
            got,
            [
                ("2026-W44", "2026-11-01".into(), 1, Some("0.1".into()), Some(10)),
                ("2026-W45", "2026-11-02".into(), 3, Some("1.250000001".into()), Some(25)),
                ("2026-W46", "2026-11-09".into(), 1, None, None),
            ]
        );
        assert_eq!(w[1].days_collected, 2);
        assert_eq!(w[1].to.to_string(), "2026-11-08");
    }
}
