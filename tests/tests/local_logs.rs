//! Local agent logs end to end: the real `claude_code_logs`, `codex_logs`
//! and `gemini_cli_logs` plugins read the fixture trees (`tests/fixtures/logs`)
//! through the sandbox, the host keeps every call, prices it exactly from the embedded
//! table, keeps it after its log is deleted, reads only what changed, and
//! puts the estimate next to the simulator's billed cost in `reconcile`.

mod util;

use std::path::Path;

use rust_decimal::{Decimal, RoundingStrategy};
use util::{home_with_logs, simulator, Home};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|_| panic!("{s:?} is not a decimal"))
}

// The fixtures' calls priced by hand from genai-prices 47df840a (USD per
// million tokens: input, output, cache read, 5-minute write; our 1-hour
// write is 2x input). See tests/fixtures/logs/README.md for the counts.
//
// 2026-11-01 claude-haiku-4-5  (1, 5, 0.1, 1.25):  28*1 + 210*5 + 900*0.1 + 1000*1.25 = 2418
// 2026-11-01 claude-opus-4-1   (15, 75, 1.5, 18.75): 18*15 + 120*75 + 4800*1.5 + 800*18.75 = 31470
// 2026-11-01 claude-sonnet-4-5 (3, 15, 0.3, 3.75, 1h 6): 10*3 + 240*15 + 6500*0.3 + 800*3.75
//                                                     + 2000*6 = 20580 (web searches: no rate)
// 2026-11-02 claude-opus-4-6   (5, 25, 0.5, 6.25, 1h 10; since 2026-03-13):
//                                                     10*5 + 300*25 + 200*6.25 + 1000*10 = 18800
// 2026-11-02 claude-sonnet-4-5: 4*3 + 200*15 + 4300*0.3 = 4302
const ANTHROPIC_DAY1: &str = "0.054468";
const ANTHROPIC_DAY2: &str = "0.023102";
// 2026-11-01 gpt-5 (1.25, 10, 0.125): 900*1.25 + 260*10 + 600*0.125 = 3800
// 2026-11-01 gpt-5.1-codex (gpt-5.1: 1.25, 10, 0.125): 1600*1.25 + 450*10 + 900*0.125 = 6612.5
// 2026-11-01 gpt-5.1-codex-max (gpt-5.1): 300*1.25 + 250*10 + 1300*0.125 = 3037.5
// 2026-11-01 gpt-5.1-codex-mini (0.25, 2, 0.025): 400*0.25 + 190*2 + 1600*0.025 = 520
// 2026-11-02 gpt-5.1-codex-max: 300*1.25 + 450*10 + 3600*0.125 = 5325
const OPENAI_DAY1: &str = "0.01397";
const OPENAI_DAY2: &str = "0.005325";

fn estimated(summary: &serde_json::Value, provider: &str) -> Decimal {
    let providers = summary["estimated"]["providers"].as_array().expect("an estimate");
    let p = providers.iter().find(|p| p["provider"] == provider).expect(provider);
    dec(p["cost"].as_str().unwrap())
}

fn summary(home: &Home, from: &str, to: &str) -> serde_json::Value {
    home.run(&["summary", "--from", from, "--to", to, "--json"]).expect_code(0).json()
}

#[test]
fn logs_are_kept_deduplicated_priced_exactly_and_outlive_their_files() {
    let (home, logs) = home_with_logs();
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("calls"), 18, "9 Claude Code and 9 Codex calls after dedup");

    let s = summary(&home, "2026-11-01", "2026-11-02");
    assert_eq!(s["estimated"]["kind"], "estimated");
    assert_eq!(estimated(&s, "Anthropic"), dec(ANTHROPIC_DAY1) + dec(ANTHROPIC_DAY2));
    assert_eq!(estimated(&s, "OpenAI"), dec(OPENAI_DAY1) + dec(OPENAI_DAY2));
    assert_eq!(s["estimated"]["calls"], 18);
    assert_eq!(s["total_cost"], "0.00", "nothing billed: estimates never become billed");
    for (day, anthropic, openai) in
        [("2026-11-01", ANTHROPIC_DAY1, OPENAI_DAY1), ("2026-11-02", ANTHROPIC_DAY2, OPENAI_DAY2)]
    {
        let s = summary(&home, day, day);
        assert_eq!(estimated(&s, "Anthropic"), dec(anthropic), "{day}");
        assert_eq!(estimated(&s, "OpenAI"), dec(openai), "{day}");
    }
    // By model and by project (the agent's folder), the same money.
    for by in ["model", "project"] {
        let s = home
            .run(&["summary", "--from", "2026-11-01", "--to", "2026-11-02", "--by", by, "--json"])
            .expect_code(0)
            .json();
        let lines = s["estimated"]["breakdown"].as_array().unwrap();
        // A key whose calls have no price has no cost (null), never 0.
        let sum: Decimal = lines.iter().filter_map(|l| l["cost"].as_str()).map(dec).sum();
        assert!(
            lines.iter().all(|l| l["cost"].is_null()
                == (l["tokens"] == l["unpriced_tokens"] && l["tokens"] != 0)),
            "{lines:?}"
        );
        assert_eq!(sum, dec(s["estimated"]["total_cost"].as_str().unwrap()), "{by}");
        if by == "model" {
            let opus = lines.iter().find(|l| l["key"] == "claude-opus-4-6").unwrap();
            assert_eq!(dec(opus["cost"].as_str().unwrap()), dec("0.0188"));
        } else {
            assert!(lines.iter().any(|l| l["key"] == "/home/me/app"), "{lines:?}");
        }
    }
    let text = home.run(&["summary", "--from", "2026-11-01", "--to", "2026-11-02"]).stdout();
    assert!(text.contains("Estimated from local logs (NOT billed"), "{text}");
    assert!(text.contains("No billed data in this period"), "{text}");

    // Every day with calls shows its estimate, apart from billed figures,
    // in the daily rows of text and JSON: never "no data".
    let daily = home
        .run(&["summary", "--from", "2026-10-31", "--to", "2026-11-02", "--daily", "--json"])
        .expect_code(0)
        .json();
    let days = daily["daily"].as_array().unwrap();
    assert_eq!(days[0]["estimated_cost"], serde_json::Value::Null, "a day without calls");
    for (day, anthropic, openai) in
        [(&days[1], ANTHROPIC_DAY1, OPENAI_DAY1), (&days[2], ANTHROPIC_DAY2, OPENAI_DAY2)]
    {
        assert_eq!(day["collected"], false, "nothing billed: {day}");
        assert_eq!(day["cost"], serde_json::Value::Null, "an estimate is never a billed cost");
        let est = dec(day["estimated_cost"].as_str().unwrap());
        assert_eq!(est, dec(anthropic) + dec(openai), "{day}");
        assert!(day["estimated_tokens"].as_i64().unwrap() > 0, "{day}");
    }
    let table = home.run(&["summary", "--from", "2026-11-01", "--to", "2026-11-02", "--daily"]);
    let table = table.expect_code(0).stdout();
    assert!(table.contains("Estimated, NOT billed (USD)"), "{table}");
    assert!(!table.contains("no data"), "{table}");

    // A second run reads nothing new and changes nothing.
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("calls"), 18);

    // The logs go (Claude Code deletes them after 30 days): history stays.
    std::fs::remove_dir_all(logs.path().join("claude/root-a")).unwrap();
    std::fs::remove_dir_all(logs.path().join("codex/home/sessions")).unwrap();
    home.run(&["run-all"]).expect_code(0);
    assert!(home.log().contains("read before are gone; the calls read from them stay stored"));
    let after = summary(&home, "2026-11-01", "2026-11-02");
    assert_eq!(after["estimated"], s["estimated"], "deleting logs changes nothing stored");
}

#[test]
fn a_nightly_run_reads_only_the_new_lines() {
    let (home, logs) = home_with_logs();
    home.run(&["run-all"]).expect_code(0);
    let file = logs
        .path()
        .join("claude/root-b/projects/-home-me-legacy/5a5a7e21-9c3b-4d6f-a1e8-2b7c4f9d0e33.jsonl");
    let line = r#"{"type":"assistant","cwd":"/home/me/legacy","sessionId":"5a5a7e21-9c3b-4d6f-a1e8-2b7c4f9d0e33","requestId":"req_new","timestamp":"2026-11-02T10:00:00.000Z","message":{"id":"msg_new","model":"claude-sonnet-4-5","role":"assistant","content":[],"usage":{"input_tokens":100000,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}"#;
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(line);
    text.push('\n');
    std::fs::write(&file, text).unwrap();
    let run = home.run(&["run", "--plugin", "claude_code_logs", "--json"]);
    run.expect_code(0);
    // The appended call, and how the provider is named.
    assert_eq!(run.json()[0]["records_received"], 2, "only the appended call is read");
    // 100,000 uncached input tokens of Sonnet 4.5 at $3 per million.
    let s = summary(&home, "2026-11-02", "2026-11-02");
    assert_eq!(estimated(&s, "Anthropic"), dec(ANTHROPIC_DAY2) + dec("0.3"));

    // A line no call can hold (an absurd count, an empty model) is left out
    // with a note; the lines after it are still read, then and later.
    let absurd = line.replace("msg_new", "msg_absurd").replace("100000", "2000000000000000");
    let empty = line.replace("msg_new", "msg_empty").replace("claude-sonnet-4-5", "");
    let good = line.replace("msg_new", "msg_after").replace("100000", "1000");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!("{absurd}\n{empty}\n{good}\n"));
    std::fs::write(&file, text).unwrap();
    let run = home.run(&["run", "--plugin", "claude_code_logs"]);
    run.expect_code(0);
    assert!(run.stdout().contains("left out, not stored"), "{}", run.stdout());
    let s = summary(&home, "2026-11-02", "2026-11-02");
    assert_eq!(estimated(&s, "Anthropic"), dec(ANTHROPIC_DAY2) + dec("0.303"));
    home.run(&["run", "--plugin", "claude_code_logs"]).expect_code(0);
}

/// An import too large for one run is several: each reads what the last
/// left (one pass over the logs, no walk and no look at the files already
/// read), and together they keep exactly what one run keeps.
#[test]
fn an_import_in_many_runs_keeps_what_one_run_does() {
    let (mut home, _logs) = home_with_logs();
    home.env("LOG_MAX_BYTES", "1500");
    let run = home.run(&["run", "--plugin", "claude_code_logs", "--json"]);
    run.expect_code(0);
    let runs = run.json().as_array().map_or(0, Vec::len);
    assert!(runs > 2, "a 1500-byte budget takes several runs, not {runs}");
    assert_eq!(home.count("calls"), 9, "the 9 Claude Code calls, each once");
    let s = summary(&home, "2026-11-01", "2026-11-02");
    assert_eq!(estimated(&s, "Anthropic"), dec(ANTHROPIC_DAY1) + dec(ANTHROPIC_DAY2));
    let state =
        home.text("SELECT state FROM plugin_state WHERE plugin_name LIKE 'claude_code_logs%'");
    assert!(!state.contains("todo"), "the import is done: nothing left to read: {state}");
    let again = home.run(&["run", "--plugin", "claude_code_logs", "--json"]);
    assert_eq!(again.expect_code(0).json()[0]["records_received"], 1, "only the provider's name");
}

/// A log-only user's detail and FOCUS exports list the estimate, labelled
/// (`Cost Kind`, `x-CostKind`), never as billed: the detail's estimated
/// costs and FOCUS's effective costs add up to the summary's estimate,
/// FOCUS bills nothing for them; a provider with billed data is never also
/// listed by estimate.
#[test]
fn detail_and_focus_exports_list_estimates_labelled_as_such() {
    let (home, _logs) = home_with_logs();
    home.run(&["run-all"]).expect_code(0);
    let range = ["--from", "2026-11-01", "--to", "2026-11-02", "--out", "-"];
    let total = dec(ANTHROPIC_DAY1) + dec(ANTHROPIC_DAY2) + dec(OPENAI_DAY1) + dec(OPENAI_DAY2);

    let detail = home.run(&[&["export", "--detail"][..], &range].concat()).expect_code(0).stdout();
    let mut reader = csv::Reader::from_reader(detail.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|c| c == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(!rows.is_empty(), "a header alone: {detail}");
    assert!(rows.iter().all(|r| &r[col("Cost Kind")] == "estimated"), "{detail}");
    assert!(rows.iter().all(|r| r[col("Line Item")].contains("not billed")), "{detail}");
    let sum: Decimal =
        rows.iter().filter(|r| !r[col("Cost")].is_empty()).map(|r| dec(&r[col("Cost")])).sum();
    assert_eq!(sum, total, "{detail}");
    // A model no price covers has no cost, never 0.
    assert!(rows.iter().all(|r| r[col("Cost")] != *"0"), "{detail}");

    let focus =
        home.run(&[&["export", "--format", "focus"][..], &range].concat()).expect_code(0).stdout();
    let mut reader = csv::Reader::from_reader(focus.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|c| c == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.iter().all(|r| &r[col("x-CostKind")] == "estimated"), "{focus}");
    assert!(rows.iter().all(|r| dec(&r[col("BilledCost")]) == Decimal::ZERO), "{focus}");
    let effective: Decimal = rows.iter().map(|r| dec(&r[col("EffectiveCost")])).sum();
    assert_eq!(effective, total, "{focus}");

    // With the provider's bill collected too, its estimate is no longer
    // listed: a day is never counted twice.
    let sim = simulator();
    let mut both = home_with_logs().0;
    both.use_simulator(&sim);
    both.install("openai_collector");
    both.install("anthropic_collector");
    both.run(&["run-all", "--from", "2026-11-01", "--to", "2026-11-02"]).expect_code(0);
    let focus =
        both.run(&[&["export", "--format", "focus"][..], &range].concat()).expect_code(0).stdout();
    let mut reader = csv::Reader::from_reader(focus.as_bytes());
    let kinds: Vec<String> = reader.records().map(|r| r.unwrap()[33].to_string()).collect();
    assert!(!kinds.is_empty() && kinds.iter().all(|k| k == "billed"), "{kinds:?}");
}

/// Transcripts of `files` sessions of `calls` calls each under
/// `root/projects`, every call streamed as two copies (the second complete).
fn write_sessions(root: &Path, files: usize, calls: usize) {
    let dir = root.join("projects").join("-home-me-many");
    std::fs::create_dir_all(&dir).unwrap();
    for f in 0..files {
        let mut text = String::new();
        for c in 0..calls {
            for out in [1, 10 + c] {
                text.push_str(&format!(
                    r#"{{"type":"assistant","cwd":"/home/me/many","sessionId":"s{f}","requestId":"req_{f}_{c}","timestamp":"2026-11-01T10:{:02}:00.000Z","message":{{"id":"msg_{f}_{c}","model":"claude-sonnet-4-5","role":"assistant","content":[{{"type":"text","text":"{}"}}],"usage":{{"input_tokens":{c},"output_tokens":{out},"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}}}}"#,
                    c % 60,
                    "x".repeat(300)
                ));
                text.push('\n');
            }
        }
        std::fs::write(dir.join(format!("{f:04}.jsonl")), text).unwrap();
    }
}

/// A host killed mid-import, again and again, costs runs, never calls, and
/// never counts one twice: each run's calls and the state it goes on from
/// (the files it has left) are stored together.
#[test]
fn an_import_killed_again_and_again_ends_with_each_call_once() {
    let logs = tempfile::tempdir().unwrap();
    write_sessions(logs.path(), 40, 40);
    let config = logs.path().display().to_string();
    let mut whole = Home::with_plugins(&["claude_code_logs"]);
    whole.env("CLAUDE_CONFIG_DIR", &config).env("AGENT_TODAY", "2026-11-03");
    whole.run(&["run", "--plugin", "claude_code_logs"]).expect_code(0);
    assert_eq!(whole.count("calls"), 1600);

    let mut home = Home::with_plugins(&["claude_code_logs"]);
    home.env("CLAUDE_CONFIG_DIR", &config).env("AGENT_TODAY", "2026-11-03");
    home.env("LOG_MAX_BYTES", "20000");
    let state =
        // `claude_code_logs@machine` in a shared store.
        "SELECT coalesce((SELECT state FROM plugin_state WHERE plugin_name LIKE 'claude_code_logs%'), '')";
    let mut mid_import = 0;
    for delay_ms in [40u64, 120, 250, 400, 600] {
        let mut child = home
            .command(&["run", "--plugin", "claude_code_logs"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Orphaned workers end on their own once their pipe is gone.
        std::thread::sleep(std::time::Duration::from_millis(50));
        // Killed before the store was made: nothing to look at yet.
        let Some(_) = home.try_number("SELECT count(*) FROM plugin_state") else { continue };
        mid_import += usize::from(home.text(state).contains("todo"));
        let over = home.number(
            "SELECT count(*) FROM (SELECT key FROM calls GROUP BY key HAVING count(*) > 1) AS twice",
        );
        assert_eq!(over, 0, "a call stored twice");
    }
    assert!(mid_import > 0, "no kill landed mid-import: the test tested nothing");
    home.run(&["run", "--plugin", "claude_code_logs"]).expect_code(0);
    assert!(!home.text(state).contains("todo"), "the import is done");
    assert_eq!(home.count("calls"), 1600, "each call once");
    let (a, b) =
        (summary(&home, "2026-11-01", "2026-11-01"), summary(&whole, "2026-11-01", "2026-11-01"));
    assert_eq!(a["estimated"], b["estimated"], "the same calls, each with its final counts");
}

#[test]
fn budgets_exports_and_alerts_run_on_estimates_labelled_as_such() {
    let (mut home, _logs) = home_with_logs();
    home.env("MONTHLY_BUDGET_USD", "0.05");
    home.run(&["run-all"]).expect_code(0);
    let csv = home.run(&["export", "--month", "2026-11", "--out", "-"]).expect_code(0).stdout();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows.iter().all(|r| r.ends_with(",estimated")), "{csv}");
    assert!(csv.contains("Anthropic (estimated),2026-11-01,"), "{csv}");
    let total: Decimal = rows.iter().map(|r| dec(r.split(',').nth(3).unwrap())).sum();
    let all = [ANTHROPIC_DAY1, ANTHROPIC_DAY2, OPENAI_DAY1, OPENAI_DAY2].map(dec);
    assert_eq!(total.round_dp(2), all.iter().sum::<Decimal>().round_dp(2));

    let s = summary(&home, "2026-11-01", "2026-11-30");
    assert_eq!(dec(s["budget"]["estimated"].as_str().unwrap()), all.iter().sum::<Decimal>());
    let alerts = home.run(&["alerts", "--dry-run", "--json"]).expect_code(0).json();
    let budget = alerts["due"].as_array().unwrap().iter().find(|a| a["rule"] == "budget");
    let message = budget.expect("the estimate crosses the budget")["message"].as_str().unwrap();
    assert!(message.contains("ESTIMATED from local logs"), "{message}");
}

#[test]
fn reconcile_puts_billed_and_both_estimates_side_by_side_with_exact_drift() {
    let sim = simulator();
    let (mut home, _logs) = home_with_logs();
    home.install("anthropic_collector");
    home.use_simulator(&sim);
    home.run(&["run-all", "--from", "2026-11-01", "--to", "2026-11-02"]).expect_code(0);
    let r = home
        .run(&["reconcile", "--from", "2026-11-01", "--to", "2026-11-02", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(r["threshold_pct"], 5);
    let days = r["days"].as_array().unwrap();
    for (day, local) in [("2026-11-01", ANTHROPIC_DAY1), ("2026-11-02", ANTHROPIC_DAY2)] {
        let row = days
            .iter()
            .find(|d| d["provider"] == "Anthropic" && d["date"] == day)
            .unwrap_or_else(|| panic!("{day}: {r}"));
        let (_, billed) = sim.expected_day("anthropic", day.parse().unwrap());
        assert_eq!(dec(row["billed"].as_str().unwrap()), dec(&billed), "{day}");
        assert_eq!(dec(row["local_estimate"].as_str().unwrap()), dec(local), "{day}");
        let drift = |est: &str| {
            ((dec(est) - dec(&billed)) * Decimal::from(100) / dec(&billed))
                .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
                .to_string()
        };
        assert_eq!(row["local_drift_pct"].as_str().unwrap(), drift(local), "{day}");
        let usage = row["usage_estimate"].as_str().expect("the simulator's usage is priced");
        assert_eq!(row["usage_drift_pct"].as_str().unwrap(), drift(usage), "{day}");
        // Small local logs against a whole organization's bill: far apart.
        assert_eq!(row["flagged"], true, "{day}");
    }
    // Totals compare like with like: only provider-days with a bill.
    let local_total = dec(r["totals"]["local_estimate"].as_str().unwrap());
    assert_eq!(local_total, dec(ANTHROPIC_DAY1) + dec(ANTHROPIC_DAY2));
    // ... and its drift is against the bill of those same days (issue 24).
    let billed_days: Decimal = ["2026-11-01", "2026-11-02"]
        .iter()
        .map(|d| dec(&sim.expected_day("anthropic", d.parse().unwrap()).1))
        .sum();
    assert_eq!(dec(r["totals_compared"]["local_billed"].as_str().unwrap()), billed_days);
    let want = ((local_total - billed_days) * Decimal::from(100) / billed_days)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    assert_eq!(dec(r["totals"]["local_drift_pct"].as_str().unwrap()), want);
    // Codex's calls have nothing billed to compare with: said, not hidden.
    let openai = days.iter().find(|d| d["provider"] == "OpenAI").unwrap();
    assert!(openai["billed"].is_null());
    let causes = openai["causes"].to_string();
    assert!(causes.contains("in local logs only"), "{causes}");
    let text = home.run(&["reconcile", "--from", "2026-11-01", "--to", "2026-11-02"]).stdout();
    assert!(text.contains("DRIFT"), "{text}");
}

#[test]
fn prices_show_the_rate_used_and_a_newer_table_can_be_imported() {
    let (home, logs) = home_with_logs();
    let out =
        home.run(&["prices", "--model", "claude-sonnet-4-5-20250929"]).expect_code(0).stdout();
    assert!(out.contains("genai-prices 47df840a (2026-08-21)"), "{out}");
    assert!(out.contains("input 3 (6 above 200000), output 15 (22.5 above 200000)"), "{out}");
    assert!(out.contains("1h 6 (12 above 200000)"), "{out}");
    let missing = home.run(&["prices", "--model", "claude-nonexistent-9"]);
    missing.expect_code(2);
    assert!(missing.stderr().contains("unpriced, never $0"), "{}", missing.stderr());

    // A newer table: Sonnet 4.5 input at $4.
    let table = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/assets/prices/genai-prices-data.json"),
    )
    .unwrap();
    let sonnet = r#""id":"claude-sonnet-4-5","#;
    let at = table.find(sonnet).expect("Sonnet 4.5 in the table");
    let (head, tail) = table.split_at(at);
    let tail = tail.replacen(
        r#""input_mtok":{"base":3,"tiers":[{"start":200000,"price":6}]}"#,
        r#""input_mtok":{"base":4,"tiers":[{"start":200000,"price":6}]}"#,
        1,
    );
    let newer = format!("{head}{tail}");
    assert_ne!(newer, table, "the table's formatting changed");
    let file = logs.path().join("newer.json");
    std::fs::write(&file, &newer).unwrap();
    home.run(&["prices", "update", "--from", file.to_str().unwrap()]).expect_code(0);
    let out = home.run(&["prices", "--model", "claude-sonnet-4-5"]).expect_code(0).stdout();
    assert!(out.contains("imported from") && out.contains("input 4 (6 above"), "{out}");

    // A broken file is refused with where it is wrong; the table in force stays.
    std::fs::write(&file, r#"[{"id":"x","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":"lots"}}]}]"#).unwrap();
    let bad = home.run(&["prices", "update", "--from", file.to_str().unwrap()]);
    bad.expect_code(3);
    assert!(bad.stderr().contains("provider x, model m: price lots"), "{}", bad.stderr());
    let out = home.run(&["prices", "--model", "claude-sonnet-4-5"]).expect_code(0).stdout();
    assert!(out.contains("input 4 (6 above"), "{out}");
}

/// `agent-host args…`, killed and failed if it has not finished within
/// `secs` (a generous bound: what is measured is "does not hang").
fn run_within(home: &Home, args: &[&str], secs: u64) -> util::Run {
    use std::time::{Duration, Instant};
    let mut child = home
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("agent-host starts");
    let started = Instant::now();
    while child.try_wait().expect("the child can be waited on").is_none() {
        if started.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`agent-host {}` still ran after {secs} s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    util::Run(child.wait_with_output().expect("its output"))
}

#[test]
fn prices_update_refuses_anything_but_a_bounded_regular_file() {
    let (home, logs) = home_with_logs();
    let fifo = logs.path().join("prices.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    // A sparse file: 300 MB long, no disk used.
    let huge = logs.path().join("huge.json");
    std::fs::File::create(&huge).unwrap().set_len(300_000_000).unwrap();
    let folder = logs.path().join("claude");
    let cases = [
        (Path::new("/dev/zero"), "/dev/zero is a character device, not a regular file"),
        (fifo.as_path(), "prices.fifo is a FIFO, not a regular file"),
        (folder.as_path(), "claude is a directory, not a regular file"),
        (huge.as_path(), "huge.json is 300000000 bytes, more than a price table may be"),
    ];
    for (path, why) in cases {
        let run = run_within(&home, &["prices", "update", "--from", path.to_str().unwrap()], 30);
        run.expect_code(3);
        let err = run.stderr();
        let first = err.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: price table: ") && first.contains(why), "{err}");
        assert!(first.contains("nothing was imported"), "{err}");
        assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "{err}");
    }
    // The table in force is still the embedded one, and nothing was written.
    let table = home.run(&["prices", "--json"]).expect_code(0).json();
    assert!(table["source"].as_str().unwrap().contains("embedded"), "{table}");
    assert!(!home.path().join("prices").exists());
}

// The Gemini fixture's calls (tests/fixtures/logs/README.md, "Gemini CLI")
// priced by hand from the same table (USD per million tokens: input, output,
// cache read; gemini-2.5-pro's first tier, all prompts below 200k):
//
// 2026-11-01 gemini-2.5-pro   (1.25, 10, 0.125): 8000*1.25 + 1320*10 + 24000*0.125 = 26200
// 2026-11-01 gemini-2.5-flash (0.3, 2.5, 0.03):  3050*0.3 + 200*2.5 + 12000*0.03 = 1775
// 2026-11-02 gemini-2.5-flash-lite (0.1, 0.4):   4000*0.1 + 110*0.4 = 444
// 2026-10-30 gemini-2.5-pro (a legacy .json session): 500*1.25 + 50*10 = 1125
// 2026-10-30 unknown (no model named yet): unpriced, 1010 tokens left out (never $0)
// 2026-10-31 gemini-2.5-flash (migrated, in .json and .jsonl): 1000*0.3 + 100*2.5 + 1000*0.03 = 580
const GOOGLE_LEGACY: &str = "0.001705";
const GOOGLE_DAY1: &str = "0.027975";
const GOOGLE_DAY2: &str = "0.000444";

#[test]
fn gemini_cli_sessions_are_kept_once_priced_and_outlive_their_files() {
    let logs = tempfile::tempdir().unwrap();
    util::copy_tree(&util::fixtures().join("gemini"), logs.path());
    let mut home = Home::with_plugins(&["gemini_cli_logs"]);
    home.env("AGENT_TODAY", "2026-11-03")
        .env("HOME", &logs.path().join("nobody").display().to_string())
        .env("GEMINI_CLI_HOME", &logs.path().join("home").display().to_string());
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("calls"), 8, "one call per reply, whatever its copies");
    let s = summary(&home, "2026-11-01", "2026-11-02");
    assert_eq!(estimated(&s, "Google"), dec(GOOGLE_DAY1) + dec(GOOGLE_DAY2));

    let s = summary(&home, "2026-10-30", "2026-10-31");
    assert_eq!(estimated(&s, "Google"), dec(GOOGLE_LEGACY));
    let google = s["estimated"]["providers"].as_array().unwrap();
    let google = google.iter().find(|p| p["provider"] == "Google").unwrap();
    assert_eq!(google["unpriced_tokens"], 1010, "{google}");
    let why = google["unpriced"].to_string();
    assert!(why.contains("unknown"), "{why}");
    for (day, want) in [("2026-11-01", GOOGLE_DAY1), ("2026-11-02", GOOGLE_DAY2)] {
        assert_eq!(estimated(&summary(&home, day, day), "Google"), dec(want), "{day}");
    }

    // Nothing new: nothing read, nothing changed.
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("calls"), 8);

    // A reply appended: only it is read. 100,000 uncached input tokens of
    // gemini-2.5-flash at $0.30 per million.
    let main = logs.path().join(
        "home/.gemini/tmp/9a3f6c1e0b7d4a25c8e1f09b3d6a7c4e2f1b8d0a5c3e7f9b1d2a4c6e8f0b2d4a/chats/session-2026-11-01T09-00-5e1f0a2b.jsonl",
    );
    let line = r#"{"id":"0a1b2c3d-0000-4000-8000-0000000000b1","timestamp":"2026-11-02T11:00:00.000Z","type":"gemini","content":"ok","thoughts":[],"tokens":{"input":100000,"output":0,"cached":0,"thoughts":0,"tool":0,"total":100000},"model":"gemini-2.5-flash"}"#;
    let mut text = std::fs::read_to_string(&main).unwrap();
    text.push_str(&format!("{line}\n{line}\n"));
    std::fs::write(&main, text).unwrap();
    let run = home.run(&["run", "--plugin", "gemini_cli_logs", "--json"]);
    run.expect_code(0);
    assert_eq!(run.json()[0]["records_received"], 2, "the appended call and its provider");
    assert_eq!(home.count("calls"), 9);
    let s = summary(&home, "2026-11-02", "2026-11-02");
    assert_eq!(estimated(&s, "Google"), dec(GOOGLE_DAY2) + dec("0.03"));

    // The sessions go (Gemini CLI's retention deletes old ones): history stays.
    let before = summary(&home, "2026-10-30", "2026-11-02");
    std::fs::remove_dir_all(logs.path().join("home/.gemini/tmp")).unwrap();
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(summary(&home, "2026-10-30", "2026-11-02")["estimated"], before["estimated"]);
    assert_eq!(home.count("calls"), 9);
}
