//! Weekly rows of a summary (`summary --weekly`): ISO weeks, Monday first,
//! summed exactly from the summary's daily rows, so weeks add up to days.

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use super::money::Money;
use super::summary::DayLine;

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
}

/// The ISO week a day falls in, `YYYY-Www`.
pub fn iso_week(day: NaiveDate) -> String {
    let w = day.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// The daily rows (in order) summed per ISO week.
pub fn weekly(days: &[DayLine]) -> Vec<WeekLine> {
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
    out.into_iter()
        .map(|(mut w, cost)| {
            if w.days_collected > 0 {
                w.cost = Some(cost.to_stored());
            }
            w
        })
        .collect()
}

/// The weeks as a table, money rounded to cents.
pub fn render(weeks: &[WeekLine]) -> String {
    use crate::table::{count, money, render as table, Align};
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
            vec![w.week.clone(), format!("{}..{}", w.from, w.to), cost, tokens, note]
        })
        .collect();
    table(
        2,
        &[
            ("Week", Align::Left),
            ("Days", Align::Left),
            ("Cost (USD)", Align::Right),
            ("Tokens", Align::Right),
            ("", Align::Left),
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: &str, cost: Option<&str>, tokens: i64) -> DayLine {
        DayLine {
            date: d.parse().unwrap(),
            collected: cost.is_some(),
            cost: cost.map(str::to_string),
            tokens: cost.map(|_| tokens),
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
        let w = weekly(&days);
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
