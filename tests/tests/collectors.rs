//! The collectors against the simulator, end to end: exact per-day totals,
//! idempotent re-runs, retries, failures stored as data, healed history and
//! revisions.

mod util;

use chrono::{Days, NaiveDate};
use util::{simulator, Home};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn stored_day(home: &Home, provider: &str, d: NaiveDate) -> (u64, String) {
    let rows = home.rows(
        "SELECT tokens, cost FROM results WHERE provider = ?1 AND date = ?2",
        &[provider, &d.to_string()],
    );
    let row = rows.first().unwrap_or_else(|| panic!("no results row for {provider} {d}"));
    (row[0].as_deref().unwrap().parse().unwrap(), row[1].clone().unwrap())
}

#[test]
fn per_day_totals_equal_the_providers_to_the_last_digit() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all", "--from", "2025-06-01", "--to", "2025-07-20"]).expect_code(0);
    let mut checked = 0;
    for d in day("2025-06-01").iter_days().take_while(|d| *d <= day("2025-07-20")) {
        for (provider, display) in [("openai", "OpenAI"), ("anthropic", "Anthropic")] {
            let expected = sim.expected_day(provider, d);
            assert_eq!(stored_day(&home, display, d), expected, "{provider} {d}");
            checked += 1;
        }
    }
    assert_eq!(checked, 100);
    // Quiet days are stored as zero days, not missing ones.
    assert_eq!(
        home.text("SELECT cost FROM results WHERE provider = 'OpenAI' AND tokens = 0 LIMIT 1"),
        "0"
    );
    // Amounts stay exact decimals: text in SQLite, NUMERIC in PostgreSQL;
    // no float ever touched them.
    let non_text = if home.is_postgres() {
        home.number(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'cost_rows'
               AND column_name = 'amount' AND data_type != 'numeric'",
        )
    } else {
        home.number("SELECT count(*) FROM cost_rows WHERE typeof(amount) != 'text'")
    };
    assert_eq!(non_text, 0);
}

#[test]
fn five_runs_in_a_row_leave_the_same_rows() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    let mut counts = Vec::new();
    for _ in 0..5 {
        home.run(&["run-all"]).expect_code(0);
        counts.push((
            home.count("cost_rows"),
            home.count("usage_rows"),
            home.count("results"),
            home.count("revisions"),
        ));
    }
    assert!(counts[0].0 > 0);
    assert!(counts.windows(2).all(|w| w[0] == w[1]), "{counts:?}");
    // First run: the last 30 days; later runs re-pull only the trailing window.
    let windows = home.text("SELECT group_concat(window_from || '..' || window_to, ' ') FROM runs WHERE plugin_name = 'openai_collector'");
    assert_eq!(
        windows,
        "2025-08-02..2025-08-31 2025-08-29..2025-08-31 2025-08-29..2025-08-31 2025-08-29..2025-08-31 2025-08-29..2025-08-31"
    );
    assert!(home.log().contains("already complete; skipped (outside the 3-day re-pull window)"));
}

#[test]
fn missing_days_since_the_last_run_are_filled() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all"]).expect_code(0);
    home.env("AGENT_TODAY", "2025-09-11");
    home.run(&["run-all"]).expect_code(0);
    let last =
        home.text("SELECT window_from || '..' || window_to FROM runs ORDER BY rowid DESC LIMIT 1");
    // The gap, plus the last three days that were already complete.
    assert_eq!(last, "2025-08-29..2025-09-10");
    assert_eq!(home.count("coverage"), 40);
}

#[test]
fn a_429_then_success_completes() {
    let sim = simulator();
    sim.set_faults(agent_host_tests::Faults { rate_limit_next: 2, ..Default::default() });
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-05"]).expect_code(0);
    assert!(home.log().contains("HTTP 429 from"), "{}", home.log());
    assert_eq!(
        stored_day(&home, "OpenAI", day("2025-08-01")),
        sim.expected_day("openai", day("2025-08-01"))
    );
}

#[test]
fn a_529_storm_beyond_the_patience_fails_cleanly() {
    let sim = simulator();
    sim.set_faults(agent_host_tests::Faults {
        server_error_next: 1000,
        only_path: Some("organizations".into()),
        ..Default::default()
    });
    let mut home = Home::with_plugins(&["anthropic_collector"]);
    home.use_simulator(&sim);
    // Anthropic's 529 (overloaded) is waited out like a 429, for as long as
    // the patience lasts: one second here.
    home.env("AGENT_HTTP_MAX_WAIT_SECS", "1");
    home.run(&[
        "run",
        "--plugin",
        "anthropic_collector",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-02",
    ])
    .expect_code(1);
    let error = home.text("SELECT error FROM runs");
    assert!(error.contains("HTTP 529 (overloaded_error): Overloaded"), "{error}");
    assert_eq!(home.count("cost_rows") + home.count("coverage"), 0);
}

#[test]
fn one_provider_down_leaves_the_others_data_intact() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-03"]).expect_code(0);
    let before = home.text("SELECT group_concat(cost) FROM results WHERE provider = 'Anthropic'");
    // Nothing listens on port 9 of this machine.
    home.env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9");
    let run = home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-03", "--json"]);
    run.expect_code(1);
    let reports = run.json();
    let anthropic =
        reports.as_array().unwrap().iter().find(|r| r["plugin"] == "anthropic_collector").unwrap();
    assert_eq!(anthropic["status"], "failed");
    assert!(anthropic["error"].as_str().unwrap().contains("could not connect"), "{anthropic}");
    assert_eq!(
        home.text("SELECT group_concat(cost) FROM results WHERE provider = 'Anthropic'"),
        before
    );
    assert!(reports
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["plugin"] == "openai_collector" && r["status"] == "success"));
}

#[test]
fn an_invalid_key_fails_at_once_with_the_providers_message() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector"]);
    home.use_simulator(&sim).env("OPENAI_ADMIN_KEY", "sk-admin-wrong-key-000000");
    home.run(&["run", "--plugin", "openai_collector"]).expect_code(1);
    let error = home.text("SELECT error FROM runs");
    assert!(
        error.contains("HTTP 401 (invalid_request_error): Incorrect API key provided"),
        "{error}"
    );
    assert!(!error.contains("sk-admin-wrong-key-000000"));
    assert!(sim.requests() <= 11, "401 is not retried: {}", sim.requests());
}

#[test]
fn malformed_truncated_or_html_answers_store_nothing() {
    for faults in [
        agent_host_tests::Faults { truncated_next: 1, ..Default::default() },
        // A 502 is retried, so only a persistent HTML error page fails the run.
        agent_host_tests::Faults { html_next: 1000, ..Default::default() },
        agent_host_tests::Faults { wrong_shape_next: 1, ..Default::default() },
        agent_host_tests::Faults { endless_cursor: true, ..Default::default() },
    ] {
        let sim = simulator();
        sim.set_faults(faults.clone());
        let mut home = Home::with_plugins(&["openai_collector"]);
        home.use_simulator(&sim);
        home.run(&[
            "run",
            "--plugin",
            "openai_collector",
            "--from",
            "2025-08-01",
            "--to",
            "2025-08-02",
        ])
        .expect_code(1);
        let error = home.text("SELECT error FROM runs");
        let expected = if faults.truncated_next > 0 {
            "truncated JSON"
        } else if faults.html_next > 0 {
            "HTTP 502"
        } else if faults.wrong_shape_next > 0 {
            "unexpected response shape"
        } else {
            "pagination did not end"
        };
        assert!(error.contains(expected), "{faults:?}: {error}");
        assert_eq!(home.count("cost_rows") + home.count("usage_rows") + home.count("coverage"), 0);
    }
}

#[test]
fn a_revised_day_is_updated_and_its_revision_recorded() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all"]).expect_code(0);
    let revised = day("2025-08-30");
    let before = stored_day(&home, "OpenAI", revised);
    sim.revise(revised);
    home.run(&["run-all"]).expect_code(0);
    let after = stored_day(&home, "OpenAI", revised);
    assert_ne!(before, after);
    assert_eq!(after, sim.expected_day("openai", revised));
    assert_eq!(stored_day(&home, "Anthropic", revised), sim.expected_day("anthropic", revised));
    let revisions = home.count("revisions");
    assert!(revisions >= 4, "cost and usage values of both providers changed: {revisions}");
    let other_days = home.number("SELECT count(*) FROM revisions WHERE day != '2025-08-30'");
    assert_eq!(other_days, 0, "only the revised day changed");
    let tables = home.column("SELECT DISTINCT table_name FROM revisions", &[]).join(",");
    assert!(tables.contains("cost_rows") && tables.contains("usage_rows"), "{tables}");
    let row = home.rows(
        "SELECT old_value, new_value FROM revisions WHERE table_name = 'cost_rows' AND natural_key LIKE 'openai|%' LIMIT 1",
        &[],
    );
    let (old, new) = (row[0][0].clone().unwrap(), row[0][1].clone().unwrap());
    assert!(
        new.parse::<rust_decimal::Decimal>().unwrap()
            > old.parse::<rust_decimal::Decimal>().unwrap()
    );
    assert!(home.log().contains("revised cost_rows 2025-08-30"));
    // A day outside the re-pull window is not revisited by a plain run.
    sim.revise(revised - Days::new(10));
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("revisions"), revisions);
}

#[test]
fn a_provider_without_a_key_is_skipped_with_a_warning() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim).unset("ANTHROPIC_ADMIN_KEY");
    let run = home.run(&["run-all"]);
    run.expect_code(0);
    let env_file = home.path().join(".env");
    let expected = format!("set ANTHROPIC_ADMIN_KEY in {} or the environment", env_file.display());
    assert!(run.stdout().contains(&expected), "{}", run.stdout());
    assert!(run.stdout().contains("console.anthropic.com"), "{}", run.stdout());
    assert!(run.stdout().contains("ANTHROPIC_API_KEY also works"), "{}", run.stdout());
    assert_eq!(
        home.text("SELECT status FROM runs WHERE plugin_name = 'anthropic_collector'"),
        "skipped"
    );
    let single = home.run(&["run", "--plugin", "anthropic_collector"]);
    single.expect_code(3);
}

#[test]
fn a_plain_api_key_is_used_with_a_warning() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector"]);
    home.use_simulator(&sim)
        .unset("OPENAI_ADMIN_KEY")
        .env("OPENAI_API_KEY", agent_host_tests::OPENAI_KEY);
    home.run(&[
        "run",
        "--plugin",
        "openai_collector",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-01",
    ])
    .expect_code(0);
    assert!(home.log().contains("the usage and cost endpoints need an admin key"));
    // Asking for the unset admin key first is not a refusal.
    assert!(!home.log().contains("refused secret"), "{}", home.log());
}

#[test]
fn backfills_use_the_fewest_requests_the_page_limits_allow() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim).env("AGENT_TODAY", "2026-01-15");
    home.run(&["run-all", "--from", "2025-01-01", "--to", "2025-12-31"]).expect_code(0);
    // A year is four runs of at most 92 days (92 = 31 + 31 + 30): OpenAI
    // costs one request per run, ten usage endpoints × 3 per run.
    assert_eq!(sim.requests_to("/v1/organization/"), 4 + 10 * 12);
    // Anthropic: two reports × 3 per run.
    assert_eq!(sim.requests_to("/v1/organizations/"), 2 * 12);
    assert_eq!(home.count("coverage"), 2 * 365);
}
