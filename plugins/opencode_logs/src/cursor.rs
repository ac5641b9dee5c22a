//! A high-water mark over things that change in place (database rows,
//! whole JSON files), ordered by `(time of last change, key)`: what a run
//! reads is what changed since the last one, within a byte budget.
//!
//! A writer stamps the time before it commits, and OpenCode's processes wait
//! up to seconds for the database's lock, so a change can land after a
//! reader saw later ones. A finished run therefore starts the next one a
//! slack (the source's) before its mark (see [`Mark::after`]), and
//! remembers what it read in that window (`recent`) so nothing is sent
//! twice. A run stopped by its budget resumes exactly after the last thing
//! it read, so every run makes progress.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The most entries `recent` keeps (the newest); what falls out is only
/// read (and sent, which the host's merge by key makes harmless) again.
pub const RECENT_CAP: usize = 10_000;

/// Where a run stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The time of the last thing read, in the source's unit.
    pub t: i64,
    /// Its key.
    pub key: String,
    /// Whether the run read to the end.
    #[serde(default)]
    pub done: bool,
    /// What was read within the slack before `t`: key → its time then.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recent: BTreeMap<String, i64>,
}

impl Mark {
    /// The exclusive `(time, key)` the next run reads after: exactly after
    /// the mark when the last run stopped on its budget, `slack` before it
    /// when it finished, and from the start when there is no mark.
    pub fn after(prev: Option<&Mark>, slack: i64) -> (i64, String) {
        match prev {
            None => (i64::MIN, String::new()),
            Some(m) if !m.done => (m.t, m.key.clone()),
            // Every key is non-empty: `> (t - slack, "")` takes all of t - slack.
            Some(m) => (m.t.saturating_sub(slack), String::new()),
        }
    }
}

/// What [`advance`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advanced {
    /// The mark for the next run.
    pub mark: Mark,
    /// Whether the budget ran out with changed things left.
    pub more: bool,
    /// Things fetched.
    pub fetched: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Goes through `items` (`(time, key)`, sorted, all after
/// [`Mark::after`]), fetching each one not read before at that time,
/// until more than `max_bytes` were fetched. `fetch` answers the bytes it
/// read.
pub fn advance(
    prev: Option<&Mark>,
    items: &[(i64, String)],
    slack: i64,
    max_bytes: u64,
    mut fetch: impl FnMut(&str) -> u64,
) -> Advanced {
    let mut recent = prev.map(|m| m.recent.clone()).unwrap_or_default();
    let (mut fetched, mut bytes, mut last) = (0, 0u64, None);
    let mut more = false;
    for (i, (t, key)) in items.iter().enumerate() {
        if bytes > max_bytes {
            more = items[i..].iter().any(|(t, k)| recent.get(k) != Some(t));
            break;
        }
        last = Some((*t, key));
        if recent.get(key) == Some(t) {
            continue;
        }
        bytes += fetch(key);
        fetched += 1;
        recent.insert(key.clone(), *t);
    }
    let mut mark = prev.cloned().unwrap_or_default();
    if let Some((t, key)) = last {
        // A finished run's window starts before its mark: never go back.
        if (t, key.as_str()) > (mark.t, mark.key.as_str()) || prev.is_none() {
            (mark.t, mark.key) = (t, key.clone());
        }
    }
    mark.done = !more;
    mark.recent = prune(recent, mark.t.saturating_sub(slack));
    Advanced { mark, more, fetched, bytes }
}

/// `recent` without what is older than `from`, at most [`RECENT_CAP`] of
/// the newest.
fn prune(recent: BTreeMap<String, i64>, from: i64) -> BTreeMap<String, i64> {
    let mut kept: Vec<(String, i64)> = recent.into_iter().filter(|(_, t)| *t >= from).collect();
    if kept.len() > RECENT_CAP {
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(RECENT_CAP);
    }
    kept.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(list: &[(i64, &str)]) -> Vec<(i64, String)> {
        list.iter().map(|(t, k)| (*t, k.to_string())).collect()
    }

    /// The items after `after`, as a query would list them.
    fn after(all: &[(i64, String)], prev: Option<&Mark>, slack: i64) -> Vec<(i64, String)> {
        let (t, k) = Mark::after(prev, slack);
        all.iter().filter(|(it, ik)| (*it, ik.as_str()) > (t, k.as_str())).cloned().collect()
    }

    fn run(all: &[(i64, String)], prev: Option<&Mark>, max: u64) -> (Vec<String>, Advanced) {
        let mut seen = Vec::new();
        let list = after(all, prev, 10);
        let adv = advance(prev, &list, 10, max, |k| {
            seen.push(k.to_string());
            5
        });
        (seen, adv)
    }

    #[test]
    fn budget_slices_resume_exactly_and_a_finished_run_rereads_nothing() {
        let all = items(&[(100, "a"), (100, "b"), (105, "c"), (200, "d")]);
        let (seen, first) = run(&all, None, 6);
        assert_eq!((seen, first.more), (vec!["a".to_string(), "b".into()], true));
        assert_eq!((first.mark.t, first.mark.key.as_str(), first.mark.done), (100, "b", false));
        let (seen, second) = run(&all, Some(&first.mark), 6);
        assert_eq!((seen, second.more), (vec!["c".to_string(), "d".into()], false));
        assert!(second.mark.done);
        assert_eq!(second.mark.recent, BTreeMap::from([("d".to_string(), 200)]));
        let (seen, third) = run(&all, Some(&second.mark), 6);
        assert!(seen.is_empty() && !third.more);
        assert_eq!(third.mark, second.mark);
    }

    #[test]
    fn a_late_commit_inside_the_slack_is_read_and_an_update_read_again() {
        let mut all = items(&[(100, "a"), (200, "d")]);
        let (_, done) = run(&all, None, 1000);
        // Stamped before "d" but committed after the run: within the slack.
        all.insert(1, (195, "late".to_string()));
        // "a" updated now.
        all.retain(|(_, k)| k != "a");
        all.push((300, "a".to_string()));
        let (seen, next) = run(&all, Some(&done.mark), 1000);
        assert_eq!(seen, ["late", "a"]);
        assert_eq!((next.mark.t, next.mark.key.as_str()), (300, "a"));
        assert_eq!(next.mark.recent, BTreeMap::from([("a".to_string(), 300)]));
    }

    #[test]
    fn recent_keeps_only_the_newest() {
        let recent: BTreeMap<String, i64> =
            (0..RECENT_CAP as i64 + 5).map(|i| (format!("k{i}"), i)).collect();
        let kept = prune(recent, 3);
        assert_eq!(kept.len(), RECENT_CAP);
        assert!(!kept.contains_key("k4") && kept.contains_key("k5"));
    }
}
