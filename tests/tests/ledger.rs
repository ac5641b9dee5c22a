//! History that never goes missing: a host stopped (SIGINT, SIGTERM,
//! SIGKILL) while one window of a backfill hangs leaves that window's days
//! missing, `runs` says why, and plain `run-all`s afterwards make every day
//! exact, against the simulator's own totals.

mod util;

use std::process::Stdio;
use std::time::{Duration, Instant};

use agent_host_tests::{Faults, Simulator};
use chrono::NaiveDate;
use util::{simulator, Home};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// The backfill: three windows of at most 92 days.
const FROM: &str = "2025-01-01";
const TO: &str = "2025-08-31";

/// Its second window, the one that hangs (OpenAI's requests for it start
/// at its first day).
fn hung() -> (NaiveDate, NaiveDate) {
    (day("2025-04-03"), day("2025-07-03"))
}

fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// Every day of the backfill, for both providers, equals what the
/// simulator reports for it.
fn assert_every_day_exact(home: &Home, sim: &Simulator) {
    for (id, name) in [("openai", "OpenAI"), ("anthropic", "Anthropic")] {
        for d in days(day(FROM), day(TO)) {
            let (tokens, cost) = sim.expected_day(id, d);
            let stored = home.column(
                "SELECT tokens || ' ' || cost FROM results WHERE provider = ?1 AND date = ?2",
                &[name, &d.to_string()],
            );
            assert_eq!(stored, [format!("{tokens} {cost}")], "{name} {d}");
        }
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_host_stopped_while_a_window_hangs_loses_time_never_days() {
    let (hole_from, hole_to) = hung();
    let all = days(day(FROM), day(TO)).count() as i64;
    let hole = days(hole_from, hole_to).count() as i64;
    let start = hole_from.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    for (signal, name) in
        [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM"), (libc::SIGKILL, "SIGKILL")]
    {
        let sim = simulator();
        sim.set_faults(Faults {
            hang_on: Some(format!("start_time={start}&")),
            ..Faults::default()
        });
        let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
        home.use_simulator(&sim);
        let mut host = home
            .command(&["run-all", "--from", FROM, "--to", TO])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Every other window commits; the hung one is still in flight.
        // The database may not exist yet, or not be migrated yet.
        let committed = || home.try_number("SELECT count(*) FROM coverage") == Some(2 * all - hole);
        wait_for("the other windows", committed);
        assert_eq!(home.number("SELECT count(*) FROM runs WHERE status = 'running'"), 1, "{name}");
        // SAFETY: signalling the host process this test started.
        unsafe { libc::kill(host.id() as i32, signal) };
        let status = host.wait().unwrap();
        assert!(!status.success(), "{name}: the host was stopped");
        let interrupted = home.text("SELECT substr(id, 1, 8) FROM runs WHERE status = 'running'");
        assert_eq!(interrupted.len(), 8, "{name}: the hung run never finished");

        // The hole is known, by job and day, with its cause.
        let missing = home.run(&["runs", "--missing", "--json"]).expect_code(0).json();
        let missing = missing.as_array().unwrap();
        assert_eq!(missing.len() as i64, hole, "{name}: {missing:?}");
        let cause = format!("interrupted run {interrupted}");
        for (m, d) in missing.iter().zip(days(hole_from, hole_to)) {
            assert_eq!(m["plugin"], "openai_collector", "{name}");
            assert_eq!(m["day"], d.to_string(), "{name}");
            assert_eq!(m["reason"], cause.as_str(), "{name}");
        }
        let runs = home.run(&["runs"]).expect_code(0).stdout();
        assert!(runs.contains("2025-04-03..2025-07-03") && runs.contains(&cause), "{runs}");

        // Plain runs, as the nightly job does them, heal it.
        sim.set_faults(Faults::default());
        home.run(&["run-all"]).expect_code(0);
        home.run(&["run-all"]).expect_code(0);
        assert_every_day_exact(&home, &sim);
        let left = home.run(&["runs", "--missing", "--json"]).expect_code(0).json();
        assert_eq!(left.as_array().unwrap().len(), 0, "{name}: {left}");
        assert_eq!(home.number("SELECT count(*) FROM coverage"), 2 * all, "{name}");
    }
}
