//! The fixture trees (tests/fixtures/logs/claude) read whole: exact totals
//! per day and model after every pitfall, and which roots are read.

mod common;

use std::path::Path;

use common::{config_dirs, expected, fixture, request, run};
use log_kit::tally::run_totals;
use log_kit::{Counts, Level};

const S1: &str = "9f0c2e4a-5b1d-4c7e-8a2f-3d6b1e0c9a11";

#[test]
fn both_config_dirs_give_the_documented_totals() {
    let (a, b) = (fixture("root-a"), fixture("root-b"));
    let out = run(&config_dirs(&[&a, &b]));
    assert_eq!(run_totals(&out), expected(true, true));
    assert_eq!(out.calls.len(), 9, "copies within a run are merged before they leave");
    // S1, the resumed S2, the subagent, S3: not journal.jsonl, not the .meta.json.
    let bytes = out.counts.bytes_read;
    assert_eq!(out.counts, Counts { files_read: 4, bytes_read: bytes, lines_skipped: 3 });
    assert!(!out.more);
}

#[test]
fn the_default_folders_are_read_when_the_setting_is_unset() {
    let (a, b) = (fixture("root-a"), fixture("root-b"));
    let unset =
        request(&[("$CLAUDE_CONFIG_DIR", &[]), ("~/.claude", &[&a]), ("~/.config/claude", &[&b])]);
    assert_eq!(run_totals(&run(&unset)), expected(true, true));
    let absent = request(&[("~/.claude", &[&a]), ("~/.config/claude", &[&b])]);
    assert_eq!(run_totals(&run(&absent)), expected(true, true));
}

#[test]
fn the_setting_replaces_the_default_folders() {
    let (a, b) = (fixture("root-a"), fixture("root-b"));
    let req =
        request(&[("$CLAUDE_CONFIG_DIR", &[&b]), ("~/.claude", &[&a]), ("~/.config/claude", &[])]);
    assert_eq!(run_totals(&run(&req)), expected(false, true));
}

#[test]
fn a_missing_root_is_logged_not_an_error() {
    let missing = Path::new("/nonexistent/agent-host-test/.claude");
    let mut infos = Vec::new();
    let req = config_dirs(&[missing]);
    let out = claude_code_logs::collect(&req, &mut |level, msg| {
        assert_eq!(level, Level::Info);
        infos.push(msg.to_string());
    })
    .unwrap();
    assert!(out.calls.is_empty() && !out.more);
    assert_eq!(infos.len(), 1);
    assert!(infos[0].contains("/nonexistent/agent-host-test/.claude/projects"), "{infos:?}");
    let nothing = run(&request(&[]));
    assert!(nothing.calls.is_empty());
}

#[test]
fn a_sidechain_replay_and_resumed_copies_count_once_with_the_original_fields() {
    let out = run(&config_dirs(&[&fixture("root-a")]));
    let b = out.calls.iter().find(|c| c.key == "msg_01B").unwrap();
    assert_eq!((b.day.as_str(), b.at.as_deref()), ("2026-11-01", Some("2026-11-01T09:01:00.000Z")));
    assert_eq!(b.session.as_deref(), Some(S1));
    assert_eq!((b.priced.cache_write_1h, b.priced.web_searches), (2000, 2));
    let a = out.calls.iter().find(|c| c.key == "msg_01A").unwrap();
    assert_eq!(a.priced.output, 120, "the last streamed copy is the complete one");
    assert_eq!(a.at.as_deref(), Some("2026-11-01T09:00:04.000Z"), "the resumed file is read first");
}

#[test]
fn payloads_carry_attribution_tier_and_speed() {
    let out = run(&config_dirs(&[&fixture("root-a")]));
    let c = out.calls.iter().find(|c| c.key == "msg_02A").unwrap();
    assert_eq!(
        (c.provider.as_str(), c.source.as_str(), c.account.as_str()),
        ("anthropic", "claude_code", "default")
    );
    assert_eq!(c.project.as_deref(), Some("/home/me/app"));
    assert_eq!(c.session.as_deref(), Some("1b7d3c55-2e8f-4a90-b6c1-7f4d2a8e5b22"));
    assert_eq!((c.service_tier.as_deref(), c.speed.as_deref()), (Some("standard"), Some("fast")));
    let legacy = run(&config_dirs(&[&fixture("root-b")]));
    let keys: Vec<&str> = legacy.calls.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["msg_03A", "req:req_03B"]);
}

#[test]
fn records_and_metadata_are_what_the_host_reads() {
    let out = run(&config_dirs(&[&fixture("root-a"), &fixture("root-b")]));
    let records = out.records();
    assert_eq!(records.len(), 9);
    for (r, c) in records.iter().zip(&out.calls) {
        assert_eq!((r.kind.as_str(), r.key.as_str()), ("call", c.key.as_str()));
        let back: billing_records::CallPayload = serde_json::from_str(&r.payload_json).unwrap();
        assert_eq!(&back, c);
    }
    let meta = out.metadata();
    assert_eq!(meta.state.as_deref(), Some(out.state.as_str()));
    assert_eq!(meta.extra["files_read"], 4);
    assert_eq!(meta.extra["lines_skipped"], 3);
    assert_eq!(meta.extra["calls"], 9);
    assert!(!meta.more);
}
