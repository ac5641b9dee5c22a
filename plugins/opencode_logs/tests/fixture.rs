//! The fixture OpenCode data folder (tests/fixtures/logs/README.md,
//! "OpenCode") as a real SQLite database: read whole, then across runs:
//! totals by hand, a second run that reads nothing, a message whose tokens
//! arrive later, a late commit, rows deleted, budget slices, a live WAL
//! read without writing anything, a replaced database file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use billing_records::{CallPayload, Priced};
use log_kit::tally::{merge, run_totals, totals, Totals};
use log_kit::Outcome;
use opencode_logs::collect;
use plugin_api::RunRequest;
use rusqlite::Connection;

const SQL: &str = include_str!("../../../tests/fixtures/logs/opencode/opencode.sql");

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/logs/opencode/data")
}

/// A copy of the fixture data folder (`XDG_DATA_HOME`) with its database
/// built from the SQL, closed (so checkpointed, without a `-wal`).
fn data_home(to: &Path) -> PathBuf {
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
    copy(&fixture(), to);
    let db = to.join("opencode/opencode.db");
    Connection::open(&db).unwrap().execute_batch(SQL).unwrap();
    db
}

fn request(data: &Path, max_bytes: Option<u64>) -> RunRequest {
    let oc = data.join("opencode");
    let entry = |p: PathBuf| vec![p.display().to_string()];
    let read_paths = BTreeMap::from([
        ("$XDG_DATA_HOME/opencode/opencode.db".to_string(), entry(oc.join("opencode.db"))),
        ("$XDG_DATA_HOME/opencode/storage/message".to_string(), entry(oc.join("storage/message"))),
        ("~/.local/share/opencode/opencode.db".to_string(), vec![]),
        ("~/.local/share/opencode/storage/message".to_string(), vec![]),
    ]);
    let settings = max_bytes
        .map(|n| BTreeMap::from([("LOG_MAX_BYTES".to_string(), n.to_string())]))
        .unwrap_or_default();
    RunRequest { read_paths, settings, ..RunRequest::default() }
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
    [input, output, cache_read, cache_write_5m, reasoning]: [u64; 5],
) -> ((String, String), (u64, Priced)) {
    let priced =
        Priced { input, output, cache_read, cache_write_5m, reasoning, ..Priced::default() };
    ((day.to_string(), model.to_string()), (calls, priced))
}

fn expected() -> Totals {
    Totals::from([
        // a1 (reasoning added to output), a2 (a compaction summary), l2 (legacy)
        row("2026-11-01", "claude-sonnet-4-5", 3, [2130, 860, 5300, 900, 40]),
        row("2026-11-01", "claude-haiku-4-5", 1, [30, 200, 900, 1000, 0]),
        row("2026-11-01", "gemini-2.5-pro", 1, [1000, 150, 4000, 0, 50]),
        // l1: before `total`, OpenAI's output held the reasoning already
        row("2026-11-01", "gpt-5", 1, [700, 500, 600, 0, 448]),
        row("2026-11-01", "github-copilot/claude-sonnet-4.5", 1, [50, 60, 0, 0, 0]),
        row("2026-11-02", "gemini-2.5-pro", 1, [500, 20, 6000, 0, 0]),
        row("2026-11-02", "gpt-5", 1, [800, 406, 1200, 0, 256]),
    ])
}

fn by_key(out: &Outcome) -> BTreeMap<String, CallPayload> {
    out.calls.iter().map(|c| (c.key.clone(), c.clone())).collect()
}

#[test]
fn the_fixture_reads_to_the_expected_totals_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = data_home(dir.path());
    let req = request(dir.path(), None);
    let out = run(&req);
    assert_eq!(run_totals(&out), expected());
    assert_eq!(out.calls.len(), 9, "a1 in the database and in a legacy file counts once");
    assert_eq!(out.counts.lines_skipped, 1, "the row whose data is not JSON");
    assert_eq!(out.extra["rows_read"], 11);
    assert_eq!((out.extra["provider_unpriced"], out.extra["model_unknown"]), (1, 0));
    assert!(!out.more);
    let calls = by_key(&out);
    let a1 = &calls["msg_a1"];
    assert_eq!((a1.provider.as_str(), a1.source.as_str()), ("anthropic", "opencode"));
    assert_eq!(
        (a1.session.as_deref(), a1.project.as_deref()),
        (Some("ses_main"), Some("/home/me/app"))
    );
    assert_eq!(a1.at.as_deref(), Some("2026-11-01T09:00:01.000Z"));
    assert_eq!(calls["msg_c1"].provider, "opencode");
    assert_eq!(calls["msg_g1"].day, "2026-11-01", "23:59:59.900 UTC");
    assert_eq!(calls["msg_l1"].session.as_deref(), Some("ses_old"));
    // Nothing was created beside the database: it was read as immutable.
    for suffix in ["-wal", "-shm", "-journal"] {
        assert!(!opencode_logs::db::companion(&db, suffix).exists(), "{suffix}");
    }
    // The provider records name only the providers of the calls.
    let records = opencode_logs::records(&out);
    let providers: Vec<&str> =
        records.iter().filter(|r| r.kind.as_str() == "provider").map(|r| r.key.as_str()).collect();
    assert_eq!(providers, ["anthropic", "google", "openai", "opencode"]);

    let again = run(&next(&req, &out));
    assert!(again.calls.is_empty(), "{:?}", again.calls);
    assert_eq!((again.extra["rows_read"], again.counts.files_read), (0, 1));
}

#[test]
fn tokens_that_arrive_later_late_commits_and_deleted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = data_home(dir.path());
    let req = request(dir.path(), None);
    let first = run(&req);
    let mut merged = BTreeMap::new();
    merge(&mut merged, first.calls.clone());
    let conn = Connection::open(&db).unwrap();
    // msg_a4 was still streaming; OpenCode writes its usage and restamps it.
    let mark: i64 =
        conn.query_row("SELECT max(time_updated) FROM message", [], |r| r.get(0)).unwrap();
    let data = r#"{"role":"assistant","providerID":"anthropic","modelID":"claude-sonnet-4-5","path":{"cwd":"/home/me/app","root":"/home/me/app"},"time":{"created":1793524400000,"completed":1793524410000},"tokens":{"total":1100,"input":100,"output":1000,"reasoning":0,"cache":{"read":0,"write":0}}}"#;
    conn.execute(
        "UPDATE message SET data = ?1, time_updated = ?2 WHERE id = 'msg_a4'",
        (data, mark + 60_000),
    )
    .unwrap();
    // Stamped before the last run's mark, committed after it.
    let late = data.replace("1793524400000", "1793524500000");
    conn.execute(
        "INSERT INTO message VALUES ('msg_late', 'ses_gpt', ?1, ?1, ?2)",
        (mark - 2_000, &late),
    )
    .unwrap();
    // A session deleted: its rows go, its calls stay stored.
    conn.execute("DELETE FROM message WHERE session_id = 'ses_gem'", []).unwrap();
    drop(conn);
    let second = run(&next(&req, &first));
    let keys: Vec<&str> = second.calls.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["msg_a4", "msg_late"]);
    assert_eq!(second.calls[0].priced.output, 1000);
    merge(&mut merged, second.calls.clone());
    assert_eq!(merged.len(), 11);
    assert!(merged.contains_key("msg_g1") && merged.contains_key("msg_g2"), "history stays");
    let third = run(&next(&req, &second));
    assert!(third.calls.is_empty(), "{:?}", third.calls);
}

#[test]
fn a_small_budget_reads_in_slices_to_the_same_calls() {
    let dir = tempfile::tempdir().unwrap();
    data_home(dir.path());
    let req = request(dir.path(), Some(700));
    let (mut merged, mut state, mut runs) = (BTreeMap::new(), None, 0);
    loop {
        let out = run(&RunRequest { state, ..req.clone() });
        assert!(runs < 30, "every slice makes progress");
        runs += 1;
        merge(&mut merged, out.calls.clone());
        state = Some(out.state.clone());
        if !out.more {
            break;
        }
    }
    assert!(runs > 3, "{runs} runs");
    assert_eq!(totals(&merged), expected());
}

#[test]
fn a_live_wal_is_read_without_writing_and_a_replaced_file_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = data_home(dir.path());
    let req = request(dir.path(), None);
    let first = run(&req);
    // OpenCode running: its connection holds rows only in the WAL.
    let writer = Connection::open(&db).unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    let data = r#"{"role":"assistant","providerID":"openai","modelID":"gpt-5","time":{"created":1793620800000},"tokens":{"total":30,"input":10,"output":20,"reasoning":0,"cache":{"read":0,"write":0}}}"#;
    writer
        .execute(
            "INSERT INTO message VALUES ('msg_wal', 'ses_gpt', 1893620800000, 1893620800000, ?1)",
            [data],
        )
        .unwrap();
    assert!(opencode_logs::db::companion(&db, "-wal").exists());
    let before = fs::read(&db).unwrap();
    let second = run(&next(&req, &first));
    assert_eq!(second.calls.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), ["msg_wal"]);
    assert_eq!(fs::read(&db).unwrap(), before, "the database file is never written");
    drop(writer);

    // The file replaced (a restore, a reinstall): read whole again; the
    // host's merge keeps one copy of each call.
    let copy = dir.path().join("copy.db");
    fs::copy(&db, &copy).unwrap();
    fs::rename(&copy, &db).unwrap();
    let mut logged = Vec::new();
    let third = collect(&next(&req, &second), &mut |_, m| logged.push(m.to_string())).unwrap();
    assert_eq!(third.extra["rows_read"], 12);
    assert!(logged.iter().any(|m| m.contains("a new database file")), "{logged:?}");
}

#[test]
fn a_wal_left_without_its_shm_reads_the_file_alone_and_settles() {
    let dir = tempfile::tempdir().unwrap();
    let db = data_home(dir.path());
    let writer = Connection::open(&db).unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    let data = r#"{"role":"assistant","providerID":"openai","modelID":"gpt-5","time":{"created":1793620800000},"tokens":{"input":10,"output":20}}"#;
    writer
        .execute(
            "INSERT INTO message VALUES ('msg_wal', 'ses_gpt', 1893620800000, 1893620800000, ?1)",
            [data],
        )
        .unwrap();
    // What a killed OpenCode leaves: the database and its WAL, no index.
    let left = dir.path().join("crashed/opencode");
    fs::create_dir_all(&left).unwrap();
    fs::copy(&db, left.join("opencode.db")).unwrap();
    fs::copy(opencode_logs::db::companion(&db, "-wal"), left.join("opencode.db-wal")).unwrap();
    drop(writer);
    let req = request(&dir.path().join("crashed"), None);
    let out = run(&req);
    assert!(!out.more, "no run again and again");
    assert_eq!(out.extra["rows_read"], 11, "the file's rows; the WAL's wait");
    assert!(!left.join("opencode.db-shm").exists());
}

#[test]
fn a_missing_database_is_noted_and_an_unreadable_one_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let req = request(dir.path(), None);
    let mut logged = Vec::new();
    let out = collect(&req, &mut |_, m| logged.push(m.to_string())).unwrap();
    assert!(out.calls.is_empty() && !out.more);
    assert!(logged.iter().any(|m| m.contains("no OpenCode database there")), "{logged:?}");
    // Not a database: a warning, the legacy files still read.
    let data = data_home(dir.path());
    fs::write(&data, "not sqlite").unwrap();
    let mut logged = Vec::new();
    let out = collect(&req, &mut |_, m| logged.push(m.to_string())).unwrap();
    assert!(logged.iter().any(|m| m.contains("cannot be read")), "{logged:?}");
    assert_eq!(out.calls.len(), 3, "the legacy files' calls");
}

#[test]
fn opencode_starting_during_an_immutable_read_keeps_the_mark_and_asks_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = data_home(dir.path());
    let mut opened = None;
    let mut rows = 0;
    // OpenCode opens the database (creating its -wal and -shm) while the
    // file is read without locks.
    let read = opencode_logs::db::read(&db, None, u64::MAX, &mut |_, _| {
        rows += 1;
        if opened.is_none() {
            let c = Connection::open(&db).unwrap();
            c.query_row("SELECT count(*) FROM message", [], |r| r.get::<_, i64>(0)).unwrap();
            opened = Some(c);
        }
    })
    .unwrap();
    assert_eq!(rows, 11, "what was read is kept (keyed, so never twice)");
    assert!(read.more, "asked to run again, through the WAL");
    assert_eq!(read.state.mark, Default::default(), "the mark did not move");
    let again = opencode_logs::db::read(&db, Some(&read.state), u64::MAX, &mut |_, _| {}).unwrap();
    assert!(!again.more);
    assert_eq!(again.rows, 11);
}
