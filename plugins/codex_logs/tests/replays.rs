//! Property tests of the running-totals rule: re-emitted events, wherever
//! they fall, and a fork's replayed prefix change neither the calls nor
//! their keys.

use std::collections::BTreeMap;

use billing_records::Priced;
use codex_logs::{Fed, Session};
use proptest::prelude::*;

const MODELS: [&str; 3] = ["gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-5.1-codex-mini"];

fn token_count([i, c, o, r, t]: [u64; 5]) -> String {
    format!(
        r#"{{"timestamp":"2026-11-01T10:00:00Z","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{i},"cached_input_tokens":{c},"output_tokens":{o},"reasoning_output_tokens":{r},"total_tokens":{t}}}}}}}}}"#
    )
}

fn turn_context(model: &str) -> String {
    format!(r#"{{"type":"turn_context","payload":{{"model":"{model}"}}}}"#)
}

/// One call's growth: input, cached share (%), output, reasoning share (%),
/// and the model of its turn.
type Step = (u64, u64, u64, u64, usize);

/// A thread's lines: a turn context when the model changes, then the
/// running totals after each step.
fn thread(steps: &[Step]) -> Vec<(String, Option<[u64; 5]>)> {
    let (mut totals, mut model, mut lines) = ([0u64; 5], None, Vec::new());
    for &(input, cached_pct, output, reasoning_pct, m) in steps {
        if model != Some(m) {
            lines.push((turn_context(MODELS[m]), None));
            model = Some(m);
        }
        totals[0] += input;
        totals[1] += input * cached_pct / 100;
        totals[2] += output;
        totals[3] += output * reasoning_pct / 100;
        totals[4] += input + output;
        lines.push((token_count(totals), Some(totals)));
    }
    lines
}

/// Feeds lines to a session, its state round-tripped through JSON before
/// line `split` as between two runs; the calls by key.
fn calls(lines: &[String], split: usize) -> BTreeMap<String, Priced> {
    let mut session = Session::default();
    let mut out = BTreeMap::new();
    for (n, line) in lines.iter().enumerate() {
        if n == split {
            session = serde_json::from_str(&serde_json::to_string(&session).unwrap()).unwrap();
        }
        if let Fed::Call { call, .. } = session.feed(line.as_bytes()) {
            assert!(out.insert(call.key, call.priced).is_none(), "a key is counted once per file");
        }
    }
    out
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((1u64..5000, 0u64..=100, 1u64..2000, 0u64..=100, 0usize..3), 1..25)
}

proptest! {
    #[test]
    fn re_emitted_totals_change_nothing(
        steps in steps(),
        repeats in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..40),
        split in any::<prop::sample::Index>(),
    ) {
        let clean = thread(&steps);
        let clean_lines: Vec<String> = clean.iter().map(|(l, _)| l.clone()).collect();
        let want = calls(&clean_lines, usize::MAX);
        prop_assert_eq!(want.len(), steps.len());
        // Insert, after line `at`, a copy of the totals of line `of <= at`
        // (a refresh repeats the latest totals; a stale snapshot an earlier one).
        let mut after: BTreeMap<usize, Vec<[u64; 5]>> = BTreeMap::new();
        for (at, of) in &repeats {
            let at = at.index(clean.len());
            let earlier: Vec<[u64; 5]> = clean[..=at].iter().filter_map(|(_, t)| *t).collect();
            if !earlier.is_empty() {
                after.entry(at).or_default().push(earlier[of.index(earlier.len())]);
            }
        }
        let mut noisy = Vec::new();
        for (n, (line, _)) in clean.iter().enumerate() {
            noisy.push(line.clone());
            noisy.extend(after.get(&n).into_iter().flatten().map(|t| token_count(*t)));
        }
        let split = split.index(noisy.len() + 1);
        prop_assert_eq!(calls(&noisy, split), want);
    }

    #[test]
    fn a_fork_replaying_any_prefix_adds_only_its_own_calls(
        parent in steps(),
        own in steps(),
        cut in any::<prop::sample::Index>(),
    ) {
        let lines: Vec<String> = thread(&parent).into_iter().map(|(l, _)| l).collect();
        let parent_calls = calls(&lines, usize::MAX);
        // The fork holds the parent's first `cut` steps, then its own steps
        // continuing the same running totals.
        let cut = cut.index(parent.len() + 1);
        let mut fork_steps = parent[..cut].to_vec();
        fork_steps.extend(&own);
        let fork_lines: Vec<String> = thread(&fork_steps).into_iter().map(|(l, _)| l).collect();
        let fork_calls = calls(&fork_lines, usize::MAX);
        let shared = fork_calls.keys().filter(|k| parent_calls.contains_key(*k)).count();
        prop_assert!(shared >= cut);
        for (key, priced) in &fork_calls {
            if let Some(p) = parent_calls.get(key) {
                prop_assert_eq!(p, priced, "a key fixes its counts");
            }
        }
    }
}
