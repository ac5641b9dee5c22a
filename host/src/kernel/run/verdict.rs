//! The verdict on a run's result, before anything is stored: its status
//! checked (an unknown status, bad metadata or an oversized record fails
//! it), the days it completed, the days it lost and why, and the one-line
//! texts that say so. Pure: a result in, a verdict out.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use plugin_api::RunMetadata;

use super::{MAX_PAYLOAD, MAX_STATE};
use crate::kernel::plan::days;
use crate::kernel::protocol::WireResult;
use crate::kernel::status::RunStatus;

/// The run's status and error as the plugin reported them, checked: an
/// unknown status, invalid metadata or an oversized record fails the run.
pub(super) fn judge(result: &WireResult) -> (RunStatus, Option<String>, RunMetadata) {
    let Some(mut status) = RunStatus::from_plugin(plugin_api::RunStatus(result.status)) else {
        let why = format!("plugin returned an unknown status value {}", result.status);
        return (RunStatus::Failed, Some(why), RunMetadata::default());
    };
    let mut error = result.error.clone();
    if status == RunStatus::Failed && error.is_none() {
        error = Some("the plugin reported failure without a reason".into());
    }
    let metadata: RunMetadata = match serde_json::from_str(&result.metadata) {
        Ok(m) => m,
        Err(e) if status != RunStatus::Failed => {
            status = RunStatus::Failed;
            error = Some(format!("the plugin returned invalid metadata: {e}"));
            RunMetadata::default()
        }
        Err(_) => RunMetadata::default(),
    };
    if status != RunStatus::Failed && metadata.state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        status = RunStatus::Failed;
        error = Some(format!("the plugin's state is over the {MAX_STATE} byte limit"));
    }
    if status != RunStatus::Failed {
        if let Some((i, r)) =
            result.records.iter().enumerate().find(|(_, r)| r.payload.len() > MAX_PAYLOAD)
        {
            status = RunStatus::Failed;
            error = Some(format!(
                "rejected the plugin's records, nothing was stored: record {i} ({}) is {} bytes, over the {} byte limit",
                r.kind,
                r.payload.len(),
                MAX_PAYLOAD
            ));
        }
    }
    (status, error, metadata)
}

/// The run's final status once the sink has checked its records: days
/// lost (refused, or not reported complete) make it partial, with a
/// description; a partial run that lost none is a success (every day it
/// could return is stored: the rest is not to be had).
pub(super) fn settle(
    status: RunStatus,
    error: Option<String>,
    lost: &BTreeMap<NaiveDate, String>,
) -> (RunStatus, Option<String>) {
    match status {
        RunStatus::Failed => (status, error),
        _ if !lost.is_empty() => (RunStatus::Partial, Some(describe_lost(lost))),
        RunStatus::Partial => (RunStatus::Success, None),
        _ => (status, error),
    }
}

/// The days a run completed: the whole window for a success, the days the
/// metadata names for a partial run; never today or later.
pub(super) fn completed_days(
    status: RunStatus,
    window: Option<(NaiveDate, NaiveDate)>,
    metadata: &RunMetadata,
    today: NaiveDate,
) -> Vec<NaiveDate> {
    match (status, window) {
        (RunStatus::Success, Some((f, t))) => days(f, t).filter(|d| *d < today).collect(),
        (RunStatus::Partial, Some((f, t))) => metadata
            .complete_days
            .iter()
            .filter_map(|d| d.parse::<NaiveDate>().ok())
            .filter(|d| *d >= f && *d <= t && *d < today)
            .collect(),
        _ => Vec::new(),
    }
}

/// The days a partial result did not complete, with the plugin's reasons:
/// those the source can never return, and the lost ones (asked for again);
/// a day it gives no reason for is lost.
pub(super) fn reported_gaps(
    window: Option<(NaiveDate, NaiveDate)>,
    complete: &[NaiveDate],
    metadata: &RunMetadata,
    today: NaiveDate,
) -> (BTreeMap<NaiveDate, String>, BTreeMap<NaiveDate, String>) {
    let (mut unavailable, mut lost) = (BTreeMap::new(), BTreeMap::new());
    let Some((from, to)) = window else { return (unavailable, lost) };
    for d in days(from, to).filter(|d| *d < today && !complete.contains(d)) {
        let key = d.to_string();
        if let Some(why) = metadata.unavailable_days.get(&key) {
            unavailable.insert(d, one_line(why, 300));
        } else {
            let why = metadata.lost_days.get(&key).map(|w| one_line(w, 300));
            lost.insert(d, why.unwrap_or_else(|| "the plugin did not report it complete".into()));
        }
    }
    (unavailable, lost)
}

/// Text made safe for one line of a report: control and format characters
/// dropped, cut at `max` characters.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let clean: String =
        text.chars().filter(|c| !c.is_control() && !crate::logging::is_format(*c)).collect();
    match clean.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &clean[..i]),
        None => clean,
    }
}

/// Lost days as spans of consecutive days that share a reason, in order.
pub fn lost_spans(lost: &BTreeMap<NaiveDate, String>) -> Vec<(NaiveDate, NaiveDate, &str)> {
    let mut spans: Vec<(NaiveDate, NaiveDate, &str)> = Vec::new();
    for (day, why) in lost {
        match spans.last_mut() {
            Some((_, end, w)) if end.succ_opt() == Some(*day) && *w == why.as_str() => *end = *day,
            _ => spans.push((*day, *day, why)),
        }
    }
    spans
}

/// Days as `D` or `A..B`.
pub fn span_text(from: NaiveDate, to: NaiveDate) -> String {
    if from == to {
        from.to_string()
    } else {
        format!("{from}..{to}")
    }
}

/// The run's error for lost days: how many, and the first spans with why.
pub(super) fn describe_lost(lost: &BTreeMap<NaiveDate, String>) -> String {
    const SHOWN: usize = 3;
    let spans = lost_spans(lost);
    let mut list: Vec<String> = spans
        .iter()
        .take(SHOWN)
        .map(|(a, b, why)| format!("{} ({why})", span_text(*a, *b)))
        .collect();
    if spans.len() > SHOWN {
        list.push(format!("and {} more", spans.len() - SHOWN));
    }
    format!("{} day(s) not stored, asked for again next run: {}", lost.len(), list.join("; "))
}

/// A note on the days the source cannot return, by span.
pub(super) fn unavailable_note(days: &BTreeMap<NaiveDate, String>) -> Option<String> {
    if days.is_empty() {
        return None;
    }
    let spans: Vec<String> = lost_spans(days)
        .iter()
        .map(|(a, b, why)| format!("{} ({why})", span_text(*a, *b)))
        .collect();
    Some(format!("{} day(s) not available from the source: {}", days.len(), spans.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn lost_days_are_listed_briefly_with_their_reasons() {
        let lost: BTreeMap<NaiveDate, String> =
            (1..=5).map(|i| (d(&format!("2025-08-0{i}")), format!("why {i}"))).collect();
        assert_eq!(
            describe_lost(&lost),
            "5 day(s) not stored, asked for again next run: 2025-08-01 (why 1); 2025-08-02 (why 2); 2025-08-03 (why 3); and 2 more"
        );
        let same: BTreeMap<NaiveDate, String> =
            (1..=5).map(|i| (d(&format!("2025-08-0{i}")), "down".to_string())).collect();
        assert_eq!(
            describe_lost(&same),
            "5 day(s) not stored, asked for again next run: 2025-08-01..2025-08-05 (down)"
        );
        assert_eq!(one_line("a\nb\u{7}c", 300), "abc");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
