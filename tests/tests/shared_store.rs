//! A team's store: several machines (homes) on one PostgreSQL database,
//! collecting the same organizations and the same synced log folder at the
//! same time, count every day and every call once and each see all of it;
//! `store migrate` moves a history between engines without changing one
//! export; the store's password shows nowhere. These need a PostgreSQL
//! server whatever the suite's backend (`AGENT_TEST_PG_URL`; `.ci/run`
//! starts one), and fail under `CI=true` without it.

mod util;

use std::process::Stdio;

use chrono::NaiveDate;
use util::{copy_tree, fixtures, pg_required, simulator, Home, PgDatabase};

const FROM: &str = "2026-10-20";
const TO: &str = "2026-11-02";

fn days() -> impl Iterator<Item = NaiveDate> {
    let (from, to): (NaiveDate, NaiveDate) = (FROM.parse().unwrap(), TO.parse().unwrap());
    from.iter_days().take_while(move |d| *d <= to)
}

/// A machine: the collectors against `sim`, the log readers on `logs`,
/// writing into `store` as `machine`.
fn machine(
    sim: &agent_host_tests::Simulator,
    logs: &std::path::Path,
    store: &str,
    name: &str,
) -> Home {
    let mut home = Home::with_plugins(&[
        "openai_collector",
        "anthropic_collector",
        "claude_code_logs",
        "codex_logs",
    ]);
    let claude = logs.join("claude");
    let roots = format!("{},{}", claude.join("root-a").display(), claude.join("root-b").display());
    home.use_simulator(sim)
        .env("AGENT_TODAY", "2026-11-03")
        .env("AGENT_STORE_URL", store)
        .env("AGENT_MACHINE", name)
        .env("HOME", &logs.join("nobody").display().to_string())
        .env("CLAUDE_CONFIG_DIR", &roots)
        .env("CODEX_HOME", &logs.join("codex/home").display().to_string());
    home
}

#[test]
fn two_machines_on_one_store_count_every_day_and_call_once_and_each_see_all() {
    let Some(server) = pg_required("two_machines_on_one_store") else { return };
    let shared = PgDatabase::create(&server);
    let sim = simulator();
    // One log folder both machines read, as a synced folder would be.
    let logs = tempfile::tempdir().unwrap();
    copy_tree(&fixtures(), logs.path());
    let homes = [
        machine(&sim, logs.path(), &shared.url(), "laptop"),
        machine(&sim, logs.path(), &shared.url(), "desktop"),
    ];
    // Both at once: a job one machine holds, the other skips.
    let children: Vec<_> = homes
        .iter()
        .map(|h| {
            h.command(&["run-all", "--from", FROM, "--to", TO])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains(" failed "), "{text}");
    }
    // Then each once more, one after the other: whatever one skipped, it
    // now collects; nothing may grow.
    for h in &homes {
        h.run(&["run-all", "--from", FROM, "--to", TO]).expect_code(0);
    }
    for (id, name) in [("openai", "OpenAI"), ("anthropic", "Anthropic")] {
        for d in days() {
            let (tokens, cost) = sim.expected_day(id, d);
            let stored = shared.rows(&format!(
                "SELECT tokens, cost FROM results WHERE provider = '{name}' AND date = '{d}'"
            ));
            assert_eq!(stored.len(), 1, "{name} {d}");
            assert_eq!(stored[0][0].as_deref(), Some(tokens.to_string().as_str()), "{name} {d}");
            assert_eq!(stored[0][1].as_deref(), Some(cost.as_str()), "{name} {d}");
        }
    }
    // The synced logs' calls, once: 9 Claude Code and 9 Codex calls.
    assert_eq!(shared.rows("SELECT count(*) FROM calls")[0][0].as_deref(), Some("18"));
    let sums = shared.rows("SELECT sum(calls) FROM call_days UNION ALL SELECT count(*) FROM calls");
    assert_eq!(sums[0][0], sums[1][0], "the kept sums count each call once");
    // Both machines ran; each sees the same whole picture.
    let machines = shared.rows("SELECT DISTINCT machine FROM runs ORDER BY 1");
    assert_eq!(machines, [[Some("desktop".to_string())], [Some("laptop".to_string())]]);
    let views: Vec<String> = homes
        .iter()
        .map(|h| h.run(&["summary", "--from", FROM, "--to", TO, "--json"]).expect_code(0).stdout())
        .collect();
    assert_eq!(views[0], views[1]);
    let s: serde_json::Value = serde_json::from_str(&views[0]).unwrap();
    assert_eq!(s["estimated"]["calls"], 18, "{s}");
    // Per machine: every call under the machine that read it first, and
    // both machines' runs.
    let m = homes[0]
        .run(&[
            "summary",
            "--from",
            "2025-01-01",
            "--to",
            "2027-01-01",
            "--by",
            "machine",
            "--json",
        ])
        .expect_code(0)
        .json();
    let lines = m["machines"].as_array().unwrap();
    let names: Vec<&str> = lines.iter().map(|l| l["machine"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{m}");
    assert!(names.contains(&"laptop") && names.contains(&"desktop"), "{m}");
    let calls: u64 = lines.iter().map(|l| l["calls"].as_u64().unwrap()).sum();
    assert_eq!(calls, 18, "{m}");
    assert!(lines.iter().all(|l| l["runs"].as_i64().unwrap() > 0), "{m}");
    let text = homes[1].run(&["summary", "--by", "machine", "--from", FROM, "--to", TO]);
    assert!(text.expect_code(0).stdout().contains("NOT billed"));
    let exports: Vec<String> =
        homes.iter().map(|h| h.run(&["export", "--from", FROM, "--to", TO]).stdout()).collect();
    assert_eq!(exports[0], exports[1]);
    for h in &homes {
        let missing = h.run(&["runs", "--missing", "--json"]).expect_code(0).json();
        assert_eq!(missing, serde_json::json!([]), "no day left missing");
    }
}

/// Every view an accountant or a script reads, as text.
fn exports(home: &Home) -> Vec<String> {
    let range = ["--from", "2025-08-01", "--to", "2025-08-31"];
    let mut out = Vec::new();
    for args in [
        &["export"][..],
        &["export", "--detail"],
        &["export", "--format", "focus"],
        &["export", "--format", "json"],
        &["summary", "--json", "--by", "model"],
        &["summary", "--json", "--daily"],
    ] {
        let mut a = args.to_vec();
        a.extend(range);
        out.push(home.run(&a).expect_code(0).stdout());
    }
    out.push(home.run(&["runs", "--json"]).expect_code(0).stdout());
    out
}

#[test]
fn store_migrate_round_trip_keeps_every_export_identical() {
    let Some(server) = pg_required("store_migrate_round_trip") else { return };
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim).unset("AGENT_STORE_URL");
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-31"]).expect_code(0);
    let before = exports(&home);

    // SQLite into PostgreSQL.
    let pg = PgDatabase::create(&server);
    let moved = home.run(&["store", "migrate", "--to", &pg.url()]).expect_code(0).stdout();
    assert!(moved.contains("verified"), "{moved}");
    home.env("AGENT_STORE_URL", &pg.url());
    assert_eq!(exports(&home), before, "PostgreSQL shows what SQLite showed");

    // And back, into a new SQLite file.
    let back = tempfile::tempdir().unwrap();
    let file = format!("sqlite:{}", back.path().join("back.db").display());
    home.run(&["store", "migrate", "--to", &file]).expect_code(0);
    home.env("AGENT_STORE_URL", &file);
    assert_eq!(exports(&home), before, "back in SQLite, the same again");

    // A target with history is refused, and appending the same history
    // again is refused with nothing written.
    let rows = pg.rows("SELECT count(*) FROM cost_rows");
    let refused = home.run(&["store", "migrate", "--to", &pg.url()]);
    refused.expect_code(4);
    assert!(refused.stderr().contains("already holds history"), "{}", refused.stderr());
    let twice = home.run(&["store", "migrate", "--to", &pg.url(), "--append"]);
    twice.expect_code(4);
    assert!(twice.stderr().contains("in the target already"), "{}", twice.stderr());
    assert_eq!(pg.rows("SELECT count(*) FROM cost_rows"), rows);
}

#[test]
fn the_store_password_appears_in_no_output_log_row_or_export() {
    let Some(server) = pg_required("the_store_password") else { return };
    const PASSWORD: &str = "Pw-7c1e-store-secret";
    let db = PgDatabase::create(&server);
    let role = format!("agent_{}", std::process::id());
    let admin = PgDatabase::admin(&server);
    admin.exec(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}';
         ALTER DATABASE {} OWNER TO {role}",
        db.name()
    ));
    let url = db.url().replacen("://", &format!("://{role}:{PASSWORD}@"), 1);
    let url = url.replacen(&format!("@{}@", server_user(&server)), "@", 1);
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim).env("AGENT_STORE_URL", &url);
    let mut seen = Vec::new();
    for args in [
        &["run-all", "--from", "2025-08-01", "--to", "2025-08-03"][..],
        &["summary", "--json"],
        &["export", "--from", "2025-08-01", "--to", "2025-08-03"],
        &["runs", "--json"],
        &["doctor"],
        &["home"],
    ] {
        let run = home.run(args);
        seen.push(run.stdout());
        seen.push(run.stderr());
    }
    // A server that refuses the login, and one that is not there.
    for bad in [
        url.replacen(&role, "nobody_here", 1),
        format!("postgres://{role}:{PASSWORD}@127.0.0.1:1/nothing"),
        url.replacen("127.0.0.1", "192.0.2.1", 1) + "?sslmode=disable",
    ] {
        home.env("AGENT_STORE_URL", &bad);
        let run = home.run(&["summary"]);
        assert_ne!(run.code(), 0, "{bad}");
        assert!(
            run.stderr().contains("***") || run.stderr().contains("nobody_here"),
            "{}",
            run.stderr()
        );
        seen.push(run.stdout());
        seen.push(run.stderr());
    }
    seen.push(home.log());
    for table in db.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
    ) {
        let table = table[0].clone().unwrap();
        for row in db.rows(&format!("SELECT * FROM {table}")) {
            seen.extend(row.into_iter().flatten());
        }
    }
    for text in seen {
        assert!(!text.contains(PASSWORD), "the store's password leaked:\n{text}");
    }
    drop(db);
    admin.exec(&format!("DROP ROLE IF EXISTS {role}"));
}

/// The user part of the server's URL (`postgres` in `postgres://postgres@…`).
fn server_user(server: &str) -> String {
    let rest = server.split_once("://").map_or(server, |(_, r)| r);
    rest.split(['@', ':']).next().unwrap_or_default().to_string()
}
