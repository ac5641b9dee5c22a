//! `agent-host serve` and `report html`: the JSON API gives the CLI's
//! numbers, refuses bad input with a one-line 400, binds safely, and the page
//! renders in a real browser (headless Chromium) with the same totals, a
//! missing day drawn unlike a zero day, and a quiet console.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use agent_host_tests::{data, Faults};
use chrono::NaiveDate;
use serde_json::Value;
use util::{simulator, Home};

/// A running `serve`; killed when dropped.
struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(home: &Home, extra: &[&str]) -> Served {
    let mut args = vec!["serve", "--bind", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut child = home.command(&args).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Served { child, addr }
}

/// A GET with optional extra headers: (status, body).
fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    request(addr, "GET", path, headers)
}

fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    // axum answers with a length, or chunks when it streams; these bodies are whole.
    (status, body.to_string())
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// August 2025 from the simulator, except 2025-08-21: both providers fail
/// to store it, so it is a missing day (not a zero day).
fn august_with_a_hole() -> Home {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    sim.set_faults(Faults { bad_value_on: Some(d("2025-08-21")), ..Default::default() });
    home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-31"]).expect_code(1);
    home
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[test]
fn the_api_gives_the_cli_s_numbers() {
    let home = august_with_a_hole();
    let server = serve(&home, &[]);
    let (status, body) = get(&server.addr, "/api/summary?month=2025-08", &[]);
    assert_eq!(status, 200, "{body}");
    let cli = home.run(&["summary", "--month", "2025-08", "--json"]).json();
    assert_eq!(json(&body), cli);

    let (_, models) = get(&server.addr, "/api/models?month=2025-08&by=model", &[]);
    let cli = home.run(&["summary", "--month", "2025-08", "--by", "model", "--json"]).json();
    assert_eq!(json(&models), cli["breakdown"]);
    let (_, projects) = get(&server.addr, "/api/models?month=2025-08&by=project", &[]);
    let cli = home.run(&["summary", "--month", "2025-08", "--by", "project", "--json"]).json();
    assert_eq!(json(&projects), cli["breakdown"]);
    let (_, one) = get(&server.addr, "/api/summary?month=2025-08&provider=OpenAI", &[]);
    let cli = home.run(&["summary", "--month", "2025-08", "--provider", "OpenAI", "--json"]).json();
    assert_eq!(json(&one), cli);
    assert_eq!(cli["providers"].as_array().unwrap().len(), 1);

    let (_, runs) = get(&server.addr, "/api/runs?limit=3", &[]);
    assert_eq!(json(&runs), home.run(&["runs", "--limit", "3", "--json"]).json());

    let daily = json(&get(&server.addr, "/api/daily?month=2025-08", &[]).1);
    let state = |day: &str| {
        daily["days"].as_array().unwrap().iter().find(|x| x["date"] == day).unwrap()["state"]
            .clone()
    };
    assert_eq!(state("2025-08-21"), "missing");
    let quiet = d("2025-08-01").iter_days().find(|x| data::is_quiet(*x)).unwrap().to_string();
    assert_eq!(state(&quiet), "collected", "a quiet day is a zero day, not a missing one");

    let coverage = json(&get(&server.addr, "/api/coverage?month=2025-08", &[]).1);
    let missing = coverage["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 2, "{coverage}");
    assert!(missing.iter().all(|m| m["day"] == "2025-08-21" && m["reason"].is_string()));
    assert_eq!(get(&server.addr, "/api/alerts", &[]).0, 200);
    // The token mix adds up to the summary's tokens.
    let mix = json(&get(&server.addr, "/api/tokens?month=2025-08", &[]).1);
    let summed: i64 = mix.as_array().unwrap().iter().map(|t| t["tokens"].as_i64().unwrap()).sum();
    assert_eq!(Some(summed), json(&body)["total_tokens"].as_i64());
}

#[test]
fn an_empty_home_answers_and_bad_requests_get_one_line() {
    let home = Home::with_plugins(&[]);
    let server = serve(&home, &[]);
    for path in [
        "/",
        "/api/summary",
        "/api/daily",
        "/api/models",
        "/api/coverage",
        "/api/tokens",
        "/api/runs",
        "/api/alerts",
        "/api/everything",
    ] {
        let (status, body) = get(&server.addr, path, &[]);
        assert_eq!(status, 200, "{path}: {body}");
    }
    let summary = json(&get(&server.addr, "/api/summary", &[]).1);
    assert_eq!(summary["total_cost"], "0.00");
    for (path, status, why) in [
        ("/api/summary?month=2025-13", 400, "is not a month"),
        ("/api/summary?from=2025-08-02&to=2025-08-01", 400, "after"),
        ("/api/summary?color=red", 400, "unknown parameter"),
        // See: issue 24, point 2.
        ("/api/summary?provider=Nope", 400, "unknown provider \"Nope\""),
        ("/api/models?by=colour", 400, "not provider, model, project or account"),
        ("/api/runs?limit=0", 400, "limit"),
        ("/api/runs?limit=%FF", 400, "limit"),
        ("/api/nothing", 404, "no API view"),
        ("/secrets", 404, "no page"),
    ] {
        let (got, body) = get(&server.addr, path, &[]);
        assert_eq!(got, status, "{path}: {body}");
        let v = json(&body);
        let e = v["error"].as_str().unwrap();
        assert!(e.contains(why) && !e.contains('\n'), "{path}: {e}");
    }
    assert_eq!(request(&server.addr, "POST", "/api/summary", &[]).0, 405);
    // A page elsewhere cannot reach the API through a rebound name.
    let (status, _) = get(&server.addr, "/api/summary", &[("Host", "evil.example:8787")]);
    assert_eq!(status, 403);
    // Nor can another site make it work (a no-cors request cannot read it).
    let (status, _) = get(&server.addr, "/api/everything", &[("Sec-Fetch-Site", "cross-site")]);
    assert_eq!(status, 403);
    assert_eq!(get(&server.addr, "/", &[("Sec-Fetch-Site", "same-origin")]).0, 200);
}

#[test]
fn a_non_loopback_bind_needs_a_token_on_every_request() {
    let home = Home::with_plugins(&[]);
    let refused = home.run(&["serve", "--bind", "0.0.0.0:0"]);
    refused.expect_code(2);
    assert!(refused.stderr().contains("needs a token"), "{}", refused.stderr());
    assert_eq!(refused.stderr().trim().lines().count(), 2, "{}", refused.stderr());

    let short = home.run(&["serve", "--bind", "0.0.0.0:0", "--token", "short"]);
    short.expect_code(2);
    assert!(short.stderr().contains("shorter than 16 characters"), "{}", short.stderr());

    let token = "dash-TOKEN-5f2c9e";
    let args = ["serve", "--bind", "0.0.0.0:0"];
    let mut child =
        home.command(&args).env("AGENT_SERVE_TOKEN", token).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .to_string();
    let addr = format!("127.0.0.1:{port}");
    let served = Served { child, addr };
    assert_eq!(get(&served.addr, "/api/summary", &[]).0, 401);
    assert_eq!(get(&served.addr, "/", &[]).0, 401);
    assert_eq!(get(&served.addr, "/api/summary", &[("Authorization", "Bearer nope")]).0, 401);
    let auth = format!("Bearer {token}");
    assert_eq!(get(&served.addr, "/api/summary", &[("Authorization", &auth)]).0, 200);
    assert_eq!(get(&served.addr, &format!("/?token={token}"), &[]).0, 200);
    let (_, body) = get(&served.addr, &format!("/api/runs?token={token}"), &[]);
    assert!(!body.contains(token));
}

/// A Chromium to drive headless: `AGENT_TEST_CHROMIUM`, else the first of the
/// usual names on PATH. CI installs Debian's `chromium`; elsewhere the
/// browser tests say they were skipped.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AGENT_TEST_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    assert!(std::env::var_os("CI").is_none(), "CI must have a Chromium (.ci/run installs it)");
    eprintln!("skipped: no Chromium on PATH (set AGENT_TEST_CHROMIUM)");
    None
}

/// Loads `url` headless and returns (the DOM after the scripts ran, the
/// browser's log); with `shot`, also a screenshot.
fn browse(browser: &Path, url: &str, shot: Option<&Path>) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        "--window-size=1280,1700",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match shot {
        Some(p) => cmd.arg(format!("--screenshot={}", p.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd.arg(url).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What the page's scripts logged or threw.
fn console_problems(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).collect()
}

/// The attribute `attr` of the first element whose tag text contains `marker`.
fn attr(dom: &str, marker: &str, attr: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    let tag = &dom[start..end];
    let key = format!("{attr}=\"");
    let from = tag.find(&key)? + key.len();
    Some(tag[from..].split('"').next()?.to_string())
}

#[test]
fn the_page_in_a_real_browser_shows_the_cli_s_totals() {
    let Some(browser) = chromium() else { return };
    let home = august_with_a_hole();
    let server = serve(&home, &[]);
    let url = format!("http://{}/?month=2025-08", server.addr);
    let (dom, log) = browse(&browser, &url, None);
    assert!(dom.contains("data-ready=\"yes\""), "the page did not finish: {dom}");
    assert!(!dom.contains("data-error"), "{dom}");
    assert!(console_problems(&log).is_empty(), "{:?}", console_problems(&log));
    let cli = home.run(&["summary", "--month", "2025-08", "--json"]).json();
    let exact = attr(&dom, "id=\"total-cost\"", "data-exact").unwrap();
    let stored: bigdecimal::BigDecimal = exact.parse().unwrap();
    let total: bigdecimal::BigDecimal = cli["total_cost"].as_str().unwrap().parse().unwrap();
    assert_eq!(stored, total);
    let shown = dom.split("id=\"total-cost\"").nth(1).and_then(|r| r.split('>').nth(1)).unwrap();
    assert!(shown.starts_with('$') && shown.contains('.'), "{shown}");
    assert_eq!(attr(&dom, "data-date=\"2025-08-21\"", "data-state").as_deref(), Some("missing"));
    let quiet = d("2025-08-01").iter_days().find(|x| data::is_quiet(*x)).unwrap();
    assert_eq!(
        attr(&dom, &format!("data-date=\"{quiet}\""), "data-state").as_deref(),
        Some("zero"),
        "a zero day is drawn unlike a missing one"
    );
    for model in ["gpt-4.1-2025-04-14", "claude-sonnet-4-20250514"] {
        assert!(dom.contains(model), "{model} is in the model table");
    }

    // The same page as one file: it renders without the server.
    let file = home.path().join("report.html");
    home.run(&["report", "html", "--month", "2025-08", "--out", file.to_str().unwrap()])
        .expect_code(0);
    drop(server);
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "self-contained");
    let (dom, log) = browse(&browser, &format!("file://{}", file.display()), None);
    assert!(dom.contains("data-ready=\"yes\""), "{dom}");
    assert!(console_problems(&log).is_empty(), "{:?}", console_problems(&log));
    assert_eq!(attr(&dom, "id=\"total-cost\"", "data-exact"), Some(exact));
    let shot = home.path().join("dashboard.png");
    browse(&browser, &format!("file://{}", file.display()), Some(&shot));
    assert!(
        std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false),
        "a screenshot was taken"
    );
}

#[test]
fn estimates_from_local_logs_show_apart_from_billed_in_a_real_browser() {
    let Some(browser) = chromium() else { return };
    let (home, _logs) = util::home_with_logs();
    home.run(&["run-all"]).expect_code(0);
    let file = home.path().join("report.html");
    home.run(&["report", "html", "--month", "2026-11", "--out", file.to_str().unwrap()])
        .expect_code(0);
    let (dom, log) = browse(&browser, &format!("file://{}", file.display()), None);
    assert!(dom.contains("data-ready=\"yes\""), "{dom}");
    assert!(console_problems(&log).is_empty(), "{:?}", console_problems(&log));
    let cli = home.run(&["summary", "--month", "2026-11", "--json"]).json();
    let estimated = cli["estimated"]["total_cost"].as_str().unwrap().to_string();
    assert_eq!(attr(&dom, "id=\"estimated\"", "data-exact"), Some(estimated));
    assert_eq!(
        attr(&dom, "id=\"total-cost\"", "data-exact").as_deref(),
        Some("0.00"),
        "not billed"
    );
    assert!(dom.contains("Estimated from local logs (not billed)"), "{dom}");
    // The chart draws the estimate as a series of its own, one point per
    // day with calls (2026-11-01 and -02), labelled as not billed.
    assert_eq!(attr(&dom, "id=\"chart\"", "data-estimated-days").as_deref(), Some("2"), "{dom}");
    assert!(legend(&dom).contains("estimated from local logs (not billed)"), "{}", legend(&dom));
    // Data health counts what a log plugin read, never "0 of 30 days".
    let calls = home.number(
        "SELECT count(*) FROM calls WHERE plugin_name = 'claude_code_logs' AND day LIKE '2026-11-%'",
    );
    assert!(dom.contains(&format!("{calls} calls, last 2026-11-")), "{dom}");
    assert!(!dom.contains(">0 of "), "{dom}");
}

/// The `<table class="u-legend …">…</table>` of the chart.
fn legend(dom: &str) -> &str {
    let start = dom.find("<table class=\"u-legend").expect("the chart has a legend");
    let end = start + dom[start..].find("</table>").expect("the legend closes");
    &dom[start..end]
}

// See: issue 24, point 5: the first and last bars were cut in half, the
// legend read "Time: -- OpenRouter: OpenAI:" with empty values, and an empty
// period had a y-axis of fractions of a cent.
#[test]
fn the_chart_keeps_its_edge_bars_whole_and_its_legend_is_a_key() {
    let Some(browser) = chromium() else { return };
    let home = august_with_a_hole();
    let server = serve(&home, &[]);
    let (dom, log) = browse(&browser, &format!("http://{}/?month=2025-08", server.addr), None);
    assert!(dom.contains("data-ready=\"yes\""), "{dom}");
    assert!(console_problems(&log).is_empty(), "{:?}", console_problems(&log));
    let num = |name: &str| -> f64 {
        attr(&dom, "id=\"chart\"", name).and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            panic!("{name} on the chart: {}", &dom[dom.find("id=\"chart\"").unwrap_or(0)..][..300])
        })
    };
    // Half a day of room before the first day and after the last.
    assert!(num("data-x-min") <= num("data-first-day") - 43_200.0);
    assert!(num("data-x-max") >= num("data-last-day") + 43_200.0);
    let key = legend(&dom);
    for name in ["OpenAI", "Anthropic", "no data"] {
        assert!(key.contains(&format!(">{name}<")), "{name} in {key}");
    }
    assert!(!key.contains("u-value") && !key.contains("--"), "no empty read-out: {key}");
    assert!(!key.contains(">Day<") && !key.contains(">Time<"), "{key}");
    assert!(!dom.contains("u-series\" style=\"display: none"), "every entry shows: {key}");

    // A period without any data: a $0 to $1 axis, not fractions of a cent.
    let (dom, _) = browse(&browser, &format!("http://{}/?month=2024-01", server.addr), None);
    assert!(dom.contains("data-ready=\"yes\""), "{dom}");
    assert_eq!(attr(&dom, "id=\"chart\"", "data-y-max").as_deref(), Some("1"));
    assert!(dom.contains("Spent in 2024-01"), "a past month is not 'month to date'");
}
