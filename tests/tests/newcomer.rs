//! What a new user tripped over (issue 24), pinned: providers and plugins
//! named by id or display name in any case, unknown ones refused with the
//! list (exit 2), and the outputs that changed, as snapshots.

mod util;

use util::{simulator, Home};

/// A home with ten days of August 2025 from the simulator.
fn collected(sim: &agent_host_tests::Simulator) -> Home {
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(sim);
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-10"]).expect_code(0);
    home
}

// See: issue 24, point 2.
#[test]
fn providers_are_named_by_id_or_name_in_any_case_and_unknown_ones_exit_2() {
    let sim = simulator();
    let home = collected(&sim);
    let period = ["--from", "2025-08-01", "--to", "2025-08-10"];
    let by_name = home.run(&[&["summary", "--json", "--provider", "OpenAI"][..], &period].concat());
    by_name.expect_code(0);
    for spelling in ["openai", "OPENAI", "openAI"] {
        let other =
            home.run(&[&["summary", "--json", "--provider", spelling][..], &period].concat());
        other.expect_code(0);
        assert_eq!(other.json(), by_name.json(), "{spelling}");
    }
    assert_ne!(by_name.json()["total_cost"], serde_json::json!("0"));

    let unknown = home.run(&[&["summary", "--provider", "Foo"][..], &period].concat());
    unknown.expect_code(2);
    insta::assert_snapshot!("unknown_provider", unknown.stderr());
    let html = home.path().join("r.html");
    let report =
        home.run(&["report", "html", "--provider", "nope", "--out", html.to_str().unwrap()]);
    report.expect_code(2);
    assert!(report.stderr().contains("unknown provider \"nope\"; known: "), "{}", report.stderr());
    assert!(!html.exists());

    let prices = home.run(&["prices", "--model", "gpt-4o", "--provider", "OpenAI"]);
    prices.expect_code(0);
    let prices = home.run(&["prices", "--model", "gpt-4o", "--provider", "Nope"]);
    prices.expect_code(2);
    assert!(
        prices.stderr().contains("unknown provider \"Nope\"; the price table has: ")
            && prices.stderr().contains("openai"),
        "{}",
        prices.stderr()
    );
}

// See: issue 24, point 11.
#[test]
fn records_of_an_unknown_plugin_exit_2_with_the_list() {
    let home = Home::with_plugins(&["misbehaving"]);
    let run = home.run(&["records", "--plugin", "nosuch"]);
    run.expect_code(2);
    insta::assert_snapshot!("records_unknown_plugin", run.stderr());
    // Installed but without records yet: not an error.
    let none = home.run(&["records", "--plugin", "misbehaving"]);
    none.expect_code(0);
    assert!(none.stdout().contains("no records of misbehaving"), "{}", none.stdout());
}

// See: issue 24, point 12.
#[test]
fn env_values_are_literal_and_an_empty_one_is_an_error_naming_its_line() {
    let sim = simulator();
    let sink = agent_host_tests::WebhookSink::start().unwrap();
    let home = collected(&sim);
    let env = home.path().join(".env");
    // A `$` in a value stays a `$`: the webhook is reached at the path as written.
    let url = sink.url("/hook/pa$$word$HOME");
    std::fs::write(&env, format!("MONTHLY_BUDGET_USD=1\nALERT_WEBHOOK_URL='{url}'\n")).unwrap();
    home.run(&["alerts"]).expect_code(0);
    let got = sink.received();
    assert!(!got.is_empty() && got.iter().all(|(p, _)| p == "/hook/pa$$word$HOME"), "{got:?}");

    std::fs::write(&env, "OPENAI_ADMIN_KEY=sk-admin-x\nMONTHLY_BUDGET_USD=\n").unwrap();
    let run = home.run(&["summary"]);
    run.expect_code(3);
    let shown = run.stderr().replace(&env.display().to_string(), "HOME/.env");
    insta::assert_snapshot!("env_empty_value", shown);
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

// See: issue 24, point 13.
#[test]
fn what_the_home_keeps_is_0600_in_a_0700_folder() {
    let sim = simulator();
    // The home's own files, the SQLite database among them.
    let mut home = Home::sqlite_only(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-10"]).expect_code(0);
    for file in ["agent_os.db", "agent.log", "grants.json", "plugin-manifests.json"] {
        assert_eq!(mode(&home.path().join(file)), 0o600, "{file}");
    }
    home.run(&["report", "daily"]).expect_code(0);
    assert_eq!(mode(&home.path().join("exports")), 0o700);
    assert_eq!(mode(&home.path().join("exports/billing_export_2025-08.csv")), 0o600);

    // A home an older release left readable is tightened on the next command.
    use std::os::unix::fs::PermissionsExt;
    for file in ["agent_os.db", "agent.log"] {
        let p = home.path().join(file);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    home.run(&["runs"]).expect_code(0);
    for file in ["agent_os.db", "agent.log"] {
        assert_eq!(mode(&home.path().join(file)), 0o600, "{file}");
    }

    // The default home (no --home, no AGENT_HOME) is made 0700.
    let user = tempfile::tempdir().unwrap();
    let out = home
        .command(&["home", "--json"])
        .env_remove("AGENT_HOME")
        .current_dir(user.path())
        .env("HOME", user.path())
        .env("XDG_DATA_HOME", user.path().join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let made = user.path().join("data/agent-host");
    assert_eq!(mode(&made), 0o700);
    assert_eq!(mode(&made.join("agent.log")), 0o600);
}

// See: issue 24, point 14 (`home --json` had keys like "settings (.env)"
// and relative paths).
#[test]
fn home_json_has_plain_keys_and_absolute_paths() {
    let home = Home::with_plugins(&[]);
    let out = home
        .command(&["--home", ".", "home", "--json"])
        .env_remove("AGENT_HOME")
        .current_dir(home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text =
        String::from_utf8_lossy(&out.stdout).replace(&home.path().display().to_string(), "HOME");
    insta::assert_snapshot!("home_json", text);
}

// See: issue 24, points 4 and 10.
#[test]
fn summary_json_carries_the_daily_and_monthly_tables_and_future_days() {
    let sim = simulator();
    let mut home = collected(&sim);
    let args = ["summary", "--from", "2025-08-01", "--to", "2025-08-10", "--json"];
    let daily = home.run(&[&args[..], &["--daily", "--breakdown"]].concat()).json();
    assert_eq!(daily["periods"]["by"], "day");
    let rows = daily["periods"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    // Every day with spend lists its models (the simulator has a day off).
    let mut spent = rows.iter().filter(|r| r["tokens"] != 0);
    assert!(spent.clone().count() >= 9);
    assert!(spent.all(|r| r["breakdown"].as_array().is_some_and(|b| !b.is_empty())), "{rows:?}");
    let monthly = home.run(&[&args[..], &["--monthly"]].concat()).json();
    assert_eq!(monthly["periods"]["by"], "month");
    assert_eq!(monthly["periods"]["rows"][0]["cost"], daily["total_cost"]);

    // Today is 2025-08-11: the days from it on are future, not missing.
    home.env("AGENT_TODAY", "2025-08-11");
    let doc = home.run(&["summary", "--month", "2025-08", "--json", "--monthly"]).json();
    let states: Vec<&str> =
        doc["daily"].as_array().unwrap().iter().map(|d| d["state"].as_str().unwrap()).collect();
    assert_eq!(states.iter().filter(|s| **s == "future").count(), 21, "{states:?}");
    assert_eq!(states.iter().filter(|s| **s == "missing").count(), 0, "{states:?}");
    assert_eq!(doc["periods"]["rows"][0]["days_future"], 21);
    let text = home.run(&["summary", "--month", "2025-08", "--daily"]).stdout();
    assert!(text.contains("(20 later day(s) of the period are still to come)"), "{text}");
    assert!(text.contains("2025-08-11") && !text.contains("2025-08-12"), "{text}");
}

// See: issue 24, point 6.
#[test]
fn one_provider_s_spend_is_its_part_of_the_budget_not_all_of_it() {
    let sim = simulator();
    let home = collected(&sim);
    let all = home.run(&["summary", "--month", "2025-08", "--json"]).json();
    let one = home.run(&["summary", "--month", "2025-08", "--json", "--provider", "anthropic"]);
    one.expect_code(0);
    let one = one.json();
    assert_eq!(one["budget"]["percent_used"], all["budget"]["percent_used"]);
    assert_eq!(one["budget"]["month_to_date"], all["budget"]["month_to_date"]);
    assert_eq!(one["budget"]["provider"], "Anthropic");
    assert_eq!(one["budget"]["provider_month_to_date"], one["total_cost"]);
    let text = home.run(&["summary", "--month", "2025-08", "--provider", "Anthropic"]).stdout();
    let budget: Vec<&str> =
        text.lines().skip_while(|l| !l.trim_start().starts_with("Budget")).take(2).collect();
    insta::assert_snapshot!("one_provider_budget", budget.join("\n"));

    let html = home.path().join("a.html");
    let out = html.to_str().unwrap();
    home.run(&["report", "html", "--month", "2025-08", "--provider", "ANTHROPIC", "--out", out])
        .expect_code(0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains(r#"{"provider":"Anthropic","summary":"#),
        "the page knows whose data it is"
    );
}

// See: issue 24, point 9.
#[test]
fn a_jobs_file_says_which_plugins_it_leaves_out_and_doctor_checks_it() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    let file = home.path().join("agent-host.toml");
    std::fs::write(&file, "[[job]]\nname = \"openai\"\nplugin = \"openai_collector\"\n").unwrap();
    let run = home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-02"]);
    run.expect_code(0);
    assert!(
        run.stderr().contains("agent-host.toml names no job for anthropic_collector: not run"),
        "{}",
        run.stderr()
    );
    let doctor = home.run(&["doctor", "--json"]);
    doctor.expect_code(0);
    let checks = doctor.json();
    let jobs: Vec<&serde_json::Value> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["what"].as_str().unwrap().starts_with("jobs "))
        .collect();
    assert_eq!(jobs.len(), 2, "{checks:#}");
    assert_eq!(jobs[0]["status"], "ok");
    assert_eq!(jobs[1]["status"], "warn");
    assert!(jobs[1]["detail"].as_str().unwrap().contains("anthropic_collector"));

    // A file run-all refuses is a failed check: exit 3, as run-all's.
    std::fs::write(&file, "[[job]]\nname = \"x\"\nplugin = \"nosuch\"\n").unwrap();
    home.run(&["run-all"]).expect_code(3);
    let doctor = home.run(&["doctor"]);
    doctor.expect_code(3);
    let line = doctor.stdout().lines().find(|l| l.contains("agent-host.toml")).unwrap().to_string();
    let shown = line.replace(&home.path().display().to_string(), "HOME");
    insta::assert_snapshot!("doctor_bad_jobs_file", shown);
}

// See: issue 24, point 8.
#[test]
fn reconcile_names_a_cause_for_every_drift_and_totals_compare_like_with_like() {
    let sim = simulator();
    let home = collected(&sim);
    let run = home.run(&["reconcile", "--from", "2025-08-01", "--to", "2025-08-10", "--json"]);
    run.expect_code(0);
    let doc = run.json();
    for day in doc["days"].as_array().unwrap() {
        if day["flagged"] == true {
            assert!(!day["causes"].as_array().unwrap().is_empty(), "{day:#}");
        }
        if day["billed"].as_str().is_some_and(|b| b.trim_start_matches(['0', '.']).is_empty()) {
            let causes = day["causes"].to_string();
            assert!(!causes.contains("billed, but no usage"), "{day:#}");
        }
    }
    let text = home.run(&["reconcile", "--from", "2025-08-01", "--to", "2025-08-03"]).stdout();
    insta::assert_snapshot!("reconcile_text", text);
}

// See: issue 24, point 14: the smaller things.
#[test]
fn the_smaller_things_a_newcomer_met() {
    let home = Home::with_plugins(&["misbehaving"]);
    // A failed run's error is printed once (its result line), not twice.
    let run = home.run(&["run", "--plugin", "misbehaving", "--param", "mode=panic"]);
    run.expect_code(1);
    let both = format!("{}{}", run.stdout(), run.stderr());
    assert_eq!(both.matches("deliberate panic").count(), 1, "{both}");
    assert!(home.log().contains("deliberate panic"), "agent.log keeps it");

    // --breakdown without a table to break down is a usage error.
    let lonely = home.run(&["summary", "--breakdown"]);
    lonely.expect_code(2);
    assert!(lonely.stderr().contains("<--daily|--monthly>"), "{}", lonely.stderr());

    // An export without rows says so.
    let out = home.path().join("empty.csv");
    let export = home.run(&["export", "--month", "2024-01", "--out", out.to_str().unwrap()]);
    export.expect_code(0);
    assert!(export.stderr().contains("holds only the header"), "{}", export.stderr());

    // A port in use: exit 3 with a hint.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let serve = home.run(&["serve", "--bind", &addr]);
    serve.expect_code(3);
    assert!(serve.stderr().contains("hint: another program"), "{}", serve.stderr());
    let name = home.run(&["serve", "--bind", "localhost"]);
    name.expect_code(2);
    assert!(name.stderr().contains("\"localhost\" has no port"), "{}", name.stderr());

    // The price table's error says "price table" once.
    let bad = home.path().join("prices.json");
    std::fs::write(&bad, "{\"x\": 1}").unwrap();
    let update = home.run(&["prices", "update", "--from", bad.to_str().unwrap()]);
    update.expect_code(3);
    assert!(
        update.stderr().starts_with("error: the price table: invalid type"),
        "{}",
        update.stderr()
    );

    // `prices` and `plugin check` read; they make no home.
    let user = tempfile::tempdir().unwrap();
    for args in [&["prices"][..], &["plugin", "check", "/bin/ls"]] {
        let out = home
            .command(args)
            .env_remove("AGENT_HOME")
            .current_dir(user.path())
            .env("HOME", user.path())
            .env("XDG_DATA_HOME", user.path().join("data"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if args[0] == "plugin" {
            assert_eq!(out.status.code(), Some(3));
            // The file is named once, and what it is not said plainly.
            assert!(err.starts_with("error: /bin/ls: not a loadable library: "), "{err}");
            assert_eq!(err.matches("/bin/ls").count(), 1, "{err}");
            assert!(!err.contains("the plugin file"), "{err}");
        } else {
            assert!(out.status.success(), "{err}");
        }
        assert!(!user.path().join("data/agent-host").exists(), "{args:?} made a home");
    }
}
