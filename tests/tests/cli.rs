//! The command line as a new user meets it: whole error messages, quiet
//! consoles, readable tables, one row per model, schedules that check
//! before they write.

mod util;

use util::{simulator, Home};

#[test]
fn command_line_errors_are_whole_and_agent_host_alone_prints_help() {
    let home = Home::with_plugins(&[]);
    let missing = home.run(&["summary", "--to", "2026-11-01"]);
    missing.expect_code(2);
    assert!(missing.stderr().contains("--from <YYYY-MM-DD>"), "{}", missing.stderr());
    assert!(missing.stderr().contains("hint: "), "{}", missing.stderr());
    // --from alone runs to yesterday, as `run-all --from` does (issue 24).
    let from = home.run(&["summary", "--from", "2025-08-01", "--json"]);
    from.expect_code(0);
    assert_eq!(from.json()["period"]["to"], "2025-08-31", "AGENT_TODAY is 2025-09-01");

    let values = home.run(&["export", "--format", "xml"]);
    values.expect_code(2);
    assert!(values.stderr().contains("[possible values: csv, json, focus]"), "{}", values.stderr());

    let typo = home.run(&["plugin", "list"]);
    typo.expect_code(2);
    assert!(typo.stderr().contains("a similar subcommand exists: 'plugins'"), "{}", typo.stderr());

    let alone = home.run(&[]);
    alone.expect_code(2);
    let text = format!("{}{}", alone.stdout(), alone.stderr());
    assert!(text.contains("Usage:") && text.contains("run-all"), "{text}");
}

#[test]
fn the_console_is_quiet_unless_asked_and_tables_have_headers() {
    let home = Home::with_plugins(&["misbehaving"]);
    let quiet = home.run(&["run", "--plugin", "misbehaving"]);
    quiet.expect_code(0);
    assert!(!quiet.stderr().contains(" INFO "), "{}", quiet.stderr());
    assert!(quiet.stdout().starts_with("misbehaving"), "{}", quiet.stdout());
    let verbose = home.run(&["run", "--plugin", "misbehaving", "-v"]);
    assert!(verbose.stderr().contains(" INFO "), "{}", verbose.stderr());
    assert!(home.log().contains(" INFO "), "agent.log keeps everything");

    for args in [&["runs"][..], &["plugins", "list"]] {
        let out = home.run(args).stdout();
        let first = out.lines().next().unwrap_or_default();
        assert!(first.starts_with("Started (UTC)") || first.starts_with("Plugin "), "{out}");
        assert!(out.lines().all(|l| l == l.trim_end()), "trailing spaces in {args:?}: {out:?}");
    }
}

#[test]
fn a_summary_by_model_has_one_row_per_model_and_money_in_cents() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-10"]).expect_code(0);
    let doc = home
        .run(&["summary", "--from", "2025-08-01", "--to", "2025-08-10", "--by", "model", "--json"])
        .json();
    let rows = doc["breakdown"].as_array().unwrap();
    let openai: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["provider"] == "OpenAI").collect();
    assert!(!openai.is_empty());
    for r in &openai {
        let key = r["key"].as_str().unwrap();
        assert!(!key.contains(", "), "a line item, not a model: {key}");
    }
    assert!(
        openai
            .iter()
            .any(|r| r["tokens"].as_i64().unwrap() > 0 && r["cost"].as_str().unwrap() != "0.00"),
        "{openai:?}"
    );

    let text = home.run(&["summary", "--since", "2025-08-01", "--until", "2025-08-10", "--daily"]);
    text.expect_code(0);
    let out = text.stdout();
    assert!(out.contains("Day ") && out.contains("2025-08-10"), "{out}");
    // Every money figure on screen has two decimals.
    for line in out.lines().filter(|l| l.trim_start().starts_with("2025-08-")) {
        let cost = line.split_whitespace().nth(1).unwrap_or_default();
        let decimals = cost.rsplit_once('.').map(|(_, d)| d.len());
        assert_eq!(decimals, Some(2), "{line}");
    }
}

#[test]
fn schedules_check_the_system_before_writing_and_are_per_home() {
    let user = tempfile::tempdir().unwrap();
    let mut a = Home::with_plugins(&[]);
    a.env("HOME", user.path().to_str().unwrap());
    let launchd = a.run(&["schedule", "install", "--backend", "launchd"]);
    if cfg!(target_os = "linux") {
        launchd.expect_code(3);
        assert!(launchd.stderr().contains("launchd exists only on macOS"), "{}", launchd.stderr());
        assert!(!user.path().join("Library").exists(), "nothing was written");
    }
    let mut b = Home::with_plugins(&[]);
    b.env("HOME", user.path().to_str().unwrap());
    let unit = |h: &Home| {
        let out = h.run(&["schedule", "install", "--backend", "systemd", "--dry-run"]).stdout();
        out.lines().next().unwrap_or_default().to_string()
    };
    assert!(unit(&a).contains("agent-host-report-"), "{}", unit(&a));
    assert_ne!(unit(&a), unit(&b), "two homes, two units");
    let status = a.run(&["schedule", "status", "--backend", "systemd"]);
    assert_eq!(status.stdout().trim(), "not installed (systemd)");
}
