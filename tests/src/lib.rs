//! The provider simulator: a local HTTP server that speaks the OpenAI and
//! Anthropic admin usage/cost APIs as `../shared/reference/provider-apis.md`
//! describes them, and OpenRouter's activity API ([`openrouter`]) — auth checks, `group_by` and `group_by[]`, `limit` bounds,
//! opaque cursors, empty buckets, amounts as numbers or strings — with
//! deterministic data for any date range and switchable faults (latency, 429
//! with `Retry-After`, 5xx/529, malformed, truncated and HTML bodies, endless
//! cursors). Used in-process by the end-to-end tests and as the
//! `provider-sim` binary by the demo and the benchmarks.

pub mod data;
pub mod openrouter;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use data::Revision;
pub use openrouter::{OPENROUTER_INFERENCE_KEY, OPENROUTER_KEY};

/// The admin key the simulator accepts for OpenAI.
pub const OPENAI_KEY: &str = "sk-admin-SIMULATED-openai-0123456789";
/// The admin key the simulator accepts for Anthropic.
pub const ANTHROPIC_KEY: &str = "sk-ant-admin01-SIMULATED-anthropic-0123456789";

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
}

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

/// A finished answer.
struct Answer {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
    /// Send the head and half the body, then hang up after a while.
    stall: bool,
}

impl Answer {
    fn json(status: u16, body: String) -> Answer {
        Answer {
            status,
            body,
            headers: vec![("Content-Type".into(), "application/json".into())],
            stall: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Provider {
    OpenAi,
    Anthropic,
    OpenRouter,
}

/// A parsed request: target, headers (lowercase names) and body.
pub struct Request {
    /// Path and query.
    pub target: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let _method = parts.next()?;
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.push((k, v.trim().to_string()));
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    std::io::Read::read_exact(reader, &mut body).ok()?;
    Some(Request { target, headers, body })
}

/// Writes a whole HTTP/1.1 answer and closes.
fn write_answer(mut out: TcpStream, answer: Answer) {
    let reason = match answer.status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", answer.status);
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", answer.body.len()));
    if answer.stall {
        let half = &answer.body.as_bytes()[..answer.body.len() / 2];
        let _ = out.write_all(head.as_bytes()).and_then(|_| out.write_all(half));
        let _ = out.flush();
        // Long enough for any client timeout in the tests; bounded so the
        // thread always ends.
        std::thread::sleep(Duration::from_secs(20));
        return;
    }
    let _ = out.write_all(head.as_bytes()).and_then(|_| out.write_all(answer.body.as_bytes()));
    let _ = out.flush();
}

/// A local webhook receiver for the alert tests: answers each POST with the
/// next scripted status (then 204) and keeps what it was sent.
pub struct WebhookSink {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    script: Arc<Mutex<std::collections::VecDeque<(u16, String)>>>,
}

impl WebhookSink {
    /// Starts on a free port.
    pub fn start() -> std::io::Result<WebhookSink> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let (r, s) = (received.clone(), script.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let Ok(write_half) = conn.try_clone() else { continue };
                let mut reader = BufReader::new(conn);
                let Some(req) = read_request(&mut reader) else { continue };
                let (status, body) = s
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop_front()
                    .unwrap_or((204, String::new()));
                if status < 300 {
                    let json = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                    r.lock().unwrap_or_else(|p| p.into_inner()).push((req.target.clone(), json));
                }
                write_answer(write_half, Answer::json(status, body));
            }
        });
        Ok(WebhookSink { addr, received, script })
    }

    /// A URL on this sink.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next answers, in order (e.g. a 429, or a 500).
    pub fn script(&self, answers: &[(u16, &str)]) {
        let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        s.extend(answers.iter().map(|(c, b)| (*c, b.to_string())));
    }

    /// The (path, JSON body) of every accepted POST so far.
    pub fn received(&self) -> Vec<(String, serde_json::Value)> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
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
    let (latency, fault, endless, revisions, retry_after, today, bad_day) = {
        let mut st = lock(state);
        st.requests += 1;
        *st.by_path.entry(path.to_string()).or_insert(0) += 1;
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
        (latency, fault, endless, st.revisions.clone(), retry_after, today, bad_day)
    };
    if latency > 0 {
        std::thread::sleep(Duration::from_millis(latency));
    }
    if let Some(err) = check_auth(req, provider) {
        return err;
    }
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
        Provider::OpenAi => openai(path, params, endless, &revisions, bad_day),
        Provider::Anthropic => anthropic(path, params, endless, &revisions, bad_day),
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

fn check_auth(req: &Request, provider: Provider) -> Option<Answer> {
    match provider {
        Provider::OpenAi => {
            let ok = header(req, "Authorization") == Some(&format!("Bearer {OPENAI_KEY}"));
            (!ok).then(|| {
                error(
                    provider,
                    401,
                    "invalid_request_error",
                    "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                )
            })
        }
        Provider::Anthropic => {
            if header(req, "x-api-key") != Some(ANTHROPIC_KEY) {
                return Some(error(provider, 401, "authentication_error", "invalid x-api-key"));
            }
            if header(req, "anthropic-version").is_none() {
                return Some(error(
                    provider,
                    400,
                    "invalid_request_error",
                    "anthropic-version header is required",
                ));
            }
            None
        }
        Provider::OpenRouter => match header(req, "Authorization") {
            Some(h) if h == format!("Bearer {OPENROUTER_KEY}") => None,
            Some(h) if h == format!("Bearer {OPENROUTER_INFERENCE_KEY}") => Some(error(
                provider,
                403,
                "forbidden",
                "Only management keys can perform this operation",
            )),
            _ => Some(error(provider, 401, "unauthorized", "Missing Authentication header")),
        },
    }
}

pub(crate) type Fail = (u16, &'static str, String);

pub(crate) fn bad(msg: impl Into<String>) -> Fail {
    (400, "invalid_request_error", msg.into())
}

/// Decodes `a=1&group_by[]=x&group_by=y` (percent-decoding, `+` as space).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Both array forms: `group_by=a` and `group_by[]=a`.
fn array(params: &[(String, String)], name: &str) -> Vec<String> {
    let bracket = format!("{name}[]");
    params.iter().filter(|(k, _)| *k == name || *k == bracket).map(|(_, v)| v.clone()).collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An opaque cursor (with `+`, `/` and `=` in it, so clients must encode it).
fn cursor(offset: usize) -> String {
    format!("page_{}", b64(format!("offset>{offset}?sim").as_bytes()))
}

fn offset_of(page: Option<&str>, max: usize) -> Result<usize, Fail> {
    let Some(p) = page else { return Ok(0) };
    (1..=max + 400)
        .find(|o| cursor(*o) == p)
        .ok_or_else(|| bad(format!("invalid page cursor {p:?}")))
}

fn limit(params: &[(String, String)], default: usize, max: usize) -> Result<usize, Fail> {
    match param(params, "limit") {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(format!("limit must be between 1 and {max}, got {v}"))),
        },
    }
}

/// Merges `b` into `a`: whole numbers and decimal `amount`/`value` text are
/// summed, nested objects merged.
fn merge(a: &mut Map<String, Value>, b: &Map<String, Value>) {
    for (k, v) in b {
        match (a.get_mut(k), v) {
            (Some(Value::Number(x)), Value::Number(y)) => {
                if let (Some(x1), Some(y1)) = (x.as_u64(), y.as_u64()) {
                    *x = (x1 + y1).into();
                }
            }
            (Some(Value::Object(x)), Value::Object(y)) => merge(x, y),
            (Some(Value::String(x)), Value::String(y)) if k == "amount" || k == "value" => {
                let s: Decimal = x.parse::<Decimal>().unwrap_or_default()
                    + y.parse::<Decimal>().unwrap_or_default();
                *x = s.normalize().to_string();
            }
            _ => {}
        }
    }
}

/// Groups rows by the requested dimensions: the others become null and
/// rows that then look alike are summed.
fn group(
    rows: Vec<Map<String, Value>>,
    dims: &[&str],
    grouped: &[String],
) -> Vec<Map<String, Value>> {
    let mut out: Vec<(String, Map<String, Value>)> = Vec::new();
    for mut row in rows {
        for d in dims {
            if !grouped.iter().any(|g| g == d) {
                row.insert((*d).to_string(), Value::Null);
            }
        }
        let key = dims
            .iter()
            .map(|d| row.get(*d).map(|v| v.to_string()).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("|");
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => merge(existing, &row),
            None => out.push((key, row)),
        }
    }
    out.into_iter().map(|(_, r)| r).collect()
}

fn days(from: NaiveDate, to_exclusive: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days().take_while(|d| *d < to_exclusive).collect()
}

fn rev(revisions: &BTreeMap<NaiveDate, u32>, day: NaiveDate) -> Revision {
    Revision(revisions.get(&day).copied().unwrap_or(0))
}

/// Pages `buckets` by `limit` from the cursor; an endless cursor never stops.
fn paginate(
    all: Vec<NaiveDate>,
    limit: usize,
    page: Option<&str>,
    endless: bool,
) -> Result<(Vec<NaiveDate>, Option<String>), Fail> {
    let offset = offset_of(page, all.len() + if endless { 10_000 } else { 0 })?;
    let end = (offset + limit).min(all.len());
    let slice = all.get(offset.min(all.len())..end).unwrap_or_default().to_vec();
    let next = if end < all.len() || endless { Some(cursor(offset + limit)) } else { None };
    Ok((slice, next))
}

fn openai(
    path: &str,
    params: &[(String, String)],
    endless: bool,
    revisions: &BTreeMap<NaiveDate, u32>,
    bad_day: Option<NaiveDate>,
) -> Result<String, Fail> {
    let start: i64 = param(params, "start_time")
        .ok_or_else(|| bad("start_time is required"))?
        .parse()
        .map_err(|_| bad("start_time must be an integer"))?;
    let end: Option<i64> = match param(params, "end_time") {
        Some(v) => Some(v.parse().map_err(|_| bad("end_time must be an integer"))?),
        None => None,
    };
    let width = param(params, "bucket_width").unwrap_or("1d");
    let day_of = |t: i64| {
        DateTime::<Utc>::from_timestamp(t, 0)
            .map(|d| d.date_naive())
            .ok_or_else(|| bad("time out of range"))
    };
    let from = day_of(start)?;
    let to_excl = match end {
        Some(e) => day_of(e - 1)? + Days::new(1),
        None => from + Days::new(7),
    };
    let grouped = array(params, "group_by");
    let is_costs = path == "/v1/organization/costs";
    if width != "1d" {
        return Err(bad(format!(
            "bucket_width {width} is not supported by the simulator (use 1d)"
        )));
    }
    let limit = if is_costs { limit(params, 7, 180)? } else { limit(params, 7, 31)? };
    let (page_days, next) = paginate(days(from, to_excl), limit, param(params, "page"), endless)?;
    let mut numbers: Vec<String> = Vec::new();
    let mut buckets = Vec::new();
    for day in page_days {
        let t0 = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or_default();
        let results: Vec<Map<String, Value>> = if is_costs {
            for g in &grouped {
                if !["project_id", "line_item", "api_key_id"].contains(&g.as_str()) {
                    return Err(bad(format!("invalid group_by value {g:?}")));
                }
            }
            let rows = data::openai_costs(day, rev(revisions, day))
                .into_iter()
                .map(|(line_item, project, amount, qty)| {
                    let mut m = Map::new();
                    m.insert("object".into(), json!("organization.costs.result"));
                    m.insert(
                        "amount".into(),
                        json!({"value": amount.normalize().to_string(), "currency": "usd"}),
                    );
                    m.insert("line_item".into(), json!(line_item));
                    m.insert("project_id".into(), json!(project));
                    m.insert("api_key_id".into(), json!("key_sim_1"));
                    m.insert("quantity".into(), json!(qty));
                    m.insert("quantity_unit".into(), json!("tokens"));
                    m
                })
                .collect();
            let mut rows = group(rows, &["line_item", "project_id", "api_key_id"], &grouped);
            let as_string = data::openai_amount_as_string(day);
            for r in &mut rows {
                if !grouped.iter().any(|g| g == "line_item") {
                    r.insert("quantity".into(), Value::Null);
                    r.insert("quantity_unit".into(), Value::Null);
                }
                // Odd days send amount.value as a string (a live deviation);
                // even days as a JSON number with every digit kept.
                if !as_string {
                    if let Some(v) = r.get_mut("amount").and_then(|a| a.get_mut("value")) {
                        let text = v.as_str().unwrap_or("0").to_string();
                        numbers.push(text.clone());
                        *v = json!(format!("__num{}__", numbers.len() - 1));
                    }
                }
            }
            if bad_day == Some(day) {
                if let Some(amount) = rows.first_mut().and_then(|r| r.get_mut("amount")) {
                    amount["value"] = Value::Null;
                }
            }
            rows
        } else {
            let endpoint = path.trim_start_matches("/v1/organization/usage/");
            let rows = match endpoint {
                "completions" => data::openai_completions(day, rev(revisions, day)),
                "embeddings" => data::openai_embeddings(day),
                "moderations"
                | "images"
                | "audio_speeches"
                | "audio_transcriptions"
                | "vector_stores"
                | "code_interpreter_sessions"
                | "file_search_calls"
                | "web_search_calls" => Vec::new(),
                other => {
                    return Err((
                        404,
                        "invalid_request_error",
                        format!("unknown usage endpoint {other}"),
                    ))
                }
            };
            group(
                rows,
                &["project_id", "user_id", "api_key_id", "model", "batch", "service_tier"],
                &grouped,
            )
        };
        buckets.push(json!({"object": "bucket", "start_time": t0, "end_time": t0 + 86_400, "results": results}));
    }
    let mut body =
        json!({"object": "page", "data": buckets, "has_more": next.is_some(), "next_page": next})
            .to_string();
    for (i, n) in numbers.iter().enumerate() {
        body = body.replacen(&format!("\"__num{i}__\""), n, 1);
    }
    Ok(body)
}

fn anthropic(
    path: &str,
    params: &[(String, String)],
    endless: bool,
    revisions: &BTreeMap<NaiveDate, u32>,
    bad_day: Option<NaiveDate>,
) -> Result<String, Fail> {
    let parse_t = |name: &str| -> Result<Option<NaiveDate>, Fail> {
        match param(params, name) {
            None => Ok(None),
            Some(v) => DateTime::parse_from_rfc3339(v)
                .map(|t| Some(t.to_utc().date_naive()))
                .map_err(|_| bad(format!("{name} must be an RFC 3339 time, got {v:?}"))),
        }
    };
    let from = parse_t("starting_at")?.ok_or_else(|| bad("starting_at is required"))?;
    let to_excl = parse_t("ending_at")?.unwrap_or(from + Days::new(7));
    if param(params, "bucket_width").unwrap_or("1d") != "1d" {
        return Err(bad("bucket_width must be 1d in the simulator"));
    }
    let limit = limit(params, 7, 31)?;
    let grouped = array(params, "group_by");
    let (page_days, next) = paginate(days(from, to_excl), limit, param(params, "page"), endless)?;
    let mut buckets = Vec::new();
    for day in page_days {
        let results = match path {
            "/v1/organizations/cost_report" => {
                for g in &grouped {
                    if !["workspace_id", "description"].contains(&g.as_str()) {
                        return Err(bad(format!("invalid group_by[] value {g:?}")));
                    }
                }
                let by_desc = grouped.iter().any(|g| g == "description");
                let rows = data::anthropic_costs(day, rev(revisions, day))
                    .into_iter()
                    .map(|(ws, desc, model, token_type, cost_type, cents)| {
                        let d = |v: Value| if by_desc { v } else { Value::Null };
                        let tokens = cost_type == "tokens";
                        let mut m = Map::new();
                        m.insert("currency".into(), json!("USD"));
                        m.insert("amount".into(), json!(cents.normalize().to_string()));
                        m.insert("workspace_id".into(), json!(ws));
                        m.insert("description".into(), json!(desc));
                        m.insert("cost_type".into(), d(json!(cost_type)));
                        m.insert(
                            "context_window".into(),
                            d(if tokens { json!("0-200k") } else { Value::Null }),
                        );
                        m.insert("model".into(), d(json!(model)));
                        m.insert(
                            "service_tier".into(),
                            d(if tokens { json!("standard") } else { Value::Null }),
                        );
                        m.insert("token_type".into(), d(json!(token_type)));
                        m
                    })
                    .collect();
                let mut rows = group(rows, &["workspace_id", "description"], &grouped);
                if bad_day == Some(day) {
                    if let Some(first) = rows.first_mut() {
                        first.insert("currency".into(), json!("EUR"));
                    }
                }
                rows
            }
            "/v1/organizations/usage_report/messages" => group(
                data::anthropic_usage(day, rev(revisions, day)),
                &["api_key_id", "workspace_id", "model", "service_tier", "context_window"],
                &grouped,
            ),
            other => return Err((404, "not_found_error", format!("no such report {other}"))),
        };
        let end = day + Days::new(1);
        buckets.push(json!({
            "starting_at": format!("{day}T00:00:00Z"),
            "ending_at": format!("{end}T00:00:00Z"),
            "results": results,
        }));
    }
    Ok(json!({"data": buckets, "has_more": next.is_some(), "next_page": next}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_both_array_forms() {
        let p = parse_query("group_by=a&group_by%5B%5D=b&group_by[]=c&t=2025-01-01T00%3A00%3A00Z");
        assert_eq!(array(&p, "group_by"), vec!["a", "b", "c"]);
        assert_eq!(param(&p, "t"), Some("2025-01-01T00:00:00Z"));
    }

    #[test]
    fn cursors_round_trip_and_need_encoding() {
        let c = cursor(31);
        assert!(c.contains('=') || c.contains('+') || c.contains('/'));
        assert_eq!(offset_of(Some(&c), 100).unwrap(), 31);
        assert!(offset_of(Some("page_bogus"), 100).is_err());
    }

    #[test]
    fn grouping_preserves_totals() {
        let day: NaiveDate = "2025-08-01".parse().unwrap();
        let q = |g: &str| {
            let body = openai(
                "/v1/organization/costs",
                &parse_query(&format!("start_time=1754006400&end_time=1754092800&limit=1{g}")),
                false,
                &BTreeMap::new(),
                None,
            )
            .unwrap();
            let v: Value = serde_json::from_str(&body).unwrap();
            v["data"][0]["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["amount"]["value"].to_string().trim_matches('"').parse::<Decimal>().unwrap()
                })
                .sum::<Decimal>()
        };
        let expected: Decimal = data::expected_day("openai", day, Revision(0)).1.parse().unwrap();
        assert_eq!(q(""), expected);
        assert_eq!(q("&group_by=line_item&group_by=project_id"), expected);
    }
}
