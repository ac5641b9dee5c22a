//! Calls recorded only inside `agent_progress` lines (a subagent's lines,
//! nested in its parent's transcript) count, once: alone when the
//! subagent's own file is gone, and once when both copies are there.

mod common;

use std::fs;
use std::path::Path;

use common::{config_dirs, run};
use log_kit::tally::{merge, totals};

/// A parent transcript whose only record of the subagent's call is a
/// progress line (Claude Code 2.1's shape), beside one call of its own.
const PARENT: &str = concat!(
    r#"{"parentUuid":null,"isSidechain":false,"cwd":"/home/me/app","sessionId":"s9","type":"assistant","requestId":"req_main","timestamp":"2026-11-02T09:00:00.000Z","message":{"id":"msg_main","model":"claude-sonnet-4-5","role":"assistant","content":[],"usage":{"input_tokens":10,"output_tokens":100,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}"#,
    "\n",
    r#"{"parentUuid":"a","isSidechain":false,"cwd":"/home/me/app","sessionId":"s9","version":"2.1.38","type":"progress","data":{"type":"agent_progress","message":{"type":"assistant","timestamp":"2026-11-02T09:00:05.000Z","message":{"model":"claude-haiku-4-5","id":"msg_sub","type":"message","role":"assistant","content":[],"usage":{"input_tokens":20,"output_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":300}},"requestId":"req_sub","uuid":"n1"},"parentToolUseID":"t1"},"timestamp":"2026-11-02T09:00:05.001Z"}"#,
    "\n",
    // The same progress, streamed again with the final counts.
    r#"{"parentUuid":"a","isSidechain":false,"cwd":"/home/me/app","sessionId":"s9","version":"2.1.38","type":"progress","data":{"type":"agent_progress","message":{"type":"assistant","timestamp":"2026-11-02T09:00:05.000Z","message":{"model":"claude-haiku-4-5","id":"msg_sub","type":"message","role":"assistant","content":[],"usage":{"input_tokens":20,"output_tokens":40,"cache_creation_input_tokens":0,"cache_read_input_tokens":300}},"requestId":"req_sub","uuid":"n2"},"parentToolUseID":"t1"},"timestamp":"2026-11-02T09:00:06.001Z"}"#,
    "\n",
    r#"{"type":"progress","data":{"type":"bash_progress","output":"compiling"},"timestamp":"2026-11-02T09:00:07.000Z"}"#,
    "\n",
);

/// The subagent's own file, as Claude Code writes it beside the session.
const SUBAGENT: &str = concat!(
    r#"{"parentUuid":null,"isSidechain":true,"cwd":"/home/me/app","sessionId":"s9","agentId":"a1","type":"assistant","requestId":"req_sub","timestamp":"2026-11-02T09:00:05.000Z","message":{"id":"msg_sub","model":"claude-haiku-4-5","role":"assistant","content":[],"usage":{"input_tokens":20,"output_tokens":40,"cache_creation_input_tokens":0,"cache_read_input_tokens":300}}}"#,
    "\n",
);

fn tree(dir: &Path, with_subagent_file: bool) {
    let session = dir.join("projects/-home-me-app");
    fs::create_dir_all(session.join("s9/subagents")).unwrap();
    fs::write(session.join("s9.jsonl"), PARENT).unwrap();
    if with_subagent_file {
        fs::write(session.join("s9/subagents/agent-a1.jsonl"), SUBAGENT).unwrap();
    }
}

fn calls_of(dir: &Path) -> Vec<(String, String, u64, u64)> {
    let out = run(&config_dirs(&[dir]));
    assert_eq!(out.counts.lines_skipped, 0, "every line read or ignored, none dropped");
    let mut merged = std::collections::BTreeMap::new();
    merge(&mut merged, out.calls);
    let mut calls: Vec<_> = merged
        .values()
        .map(|c| (c.key.clone(), c.model.clone(), c.priced.output, c.priced.cache_read))
        .collect();
    calls.sort();
    // The totals the host would store: one call per key.
    assert_eq!(totals(&merged).values().map(|(n, _)| n).sum::<u64>(), calls.len() as u64);
    calls
}

#[test]
fn a_call_only_in_progress_lines_counts_once_with_its_final_counts() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), false);
    assert_eq!(
        calls_of(dir.path()),
        [
            ("msg_main".into(), "claude-sonnet-4-5".into(), 100, 0),
            ("msg_sub".into(), "claude-haiku-4-5".into(), 40, 300),
        ]
    );
}

#[test]
fn with_the_subagent_s_own_file_as_well_it_still_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), true);
    assert_eq!(
        calls_of(dir.path()),
        [
            ("msg_main".into(), "claude-sonnet-4-5".into(), 100, 0),
            ("msg_sub".into(), "claude-haiku-4-5".into(), 40, 300),
        ]
    );
}
