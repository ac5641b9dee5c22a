//! Which UTC days a daily plugin should collect: everything missing since the
//! last complete day up to yesterday, plus a trailing re-pull window because
//! providers revise recent days. Pure: dates in, a plan out.

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};

/// Days to collect, and the complete days skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// First day to collect.
    pub from: NaiveDate,
    /// Last day to collect, inclusive.
    pub to: NaiveDate,
    /// The span of complete days before `from` that are not re-pulled.
    pub skipped: Option<(NaiveDate, NaiveDate)>,
}

/// How far back a first run reaches.
pub const FIRST_RUN_DAYS: u64 = 30;

/// Plans a run on `today` (UTC) given the complete days: every day after the
/// last complete one up to yesterday, and the last `trailing_days` days that
/// were already complete (whether the last run was yesterday or a week ago,
/// the newest stored days are the ones a provider may still revise).
pub fn plan(today: NaiveDate, complete: &BTreeSet<NaiveDate>, trailing_days: u64) -> Plan {
    let yesterday = today - Days::new(1);
    let Some(&last) = complete.iter().next_back() else {
        return Plan {
            from: yesterday - Days::new(FIRST_RUN_DAYS - 1),
            to: yesterday,
            skipped: None,
        };
    };
    let back = Days::new(trailing_days.max(1) - 1);
    let from = (yesterday - back).min(last.min(yesterday) - back);
    let first = *complete.iter().next().unwrap_or(&last);
    let skipped = if first < from { Some((first, from - Days::new(1))) } else { None };
    Plan { from, to: yesterday, skipped }
}

/// Every day from `from` to `to`, inclusive.
pub fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn first_run_takes_the_last_30_days() {
        let p = plan(d("2025-03-31"), &BTreeSet::new(), 3);
        assert_eq!((p.from, p.to), (d("2025-03-01"), d("2025-03-30")));
        assert_eq!(p.skipped, None);
    }

    #[test]
    fn up_to_date_re_pulls_the_trailing_window() {
        let complete: BTreeSet<_> = days(d("2025-03-01"), d("2025-03-30")).collect();
        let p = plan(d("2025-03-31"), &complete, 3);
        assert_eq!((p.from, p.to), (d("2025-03-28"), d("2025-03-30")));
        assert_eq!(p.skipped, Some((d("2025-03-01"), d("2025-03-27"))));
    }

    #[test]
    fn a_gap_since_the_last_run_is_filled() {
        let complete: BTreeSet<_> = days(d("2025-03-01"), d("2025-03-10")).collect();
        let p = plan(d("2025-03-31"), &complete, 3);
        assert_eq!((p.from, p.to), (d("2025-03-08"), d("2025-03-30")));
        assert_eq!(p.skipped, Some((d("2025-03-01"), d("2025-03-07"))));
    }
}
