//! OpenCode end to end: the real `opencode_logs` plugin reads a real
//! `opencode.db` (built from `tests/fixtures/logs/opencode`) under a fake
//! HOME, inside the sandbox: while OpenCode holds it open in WAL mode (its
//! `-shm` not writable by the plugin) and after it closed, counting each
//! call once across runs, priced exactly, unknown providers unpriced.

mod util;

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use util::{copy_tree, fixtures, Home};

const SQL: &str = include_str!("../fixtures/logs/opencode/opencode.sql");

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|_| panic!("{s:?} is not a decimal"))
}

// The fixture's calls priced by hand from genai-prices 47df840a (USD per
// million tokens: input, output, cache read, 5-minute write); counts in
// tests/fixtures/logs/README.md ("OpenCode").
//
// 2026-11-01 claude-sonnet-4-5 (3, 15, 0.3, 3.75): 2130*3 + 860*15 + 5300*0.3 + 900*3.75 = 24255
// 2026-11-01 claude-haiku-4-5 (1, 5, 0.1, 1.25): 30*1 + 200*5 + 900*0.1 + 1000*1.25 = 2370
const ANTHROPIC: &str = "0.026625";
// 2026-11-01 gemini-2.5-pro (1.25, 10, 0.125): 1000*1.25 + 150*10 + 4000*0.125 = 3250
// 2026-11-02 gemini-2.5-pro: 500*1.25 + 20*10 + 6000*0.125 = 1575
const GOOGLE: &str = "0.004825";
// 2026-11-01 gpt-5 (1.25, 10, 0.125): 700*1.25 + 500*10 + 600*0.125 = 5950
// 2026-11-02 gpt-5: 800*1.25 + 406*10 + 1200*0.125 = 5210
const OPENAI: &str = "0.01116";
// The row only in the WAL (2026-11-02, gpt-5): 1000*1.25 + 100*10 = 2250
const OPENAI_WAL: &str = "0.00225";

/// A fake user home holding OpenCode's data folder, its database built from
/// the fixture and left in WAL mode, and a home with the plugin installed.
fn opencode_home() -> (Home, tempfile::TempDir, PathBuf) {
    let user = tempfile::tempdir().unwrap();
    let data = user.path().join(".local/share");
    copy_tree(&fixtures().join("opencode/data"), &data);
    let db = data.join("opencode/opencode.db");
    rusqlite::Connection::open(&db).unwrap().execute_batch(SQL).unwrap();
    let mut home = Home::with_plugins(&["opencode_logs"]);
    home.env("AGENT_TODAY", "2026-11-03").env("HOME", user.path().to_str().unwrap());
    (home, user, db)
}

fn estimated(summary: &serde_json::Value, provider: &str) -> Option<Decimal> {
    let providers = summary["estimated"]["providers"].as_array().expect("an estimate");
    let p = providers.iter().find(|p| p["provider"] == provider).expect(provider);
    p["cost"].as_str().map(dec)
}

fn summary(home: &Home) -> serde_json::Value {
    home.run(&["summary", "--from", "2026-11-01", "--to", "2026-11-02", "--json"])
        .expect_code(0)
        .json()
}

fn exists(db: &Path, suffix: &str) -> bool {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name).exists()
}

#[test]
fn a_live_and_a_closed_database_are_read_in_the_sandbox_each_call_once() {
    let (home, user, db) = opencode_home();
    // OpenCode is running: its connection keeps a row in the WAL only.
    let writer = rusqlite::Connection::open(&db).unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    let data = r#"{"role":"assistant","providerID":"openai","modelID":"gpt-5","path":{"cwd":"/home/me/app","root":"/home/me/app"},"time":{"created":1793620800000},"tokens":{"total":1100,"input":1000,"output":100,"reasoning":0,"cache":{"read":0,"write":0}}}"#;
    writer
        .execute(
            "INSERT INTO message VALUES ('msg_wal', 'ses_gpt', 1793620800000, 1793620800000, ?1)",
            [data],
        )
        .unwrap();
    assert!(exists(&db, "-wal") && exists(&db, "-shm"));
    let before = std::fs::read(&db).unwrap();

    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("calls"), 10, "9 fixture calls and the one in the WAL");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database is never written");
    let s = summary(&home);
    assert_eq!(estimated(&s, "Anthropic"), Some(dec(ANTHROPIC)));
    assert_eq!(estimated(&s, "Google"), Some(dec(GOOGLE)));
    assert_eq!(estimated(&s, "OpenAI"), Some(dec(OPENAI) + dec(OPENAI_WAL)));
    // GitHub Copilot's call: unpriced, said so, never priced as $0.
    let other = s["estimated"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "OpenCode");
    let other = other.expect("the provider named");
    assert_eq!(other["unpriced_tokens"], 110, "{other}");
    assert!(other["unpriced"].to_string().contains("github-copilot/claude-sonnet-4.5"), "{other}");
    assert_eq!(s["estimated"]["calls"], 10);
    let text = home.run(&["summary", "--from", "2026-11-01", "--to", "2026-11-02"]).stdout();
    assert!(text.contains("Estimated from local logs (NOT billed"), "{text}");

    // Again while OpenCode runs: nothing new.
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("calls"), 10);
    // OpenCode quits (checkpoint, no more WAL); a message arrives later and
    // one session is deleted: read through the immutable file, kept for good.
    drop(writer);
    assert!(!exists(&db, "-wal"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let late = data.replace("1000", "2000").replace("1100", "2100");
    conn.execute(
        "INSERT INTO message VALUES ('msg_next', 'ses_gpt', 1793620900000, 1793620900000, ?1)",
        [late],
    )
    .unwrap();
    conn.execute("DELETE FROM message WHERE session_id = 'ses_gem'", []).unwrap();
    drop(conn);
    assert!(!exists(&db, "-wal"));
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("calls"), 11);
    let after = summary(&home);
    assert_eq!(estimated(&after, "Google"), Some(dec(GOOGLE)), "deleted rows stay counted");
    // 2000*1.25 + 100*10 = 3500 more.
    let openai = dec(OPENAI) + dec(OPENAI_WAL) + dec("0.0035");
    assert_eq!(estimated(&after, "OpenAI"), Some(openai));
    for suffix in ["-wal", "-shm", "-journal"] {
        assert!(!exists(&db, suffix), "the plugin created {suffix}");
    }
    // Each call's folder and session, by project.
    let by = home
        .run(&[
            "summary",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02",
            "--by",
            "project",
            "--json",
        ])
        .expect_code(0)
        .json();
    let keys = by["estimated"]["breakdown"].to_string();
    assert!(keys.contains("/home/me/app") && keys.contains("/home/me/old"), "{keys}");
    // The credentials beside the database are never in anything stored.
    let secret = "fixture-auth-json-must-stay-unread";
    assert!(std::fs::read_to_string(user.path().join(".local/share/opencode/auth.json"))
        .unwrap()
        .contains(secret));
    let runs = home.run(&["runs", "--json"]).expect_code(0).stdout();
    assert!(!runs.contains(secret) && !home.log().contains(secret));
}

#[test]
fn xdg_data_home_is_where_opencode_keeps_its_data() {
    let (mut home, user, _db) = opencode_home();
    let moved = tempfile::tempdir().unwrap();
    std::fs::rename(user.path().join(".local/share/opencode"), moved.path().join("opencode"))
        .unwrap();
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("calls"), 0, "nothing in the default folder any more");
    home.env("XDG_DATA_HOME", moved.path().to_str().unwrap());
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("calls"), 9);
}

#[test]
fn a_plugin_granted_the_database_files_cannot_read_auth_json_beside_them() {
    // The hostile plugin patched to ask for exactly opencode_logs' database
    // files, granted, then told to read and write around them.
    let (home, user, db) = opencode_home();
    let writer = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = writer.query_row("SELECT count(*) FROM message", [], |r| r.get(0)).unwrap();
    assert!(rows > 0 && exists(&db, "-shm"), "OpenCode is running");
    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("libhostile.so");
    util::patched_hostile(&file, "opencode");
    home.run(&["plugins", "install", file.to_str().unwrap()]).expect_code(0);
    let folder = user.path().join(".local/share/opencode");
    let attack = |name: &str, target: &Path| -> String {
        let target = format!("target={}", target.display());
        home.run(&[
            "run",
            "--plugin",
            "hostile",
            "--param",
            &format!("attack={name}"),
            "--param",
            &target,
        ])
        .expect_code(0);
        let payload = home
            .text(&format!("SELECT payload FROM records WHERE kind = 'probe' AND key = '{name}'"));
        let v: serde_json::Value = serde_json::from_str(&payload).expect("a probe record");
        v["outcome"].as_str().unwrap_or_default().to_string()
    };
    assert!(attack("read", &db).starts_with("READ"), "the database is granted");
    assert!(attack("read", &folder.join("opencode.db-shm")).starts_with("READ"));
    for target in ["auth.json", "storage/message/ses_old/msg_l1.json", "."] {
        let outcome = attack("read", &folder.join(target));
        assert!(outcome.starts_with("denied"), "{target}: {outcome}");
    }
    // Nor may it write the -shm a WAL reader would normally write.
    let outcome = attack("write", &folder.join("opencode.db-shm"));
    assert!(outcome.starts_with("denied"), "{outcome}");
}
