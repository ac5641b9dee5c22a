//! The HTTP capability: reqwest (rustls, proxies from the environment) with
//! timeouts, a body-size cap, rate limits (429/529) waited out within the
//! run's patience, and bounded retries of 5xx, each honouring `Retry-After`.
//! Errors are one readable line without secrets.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use plugin_api::{Header, HttpRequest, HttpResponse, LogLevel};
use reqwest::blocking::Client;
use reqwest::Url;

use super::destination::{
    header_allowed, lookup_public, proxy_hosts, Destinations, LookupError, PublicResolver, Refused,
    Route,
};
use super::pacer::Pacer;
use crate::config::Settings;

/// How the host performs HTTP for plugins and webhooks.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Default whole-request timeout.
    pub timeout_ms: u64,
    /// First retry delay when no `Retry-After` is sent; doubles each retry.
    pub backoff_ms: u64,
    /// How long one host's rate limits may keep this process waiting in all
    /// (`AGENT_HTTP_MAX_WAIT_SECS`); past it a 429/529 is the answer.
    pub patience_ms: u64,
    /// Largest response body accepted.
    pub max_body_bytes: u64,
    /// Most request starts per second to one host (0: no ceiling).
    pub max_rps: f64,
    /// Requests of one batch kept in flight at once.
    pub parallel: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout_ms: 60_000,
            backoff_ms: 500,
            patience_ms: 300_000,
            max_body_bytes: 64 << 20,
            max_rps: 0.0,
            parallel: 8,
        }
    }
}

impl HttpSettings {
    /// The HTTP settings from the environment or `.env`, with their defaults:
    /// `AGENT_HTTP_TIMEOUT_SECS` (60), `AGENT_HTTP_BACKOFF_MS` (500),
    /// `AGENT_HTTP_MAX_WAIT_SECS` (300), `AGENT_HTTP_MAX_RPS` (0, none) and
    /// `AGENT_HTTP_PARALLEL` (8).
    pub fn from_settings(s: &Settings) -> crate::config::Result<HttpSettings> {
        let max_rps: f64 =
            s.parsed("AGENT_HTTP_MAX_RPS", 0.0, "a number of requests per second")?;
        if !max_rps.is_finite() || max_rps < 0.0 || (max_rps > 0.0 && max_rps < 0.01) {
            return Err(crate::config::ConfigError::OutOfRange {
                name: "AGENT_HTTP_MAX_RPS".into(),
                value: max_rps.to_string(),
                what: "0 (no ceiling) or a number of requests per second from 0.01".into(),
            });
        }
        Ok(HttpSettings {
            timeout_ms: s.bounded("AGENT_HTTP_TIMEOUT_SECS", 60, 86_400, "a number of seconds")?
                * 1000,
            backoff_ms: s.bounded(
                "AGENT_HTTP_BACKOFF_MS",
                500,
                3_600_000,
                "a number of milliseconds",
            )?,
            patience_ms: s.bounded(
                "AGENT_HTTP_MAX_WAIT_SECS",
                300,
                86_400,
                "a number of seconds",
            )? * 1000,
            max_rps,
            parallel: s.bounded("AGENT_HTTP_PARALLEL", 8, 256, "a number of requests")?.max(1)
                as usize,
            ..HttpSettings::default()
        })
    }
}

/// A reusable HTTP client.
pub struct HttpClient {
    settings: HttpSettings,
    /// For the operator's URLs (base URLs, webhooks), wherever they point.
    proxied: OnceLock<Result<Client, String>>,
    /// The same, for this machine: no proxy.
    direct: OnceLock<Result<Client, String>>,
    /// Counts every answer body against a worker's budget, when set.
    budget: Option<Arc<AnswerBudget>>,
    /// For a plugin's declared hosts: public addresses only. Its own client,
    /// so no connection another route opened is ever reused for one.
    public: OnceLock<Result<Client, String>>,
    /// Host names of the environment's proxies.
    proxies: Vec<String>,
}

/// Answer bytes one worker's requests may hold in the host at once,
/// counted as they are read off the network: a body that would pass it is
/// cut off there, so the host's memory never follows what a plugin asks
/// for. Bytes stay counted until the worker has read them
/// ([`AnswerBudget::give`]).
#[derive(Debug)]
pub struct AnswerBudget {
    held: AtomicU64,
    max: u64,
}

impl AnswerBudget {
    /// A budget of `max` bytes.
    pub fn new(max: u64) -> Self {
        AnswerBudget { held: AtomicU64::new(0), max }
    }

    /// Counts `n` more bytes, unless that passes the budget.
    fn take(&self, n: u64) -> bool {
        let before = self.held.fetch_add(n, Ordering::SeqCst);
        if before + n > self.max {
            self.held.fetch_sub(n, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Gives `n` bytes back (read by the worker, or discarded).
    pub fn give(&self, n: u64) {
        self.held.fetch_sub(n, Ordering::SeqCst);
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::SeqCst)
    }

    /// The budget.
    pub fn max(&self) -> u64 {
        self.max
    }
}

impl HttpClient {
    /// A client with these settings; the reqwest clients are built on first use.
    pub fn new(settings: HttpSettings) -> Self {
        HttpClient {
            settings,
            proxied: OnceLock::new(),
            direct: OnceLock::new(),
            public: OnceLock::new(),
            proxies: proxy_hosts(),
            budget: None,
        }
    }

    /// The same client, counting every answer body against `budget`.
    pub fn with_budget(mut self, budget: Arc<AnswerBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Gives a discarded answer's bytes back to the budget.
    fn discard(&self, resp: &HttpResponse) {
        if let Some(b) = &self.budget {
            b.give(resp.body.len() as u64);
        }
    }

    fn builder() -> reqwest::blocking::ClientBuilder {
        // Redirects are followed by `execute`, hop by hop, under our rules.
        Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .user_agent(concat!("agent-host/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
    }

    /// The client for `url` on `route`.
    fn client_on(&self, route: Route, url: &Url) -> Result<&Client, String> {
        if route == Route::Operator {
            return self.client_for(url);
        }
        if let (false, Some(url::Host::Domain(name))) = (self.proxies.is_empty(), url.host()) {
            // Through a proxy the proxy looks the name up and connects; the
            // host can only check what the name resolves to here first.
            lookup_public(name).map_err(|e| match e {
                LookupError::Refused(r) => format!("{}: refused: {r}", display_url(url)),
                LookupError::Lookup(e) => format!("{}: DNS lookup failed: {e}", display_url(url)),
            })?;
        }
        self.public
            .get_or_init(|| {
                let resolver = PublicResolver { proxies: self.proxies.clone() };
                Self::builder()
                    .dns_resolver(std::sync::Arc::new(resolver))
                    .build()
                    .map_err(|e| format!("cannot start the HTTP client: {}", chain(&e)))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Loopback addresses never go through a proxy: a proxy from the
    /// environment cannot reach this machine's local servers.
    fn client_for(&self, url: &Url) -> Result<&Client, String> {
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        let cell = if loopback { &self.direct } else { &self.proxied };
        cell.get_or_init(|| {
            let mut b = Self::builder();
            if loopback {
                b = b.no_proxy();
            }
            b.build().map_err(|e| format!("cannot start the HTTP client: {}", chain(&e)))
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// Performs a plugin's `req`, waiting out rate limits and retrying 5xx
    /// (see `execute_one`) and following up to [`MAX_REDIRECTS`] redirects. The URL and every hop must be one of
    /// `destinations`, checked where the connection is made; a hop to
    /// another origin loses every credential header (see [`is_credential`]).
    /// A request setting a header the host frames itself is refused.
    pub fn execute(
        &self,
        req: &HttpRequest,
        destinations: &Destinations,
        secrets: &[String],
        log: &dyn Fn(LogLevel, &str),
    ) -> Result<HttpResponse, String> {
        for h in req.headers.iter() {
            header_allowed(h.name.as_str())?;
        }
        let mut url = Url::parse(req.url.as_str())
            .map_err(|e| format!("invalid URL {:?}: {e}", req.url.as_str()))?;
        let mut route = destinations.route(&url)?;
        let mut req = req.clone();
        for _ in 0..=MAX_REDIRECTS {
            let client = self.client_on(route, &url)?;
            let resp = self.execute_one(client, &url, &req, log)?;
            let Some(next) = redirect_target(&url, &resp) else { return Ok(resp) };
            self.discard(&resp);
            let next = next?;
            route = destinations.route(&next).map_err(|e| {
                format!("{} redirected to a host that is not allowed: {e}", display_url(&url))
            })?;
            if url.scheme() == "https" && next.scheme() != "https" {
                return Err(format!(
                    "{} redirected from https to plain {}; refused",
                    display_url(&url),
                    next.scheme()
                ));
            }
            if next.origin() != url.origin() {
                let headers: Vec<Header> =
                    req.headers.iter().filter(|h| !is_credential(h, secrets)).cloned().collect();
                req.headers = headers.into();
                // A body is for the origin it was written for.
                req.body = Default::default();
            }
            if resp.status == 303
                || (matches!(resp.status, 301 | 302) && req.method.as_str() != "HEAD")
            {
                req.method = "GET".into();
                req.body = Default::default();
            }
            url = next;
        }
        Err(format!("{}: more than {MAX_REDIRECTS} redirects", display_url(&url)))
    }

    /// Performs `req` without following any redirect (a 3xx is the answer),
    /// for webhooks, whose URL is itself the secret.
    pub fn execute_direct(
        &self,
        req: &HttpRequest,
        log: &dyn Fn(LogLevel, &str),
    ) -> Result<HttpResponse, String> {
        let url = Url::parse(req.url.as_str())
            .map_err(|e| format!("invalid URL {:?}: {e}", req.url.as_str()))?;
        self.execute_one(self.client_for(&url)?, &url, req, log)
    }

    /// The request settings.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// One URL, with its retries, paced with every other request to its
    /// host: a 429 or 529 holds them all for its `Retry-After`. A request
    /// that may be retried at all (`max_retries` above 0) waits rate limits
    /// out for as long as the host's patience lasts; a 5xx is retried at
    /// most `max_retries` times.
    fn execute_one(
        &self,
        client: &Client,
        url: &Url,
        req: &HttpRequest,
        log: &dyn Fn(LogLevel, &str),
    ) -> Result<HttpResponse, String> {
        let shown = display_url(url);
        let pacer = Pacer::for_host(
            &format!(
                "{}:{}",
                url.host_str().unwrap_or_default(),
                url.port_or_known_default().unwrap_or(0)
            ),
            self.settings.max_rps,
            Duration::from_millis(self.settings.patience_ms),
        );
        let mut failures = 0u32;
        let mut limits = 0u32;
        loop {
            pacer.wait_turn();
            let resp = self.send_once(client, url, req)?;
            if matches!(resp.status, 429 | 529) {
                let wait = self.retry_wait(&resp, limits, true);
                let held = pacer.back_off(wait);
                if req.max_retries == 0 {
                    return Ok(resp);
                }
                if let Err(out) = held {
                    log(
                        LogLevel::WARN,
                        &format!(
                            "HTTP {} from {shown} after {limits} rate limit(s); waiting {:.1}s \
                             more would pass the {:.1}s of patience left \
                             (AGENT_HTTP_MAX_WAIT_SECS): giving up",
                            resp.status,
                            wait.as_secs_f32(),
                            out.left.as_secs_f32()
                        ),
                    );
                    return Ok(resp);
                }
                limits += 1;
                // The first wait of a request is worth a warning; a long
                // burst would otherwise flood the console.
                log(
                    if limits == 1 { LogLevel::WARN } else { LogLevel::INFO },
                    &format!(
                        "HTTP {} from {shown}; rate limited ({limits}), waiting {:.1}s",
                        resp.status,
                        wait.as_secs_f32()
                    ),
                );
                self.discard(&resp);
                // The wait is the pacer's, shared by every request to the host.
                continue;
            }
            pacer.answered(resp.status < 400);
            if !(500..=599).contains(&resp.status) || failures >= req.max_retries {
                return Ok(resp);
            }
            self.discard(&resp);
            let wait = self.retry_wait(&resp, failures, false);
            failures += 1;
            log(
                LogLevel::WARN,
                &format!(
                    "HTTP {} from {shown}; retry {failures}/{} in {:.1}s",
                    resp.status,
                    req.max_retries,
                    wait.as_secs_f32()
                ),
            );
            std::thread::sleep(wait);
        }
    }

    /// How long to wait before asking again: the answer's `Retry-After`
    /// (seconds or an HTTP date), else the back-off doubled `attempt` times
    /// up to [`MAX_BACKOFF`]. A rate limit's own `Retry-After` is taken as
    /// asked: the patience decides whether it is waited; any other answer's
    /// is capped like the back-off.
    fn retry_wait(&self, resp: &HttpResponse, attempt: u32, rate_limit: bool) -> Duration {
        let first = Duration::from_millis(self.settings.backoff_ms);
        let cap = MAX_BACKOFF.max(first);
        match (retry_after(resp), rate_limit) {
            (Some(asked), true) => asked,
            (Some(asked), false) => asked.min(cap),
            (None, _) => first.saturating_mul(1u32 << attempt.min(16)).min(cap),
        }
    }

    fn send_once(
        &self,
        client: &Client,
        url: &Url,
        req: &HttpRequest,
    ) -> Result<HttpResponse, String> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| format!("invalid HTTP method {:?}", req.method.as_str()))?;
        let timeout = if req.timeout_ms > 0 {
            Duration::from_millis(u64::from(req.timeout_ms))
        } else {
            Duration::from_millis(self.settings.timeout_ms)
        };
        let mut builder = client.request(method, url.clone()).timeout(timeout);
        for h in req.headers.iter() {
            builder = builder.header(h.name.as_str(), h.value.as_str());
        }
        if !req.body.is_empty() {
            builder = builder.body(req.body.to_vec());
        }
        let shown = display_url(url);
        let resp = builder.send().map_err(|e| describe(&shown, &e, timeout))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| Header::new(k.as_str(), &String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let limit = self.settings.max_body_bytes;
        let mut body = Vec::new();
        let read =
            Budgeted { inner: resp.take(limit + 1), budget: self.budget.as_deref(), taken: 0 }
                .read_all(&mut body);
        if read.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::OutOfMemory) {
            let max = self.budget.as_ref().map_or(0, |b| b.max());
            return Err(format!(
                "{shown}: the answers waiting for this plugin passed {max} bytes; not read"
            ));
        }
        read.map_err(|e| {
            // reqwest reports its timeout inside the I/O error.
            let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                || e.get_ref()
                    .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                    .is_some_and(reqwest::Error::is_timeout)
                || chain(&e).contains("timed out");
            if timed_out {
                format!("{shown}: timed out after {}s while reading the body", timeout.as_secs())
            } else {
                format!("{shown}: the connection broke while reading the body: {e}")
            }
        })?;
        if body.len() as u64 > limit {
            if let Some(b) = &self.budget {
                b.give(body.len() as u64);
            }
            return Err(format!("{shown}: response body larger than {limit} bytes"));
        }
        Ok(HttpResponse { status, headers: headers_vec(headers), body: body.into() })
    }
}

/// A body reader that counts what it reads against a budget, and gives
/// everything back when reading fails or the budget is passed (answered as
/// `OutOfMemory`).
struct Budgeted<'a, R> {
    inner: R,
    budget: Option<&'a AnswerBudget>,
    taken: u64,
}

impl<R: Read> Budgeted<'_, R> {
    fn read_all(mut self, into: &mut Vec<u8>) -> std::io::Result<()> {
        let mut chunk = [0u8; 64 << 10];
        loop {
            let n = match self.inner.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.give_back();
                    return Err(e);
                }
            };
            if let Some(b) = self.budget {
                if !b.take(n as u64) {
                    self.give_back();
                    return Err(std::io::ErrorKind::OutOfMemory.into());
                }
                self.taken += n as u64;
            }
            into.extend_from_slice(&chunk[..n]);
        }
    }

    fn give_back(&mut self) {
        if let Some(b) = self.budget {
            b.give(std::mem::take(&mut self.taken));
        }
    }
}

/// The most redirects one request follows.
pub const MAX_REDIRECTS: usize = 10;

/// The longest back-off between two tries (unless `AGENT_HTTP_BACKOFF_MS`
/// starts higher), and the longest `Retry-After` honoured for a 5xx.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// An answer's `Retry-After`: a number of seconds, or an HTTP date (a date
/// already past is no wait).
fn retry_after(resp: &HttpResponse) -> Option<Duration> {
    let value = resp.header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(u32::MAX as f64)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or_default())
}

/// Where a 3xx answer points, if it is a redirect with a usable `Location`.
fn redirect_target(from: &Url, resp: &HttpResponse) -> Option<Result<Url, String>> {
    if !matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = resp.header("location")?;
    Some(
        from.join(location)
            .map_err(|e| format!("{} redirected to an invalid URL: {e}", display_url(from))),
    )
}

/// Whether a header carries a credential: a well-known authentication
/// header, a name that says key, token, secret or auth, or a value holding
/// a secret the host knows.
pub fn is_credential(h: &Header, secrets: &[String]) -> bool {
    let name = h.name.to_ascii_lowercase();
    ["authorization", "cookie", "key", "token", "secret", "auth", "password", "session"]
        .iter()
        .any(|w| name.contains(w))
        || secrets.iter().any(|s| s.len() >= 4 && h.value.contains(s.as_str()))
}

fn headers_vec(h: Vec<Header>) -> abi_stable::std_types::RVec<Header> {
    h.into()
}

/// `scheme://host[:port]/path`, without the query string.
fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// One line for a transport failure: what kind, and the root cause.
fn describe(shown: &str, e: &reqwest::Error, timeout: Duration) -> String {
    let mut root = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return format!("{shown}: refused: {refused}");
        }
        root = s.to_string();
        cur = s.source();
    }
    if e.is_timeout() {
        format!("{shown}: timed out after {}s", timeout.as_secs())
    } else if e.is_connect() {
        let lower = root.to_lowercase();
        if lower.contains("dns") || lower.contains("resolve") || lower.contains("name or service") {
            format!("{shown}: DNS lookup failed: {root}")
        } else {
            format!("{shown}: could not connect: {root}")
        }
    } else {
        format!("{shown}: request failed: {root}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_wait_honours_retry_after_and_caps_only_the_back_off() {
        let c = HttpClient::new(HttpSettings::default());
        let mut resp =
            HttpResponse { status: 429, headers: Default::default(), body: Default::default() };
        assert_eq!(c.retry_wait(&resp, 0, true), Duration::from_millis(500));
        assert_eq!(c.retry_wait(&resp, 2, true), Duration::from_millis(2000));
        assert_eq!(c.retry_wait(&resp, 30, false), MAX_BACKOFF);
        resp.headers.push(Header::new("Retry-After", "2"));
        assert_eq!(c.retry_wait(&resp, 0, true), Duration::from_secs(2));
        resp.headers[0] = Header::new("retry-after", "0.05");
        assert_eq!(c.retry_wait(&resp, 0, true), Duration::from_millis(50));
        // A rate limit's long wait is for the patience to judge; a 5xx's is capped.
        resp.headers[0] = Header::new("retry-after", "3600");
        assert_eq!(c.retry_wait(&resp, 0, true), Duration::from_secs(3600));
        assert_eq!(c.retry_wait(&resp, 0, false), MAX_BACKOFF);
        let later = chrono::Utc::now() + chrono::Duration::seconds(120);
        resp.headers[0] = Header::new("Retry-After", &later.to_rfc2822());
        let wait = c.retry_wait(&resp, 0, true);
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120), "{wait:?}");
        resp.headers[0] = Header::new("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(c.retry_wait(&resp, 0, true), Duration::ZERO);
        resp.headers[0] = Header::new("Retry-After", "soon");
        assert_eq!(c.retry_wait(&resp, 1, true), Duration::from_secs(1));
    }

    /// A listener on 127.0.0.1 answering 200 to whoever connects, and how
    /// many connected.
    fn listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = seen.clone();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut r = std::io::BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
        (port, seen)
    }

    #[test]
    fn declared_hosts_never_reach_this_machine_in_any_spelling() {
        let (port, seen) = listener();
        let spellings = [
            "::ffff:7f00:1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::ffff:0:7f00:1",
            "127.0.0.1",
            "127.1",
            "localhost",
        ];
        // As if the manifest check had been passed: the connection is where
        // it counts.
        let declared: Vec<String> = spellings.iter().map(|s| s.to_string()).collect();
        let d = Destinations::new(&declared, ["http://127.0.0.1:9/"]);
        let c = HttpClient::new(HttpSettings::default());
        for host in spellings {
            let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
            let req = HttpRequest::get(&format!("http://{host}:{port}/"));
            let err = c.execute(&req, &d, &[], &|_, _| {}).unwrap_err();
            assert!(err.contains("a plugin reaches this machine"), "{host}: {err}");
            assert!(err.contains("loopback"), "{host}: {err}");
        }
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0, "the listener was reached");
        // The operator's base URL is reached, at exactly its origin.
        let d = Destinations::new(&[], [format!("http://127.0.0.1:{port}/v1").as_str()]);
        let req = HttpRequest::get(&format!("http://127.0.0.1:{port}/v1/x"));
        assert_eq!(c.execute(&req, &d, &[], &|_, _| {}).unwrap().status, 200);
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_plugin_may_not_frame_its_own_request() {
        let (port, seen) = listener();
        let d = Destinations::new(&[], [format!("http://127.0.0.1:{port}").as_str()]);
        let c = HttpClient::new(HttpSettings::default());
        for (name, value) in [
            ("Host", "internal.example"),
            ("Content-Length", "0"),
            ("Transfer-Encoding", "chunked"),
            ("Proxy-Authorization", "Basic eA=="),
        ] {
            let req = HttpRequest::get(&format!("http://127.0.0.1:{port}/")).header(name, value);
            let err = c.execute(&req, &d, &[], &|_, _| {}).unwrap_err();
            assert!(err.contains("is set by the host, never by a plugin"), "{name}: {err}");
        }
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn displayed_url_drops_query_and_credentials() {
        let u = Url::parse("https://user:pw@h.example/p?key=secret").unwrap();
        assert_eq!(display_url(&u), "https://h.example/p");
    }
}
