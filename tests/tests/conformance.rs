//! Conformance: response bodies written from the providers' published
//! field definitions (`tests/conformance/`, not made by the simulator) are
//! served over real HTTP to the real collectors, and every stored day is
//! checked to the last digit against totals worked out by hand.

mod util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use agent_host_tests::parse_query;
use util::Home;

/// A local server answering each path with its pages, chosen by the `page`
/// parameter (none for the first); any other path gets an empty page.
struct FixtureServer {
    url: String,
    targets: Arc<Mutex<Vec<String>>>,
}

type Pages = BTreeMap<&'static str, Vec<(Option<&'static str>, String)>>;

impl FixtureServer {
    fn start(pages: Pages) -> FixtureServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = targets.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                }
                seen.lock().unwrap().push(target.clone());
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let page =
                    parse_query(query).into_iter().find(|(k, _)| k == "page").map(|(_, v)| v);
                let (status, body) = match pages.get(path) {
                    None => (
                        200,
                        r#"{"object":"page","data":[],"has_more":false,"next_page":null}"#
                            .to_string(),
                    ),
                    Some(list) => match list.iter().find(|(p, _)| p.map(str::to_string) == page) {
                        Some((_, body)) => (200, body.clone()),
                        None => (
                            400,
                            format!(
                                r#"{{"error":{{"message":"unknown page {page:?}","type":"invalid_request_error"}}}}"#
                            ),
                        ),
                    },
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = reader.read(&mut [0u8; 0]);
            }
        });
        FixtureServer { url, targets }
    }
}

fn body(name: &str) -> String {
    let path = format!("{}/conformance/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The stored (tokens, cost, tokens without billed cost) of a day.
fn stored(home: &Home, provider: &str, day: &str) -> Option<(i64, String, i64)> {
    let rows = home.rows(
        "SELECT tokens, cost, not_in_cost_tokens FROM results WHERE provider = ?1 AND date = ?2",
        &[provider, day],
    );
    let r = rows.first()?;
    let int = |i: usize| r[i].as_deref().unwrap().parse().unwrap();
    Some((int(0), r[1].clone().unwrap(), int(2)))
}

/// Runs the Anthropic collector over 2026-08-01..03 against `pages`.
fn run_anthropic(pages: Pages) -> (Home, util::Run, FixtureServer) {
    let server = FixtureServer::start(pages);
    let mut home = home_for("anthropic_collector");
    home.env("ANTHROPIC_BASE_URL", &server.url).env("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-x");
    let run = home.run(&[
        "run",
        "--plugin",
        "anthropic_collector",
        "--from",
        "2026-08-01",
        "--to",
        "2026-08-03",
    ]);
    (home, run, server)
}

fn home_for(plugin: &str) -> Home {
    let mut home = Home::with_plugins(&[plugin]);
    home.env("AGENT_TODAY", "2026-09-01").env("AGENT_HTTP_BACKOFF_MS", "10");
    home
}

#[test]
fn openai_spec_bodies_give_exact_days() {
    let pages: Pages = BTreeMap::from([
        (
            "/v1/organization/costs",
            vec![
                (None, body("openai_costs_page1.json")),
                (Some("page_AAAAAGdGxdEi+Jd/KOAA=="), body("openai_costs_page2.json")),
            ],
        ),
        ("/v1/organization/usage/completions", vec![(None, body("openai_usage_completions.json"))]),
        ("/v1/organization/usage/embeddings", vec![(None, body("openai_usage_embeddings.json"))]),
        (
            "/v1/organization/usage/vector_stores",
            vec![(None, body("openai_usage_vector_stores.json"))],
        ),
    ]);
    let server = FixtureServer::start(pages);
    let mut home = home_for("openai_collector");
    home.env("OPENAI_BASE_URL", &format!("{}/v1", server.url))
        .env("OPENAI_ADMIN_KEY", "sk-admin-x");
    let run = home.run(&[
        "run",
        "--plugin",
        "openai_collector",
        "--from",
        "2026-08-01",
        "--to",
        "2026-08-03",
    ]);
    run.expect_code(1);
    assert!(run.stdout().contains("2026-08-03 (a cost row without an amount)"), "{}", run.stdout());
    assert_eq!(
        stored(&home, "OpenAI", "2026-08-01"),
        Some((1200, "0.30001500000000004".into(), 0))
    );
    assert_eq!(
        stored(&home, "OpenAI", "2026-08-02"),
        Some((50, "12.50000000000000005551115123125783".into(), 0))
    );
    assert_eq!(stored(&home, "OpenAI", "2026-08-03"), None);
    // Quantities are kept exactly as sent.
    assert_eq!(
        home.text("SELECT group_concat(quantity, ' ') FROM (SELECT quantity FROM cost_rows WHERE day = '2026-08-01' ORDER BY line_item) AS q"),
        "7.5 2.0E3"
    );
    // The cursor went back percent-encoded, every other parameter kept.
    let targets = server.targets.lock().unwrap().clone();
    let second = targets.iter().find(|t| t.contains("page=")).expect("a second page was asked for");
    assert!(second.contains("&page=page_AAAAAGdGxdEi%2BJd%2FKOAA%3D%3D"), "{second}");
    assert!(second.starts_with("/v1/organization/costs?start_time="), "{second}");
}

#[test]
fn anthropic_spec_bodies_give_exact_days_and_flag_priority_tokens() {
    let pages: Pages = BTreeMap::from([
        (
            "/v1/organizations/cost_report",
            vec![
                (None, body("anthropic_cost_report_page1.json")),
                (
                    Some("page_MjAyNi0wOC0wMlQwMDowMDowMFo="),
                    body("anthropic_cost_report_page2.json"),
                ),
            ],
        ),
        (
            "/v1/organizations/usage_report/messages",
            vec![(None, body("anthropic_usage_messages.json"))],
        ),
    ]);
    let (home, run, server) = run_anthropic(pages);
    run.expect_code(0);
    assert_eq!(stored(&home, "Anthropic", "2026-08-01"), Some((2700, "2.7378912".into(), 600)));
    assert_eq!(stored(&home, "Anthropic", "2026-08-02"), Some((10, "0.001".into(), 0)));
    assert_eq!(stored(&home, "Anthropic", "2026-08-03"), Some((0, "0".into(), 0)));
    assert!(
        run.stdout().contains("note: Anthropic: 600 tokens on 2026-08-01 have no billed cost"),
        "{}",
        run.stdout()
    );
    let targets = server.targets.lock().unwrap().clone();
    assert!(
        targets.iter().any(|t| t.ends_with("&page=page_MjAyNi0wOC0wMlQwMDowMDowMFo%3D")),
        "{targets:?}"
    );
}

#[test]
fn a_page_sent_twice_costs_its_days_and_is_never_counted_twice() {
    let first = body("anthropic_cost_report_page1.json");
    // The provider sends the first page again in place of the second.
    let again = first.replace(
        r#""has_more":true,"next_page":"page_MjAyNi0wOC0wMlQwMDowMDowMFo=""#,
        r#""has_more":false,"next_page":null"#,
    );
    assert_ne!(first, again);
    let pages: Pages = BTreeMap::from([
        (
            "/v1/organizations/cost_report",
            vec![(None, first), (Some("page_MjAyNi0wOC0wMlQwMDowMDowMFo="), again)],
        ),
        (
            "/v1/organizations/usage_report/messages",
            vec![(None, body("anthropic_usage_messages.json"))],
        ),
    ]);
    let (home, run, _server) = run_anthropic(pages);
    run.expect_code(1);
    assert!(
        run.stdout().contains("2026-08-01 (the day 2026-08-01 came back twice)"),
        "{}",
        run.stdout()
    );
    assert_eq!(stored(&home, "Anthropic", "2026-08-01"), None);
    // The other days are whole: no cost rows came for them, so they are zero-cost days.
    assert_eq!(stored(&home, "Anthropic", "2026-08-02"), Some((10, "0".into(), 0)));
}
