//! Reading across runs: each file's baseline, model and thread travel in the
//! state, so appended events become exactly the new calls; a replaced or
//! truncated file is read again; a small budget spreads the same calls over
//! several runs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use log_kit::tally::{merge, totals};
use log_kit::Counts;
use plugin_api::RunRequest;

/// The fixture parent rollout copied into a fresh Codex home.
fn copy_of_parent(dir: &Path) -> PathBuf {
    let to = dir.join("sessions").join(P_FILE);
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(rollout(P_FILE), &to).unwrap();
    to
}

fn keys(out: &log_kit::Outcome) -> Vec<&str> {
    out.calls.iter().map(|c| c.key.as_str()).collect()
}

fn token_count(ts: &str, [i, c, o, r, t]: [u64; 5]) -> String {
    format!(
        r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{i},"cached_input_tokens":{c},"output_tokens":{o},"reasoning_output_tokens":{r},"total_tokens":{t}}}}},"rate_limits":null}}}}"#
    )
}

fn append(path: &Path, text: &str) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_second_pass_over_unchanged_files_finds_nothing() {
    let req = codex_home(&[&home()]);
    let first = run(&req);
    let second = run(&next(&req, &first));
    assert!(second.calls.is_empty());
    assert_eq!((second.counts, second.more), (Counts::default(), false));
    assert_eq!(second.state, first.state);
}

#[test]
fn appended_events_continue_from_the_stored_baseline_and_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of_parent(dir.path());
    let req = codex_home(&[dir.path()]);
    let first = run(&req);
    assert_eq!(first.calls.len(), 4);
    // Re-emitted totals, a new call, and a line still being written.
    let repeat = token_count("2026-11-02T09:00:00Z", [6000, 3900, 1000, 260, 7000]);
    let new = token_count("2026-11-02T09:00:05Z", [6500, 4000, 1100, 280, 7600]);
    let late = token_count("2026-11-02T09:01:00Z", [7000, 4400, 1200, 300, 8200]);
    let (head, tail) = late.split_at(50);
    append(&path, &format!("{repeat}\n{new}\n{head}"));
    let second = run(&next(&req, &first));
    assert_eq!(
        keys(&second),
        ["gpt-5.1-codex-max:6000/3900/1000/260/7000>6500/4000/1100/280/7600"]
    );
    let call = &second.calls[0];
    assert_eq!((call.priced.input, call.priced.cache_read, call.priced.output), (400, 100, 100));
    assert_eq!((call.session.as_deref(), call.project.as_deref()), (Some(P), Some("/home/me/api")));
    assert_eq!(second.extra["stale_events"], 1);
    append(&path, &format!("{tail}\n"));
    let third = run(&next(&req, &second));
    assert_eq!(keys(&third), ["gpt-5.1-codex-max:6500/4000/1100/280/7600>7000/4400/1200/300/8200"]);
}

#[test]
fn a_truncated_or_replaced_file_is_read_again_from_a_zero_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of_parent(dir.path());
    let req = codex_home(&[dir.path()]);
    let first = run(&req);
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    // Rewritten in place, shorter: the first call only.
    let mut file = OpenOptions::new().write(true).truncate(true).open(&path).unwrap();
    file.write_all(lines[..7].concat().as_bytes()).unwrap();
    drop(file);
    let truncated = run(&next(&req, &first));
    assert_eq!(keys(&truncated), ["gpt-5.1-codex:0/0/0/0/0>1000/0/200/50/1200"]);
    // Replaced by a new file (another inode) holding everything again.
    let other = dir.path().join("other.tmp");
    fs::write(&other, &text).unwrap();
    fs::rename(&other, &path).unwrap();
    let replaced = run(&next(&req, &truncated));
    assert_eq!(
        keys(&replaced).into_iter().collect::<BTreeSet<_>>(),
        keys(&first).into_iter().collect::<BTreeSet<_>>()
    );
}

#[test]
fn a_small_budget_spreads_the_same_calls_over_several_runs() {
    let mut req = codex_home(&[&home()]);
    req.settings.insert("LOG_MAX_BYTES".into(), "2000".into());
    let (mut merged, mut runs, mut guessed) = (BTreeMap::new(), 0, 0);
    let mut state = None;
    loop {
        let out = run(&RunRequest { state, ..req.clone() });
        runs += 1;
        if runs == 1 {
            assert!(out.more);
        }
        guessed += out.extra["model_guessed"];
        merge(&mut merged, out.calls.clone());
        state = Some(out.state.clone());
        if !out.more {
            break;
        }
        assert!(runs < 200, "the runs must end");
    }
    assert!(runs >= 5, "{runs} runs");
    assert_eq!(totals(&merged), expected());
    let whole = run(&codex_home(&[&home()]));
    let whole_keys: BTreeSet<&String> = whole.calls.iter().map(|c| &c.key).collect();
    assert_eq!(merged.keys().collect::<BTreeSet<_>>(), whole_keys);
    assert_eq!(guessed, 2);
}
