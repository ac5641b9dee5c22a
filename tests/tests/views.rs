//! The views ccusage users ask for, end to end on the real binary and
//! plugins: weekly rows, sessions, 5-hour blocks, the status line, and the
//! MCP server driven over stdio by a test client, answering exactly what
//! the `--json` commands print.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use rust_decimal::Decimal;
use serde_json::{json, Value};
use util::{home_with_logs, simulator, Home};

fn dec(v: &Value) -> Decimal {
    let s = v.as_str().unwrap_or_else(|| panic!("{v} is not decimal text"));
    s.parse().unwrap_or_else(|_| panic!("{s:?} is not a decimal"))
}

#[test]
fn weekly_rows_sum_to_the_daily_rows() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-31"]).expect_code(0);
    let s =
        home.run(&["summary", "--month", "2025-08", "--weekly", "--json"]).expect_code(0).json();
    let daily = s["daily"].as_array().unwrap();
    let weekly = s["weekly"].as_array().unwrap();
    // 2025-08-01 is a Friday: ISO week 31 holds 1..3, weeks 32-35 hold 7
    // days each (4..31), the period cuts none of the rest.
    let weeks: Vec<&str> = weekly.iter().map(|w| w["week"].as_str().unwrap()).collect();
    assert_eq!(weeks, ["2025-W31", "2025-W32", "2025-W33", "2025-W34", "2025-W35"]);
    assert_eq!(
        (weekly[0]["from"].clone(), weekly[0]["to"].clone()),
        (json!("2025-08-01"), json!("2025-08-03"))
    );
    assert_eq!(
        (weekly[4]["from"].clone(), weekly[4]["to"].clone()),
        (json!("2025-08-25"), json!("2025-08-31"))
    );
    let days: u64 = weekly.iter().map(|w| w["days"].as_u64().unwrap()).sum();
    assert_eq!(days as usize, daily.len());
    let cost = |rows: &[Value]| -> Decimal {
        rows.iter().filter(|r| !r["cost"].is_null()).map(|r| dec(&r["cost"])).sum()
    };
    let tokens = |rows: &[Value]| -> i64 { rows.iter().filter_map(|r| r["tokens"].as_i64()).sum() };
    assert!(cost(daily) > Decimal::ZERO, "the simulator billed August");
    assert_eq!(cost(weekly), cost(daily), "weeks add up to days exactly");
    assert_eq!(tokens(weekly), tokens(daily));
    // Each week equals its own days.
    for w in weekly {
        let (from, to) = (w["from"].as_str().unwrap(), w["to"].as_str().unwrap());
        let inside: Vec<Value> = daily
            .iter()
            .filter(|d| (from..=to).contains(&d["date"].as_str().unwrap()))
            .cloned()
            .collect();
        assert_eq!(w["days"].as_u64().unwrap() as usize, inside.len());
        assert_eq!(cost(std::slice::from_ref(w)), cost(&inside), "{w}");
    }
    let text = home.run(&["summary", "--month", "2025-08", "--weekly"]).expect_code(0).stdout();
    assert!(text.contains("2025-W33") && text.contains("2025-08-11..2025-08-17"), "{text}");
}

#[test]
fn weekly_rows_carry_the_local_logs_estimate_beside_the_billed_figures() {
    let (home, _logs) = home_with_logs();
    home.run(&["run-all"]).expect_code(0);
    let s =
        home.run(&["summary", "--month", "2026-11", "--weekly", "--json"]).expect_code(0).json();
    let weekly = s["weekly"].as_array().unwrap();
    // The fixtures' days priced by hand in local_logs.rs: 2026-11-01 (a
    // Sunday, ISO week 44) Anthropic 0.054468 + OpenAI 0.01397 = 0.068438;
    // 2026-11-02 (week 45) 0.023102 + 0.005325 = 0.028427.
    assert_eq!(weekly[0]["week"], "2026-W44");
    assert_eq!(dec(&weekly[0]["estimated_cost"]), "0.068438".parse().unwrap());
    assert_eq!(dec(&weekly[1]["estimated_cost"]), "0.028427".parse().unwrap());
    assert!(weekly[2..].iter().all(|w| w["estimated_cost"].is_null()), "no calls, no estimate");
    assert!(weekly.iter().all(|w| w["cost"].is_null()), "nothing billed: never an estimate");
    let total: Decimal = weekly
        .iter()
        .filter(|w| !w["estimated_cost"].is_null())
        .map(|w| dec(&w["estimated_cost"]))
        .sum();
    assert_eq!(total, dec(&s["estimated"]["total_cost"]));
    let tokens: u64 = weekly.iter().map(|w| w["estimated_tokens"].as_u64().unwrap()).sum();
    assert_eq!(tokens, s["estimated"]["total_tokens"].as_u64().unwrap());
    let only = home
        .run(&["summary", "--month", "2026-11", "--weekly", "--provider", "OpenAI", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(dec(&only["weekly"][0]["estimated_cost"]), "0.01397".parse().unwrap());
}

#[test]
fn sessions_of_the_fixture_transcripts() {
    let (home, _logs) = home_with_logs();
    home.run(&["run-all"]).expect_code(0);
    let args = ["summary", "--from", "2026-11-01", "--to", "2026-11-02", "--by", "session"];
    let s = home.run(&[&args[..], &["--json"]].concat()).expect_code(0).json();
    assert_eq!(s["kind"], "estimated");
    let sessions = s["sessions"].as_array().unwrap();
    let find =
        |id: &str| sessions.iter().find(|x| x["session"] == id).unwrap_or_else(|| panic!("{id}"));
    // S1 (tests/fixtures/logs/README.md): msg_01A (streamed, kept once),
    // 01B, 01C, 01D and its subagent's two haiku calls; 01B's sidechain
    // replay is not a new call. It crosses midnight UTC.
    let s1 = find("9f0c2e4a-5b1d-4c7e-8a2f-3d6b1e0c9a11");
    assert_eq!(s1["project"], "/home/me/app");
    assert_eq!(s1["source"], "claude_code");
    assert_eq!(s1["calls"], 6);
    assert!(s1["first_call"].as_str().unwrap().starts_with("2026-11-01T09:00"), "{s1}");
    assert!(s1["last_call"].as_str().unwrap().starts_with("2026-11-02T00:00"), "{s1}");
    // S2, resumed: its copies of S1's calls belong to S1; its own msg_02A
    // (opus-4-6: 10*5 + 300*25 + 200*6.25 + 1000*10 = 18800 µ$).
    let s2 = find("1b7d3c55-2e8f-4a90-b6c1-7f4d2a8e5b22");
    assert_eq!((s2["calls"].clone(), dec(&s2["cost"])), (json!(1), "0.0188".parse().unwrap()));
    // S3, the legacy root: the two opus-4-1 calls (31470 µ$).
    let s3 = find("5a5a7e21-9c3b-4d6f-a1e8-2b7c4f9d0e33");
    assert_eq!((s3["project"].clone(), s3["calls"].clone()), (json!("/home/me/legacy"), json!(2)));
    assert_eq!(dec(&s3["cost"]), "0.03147".parse().unwrap());
    // Every call is in one session: sessions add up to the period's estimate.
    let calls: u64 = sessions.iter().map(|x| x["calls"].as_u64().unwrap()).sum();
    assert_eq!(calls, 18);
    let total: Decimal = sessions.iter().map(|x| dec(&x["cost"])).sum();
    let summary = home
        .run(&["summary", "--from", "2026-11-01", "--to", "2026-11-02", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(total, dec(&summary["estimated"]["total_cost"]));
    let text = home.run(&args).expect_code(0).stdout();
    assert!(text.contains("9f0c2e4a-5b1d") && text.contains("/home/me/legacy"), "{text}");
    // One provider's sessions: Codex's four rollouts' sessions only.
    let codex =
        home.run(&[&args[..], &["--provider", "OpenAI", "--json"]].concat()).expect_code(0).json();
    let sources: Vec<&str> = codex["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["source"].as_str().unwrap())
        .collect();
    assert!(!sources.is_empty() && sources.iter().all(|s| *s == "codex"), "{sources:?}");
    // Sessions have no days or weeks: refused, not ignored.
    let refused = home.run(&[&args[..], &["--weekly"]].concat());
    refused.expect_code(2);
    assert!(refused.stderr().contains("--by session lists sessions"), "{}", refused.stderr());
}

/// One Claude Code transcript line (claude-sonnet-4-5: $3 input, $15
/// output per million tokens).
fn line(id: &str, at: &str, input: u64, output: u64) -> String {
    json!({
        "type": "assistant", "cwd": "/home/me/blocks", "sessionId": "b10c5000-0000-4000-8000-000000000001",
        "requestId": format!("req_{id}"), "timestamp": at, "uuid": format!("u-{id}-{at}"),
        "message": {"id": id, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                    "content": [], "usage": {"input_tokens": input, "output_tokens": output,
                    "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    })
    .to_string()
}

/// A home reading one transcript made for the block rule.
fn blocks_home() -> (Home, tempfile::TempDir) {
    let logs = tempfile::tempdir().unwrap();
    let dir = logs.path().join("claude/projects/-home-me-blocks");
    std::fs::create_dir_all(&dir).unwrap();
    let lines = [
        line("msg_1", "2026-11-01T08:20:00.000Z", 1000, 100),
        // Streamed: three copies of one call, output 10 → 50 → 200; kept
        // once, with the largest counts and the first copy's instant.
        line("msg_2", "2026-11-01T10:00:00.000Z", 2000, 10),
        line("msg_2", "2026-11-01T10:00:01.000Z", 2000, 50),
        line("msg_2", "2026-11-01T10:00:02.000Z", 2000, 200),
        // Exactly the first block's end.
        line("msg_3", "2026-11-01T13:00:00.000Z", 3000, 300),
        line("msg_4", "2026-11-01T13:30:00.000Z", 500, 50),
        // More than 5 hours after msg_4: a gap, then a new block.
        line("msg_5", "2026-11-01T19:10:00.000Z", 700, 70),
        line("msg_6", "2026-11-01T19:40:00.000Z", 1000, 100),
    ];
    std::fs::write(dir.join("b10c5000-0000-4000-8000-000000000001.jsonl"), lines.join("\n") + "\n")
        .unwrap();
    let mut home = Home::with_plugins(&["claude_code_logs"]);
    home.env("AGENT_TODAY", "2026-11-02")
        .env("AGENT_NOW", "2026-11-01T20:10:00Z")
        .env("HOME", &logs.path().join("nobody").display().to_string())
        .env("CLAUDE_CONFIG_DIR", &logs.path().join("claude").display().to_string());
    home.run(&["run-all"]).expect_code(0);
    (home, logs)
}

// The rule (ccusage's): calls oldest first; a block starts at the floor of
// the UTC hour of its first call and ends 5 hours later; a call more than
// 5 hours after the block's start or after the previous call starts a new
// block; a silence of more than 5 hours is listed as a gap from the last
// call + 5 h to the next call. Active: last call < 5 h ago, end ahead.
//
//   msg_1 08:20 → block A 08:00–13:00. msg_2 10:00 (2h after 08:00): A.
//   msg_3 13:00 = A's end, not after it: A. msg_4 13:30 (5h30 after
//   08:00): block B 13:00–18:00. msg_5 19:10: 6h10 after B's start → new
//   block; 5h40 after msg_4 → gap 18:30–19:10; block C 19:00–00:00.
//   msg_6 19:40: C.
//
//   A: 3 calls; tokens 1000+100 + 2000+200 + 3000+300 = 6600; cost
//      (1000*3 + 100*15) + (2000*3 + 200*15) + (3000*3 + 300*15) µ$
//      = 4500 + 9000 + 13500 = 27000 µ$ = 0.027.
//   B: 1 call, 550 tokens, 500*3 + 50*15 = 2250 µ$ = 0.00225.
//   C: 2 calls, 770 + 1100 = 1870 tokens; 3150 + 4500 = 7650 µ$ = 0.00765.
//   Now 20:10: C is active (last call 30 min ago, end 00:00 ahead).
//      Burn: 19:10 → 19:40 = 30 min. 1870 / 30 = 62.33 tokens/min,
//      3740 tokens/h, 0.00765 / 0.5 h = 0.0153 $/h.
//      Left 20:10 → 00:00 = 230 min: tokens 1870 + 3740 × 230/60
//      = 1870 + 14336.67 = 16206.67 → 16207; cost 0.00765 + 0.0153 ×
//      230/60 = 0.00765 + 0.05865 = 0.0663.
#[test]
fn blocks_follow_the_rule_with_gaps_a_call_at_the_end_and_streamed_copies() {
    let (home, _logs) = blocks_home();
    let v = home.run(&["blocks", "--json"]).expect_code(0).json();
    assert_eq!(v["kind"], "estimated");
    let blocks = v["blocks"].as_array().unwrap();
    let shape: Vec<(&str, &str, bool, u64, u64)> = blocks
        .iter()
        .map(|b| {
            (
                b["start"].as_str().unwrap(),
                b["end"].as_str().unwrap(),
                b["is_gap"].as_bool().unwrap(),
                b["calls"].as_u64().unwrap(),
                b["tokens"]["total"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("2026-11-01T08:00:00.000Z", "2026-11-01T13:00:00.000Z", false, 3, 6600),
            ("2026-11-01T13:00:00.000Z", "2026-11-01T18:00:00.000Z", false, 1, 550),
            ("2026-11-01T18:30:00.000Z", "2026-11-01T19:10:00.000Z", true, 0, 0),
            ("2026-11-01T19:00:00.000Z", "2026-11-02T00:00:00.000Z", false, 2, 1870),
        ]
    );
    let costs: Vec<Decimal> = blocks.iter().map(|b| dec(&b["cost"])).collect();
    let want: Vec<Decimal> =
        ["0.027", "0.00225", "0", "0.00765"].iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(costs, want);
    assert_eq!(blocks[0]["tokens"]["output"], 600, "the streamed call counts its final 200 once");
    let active: Vec<&Value> = blocks.iter().filter(|b| b["is_active"] == true).collect();
    assert_eq!(active.len(), 1);
    let c = active[0];
    assert_eq!(c["start"], "2026-11-01T19:00:00.000Z");
    assert_eq!(
        c["burn_rate"],
        json!({"tokens_per_minute": "62.33", "tokens_per_minute_indicator": "62.33",
               "tokens_per_hour": "3740.00", "cost_per_hour": "0.015300"})
    );
    assert_eq!(
        c["projection"],
        json!({"remaining_minutes": 230, "tokens": 16207, "cost": "0.066300"})
    );
    let only = home.run(&["blocks", "--active", "--json"]).expect_code(0).json();
    assert_eq!(only["blocks"], json!([c]));
    let text = home.run(&["blocks"]).expect_code(0).stdout();
    assert!(
        text.contains("ACTIVE") && text.contains("gap") && text.contains("3h50m left"),
        "{text}"
    );
}

/// A sample of what Claude Code writes on a status line command's stdin.
const STATUS_INPUT: &str = r#"{"hook_event_name":"Status","session_id":"b10c5000-0000-4000-8000-000000000001","transcript_path":"/home/me/.claude/projects/-home-me-blocks/b10c5000-0000-4000-8000-000000000001.jsonl","cwd":"/home/me/blocks","model":{"id":"claude-sonnet-4-5","display_name":"Sonnet 4.5"},"workspace":{"current_dir":"/home/me/blocks","project_dir":"/home/me/blocks"},"version":"2.0.14","output_style":{"name":"default"},"cost":{"total_cost_usd":0.04215,"total_duration_ms":45000,"total_api_duration_ms":2300,"total_lines_added":156,"total_lines_removed":23},"exceeds_200k_tokens":false}"#;

fn statusline(home: &Home, input: &str) -> (std::time::Duration, std::process::Output) {
    let started = std::time::Instant::now();
    let mut child = home
        .command(&["statusline"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (started.elapsed(), out)
}

#[test]
fn the_status_line_shows_the_months_billed_spend() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-31"]).expect_code(0);
    home.env("AGENT_NOW", "2025-08-20T12:00:00Z");
    let s = home
        .run(&["summary", "--from", "2025-08-01", "--to", "2025-08-20", "--json"])
        .expect_code(0)
        .json();
    let billed = dec(&s["total_cost"])
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert!(billed > Decimal::ZERO);
    let (_, out) = statusline(&home, STATUS_INPUT);
    let text = String::from_utf8(out.stdout).unwrap();
    // No local logs: no estimates, but the billed month to date, in cents
    // with thousands separators.
    let shown = format!("Aug billed ${}", thousands(&billed.to_string()));
    assert!(text.trim_end().ends_with(&shown), "{text} should end with {shown}");
    assert!(text.contains("no active block"), "{text}");
}

fn thousands(text: &str) -> String {
    let (int, frac) = text.split_once('.').unwrap_or((text, "00"));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}.{frac:0<2}")
}

#[test]
fn the_status_line_from_claude_codes_input() {
    let (home, _logs) = blocks_home();
    let (took, out) = statusline(&home, STATUS_INPUT);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Claude Code's own session cost; today's calls (all on 2026-11-01 =
    // AGENT_NOW's day): 0.027 + 0.00225 + 0.00765 = 0.0369 → 0.04; the
    // active block C: 0.00765 → 0.01, 20:10 → 00:00 = 3h50m left.
    assert_eq!(
        text.trim_end(),
        "Sonnet 4.5 · session $0.04 · today ~$0.04 · block ~$0.01 (3h50m left)"
    );
    assert_eq!(text.lines().count(), 1);
    // Measured at about 0.1 s for a debug build (the price table's parse
    // dominates); the bound only catches a pathological slowdown.
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    // Without Claude Code's cost, the session's own estimate.
    let (_, out) = statusline(&home, r#"{"session_id":"b10c5000-0000-4000-8000-000000000001"}"#);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("session ~$0.04 · "), "{text}");
    // The month's billed spend, when collectors stored some: none here.
    assert!(!text.contains("billed"), "{text}");
    // Not JSON: one line saying so, exit 2.
    let (_, out) = statusline(&home, "{\"session_id\": ");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not Claude Code's status-line JSON"), "{err}");
}

/// A test client of `agent-host mcp` over stdio.
struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: i64,
}

impl Client {
    fn start(home: &Home) -> Client {
        let mut child = home
            .command(&["mcp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Client { child, stdin, stdout, next: 1 }
    }

    fn send(&mut self, text: &str) {
        writeln!(self.stdin, "{text}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        assert!(self.stdout.read_line(&mut line).unwrap() > 0, "the server answered");
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        serde_json::from_str(&line).unwrap()
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
        );
        let reply = self.read();
        assert_eq!(reply["id"], id, "{reply}");
        assert_eq!(reply["jsonrpc"], "2.0");
        reply
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
    }
}

/// A tool's result as the CLI prints it, checked against its structured
/// content.
fn tool_json(reply: &Value) -> Value {
    let r = &reply["result"];
    assert_eq!(r["isError"], false, "{reply}");
    assert_eq!(r["content"][0]["type"], "text");
    let text: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
    let structured = &r["structuredContent"];
    assert!(structured.is_object());
    if text.is_object() {
        assert_eq!(structured, &text);
    }
    text
}

/// What `serve` answers for `path` (the dashboard's API): data health has
/// no command of its own, the dashboard is its `--json`.
fn api_coverage(home: &Home, path: &str) -> Value {
    use std::io::Read;
    let mut child = home
        .command(&["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap().to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}"))
}

fn cli_json(home: &Home, args: &[&str]) -> Value {
    home.run(args).expect_code(0).json()
}

#[test]
fn the_mcp_server_answers_what_the_cli_prints_and_never_crashes() {
    let (mut home, _logs) = home_with_logs();
    home.env("AGENT_NOW", "2026-11-02T09:30:00Z");
    home.run(&["run-all"]).expect_code(0);
    let mut c = Client::start(&home);

    let init = c.request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "views-test", "version": "1"}}),
    );
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert!(init["result"]["capabilities"]["tools"].is_object());
    assert_eq!(init["result"]["serverInfo"]["name"], "agent-host");
    c.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);

    let list = c.request("tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["summary", "blocks", "reconcile", "runs", "data_health"]);
    for t in tools {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert_eq!(t["annotations"]["readOnlyHint"], true);
    }

    // Valid calls: exactly what the CLI prints.
    let period = ["--from", "2026-11-01", "--to", "2026-11-02"];
    let range = json!({"from": "2026-11-01", "to": "2026-11-02"});
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("summary", range.clone(), [&["summary"][..], &period, &["--json"]].concat()),
        (
            "summary",
            json!({"month": "2026-11", "weekly": true, "by": "model"}),
            vec!["summary", "--month", "2026-11", "--weekly", "--by", "model", "--json"],
        ),
        (
            "summary",
            json!({"from": "2026-11-01", "to": "2026-11-02", "by": "session"}),
            [&["summary"][..], &period, &["--by", "session", "--json"]].concat(),
        ),
        ("blocks", json!({}), vec!["blocks", "--json"]),
        ("blocks", json!({"active": true}), vec!["blocks", "--active", "--json"]),
        ("reconcile", range, [&["reconcile"][..], &period, &["--json"]].concat()),
        ("runs", json!({"limit": 5}), vec!["runs", "--limit", "5", "--json"]),
        ("runs", json!({"missing": true}), vec!["runs", "--missing", "--json"]),
    ];
    for (tool, args, cli) in cases {
        let got = tool_json(&c.call(tool, args.clone()));
        assert_eq!(got, cli_json(&home, &cli), "{tool} {args}");
    }
    let runs = c.call("runs", json!({}));
    assert!(runs["result"]["structuredContent"]["runs"].is_array(), "{runs}");
    let health = tool_json(&c.call("data_health", json!({"month": "2026-11"})));
    let plugins: Vec<&str> = health["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["plugin"].as_str().unwrap())
        .collect();
    assert_eq!(plugins, ["claude_code_logs", "codex_logs"]);
    assert_eq!(health, api_coverage(&home, "/api/coverage?month=2026-11"));

    // Invalid arguments, per tool: a JSON-RPC error naming what is wrong.
    let bad = [
        ("summary", json!({"by": "planet"}), "by must be"),
        ("summary", json!({"month": "2026-11", "from": "2026-11-01", "to": "2026-11-02"}), "month"),
        ("summary", json!({"month": "November"}), "November"),
        ("blocks", json!({"from": "2026-13-01"}), "from"),
        ("blocks", json!({"active": "yes"}), "active must be true or false"),
        ("reconcile", json!({"from": "2026-11-01"}), "from needs to"),
        ("runs", json!({"limit": 0}), "limit"),
        ("data_health", json!({"colour": "red"}), "unknown argument \"colour\""),
        ("nope", json!({}), "unknown tool"),
    ];
    for (tool, args, says) in bad {
        let reply = c.call(tool, args.clone());
        assert_eq!(reply["error"]["code"], -32602, "{tool} {args}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{tool} {args}: {message}");
    }
    let reply = c.request("tools/call", json!({"name": "summary", "arguments": [1]}));
    assert_eq!(reply["error"]["code"], -32602);

    // Protocol errors: never a crash, the next request still answered.
    for (text, code) in [
        ("{not json", -32700),
        ("[]", -32600),
        (r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":77,"method":"resources/list"}"#, -32601),
        ("\u{1}\u{2}", -32700),
    ] {
        c.send(text);
        let reply = c.read();
        assert_eq!(reply["error"]["code"], code, "{text}: {reply}");
    }
    let pong = c.request("ping", json!({}));
    assert_eq!(pong["result"], json!({}));

    // End of input ends the server cleanly.
    drop(c.stdin);
    let status = c.child.wait().unwrap();
    assert!(status.success());
}
