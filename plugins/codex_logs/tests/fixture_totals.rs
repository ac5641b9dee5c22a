//! The fixture home (tests/fixtures/logs/codex/home) read whole: exact
//! totals per day and model after every pitfall, and which files are read.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use common::*;
use log_kit::tally::run_totals;
use log_kit::{Counts, Level};

#[test]
fn the_fixture_home_gives_the_documented_totals() {
    let out = run(&codex_home(&[&home()]));
    assert_eq!(run_totals(&out), expected());
    assert_eq!(out.calls.len(), 9, "replayed copies within a run are merged before they leave");
    // P, S, F and the early archived session; not P's archived duplicate.
    let bytes = out.counts.bytes_read;
    assert_eq!(out.counts, Counts { files_read: 4, bytes_read: bytes, lines_skipped: 1 });
    // P's re-emitted and earlier totals, the same two in F's replay, one in S's replay.
    assert_eq!(out.extra["stale_events"], 5);
    assert_eq!(out.extra["model_guessed"], 2);
    assert!(!out.more);
}

#[test]
fn the_default_home_is_read_when_the_setting_is_unset() {
    let home = home();
    let unset = request(&[("$CODEX_HOME", &[]), ("~/.codex", &[&home])]);
    assert_eq!(run_totals(&run(&unset)), expected());
    let ignored =
        request(&[("$CODEX_HOME", &[Path::new("/nonexistent/codex")]), ("~/.codex", &[&home])]);
    assert!(run(&ignored).calls.is_empty(), "the setting replaces the default");
}

#[test]
fn a_missing_home_is_logged_not_an_error() {
    let mut infos = Vec::new();
    let req = codex_home(&[Path::new("/nonexistent/agent-host-test/.codex")]);
    let out = codex_logs::collect(&req, &mut |level, msg| {
        assert_eq!(level, Level::Info);
        infos.push(msg.to_string());
    })
    .unwrap();
    assert!(out.calls.is_empty() && !out.more);
    assert_eq!(infos.len(), 1, "{infos:?}");
}

#[test]
fn the_live_copy_wins_over_the_archived_one() {
    let home = home();
    let files = codex_logs::rollouts(std::slice::from_ref(&home), &mut |_, _| {});
    let names: Vec<String> =
        files.iter().map(|f| f.strip_prefix(&home).unwrap().display().to_string()).collect();
    assert_eq!(
        names,
        [
            format!("sessions/{P_FILE}"),
            format!("sessions/{S_FILE}"),
            format!("sessions/{F_FILE}"),
            format!("archived_sessions/rollout-2026-11-01T07-00-00-{E}.jsonl"),
        ]
    );
}

#[test]
fn forks_and_subagents_count_once_whatever_is_read_first() {
    // The fork and the subagent in one home read before the parent's.
    let dir = tempfile::tempdir().unwrap();
    let (children, parent) = (dir.path().join("a"), dir.path().join("b"));
    for (root, rel) in [(&children, F_FILE), (&children, S_FILE), (&parent, P_FILE)] {
        let to = root.join("sessions").join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(rollout(rel), to).unwrap();
    }
    let early = format!("archived_sessions/rollout-2026-11-01T07-00-00-{E}.jsonl");
    fs::create_dir_all(parent.join("archived_sessions")).unwrap();
    fs::copy(home().join(&early), parent.join(&early)).unwrap();
    let reordered = run(&codex_home(&[&children, &parent]));
    let normal = run(&codex_home(&[&home()]));
    let keys =
        |out: &log_kit::Outcome| out.calls.iter().map(|c| c.key.clone()).collect::<BTreeSet<_>>();
    assert_eq!(keys(&reordered), keys(&normal));
    assert_eq!(per_model(&run_totals(&reordered)), per_model(&expected()));
}

#[test]
fn a_fork_alone_replays_its_parents_keys() {
    let fork = run(&codex_home(&[&home()]));
    let parent_keys: BTreeSet<String> = fork
        .calls
        .iter()
        .filter(|c| c.session.as_deref() == Some(P))
        .map(|c| c.key.clone())
        .collect();
    assert_eq!(parent_keys.len(), 4);
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("sessions").join(F_FILE);
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(rollout(F_FILE), &to).unwrap();
    let alone = run(&codex_home(&[dir.path()]));
    let alone_keys: BTreeSet<String> = alone.calls.iter().map(|c| c.key.clone()).collect();
    assert_eq!(alone_keys.len(), 5);
    assert!(alone_keys.is_superset(&parent_keys));
    assert!(
        alone.calls.iter().all(|c| c.session.as_deref() == Some(F)),
        "the first session_meta is the file's own"
    );
}

#[test]
fn payloads_carry_the_thread_the_folder_and_a_self_describing_key() {
    let out = run(&codex_home(&[&home()]));
    let first =
        out.calls.iter().find(|c| c.key == "gpt-5.1-codex:0/0/0/0/0>1000/0/200/50/1200").unwrap();
    assert_eq!((first.provider.as_str(), first.source.as_str()), ("openai", "codex"));
    assert_eq!(
        (first.day.as_str(), first.at.as_deref()),
        ("2026-11-01", Some("2026-11-01T21:00:05.500Z"))
    );
    assert_eq!(
        (first.session.as_deref(), first.project.as_deref()),
        (Some(P), Some("/home/me/api"))
    );
    let midnight = out
        .calls
        .iter()
        .find(|c| c.key == "gpt-5.1-codex-max:4100/2200/700/200/4800>6000/3900/1000/260/7000")
        .unwrap();
    assert_eq!(midnight.day, "2026-11-02");
    let early: Vec<_> = out.calls.iter().filter(|c| c.model == "gpt-5").collect();
    assert!(early
        .iter()
        .all(|c| c.session.as_deref() == Some(E) && c.project.as_deref() == Some("/home/me/old")));
    let sub: Vec<_> = out.calls.iter().filter(|c| c.session.as_deref() == Some(S)).collect();
    assert_eq!(sub.len(), 2, "only the subagent's own calls are attributed to it");
}

#[test]
fn records_and_metadata_are_what_the_host_reads() {
    let out = run(&codex_home(&[&home()]));
    let records = out.records();
    assert_eq!(records.len(), 9);
    for (r, c) in records.iter().zip(&out.calls) {
        assert_eq!((r.kind.as_str(), r.key.as_str()), ("call", c.key.as_str()));
        let back: billing_records::CallPayload = serde_json::from_str(&r.payload_json).unwrap();
        assert_eq!(&back, c);
    }
    let meta = out.metadata();
    assert_eq!(meta.state.as_deref(), Some(out.state.as_str()));
    assert_eq!(
        (meta.extra["files_read"].as_u64(), meta.extra["model_guessed"].as_u64()),
        (Some(4), Some(2))
    );
}
