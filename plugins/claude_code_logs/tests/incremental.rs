//! Reading across runs: the state resumes each file where the last run
//! stopped, a replaced or truncated file is read again, and a small budget
//! spreads the same calls over several runs.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{config_dirs, expected, fixture, next, run};
use log_kit::tally::{merge, totals};
use log_kit::Counts;
use plugin_api::RunRequest;

const S1: &str = "projects/-home-me-app/9f0c2e4a-5b1d-4c7e-8a2f-3d6b1e0c9a11.jsonl";

/// The fixture session S1 copied into a fresh config folder.
fn copy_of_s1(dir: &Path) -> PathBuf {
    let path = dir.join("projects/-home-me-app/s1.jsonl");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::copy(fixture("root-a").join(S1), &path).unwrap();
    path
}

fn s1_lines() -> Vec<String> {
    let text = fs::read_to_string(fixture("root-a").join(S1)).unwrap();
    text.lines().map(|l| format!("{l}\n")).collect()
}

fn keys(out: &log_kit::Outcome) -> Vec<&str> {
    out.calls.iter().map(|c| c.key.as_str()).collect()
}

/// An assistant line of a new call, as Claude Code appends it.
fn new_call(id: &str, output: u64) -> String {
    format!(
        r#"{{"parentUuid":"x","isSidechain":false,"cwd":"/home/me/app","sessionId":"s1","type":"assistant","requestId":"req_{id}","timestamp":"2026-11-03T10:00:00.000Z","message":{{"id":"{id}","model":"claude-sonnet-4-5","content":[],"usage":{{"input_tokens":1,"output_tokens":{output},"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}}}}"#
    )
}

fn append(path: &Path, text: &str) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_second_pass_over_unchanged_files_finds_nothing() {
    let req = config_dirs(&[&fixture("root-a"), &fixture("root-b")]);
    let first = run(&req);
    let second = run(&next(&req, &first));
    assert!(second.calls.is_empty());
    assert_eq!((second.counts, second.more), (Counts::default(), false));
    assert_eq!(second.state, first.state);
}

#[test]
fn appended_lines_yield_only_the_new_calls() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of_s1(dir.path());
    let req = config_dirs(&[dir.path()]);
    let first = run(&req);
    assert_eq!(keys(&first), ["msg_01A", "msg_01B", "msg_01C", "msg_01D"]);
    // A line still being written is left for the run after it is complete.
    let late = new_call("msg_01F", 7);
    let (head, tail) = late.split_at(40);
    append(&path, &format!("{}\n{head}", new_call("msg_01E", 5)));
    let second = run(&next(&req, &first));
    assert_eq!(keys(&second), ["msg_01E"]);
    assert_eq!(second.counts.files_read, 1);
    append(&path, &format!("{tail}\n"));
    let third = run(&next(&req, &second));
    assert_eq!(keys(&third), ["msg_01F"]);
    assert_eq!((third.calls[0].priced.output, third.counts.lines_skipped), (7, 0));
}

#[test]
fn a_truncated_or_replaced_file_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of_s1(dir.path());
    let req = config_dirs(&[dir.path()]);
    let first = run(&req);
    // Rewritten in place, shorter: only msg_01A's streamed rows remain.
    let lines = s1_lines();
    let mut file = OpenOptions::new().write(true).truncate(true).open(&path).unwrap();
    file.write_all(lines[..4].concat().as_bytes()).unwrap();
    drop(file);
    let truncated = run(&next(&req, &first));
    assert_eq!(keys(&truncated), ["msg_01A"]);
    assert_eq!(truncated.calls[0].priced.output, 120);
    // Replaced by another file (a new inode) longer than what was read.
    let other = dir.path().join("other.tmp");
    fs::write(&other, format!("{}{}", lines.concat(), new_call("msg_01E", 5) + "\n")).unwrap();
    fs::rename(&other, &path).unwrap();
    let replaced = run(&next(&req, &truncated));
    assert_eq!(keys(&replaced), ["msg_01A", "msg_01B", "msg_01C", "msg_01D", "msg_01E"]);
}

#[test]
fn a_small_budget_spreads_the_same_totals_over_several_runs() {
    let mut req = config_dirs(&[&fixture("root-a"), &fixture("root-b")]);
    req.settings.insert("LOG_MAX_BYTES".into(), "1500".into());
    let (mut merged, mut runs, mut skipped) = (BTreeMap::new(), 0, 0);
    let mut state = None;
    loop {
        let out = run(&RunRequest { state, ..req.clone() });
        assert!(
            out.counts.bytes_read <= 1500 + 2000,
            "a run stops at the first line past its budget"
        );
        runs += 1;
        skipped += out.counts.lines_skipped;
        merge(&mut merged, out.calls.clone());
        state = Some(out.state.clone());
        if !out.more {
            break;
        }
        assert!(runs < 100, "the runs must end");
    }
    assert!(runs >= 5, "{runs} runs");
    assert_eq!(totals(&merged), expected(true, true));
    assert_eq!(skipped, 3);
}

#[test]
fn an_invalid_budget_fails_the_run() {
    let mut req = config_dirs(&[&fixture("root-a")]);
    req.settings.insert("LOG_MAX_BYTES".into(), "lots".into());
    let err = claude_code_logs::collect(&req, &mut |_, _| {}).unwrap_err();
    assert!(err.contains("LOG_MAX_BYTES"), "{err}");
}

#[test]
fn a_main_chain_copy_read_after_its_sidechain_replay_still_wins() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("projects/-home-me-app");
    fs::create_dir_all(&folder).unwrap();
    let lines = s1_lines();
    // Read in path order: the `/btw` replay (line 13) before the original (line 6).
    fs::write(folder.join("a.jsonl"), &lines[12]).unwrap();
    fs::write(folder.join("b.jsonl"), &lines[5]).unwrap();
    let out = run(&config_dirs(&[dir.path()]));
    assert_eq!(out.calls.len(), 1);
    let call = &out.calls[0];
    assert_eq!((call.key.as_str(), call.day.as_str()), ("msg_01B", "2026-11-01"));
    assert_eq!(call.at.as_deref(), Some("2026-11-01T09:01:00.000Z"));
}
