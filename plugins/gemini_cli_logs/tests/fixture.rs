//! The fixture Gemini home (tests/fixtures/logs/README.md, "Gemini CLI")
//! read whole, then across runs: totals by hand, a second run that reads
//! nothing, appended replies that are exactly the new calls, a replaced
//! file read again without a second copy of any call.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use billing_records::Priced;
use gemini_cli_logs::collect;
use log_kit::tally::{merge, run_totals, totals, Totals};
use log_kit::Outcome;
use plugin_api::RunRequest;

const PROJECT: &str = "9a3f6c1e0b7d4a25c8e1f09b3d6a7c4e2f1b8d0a5c3e7f9b1d2a4c6e8f0b2d4a";
const MAIN: &str = "chats/session-2026-11-01T09-00-5e1f0a2b.jsonl";

/// The fixture Gemini home (what `GEMINI_CLI_HOME` names).
fn home() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.join("../../tests/fixtures/logs/gemini/home").canonicalize().unwrap()
}

/// A request whose `$GEMINI_CLI_HOME` resolved to `homes`.
fn request(homes: &[&Path]) -> RunRequest {
    let granted = homes.iter().map(|h| h.join(".gemini/tmp").display().to_string()).collect();
    let read_paths = BTreeMap::from([
        ("$GEMINI_CLI_HOME/.gemini/tmp".to_string(), granted),
        ("~/.gemini/tmp".to_string(), vec![]),
    ]);
    RunRequest { read_paths, ..RunRequest::default() }
}

fn run(req: &RunRequest) -> Outcome {
    collect(req, &mut |_, _| {}).unwrap()
}

fn next(req: &RunRequest, out: &Outcome) -> RunRequest {
    RunRequest { state: Some(out.state.clone()), ..req.clone() }
}

fn row(
    day: &str,
    model: &str,
    calls: u64,
    [input, output, cache_read, reasoning]: [u64; 4],
) -> ((String, String), (u64, Priced)) {
    let priced = Priced { input, output, cache_read, reasoning, ..Priced::default() };
    ((day.to_string(), model.to_string()), (calls, priced))
}

fn expected() -> Totals {
    Totals::from([
        row("2026-10-30", "gemini-2.5-pro", 1, [500, 50, 0, 0]),
        row("2026-10-30", "unknown", 1, [1000, 10, 0, 0]),
        row("2026-10-31", "gemini-2.5-flash", 1, [1000, 100, 1000, 0]),
        // uncached input (tool prompts included), output (thoughts included), cache read, thoughts
        row("2026-11-01", "gemini-2.5-flash", 1, [3050, 200, 12000, 0]),
        row("2026-11-01", "gemini-2.5-pro", 2, [8000, 1320, 24000, 520]),
        row("2026-11-02", "gemini-2.5-flash-lite", 2, [4000, 110, 0, 0]),
    ])
}

/// A copy of the fixture home in a fresh folder.
fn copy_home(to: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    copy(&home(), to);
    to.join(".gemini/tmp").join(PROJECT).join(MAIN)
}

fn append(path: &Path, text: &str) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

fn reply(id: &str, ts: &str, tokens: &str) -> String {
    format!(
        r#"{{"id":"{id}","timestamp":"{ts}","type":"gemini","content":"ok","thoughts":[],"tokens":{tokens},"model":"gemini-2.5-pro"}}"#
    )
}

#[test]
fn the_fixture_home_gives_the_hand_computed_totals() {
    let out = run(&request(&[&home()]));
    assert_eq!(run_totals(&out), expected());
    assert_eq!(out.calls.len(), 8, "one call per message id");
    assert_eq!((out.counts.files_read, out.counts.lines_skipped), (5, 1));
    assert_eq!(out.extra["legacy_unreadable"], 0);
    assert_eq!(out.extra["model_guessed"], 1);
    assert_eq!(out.extra["model_unknown"], 1);
    assert!(!out.more);
    let sub = out
        .calls
        .iter()
        .find(|c| c.key.ends_with("000000000003") && c.key.starts_with("1b"))
        .unwrap();
    assert_eq!(sub.model, "gemini-2.5-flash-lite", "the latest model named in its file");
    assert_eq!(sub.session.as_deref(), Some("sub-7c9d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f"));
    assert_eq!(sub.project.as_deref(), Some(PROJECT));
    let late = out.calls.iter().find(|c| c.key.ends_with("0006")).unwrap();
    assert_eq!(
        (late.day.as_str(), late.at.as_deref()),
        ("2026-11-01", Some("2026-11-01T23:10:00Z"))
    );
}

#[test]
fn a_second_run_reads_nothing_and_appended_replies_are_the_new_calls() {
    let dir = tempfile::tempdir().unwrap();
    let main = copy_home(dir.path());
    let req = request(&[dir.path()]);
    let first = run(&req);
    let second = run(&next(&req, &first));
    assert!(second.calls.is_empty());
    assert_eq!((second.counts.files_read, second.counts.lines_skipped), (0, 0));
    assert_eq!(second.state, first.state);

    // A reply pushed before its tokens, then with them, then again with a
    // tool call; a copy of an old reply; and a line still being written.
    let tokens = r#"{"input":2000,"output":40,"cached":1500,"thoughts":10,"tool":0,"total":2050}"#;
    let new = reply("0a1b2c3d-0000-4000-8000-0000000000a1", "2026-11-03T08:00:00.000Z", tokens);
    let pending = reply("0a1b2c3d-0000-4000-8000-0000000000a1", "2026-11-03T08:00:00.000Z", "null");
    let old = reply(
        "0a1b2c3d-0000-4000-8000-000000000002",
        "2026-11-01T09:00:15.000Z",
        r#"{"input":12000,"output":300,"cached":8000,"thoughts":120,"tool":0,"total":12420}"#,
    );
    let late = reply("0a1b2c3d-0000-4000-8000-0000000000a2", "2026-11-03T08:01:00.000Z", tokens);
    let (head, tail) = late.split_at(40);
    append(&main, &format!("{pending}\n{new}\n{new}\n{old}\n{head}"));
    let third = run(&next(&req, &second));
    let keys: Vec<&str> = third.calls.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        ["0a1b2c3d-0000-4000-8000-000000000002", "0a1b2c3d-0000-4000-8000-0000000000a1"]
    );
    let call = &third.calls[1];
    let want =
        Priced { input: 500, cache_read: 1500, output: 50, reasoning: 10, ..Priced::default() };
    assert_eq!((call.day.as_str(), call.priced), ("2026-11-03", want));
    assert_eq!(
        call.session.as_deref(),
        Some("5e1f0a2b-7c3d-4e8f-9a1b-2c3d4e5f6a70"),
        "from the state"
    );
    append(&main, &format!("{tail}\n"));
    let fourth = run(&next(&req, &third));
    let keys: Vec<&str> = fourth.calls.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["0a1b2c3d-0000-4000-8000-0000000000a2"]);

    // What the host keeps over all runs: the fixture's calls once, and the two new ones.
    let mut kept = BTreeMap::new();
    for out in [first, second, third, fourth] {
        merge(&mut kept, out.calls);
    }
    assert_eq!(kept.len(), 10);
    let before: u64 = expected().values().map(|(n, _)| n).sum();
    assert_eq!(totals(&kept).values().map(|(n, _)| n).sum::<u64>(), before + 2);
}

#[test]
fn a_rewritten_file_is_read_again_and_its_calls_keep_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let main = copy_home(dir.path());
    let req = request(&[dir.path()]);
    let first = run(&req);
    // Gemini CLI rewrites a session through a temporary file and a rename:
    // a new inode with the same messages.
    let text = fs::read_to_string(&main).unwrap();
    let tmp = main.with_extension("jsonl.tmp-4242");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, &main).unwrap();
    let again = run(&next(&req, &first));
    assert_eq!(again.calls.len(), 3, "the main session's three calls, again");
    let mut kept = BTreeMap::new();
    merge(&mut kept, first.calls);
    merge(&mut kept, again.calls);
    assert_eq!(totals(&kept), expected(), "and still once each");
}

#[test]
fn a_small_budget_spreads_the_same_calls_over_runs() {
    let mut req = request(&[&home()]);
    req.settings.insert("LOG_MAX_BYTES".into(), "600".into());
    let mut kept = BTreeMap::new();
    let mut runs = 0;
    loop {
        let out = run(&req);
        runs += 1;
        let more = out.more;
        req.state = Some(out.state.clone());
        merge(&mut kept, out.calls);
        if !more {
            break;
        }
        assert!(runs < 50, "a run always makes progress");
    }
    assert!(runs > 2, "{runs} runs");
    assert_eq!(totals(&kept), expected());
}
