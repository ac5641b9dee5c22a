//! The provider simulator: a local HTTP server that speaks the OpenAI and
//! Anthropic admin usage/cost APIs as `../shared/reference/provider-apis.md`
//! describes them, and OpenRouter's activity API: auth checks, `group_by`
//! and `group_by[]`, `limit` bounds, opaque cursors, empty buckets, amounts as
//! numbers or strings, with deterministic data for any date range
//! ([`data`]) and switchable faults (latency, 429 with `Retry-After`,
//! 5xx/529, malformed, truncated and HTML bodies, endless cursors, a bad
//! value on one day, requests that hang). Used in-process by the end-to-end tests and as the
//! `provider-sim` binary by the demo and the benchmarks.
//!
//! This file holds the server, its faults and the dispatch; each emulated
//! service has its own module (`openai`, `anthropic`, [`openrouter`]), as do
//! the wire format (`wire`), paging (`paging`) and the alert tests' webhook
//! receiver ([`WebhookSink`]) and SMTP sink ([`smtp::SmtpSink`]).

mod anthropic;
pub mod data;
mod openai;
pub mod openrouter;
mod paging;
pub mod smtp;
pub mod statuspage;
mod webhook;
mod wire;

use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use serde_json::json;

use data::Revision;
pub use openrouter::{OPENROUTER_INFERENCE_KEY, OPENROUTER_KEY};
pub use webhook::WebhookSink;
pub use wire::{parse_query, Request};
use wire::{read_request, write_answer, Answer};

/// The admin key the simulator accepts for OpenAI.
pub const OPENAI_KEY: &str = "sk-admin-SIMULATED-openai-0123456789";
/// The admin key the simulator accepts for Anthropic.
pub const ANTHROPIC_KEY: &str = "sk-ant-admin01-SIMULATED-anthropic-0123456789";
/// A second OpenAI organization's admin key: other data (see [`ORG2_SHIFT`]).
pub const OPENAI_KEY_2: &str = "sk-admin-SIMULATED-openai-second-org-9876543210";
/// A second Anthropic organization's admin key.
pub const ANTHROPIC_KEY_2: &str = "sk-ant-admin01-SIMULATED-anthropic-second-org-9876543210";
/// The second organization's day D holds the data the first one has on day
/// D + this many days: other numbers, as deterministic as the first's.
pub const ORG2_SHIFT: u64 = 1000;

/// Which organization a key belongs to: 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Org(pub u8);

impl Org {
    /// The day whose data this organization reports on `day`.
    pub fn data_day(self, day: NaiveDate) -> NaiveDate {
        if self.0 == 2 {
            day + chrono::Days::new(ORG2_SHIFT)
        } else {
            day
        }
    }
}

/// Faults to inject; counters apply to the next N data requests.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Added to every data request.
    pub latency_ms: u64,
    /// Answer 429 with `Retry-After: 1`.
    pub rate_limit_next: u32,
    /// Answer 500 (OpenAI) or 529 (Anthropic).
    pub server_error_next: u32,
    /// Answer 200 with a body cut in half.
    pub truncated_next: u32,
    /// Answer 502 with an HTML page.
    pub html_next: u32,
    /// Answer 200 with JSON of another shape.
    pub wrong_shape_next: u32,
    /// Answer 200, send half the body, then stall (a timeout mid-body).
    pub stall_next: u32,
    /// Never end pagination.
    pub endless_cursor: bool,
    /// Only affect requests whose path and query contain this (e.g.
    /// `organizations`, or `starting_at=2025-03-04` for one request).
    pub only_path: Option<String>,
    /// The `Retry-After` value sent with a 429 (default `1`, seconds).
    pub retry_after: Option<String>,
    /// A day whose first cost row carries a value that cannot be stored:
    /// OpenAI sends `"value": null`, Anthropic a `EUR` currency.
    pub bad_value_on: Option<NaiveDate>,
    /// Requests whose path and query contain this get no answer for
    /// [`HANG_SECS`] (then a 503): a window of days that hangs, e.g.
    /// `start_time=1743638400` for OpenAI's requests starting 2025-04-03.
    pub hang_on: Option<String>,
}

/// How long a request matching [`Faults::hang_on`] waits: longer than any
/// test takes, bounded so the thread ends.
pub const HANG_SECS: u64 = 600;

#[derive(Debug, Default)]
struct State {
    faults: Faults,
    requests: u64,
    by_path: BTreeMap<String, u64>,
    revisions: BTreeMap<NaiveDate, u32>,
    /// "Today" for providers that keep a sliding window (OpenRouter); the
    /// real UTC day when unset.
    today: Option<NaiveDate>,
}

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Simulator {
    /// Starts on `127.0.0.1:port` (0 picks a free port). Every connection
    /// gets its own thread, so slow answers overlap.
    pub fn start(port: u16) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || serve(conn, &state));
                }
            })
        };
        Ok(Simulator { addr, state, stop, acceptor: Some(acceptor) })
    }

    /// `OPENAI_BASE_URL` for this simulator.
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `ANTHROPIC_BASE_URL` for this simulator.
    pub fn anthropic_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL of a provider's status page (`openai`, `anthropic`) on
    /// this simulator: Statuspage's `/api/v2/incidents.json` lives below it.
    pub fn status_url(&self, page: &str) -> String {
        format!("http://{}/status/{page}", self.addr)
    }

    /// `OPENROUTER_BASE_URL` for this simulator.
    pub fn openrouter_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// Pins the day OpenRouter's 30-day window ends before.
    pub fn set_today(&self, day: NaiveDate) {
        lock(&self.state).today = Some(day);
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.state).faults = faults;
    }

    /// Data requests answered so far.
    pub fn requests(&self) -> u64 {
        lock(&self.state).requests
    }

    /// Data requests whose path contains `part`.
    pub fn requests_to(&self, part: &str) -> u64 {
        lock(&self.state).by_path.iter().filter(|(p, _)| p.contains(part)).map(|(_, n)| n).sum()
    }

    /// Revises a day: both providers now report more for it.
    pub fn revise(&self, day: NaiveDate) {
        *lock(&self.state).revisions.entry(day).or_insert(0) += 1;
    }

    /// The exact totals a collector must store for a day, as things stand.
    pub fn expected_day(&self, provider: &str, day: NaiveDate) -> (u64, String) {
        self.expected_day_of(Org(1), provider, day)
    }

    /// The same, for one organization.
    pub fn expected_day_of(&self, org: Org, provider: &str, day: NaiveDate) -> (u64, String) {
        let day = org.data_day(day);
        let rev = Revision(lock(&self.state).revisions.get(&day).copied().unwrap_or(0));
        data::expected_day(provider, day, rev)
    }

    /// Serves until the process ends (the `provider-sim` binary).
    pub fn wait(mut self) {
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}
#[derive(Clone, Copy, PartialEq, Eq)]
enum Provider {
    OpenAi,
    Anthropic,
    OpenRouter,
}
/// Serves one connection: one request, one answer, then close.
fn serve(conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(write_half) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    let Some(req) = read_request(&mut reader) else { return };
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let params = parse_query(query);
    let answer = if let Some(control) = path.strip_prefix("/_sim/") {
        control_answer(control, &params, state)
    } else if path.starts_with("/status/") {
        lock(state).requests += 1;
        match statuspage::answer(path) {
            Some(body) => Answer::json(200, body),
            None => Answer::json(404, r#"{"error":"Not Found"}"#.into()),
        }
    } else {
        data_answer(&req, path, &params, state)
    };
    write_answer(write_half, answer);
}

/// `/_sim/stats` and `/_sim/faults?latency_ms=50&rate_limit_next=1…`.
fn control_answer(what: &str, params: &[(String, String)], state: &Mutex<State>) -> Answer {
    let mut st = lock(state);
    match what {
        "stats" => {
            Answer::json(200, json!({ "requests": st.requests, "by_path": st.by_path }).to_string())
        }
        "faults" => {
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let num = |k: &str| get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
            st.faults = Faults {
                latency_ms: num("latency_ms") as u64,
                rate_limit_next: num("rate_limit_next"),
                server_error_next: num("server_error_next"),
                truncated_next: num("truncated_next"),
                html_next: num("html_next"),
                wrong_shape_next: num("wrong_shape_next"),
                stall_next: num("stall_next"),
                endless_cursor: get("endless_cursor") == Some("true"),
                only_path: get("only_path").map(str::to_string),
                retry_after: get("retry_after").map(str::to_string),
                bad_value_on: get("bad_value_on").and_then(|d| d.parse().ok()),
                hang_on: get("hang_on").map(str::to_string),
            };
            Answer::json(200, "{}".into())
        }
        "reset" => {
            st.requests = 0;
            st.by_path.clear();
            Answer::json(200, "{}".into())
        }
        _ => Answer::json(404, r#"{"error":"unknown control"}"#.into()),
    }
}

fn take(counter: &mut u32) -> bool {
    if *counter > 0 {
        *counter -= 1;
        true
    } else {
        false
    }
}

fn data_answer(
    req: &Request,
    path: &str,
    params: &[(String, String)],
    state: &Mutex<State>,
) -> Answer {
    let provider = if path.starts_with("/v1/organizations/") {
        Provider::Anthropic
    } else if path.starts_with("/v1/organization/") {
        Provider::OpenAi
    } else if path.starts_with("/api/v1/") {
        Provider::OpenRouter
    } else {
        return Answer::json(
            404,
            r#"{"error":{"message":"not found","type":"not_found_error"}}"#.into(),
        );
    };
    let (latency, fault, endless, revisions, retry_after, today, bad_day, hang) = {
        let mut st = lock(state);
        st.requests += 1;
        *st.by_path.entry(path.to_string()).or_insert(0) += 1;
        let hang = st.faults.hang_on.as_deref().is_some_and(|h| req.target.contains(h));
        let applies = st.faults.only_path.as_deref().is_none_or(|p| req.target.contains(p));
        let f = &mut st.faults;
        let fault = if !applies {
            None
        } else if take(&mut f.rate_limit_next) {
            Some("429")
        } else if take(&mut f.server_error_next) {
            Some("5xx")
        } else if take(&mut f.truncated_next) {
            Some("truncated")
        } else if take(&mut f.html_next) {
            Some("html")
        } else if take(&mut f.wrong_shape_next) {
            Some("shape")
        } else if take(&mut f.stall_next) {
            Some("stall")
        } else {
            None
        };
        let retry_after = f.retry_after.clone().unwrap_or_else(|| "1".into());
        let bad_day = f.bad_value_on;
        let endless = applies && f.endless_cursor;
        let latency = f.latency_ms;
        let today = st.today.unwrap_or_else(|| Utc::now().date_naive());
        (latency, fault, endless, st.revisions.clone(), retry_after, today, bad_day, hang)
    };
    if hang {
        std::thread::sleep(Duration::from_secs(HANG_SECS));
        return error(provider, 503, "server_error", "the simulator hung this request");
    }
    if latency > 0 {
        std::thread::sleep(Duration::from_millis(latency));
    }
    let org = match check_auth(req, provider) {
        Ok(org) => org,
        Err(err) => return err,
    };
    match fault {
        Some("429") => {
            let mut a = error(provider, 429, "rate_limit_error", "Rate limited");
            a.headers.push(("Retry-After".into(), retry_after));
            return a;
        }
        Some("5xx") => {
            return match provider {
                Provider::Anthropic => error(provider, 529, "overloaded_error", "Overloaded"),
                _ => error(provider, 500, "server_error", "The server had an error"),
            }
        }
        Some("html") => return Answer {
            status: 502,
            body:
                "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"
                    .into(),
            headers: vec![("Content-Type".into(), "text/html".into())],
            stall: false,
        },
        Some("shape") => return Answer::json(200, r#"{"object":"list","items":[]}"#.into()),
        _ => {}
    }
    let result = match provider {
        Provider::OpenAi => openai::answer(path, params, endless, &revisions, bad_day, org),
        Provider::Anthropic => anthropic::answer(path, params, endless, &revisions, bad_day, org),
        Provider::OpenRouter => openrouter::activity(path, params, today),
    };
    match result {
        Ok(body) if fault == Some("truncated") => {
            Answer::json(200, body[..body.len() / 2].to_string())
        }
        Ok(body) if fault == Some("stall") => Answer { stall: true, ..Answer::json(200, body) },
        Ok(body) => Answer::json(200, body),
        Err((status, kind, msg)) => error(provider, status, kind, &msg),
    }
}

fn error(provider: Provider, status: u16, kind: &str, message: &str) -> Answer {
    let body = match provider {
        Provider::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
        Provider::Anthropic => json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_011CSimulated"
        }),
        Provider::OpenRouter => {
            json!({"error": {"code": status, "message": message, "metadata": null}, "user_id": null})
        }
    };
    Answer::json(status, body.to_string())
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn check_auth(req: &Request, provider: Provider) -> Result<Org, Answer> {
    match provider {
        Provider::OpenAi => {
            let auth = header(req, "Authorization");
            if auth == Some(&format!("Bearer {OPENAI_KEY}")) {
                return Ok(Org(1));
            }
            if auth == Some(&format!("Bearer {OPENAI_KEY_2}")) {
                return Ok(Org(2));
            }
            Err(error(
                provider,
                401,
                "invalid_request_error",
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            ))
        }
        Provider::Anthropic => {
            let org = match header(req, "x-api-key") {
                Some(k) if k == ANTHROPIC_KEY => Org(1),
                Some(k) if k == ANTHROPIC_KEY_2 => Org(2),
                _ => return Err(error(provider, 401, "authentication_error", "invalid x-api-key")),
            };
            if header(req, "anthropic-version").is_none() {
                return Err(error(
                    provider,
                    400,
                    "invalid_request_error",
                    "anthropic-version header is required",
                ));
            }
            Ok(org)
        }
        Provider::OpenRouter => match header(req, "Authorization") {
            Some(h) if h == format!("Bearer {OPENROUTER_KEY}") => Ok(Org(1)),
            Some(h) if h == format!("Bearer {OPENROUTER_INFERENCE_KEY}") => Err(error(
                provider,
                403,
                "forbidden",
                "Only management keys can perform this operation",
            )),
            _ => Err(error(provider, 401, "unauthorized", "Missing Authentication header")),
        },
    }
}
