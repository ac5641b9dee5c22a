//! The billing record contract end to end: a value that cannot be stored
//! costs its day and nothing more, Priority Tier tokens are flagged, a
//! collector of a later contract is read by this host, and a third provider
//! (OpenRouter) reaches summaries, exports and alerts without a line of the
//! host knowing it.

mod util;

use agent_host_tests::{data, Faults, OPENROUTER_INFERENCE_KEY};
use chrono::{Days, NaiveDate};
use util::{simulator, Home};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// The stored `results` (tokens, cost) of a provider's day, if any.
fn stored(home: &Home, provider: &str, day: NaiveDate) -> Option<(u64, String)> {
    let rows = home.rows(
        "SELECT tokens, cost FROM results WHERE provider = ?1 AND date = ?2",
        &[provider, &day.to_string()],
    );
    let r = rows.first()?;
    Some((r[0].as_deref().unwrap().parse().unwrap(), r[1].clone().unwrap()))
}

#[test]
fn a_bad_value_on_one_day_of_five_costs_that_day_only_and_comes_back() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    sim.set_faults(Faults { bad_value_on: Some(d("2025-08-03")), ..Default::default() });
    let run = home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-05"]);
    run.expect_code(1);
    let out = run.stdout();
    for plugin in ["openai_collector", "anthropic_collector"] {
        let line = out.lines().find(|l| l.starts_with(plugin)).unwrap_or_default();
        assert!(line.contains(" partial "), "{out}");
    }
    assert!(out.contains("1 day(s) not stored, asked for again next run: 2025-08-03 ("), "{out}");
    assert!(out.contains("a cost row whose amount has no value"), "{out}");
    assert!(out.contains(r#"currency "EUR" is not supported (only USD)"#), "{out}");
    for (provider, name) in [("openai", "OpenAI"), ("anthropic", "Anthropic")] {
        for day in ["2025-08-01", "2025-08-02", "2025-08-04", "2025-08-05"] {
            assert_eq!(stored(&home, name, d(day)), Some(sim.expected_day(provider, d(day))));
        }
        assert_eq!(stored(&home, name, d("2025-08-03")), None, "{name}: no half-written day");
    }
    let reasons = home.text(
        "SELECT group_concat(plugin_name || ': ' || reason, ' | ') FROM missing_days WHERE day = '2025-08-03'",
    );
    assert!(reasons.contains("amount has no value") && reasons.contains("EUR"), "{reasons}");
    let runs = home.run(&["runs"]);
    assert!(runs.stdout().contains("2025-08-03"), "{}", runs.stdout());

    // The fault is gone: the next plain run asks for the lost day again.
    sim.set_faults(Faults::default());
    home.run(&["run-all"]).expect_code(0);
    for (provider, name) in [("openai", "OpenAI"), ("anthropic", "Anthropic")] {
        assert_eq!(
            stored(&home, name, d("2025-08-03")),
            Some(sim.expected_day(provider, d("2025-08-03")))
        );
    }
    assert_eq!(home.count("missing_days"), 0);
}

#[test]
fn priority_tier_tokens_are_flagged_in_the_run_and_the_summary() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["anthropic_collector"]);
    home.use_simulator(&sim);
    let run = home.run(&[
        "run",
        "--plugin",
        "anthropic_collector",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-31",
    ]);
    run.expect_code(0);
    let flagged: Vec<(NaiveDate, u64)> = d("2025-08-01")
        .iter_days()
        .take(31)
        .map(|day| (day, data::anthropic_priority_tokens(day)))
        .filter(|(_, t)| *t > 0)
        .collect();
    assert!(!flagged.is_empty());
    let total: u64 = flagged.iter().map(|(_, t)| t).sum();
    assert!(run.stdout().contains("note: Anthropic: "), "{}", run.stdout());
    assert!(
        run.stdout().contains(
            "have no billed cost (Anthropic's cost report does not include Priority Tier costs"
        ),
        "{}",
        run.stdout()
    );
    let json = home.run(&["summary", "--month", "2025-08", "--json"]).json();
    let anthropic = &json["providers"][0];
    assert_eq!(anthropic["tokens_without_billed_cost"].as_u64(), Some(total));
    let days: Vec<(String, u64)> = json["without_billed_cost"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["date"].as_str().unwrap().to_string(), w["tokens"].as_u64().unwrap()))
        .collect();
    let expected: Vec<(String, u64)> = flagged.iter().map(|(d, t)| (d.to_string(), *t)).collect();
    assert_eq!(days, expected);
    let text = home.run(&["summary", "--month", "2025-08"]);
    assert!(text.stdout().contains("tokens of Anthropic on"), "{}", text.stdout());
}

#[test]
fn a_collector_of_a_later_contract_is_stored_by_this_host() {
    let mut home = Home::with_plugins(&["hostile"]);
    home.env("HOSTILE_ATTACK", "newer-contract");
    home.run(&["run", "--plugin", "hostile", "--from", "2025-08-01", "--to", "2025-08-01"])
        .expect_code(0);
    assert_eq!(stored(&home, "HOSTILE", d("2025-08-01")), Some((40, "1.25".into())));
    assert_eq!(home.count("cost_rows"), 1);

    // Its figures cannot be shown under another provider's name.
    home.env("HOSTILE_ATTACK", "impersonate");
    let run =
        home.run(&["run", "--plugin", "hostile", "--from", "2025-08-02", "--to", "2025-08-02"]);
    run.expect_code(1);
    assert!(
        run.stdout().contains("the display name \"OpenAI\" is not its name"),
        "{}",
        run.stdout()
    );
    assert_eq!(home.number("SELECT count(*) FROM results WHERE provider = 'OpenAI'"), 0);
}

#[test]
fn openrouter_reaches_summary_exports_and_alerts_with_no_host_change() {
    let sim = simulator();
    // OpenRouter keeps the last 30 completed days: the collector takes the
    // host's (pinned) day, and so does the simulator.
    let today = d("2025-09-01");
    sim.set_today(today);
    let mut home = Home::with_plugins(&["openrouter_collector"]);
    home.use_simulator(&sim).env("AGENT_TODAY", &today.to_string());
    let (from, to) = (today - Days::new(40), today - Days::new(1));
    let run = home.run(&[
        "run",
        "--plugin",
        "openrouter_collector",
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
    ]);
    // The ten days the API no longer holds are said to be unavailable, and
    // are not asked for again.
    run.expect_code(0);
    let unavailable = format!(
        "note: 10 day(s) not available from the source: {}..{} (OpenRouter keeps only the last 30 completed UTC days)",
        from,
        from + Days::new(9)
    );
    assert!(run.stdout().contains(&unavailable), "{}", run.stdout());
    assert_eq!(home.count("missing_days"), 0);
    let kept = today - Days::new(30);
    let mut total = bigdecimal::BigDecimal::from(0);
    for day in kept.iter_days().take(30) {
        let expected = data::openrouter_expected(day);
        assert_eq!(stored(&home, "OpenRouter", day), Some(expected.clone()), "{day}");
        total += expected.1.parse::<bigdecimal::BigDecimal>().unwrap();
    }
    // Float residues survive: a total with more than 28 decimal places.
    let total = total.normalized().to_plain_string();
    assert!(total.split('.').nth(1).is_some_and(|f| f.len() > 28), "{total}");

    let (f, t) = (kept.to_string(), to.to_string());
    let json = home.run(&["summary", "--from", &f, "--to", &t, "--json"]).json();
    assert_eq!(json["providers"][0]["provider"], "OpenRouter");
    assert_eq!(
        json["providers"][0]["cost"].as_str().unwrap().parse::<bigdecimal::BigDecimal>().unwrap(),
        total.parse::<bigdecimal::BigDecimal>().unwrap()
    );
    let by_model =
        home.run(&["summary", "--from", &f, "--to", &t, "--by", "model", "--json"]).json();
    assert!(by_model["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["key"] == "anthropic/claude-sonnet-4" && b["provider"] == "OpenRouter"));

    let focus = home.run(&["export", "--from", &f, "--to", &t, "--format", "focus", "--out", "-"]);
    focus.expect_code(0);
    let text = focus.stdout();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(&r[col("ServiceName")], "OpenRouter API");
        assert_eq!(&r[col("ProviderName")], "OpenRouter");
        assert_eq!(&r[col("SubAccountType")], "Workspace");
    }
    let billed: bigdecimal::BigDecimal =
        rows.iter().map(|r| r[col("BilledCost")].parse::<bigdecimal::BigDecimal>().unwrap()).sum();
    assert_eq!(billed, total.parse::<bigdecimal::BigDecimal>().unwrap());

    // A tiny budget: the month's OpenRouter spend crosses it.
    home.env("MONTHLY_BUDGET_USD", "0.01");
    let alerts = home.run(&["alerts", "--dry-run", "--json"]);
    alerts.expect_code(0);
    assert!(alerts.stdout().contains("budget-100:"), "{}", alerts.stdout());

    // An inference key is refused by OpenRouter, and the run says why.
    home.env("OPENROUTER_MANAGEMENT_KEY", OPENROUTER_INFERENCE_KEY);
    let refused = home.run(&["run", "--plugin", "openrouter_collector", "--from", &t, "--to", &t]);
    refused.expect_code(1);
    assert!(
        refused.stdout().contains("HTTP 403: Only management keys can perform this operation"),
        "{}",
        refused.stdout()
    );
    assert!(!refused.stdout().contains(OPENROUTER_INFERENCE_KEY));
}
