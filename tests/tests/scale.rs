//! Backfills under rate limits and lasting failures: every day fetched is
//! kept, nothing is stored twice, and the next run asks for exactly what is
//! missing.

mod util;

use agent_host_tests::Faults;
use chrono::NaiveDate;
use util::{simulator, Home};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Asserts every day of `from..=to` is covered for both collectors and
/// equals the simulator's totals to the last digit.
fn assert_every_day_exact(home: &Home, sim: &agent_host_tests::Simulator, from: &str, to: &str) {
    let days: Vec<NaiveDate> = day(from).iter_days().take_while(|d| *d <= day(to)).collect();
    for plugin in ["openai_collector", "anthropic_collector"] {
        let covered = home.number(&format!(
            "SELECT count(*) FROM coverage WHERE plugin_name = '{plugin}' AND day BETWEEN '{from}' AND '{to}'"
        ));
        assert_eq!(covered as usize, days.len(), "{plugin} coverage");
    }
    for d in &days {
        for (provider, display) in [("openai", "OpenAI"), ("anthropic", "Anthropic")] {
            let rows = home.rows(
                "SELECT tokens, cost FROM results WHERE provider = ?1 AND date = ?2",
                &[display, &d.to_string()],
            );
            let r = rows.first().unwrap_or_else(|| panic!("{provider} {d}: no row"));
            let stored: (i64, String) =
                (r[0].as_deref().unwrap().parse().unwrap(), r[1].clone().unwrap());
            let (tokens, cost) = sim.expected_day(provider, *d);
            assert_eq!((stored.0 as u64, stored.1), (tokens, cost), "{provider} {d}");
        }
    }
}

/// A backfill of `from..=to` while the simulator answers the next `k` data
/// requests with 429 and `Retry-After: retry_after`, with `env` set; returns
/// the first run's exit code and whether a second run was needed. Whatever
/// happens, every day ends up stored exactly once, within at most one
/// follow-up run.
fn backfill_through_a_burst(
    k: u32,
    retry_after: &str,
    (from, to): (&str, &str),
    env: &[(&str, &str)],
) -> (i32, bool) {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    for (name, value) in env {
        home.env(name, value);
    }
    sim.set_faults(Faults {
        rate_limit_next: k,
        retry_after: Some(retry_after.into()),
        ..Default::default()
    });
    let first = home.run(&["run-all", "--from", from, "--to", to]);
    let code = first.code();
    assert!(code == 0 || code == 1, "{}", first.stderr());
    // A range is collected in runs of at most 92 days: a burst that outlasts
    // the run's patience may fail one of them outright or leave it partial;
    // either way only its days wait.
    let partial =
        home.number("SELECT count(*) FROM runs WHERE status IN ('partial', 'failed')") > 0;
    assert_eq!(code == 1, partial, "exit 1 exactly when some days were not collected");
    if partial {
        // The next nightly run fetches what the burst cost, and no more.
        home.run(&["run-all"]).expect_code(0);
    }
    assert_every_day_exact(&home, &sim, from, to);
    // Each day was stored once: no day was written again with other figures.
    assert_eq!(home.count("revisions"), 0, "a day was stored twice");
    (code, partial)
}

#[test]
fn a_burst_of_80_rate_limits_during_a_60_day_backfill_is_waited_out() {
    // The reported case: 80 consecutive 429s during a 60-day backfill used to
    // cost every one of its 120 provider-days, each request giving up after
    // its 4 retries. Rate limits are waits within the run's patience.
    let (code, second_run) =
        backfill_through_a_burst(80, "0.05", ("2025-07-03", "2025-08-31"), &[]);
    assert_eq!((code, second_run), (0, false), "the first run must store every day");
}

#[test]
fn a_burst_of_80_rate_limits_keeps_every_day_of_a_two_year_backfill() {
    let (code, second_run) =
        backfill_through_a_burst(80, "0.02", ("2023-09-01", "2025-08-31"), &[]);
    assert_eq!((code, second_run), (0, false), "the first run must store every day");
}

#[test]
fn a_burst_of_400_rate_limits_past_the_patience_costs_at_most_one_more_run() {
    // One second of patience for 400 rate limits of 20 ms each: the run gives
    // up on some requests, keeps every day it fetched, and the next run
    // fetches the rest.
    let (code, second_run) = backfill_through_a_burst(
        400,
        "0.02",
        ("2023-09-01", "2025-08-31"),
        &[("AGENT_HTTP_MAX_WAIT_SECS", "1")],
    );
    // The pacer spaces the burst's requests by their `Retry-After`, so it
    // lasts several seconds however fast the machine is.
    assert_eq!((code, second_run), (1, true), "the patience did not run out");
}

#[test]
fn a_burst_of_400_rate_limits_within_the_patience_is_waited_out() {
    let (code, second_run) =
        backfill_through_a_burst(400, "0.02", ("2023-09-01", "2025-08-31"), &[]);
    assert_eq!((code, second_run), (0, false), "the first run must store every day");
}

#[test]
fn a_request_that_fails_for_good_costs_only_its_days() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    // 2025-01-01..2025-06-30 is collected in two runs of at most 92 days;
    // the first one's 31-day Anthropic chunks are 01-01, 02-01 and 03-04 to
    // 04-02. Both reports of that last one fail on every try: Anthropic's
    // 529 is waited out like a rate limit, here for at most two seconds.
    home.env("AGENT_HTTP_MAX_WAIT_SECS", "2");
    sim.set_faults(Faults {
        server_error_next: 10_000,
        only_path: Some("starting_at=2025-03-04".into()),
        ..Default::default()
    });
    let run = home.run(&["run-all", "--from", "2025-01-01", "--to", "2025-06-30"]);
    run.expect_code(1);
    let out = run.stdout();
    assert!(out.contains("anthropic_collector      partial  2025-01-01..2025-04-02"), "{out}");
    assert!(out.contains("anthropic_collector      success  2025-04-03..2025-06-30"), "{out}");
    assert!(out.contains("30 day(s) not stored"), "{out}");
    assert!(
        out.contains("2025-03-04..2025-04-02 (cost_report 2025-03-04..2025-04-02: HTTP 529"),
        "{out}"
    );
    let reason = home.text(
        "SELECT reason FROM missing_days WHERE plugin_name = 'anthropic_collector' AND day = '2025-04-02'",
    );
    assert!(reason.contains("HTTP 529 (overloaded_error): Overloaded"), "{reason}");
    let anthropic_days =
        home.number("SELECT count(*) FROM coverage WHERE plugin_name = 'anthropic_collector'");
    assert_eq!(anthropic_days, 151);
    let hole = home.number(
        "SELECT count(*) FROM results WHERE provider = 'Anthropic' AND date BETWEEN '2025-03-04' AND '2025-04-02'",
    );
    assert_eq!(hole, 0, "no day of the failed request is stored");

    // The next run asks for exactly the lost days (and the recent window).
    sim.set_faults(Faults::default());
    home.env("AGENT_TODAY", "2025-07-01");
    home.run(&["run-all"]).expect_code(0);
    let windows = home.text(
        "SELECT group_concat(window_from || '..' || window_to, ' ') FROM (
           SELECT window_from, window_to FROM runs
           WHERE plugin_name = 'anthropic_collector' ORDER BY started_at, window_from LIMIT 1000000 OFFSET 2) AS q",
    );
    assert_eq!(windows, "2025-03-04..2025-04-02 2025-06-28..2025-06-30");
    assert_every_day_exact(&home, &sim, "2025-01-01", "2025-06-30");
}
