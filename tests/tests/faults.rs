//! The fault matrix: what the network, the providers, the processes and bad
//! plugins throw at agent-host, and what must hold afterwards — the run's
//! status and reason, the exit code, and a database that is unchanged or
//! complete (never a partial day, never a duplicate, coverage never ahead of
//! the data).

mod util;

use std::time::{Duration, Instant};

use agent_host_tests::Faults;
use rust_decimal::Decimal;
use util::{children_of, simulator, Home};

/// Runs one plugin over two days and returns (exit code, the run's error).
fn run_with(home: &Home) -> (i32, String) {
    let run = home.run(&[
        "run",
        "--plugin",
        "openai_collector",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-02",
    ]);
    (run.code(), home.text("SELECT error FROM runs ORDER BY rowid DESC LIMIT 1"))
}

fn nothing_stored(home: &Home) -> bool {
    home.count("cost_rows")
        + home.count("usage_rows")
        + home.count("coverage")
        + home.count("results")
        == 0
}

/// The invariants that must hold after any interruption.
fn assert_consistent(home: &Home) {
    // Coverage is never ahead of the data: every complete day has its results row.
    let ahead = home.number(
        "SELECT count(*) FROM coverage c WHERE NOT EXISTS (
            SELECT 1 FROM results r WHERE r.date = c.day AND r.provider =
              CASE c.plugin_name WHEN 'openai_collector' THEN 'OpenAI' ELSE 'Anthropic' END)",
    );
    assert_eq!(ahead, 0, "coverage ahead of the data");
    // Never a partial day: each stored day's total equals the sum of its rows.
    for row in home.rows("SELECT provider, date, cost FROM results", &[]) {
        let [provider, date, cost] = [0, 1, 2].map(|i| row[i].clone().unwrap());
        let id = if provider == "OpenAI" { "openai" } else { "anthropic" };
        let sum: Decimal = home
            .column("SELECT amount FROM cost_rows WHERE provider = ?1 AND day = ?2", &[id, &date])
            .iter()
            .map(|a| a.parse::<Decimal>().unwrap())
            .sum();
        assert_eq!(sum, cost.parse::<Decimal>().unwrap(), "{provider} {date} is partial");
    }
}

#[test]
fn network_and_provider_faults_fail_cleanly() {
    struct Case {
        name: &'static str,
        faults: Faults,
        env: &'static [(&'static str, &'static str)],
        reason: &'static str,
    }
    let cases = [
        Case {
            name: "timeout mid-body",
            faults: Faults { stall_next: 1, ..Default::default() },
            env: &[("AGENT_HTTP_TIMEOUT_SECS", "2")],
            reason: "timed out",
        },
        Case {
            name: "truncated JSON",
            faults: Faults { truncated_next: 1, ..Default::default() },
            env: &[],
            reason: "truncated JSON",
        },
        Case {
            name: "HTML error page",
            faults: Faults { html_next: 100, ..Default::default() },
            env: &[],
            reason: "HTTP 502: <html>",
        },
        Case {
            name: "200 with another shape",
            faults: Faults { wrong_shape_next: 1, ..Default::default() },
            env: &[],
            reason: "unexpected response shape",
        },
        Case {
            name: "endless has_more",
            faults: Faults { endless_cursor: true, ..Default::default() },
            env: &[],
            reason: "pagination did not end after 4 pages",
        },
        Case {
            name: "429 storm",
            faults: Faults { rate_limit_next: 1000, ..Default::default() },
            env: &[("AGENT_HTTP_MAX_WAIT_SECS", "0")],
            reason: "HTTP 429 (rate_limit_error)",
        },
        Case {
            name: "a Retry-After longer than the patience",
            faults: Faults {
                rate_limit_next: 1000,
                retry_after: Some("3600".into()),
                ..Default::default()
            },
            env: &[],
            reason: "HTTP 429 (rate_limit_error)",
        },
        Case {
            name: "5xx",
            faults: Faults { server_error_next: 1000, ..Default::default() },
            env: &[],
            reason: "HTTP 500 (server_error)",
        },
    ];
    for case in cases {
        let sim = simulator();
        sim.set_faults(case.faults.clone());
        let mut home = Home::with_plugins(&["openai_collector"]);
        home.use_simulator(&sim);
        for (k, v) in case.env {
            home.env(k, v);
        }
        let (code, error) = run_with(&home);
        assert_eq!(code, 1, "{}", case.name);
        assert!(error.contains(case.reason), "{}: {error}", case.name);
        assert!(nothing_stored(&home), "{}", case.name);
    }
}

#[test]
fn connection_refused_and_tls_failures_fail_cleanly() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector"]);
    home.use_simulator(&sim).env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
    let (code, error) = run_with(&home);
    assert_eq!(code, 1);
    assert!(error.contains("could not connect") && error.contains("Connection refused"), "{error}");
    // TLS against a server that speaks plain HTTP.
    let tls = sim.openai_url().replace("http://", "https://");
    home.env("OPENAI_BASE_URL", &tls);
    let (code, error) = run_with(&home);
    assert_eq!(code, 1);
    assert!(error.contains("could not connect") || error.contains("request failed"), "{error}");
    assert!(nothing_stored(&home));
}

#[test]
fn workers_killed_at_random_points_never_leave_a_partial_day() {
    let sim = simulator();
    sim.set_faults(Faults { latency_ms: 30, ..Default::default() });
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    // A deterministic spread of kill times, from before the first request to
    // around the commit.
    for (i, delay_ms) in [0u64, 15, 40, 70, 110, 160, 230, 320, 420, 600].iter().enumerate() {
        let mut child = home
            .command(&["run-all", "--from", "2025-05-01", "--to", "2025-07-31"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*delay_ms));
        if i % 2 == 0 {
            // The workers.
            for pid in children_of(child.id()) {
                // SAFETY: signalling a process id read from /proc.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        } else {
            // The host itself, possibly mid-commit.
            let _ = child.kill();
        }
        let _ = child.wait();
        // Orphaned workers end on their own once their pipe is gone.
        std::thread::sleep(Duration::from_millis(50));
        assert_consistent(&home);
    }
    sim.set_faults(Faults::default());
    home.run(&["run-all", "--from", "2025-05-01", "--to", "2025-07-31"]).expect_code(0);
    assert_consistent(&home);
    let day = "2025-06-15".parse().unwrap();
    let (tokens, cost) = sim.expected_day("openai", day);
    let stored = home.text("SELECT tokens || ' ' || cost FROM results WHERE provider = 'OpenAI' AND date = '2025-06-15'");
    assert_eq!(stored, format!("{tokens} {cost}"));
    assert!(
        !home.text("SELECT group_concat(status) FROM runs").contains("running"),
        "interrupted runs are closed"
    );
}

#[test]
fn plugins_returning_bad_records_are_rejected_with_a_reason() {
    let home = Home::with_plugins(&["misbehaving"]);
    // Not a daily plugin: a record cannot cost only its day, so the run
    // stores nothing.
    for (mode, reason) in [
        ("wrong-types", "invalid type: string \"many\", expected u64"),
        ("invalid-date", "\"2025-13-01\" is not a valid date"),
        ("huge", "over the 1048576 byte limit"),
    ] {
        let run = home.run(&["run", "--plugin", "misbehaving", "--param", &format!("mode={mode}")]);
        run.expect_code(1);
        let error = home.text("SELECT error FROM runs ORDER BY rowid DESC LIMIT 1");
        assert!(error.contains(reason), "{mode}: {error}");
        assert!(error.contains("nothing was stored"), "{mode}: {error}");
        assert_eq!(home.count("records") + home.count("cost_rows") + home.count("usage_rows"), 0);
    }
}

#[test]
fn a_hang_does_not_hold_up_the_other_plugins_past_the_timeout() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "misbehaving"]);
    home.use_simulator(&sim).env("MISBEHAVE_MODE", "hang");
    let t0 = Instant::now();
    let run = home.run(&["run-all", "--timeout", "3", "--json"]);
    run.expect_code(1);
    assert!(t0.elapsed() < Duration::from_secs(60));
    let reports = run.json();
    assert!(reports
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["plugin"] == "openai_collector" && r["status"] == "success"));
}
