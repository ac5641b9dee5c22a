//! Which UTC days a daily plugin should collect: every missing day (the
//! holes of the job's ledger, whatever left them, and everything after the
//! last complete day up to yesterday), plus a trailing re-pull window because
//! providers revise recent days. Pure: dates in, a plan out.

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};

/// Days to collect, and the complete days skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// First day to collect (of the last window: the recent days).
    pub from: NaiveDate,
    /// Last day to collect, inclusive.
    pub to: NaiveDate,
    /// Earlier missing spans (left by failed, partial or interrupted runs),
    /// oldest first: each is collected by a run of its own, before `from..to`.
    pub holes: Vec<(NaiveDate, NaiveDate)>,
    /// The span of complete days before `from` that are not re-pulled.
    pub skipped: Option<(NaiveDate, NaiveDate)>,
}

impl Plan {
    /// Every window to collect, oldest first.
    pub fn windows(&self) -> Vec<(NaiveDate, NaiveDate)> {
        let mut w = self.holes.clone();
        w.push((self.from, self.to));
        w
    }
}

/// How far back a first run reaches.
pub const FIRST_RUN_DAYS: u64 = 30;

/// Plans a run on `today` (UTC) given the complete days and the missing ones
/// (the store's ledger: every day since the first one asked for that is not
/// complete, less those given up on): every day after the last complete
/// one up to yesterday, the last `trailing_days` days that were already
/// complete (whether the last run was yesterday or a week ago, the newest
/// stored days are the ones a provider may still revise), and every earlier
/// missing day, as holes of their own.
pub fn plan(
    today: NaiveDate,
    complete: &BTreeSet<NaiveDate>,
    missing: &BTreeSet<NaiveDate>,
    trailing_days: u64,
) -> Plan {
    let yesterday = today - Days::new(1);
    let (from, skipped) = match (complete.first(), complete.last()) {
        (Some(&first), Some(&last)) => {
            let back = Days::new(trailing_days.max(1) - 1);
            let from = (yesterday - back).min(last.min(yesterday) - back);
            let skipped = if first < from { Some((first, from - Days::new(1))) } else { None };
            (from, skipped)
        }
        _ => (yesterday - Days::new(FIRST_RUN_DAYS - 1), None),
    };
    // Missing days are the caller's arithmetic; a day it leaves out (given
    // up on, or never part of the job's history) is not a hole.
    let mut holes: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    let wanted: BTreeSet<NaiveDate> =
        missing.iter().copied().filter(|d| *d < from && !complete.contains(d)).collect();
    for day in wanted {
        match holes.last_mut() {
            Some((_, end)) if *end + Days::new(1) == day => *end = day,
            _ => holes.push((day, day)),
        }
    }
    // A hole that ends where the recent window starts is part of it.
    let from = match holes.last() {
        Some(&(start, end)) if end + Days::new(1) == from => {
            holes.pop();
            start
        }
        _ => from,
    };
    Plan { from, to: yesterday, holes, skipped }
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
        let p = plan(d("2025-03-31"), &BTreeSet::new(), &BTreeSet::new(), 3);
        assert_eq!((p.from, p.to), (d("2025-03-01"), d("2025-03-30")));
        assert_eq!(p.skipped, None);
    }

    #[test]
    fn up_to_date_re_pulls_the_trailing_window() {
        let complete: BTreeSet<_> = days(d("2025-03-01"), d("2025-03-30")).collect();
        let p = plan(d("2025-03-31"), &complete, &BTreeSet::new(), 3);
        assert_eq!((p.from, p.to), (d("2025-03-28"), d("2025-03-30")));
        assert_eq!(p.skipped, Some((d("2025-03-01"), d("2025-03-27"))));
    }

    #[test]
    fn a_gap_since_the_last_run_is_filled() {
        let complete: BTreeSet<_> = days(d("2025-03-01"), d("2025-03-10")).collect();
        let p = plan(d("2025-03-31"), &complete, &BTreeSet::new(), 3);
        assert_eq!((p.from, p.to), (d("2025-03-08"), d("2025-03-30")));
        assert_eq!(p.skipped, Some((d("2025-03-01"), d("2025-03-07"))));
    }

    #[test]
    fn holes_left_by_partial_runs_are_collected_exactly() {
        let mut complete: BTreeSet<_> = days(d("2025-01-01"), d("2025-03-30")).collect();
        let mut missing: BTreeSet<NaiveDate> = BTreeSet::new();
        let lost = days(d("2025-01-10"), d("2025-01-12"))
            .chain([d("2025-02-01"), d("2025-03-27")])
            // Days before the first complete one that a partial run lost.
            .chain(days(d("2024-12-30"), d("2024-12-31")));
        for day in lost {
            complete.remove(&day);
            missing.insert(day);
        }
        // A day not in `missing` (given up on) is not a hole.
        complete.remove(&d("2025-02-15"));
        let p = plan(d("2025-03-31"), &complete, &missing, 3);
        assert_eq!(
            p.windows(),
            vec![
                (d("2024-12-30"), d("2024-12-31")),
                (d("2025-01-10"), d("2025-01-12")),
                (d("2025-02-01"), d("2025-02-01")),
                (d("2025-03-27"), d("2025-03-30")),
            ]
        );
    }
}
