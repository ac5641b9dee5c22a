//! A fake host for plugin authors' tests (feature `testing`): runs a
//! plugin's `run` function in this process, answers its HTTP from recorded
//! responses, hands it fake secrets, and captures its requests and logs.
//!
//! ```
//! use plugin_api::testing::{json_response, FakeHost};
//! use plugin_api::{HttpRequest, PluginCtx, PluginResult, Record, RunMetadata, RunRequest};
//!
//! fn run(ctx: &PluginCtx<'_>, _req: RunRequest) -> PluginResult {
//!     match ctx.http(&HttpRequest::get("https://api.example.com/v1/usage")) {
//!         Ok(r) if r.status == 200 => {
//!             let record = Record::new("usage_blob", "today", r.text().into_owned());
//!             PluginResult::success(vec![record], &RunMetadata::default())
//!         }
//!         Ok(r) => PluginResult::failed(format!("HTTP {}", r.status)),
//!         Err(e) => PluginResult::failed(e),
//!     }
//! }
//!
//! let out = FakeHost::new()
//!     .respond("GET", "https://api.example.com/v1/usage", json_response(200, r#"{"tokens":5}"#))
//!     .run(run, &RunRequest::default());
//! assert_eq!(out.error(), None);
//! assert_eq!(out.records("usage_blob").len(), 1);
//! assert_eq!(out.requests[0].url.as_str(), "https://api.example.com/v1/usage");
//! ```
//!
//! The run goes through the same guard as the exported function (the request
//! is serialised to JSON and parsed back, a panic becomes a failed result),
//! so a test sees what the host would get. Given the plugin's [`Manifest`]
//! ([`FakeHost::manifest`]), the fake also applies the host's rules: only
//! declared settings and secrets reach the plugin, parameter defaults are
//! filled in, and HTTP may reach only the manifest's `hosts` and the hosts of
//! URL-valued settings.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use abi_stable::std_types::{
    RErr, RNone, ROk, ROption, RResult, RSlice, RSome, RStr, RString, RVec,
};

use crate::{
    catch_panic, guard_run, Header, Host, Host_TO, HttpRequest, HttpResponse, LogLevel, Manifest,
    PluginCtx, PluginResult, Record, RunMetadata, RunRequest, TD_Opaque,
};

/// An answer to a request: a response, or a transport error (what the host
/// reports for a refused host, a timeout or a connection failure).
pub type Answer = Result<HttpResponse, String>;

type Responder = Box<dyn Fn(&HttpRequest) -> Option<Answer> + Send + Sync>;
type CallHandler = Box<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// A response with `status` and `body` and no headers.
pub fn response(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
    HttpResponse { status, headers: RVec::new(), body: body.into().into() }
}

/// A response with `status`, a JSON `body` and `Content-Type: application/json`.
pub fn json_response(status: u16, body: &str) -> HttpResponse {
    let mut r = response(status, body);
    r.headers.push(Header::new("Content-Type", "application/json"));
    r
}

/// One line the plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: LogLevel,
    /// Its text.
    pub message: String,
}

/// What one run did.
#[derive(Debug)]
pub struct Outcome {
    /// What `run` returned.
    pub result: PluginResult,
    /// Every request the plugin made, in order, refused ones included.
    pub requests: Vec<HttpRequest>,
    /// Every line it logged, in order (and the fake host's warnings about it).
    pub logs: Vec<LogLine>,
}

impl Outcome {
    /// Why the run failed or is partial; `None` for a clean success.
    pub fn error(&self) -> Option<&str> {
        self.result.error.as_ref().map(RString::as_str).into_option()
    }

    /// The records of `kind`, in order.
    pub fn records(&self, kind: &str) -> Vec<&Record> {
        self.result.records.iter().filter(|r| r.kind == kind).collect()
    }

    /// The payloads of the records of `kind`, parsed.
    pub fn payloads(&self, kind: &str) -> Result<Vec<serde_json::Value>, String> {
        self.records(kind)
            .into_iter()
            .map(|r| {
                serde_json::from_str(&r.payload_json)
                    .map_err(|e| format!("record {kind}/{}: payload is not JSON: {e}", r.key))
            })
            .collect()
    }

    /// The result's `metadata_json`, parsed.
    pub fn metadata(&self) -> Result<RunMetadata, String> {
        serde_json::from_str(&self.result.metadata_json)
            .map_err(|e| format!("metadata_json is not valid run metadata: {e}"))
    }

    /// Whether any log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.logs.iter().any(|l| l.message.contains(text))
    }
}

/// Recorded answers to one method and URL.
#[derive(Clone)]
struct Route {
    method: String,
    url: String,
    answers: VecDeque<Answer>,
}

/// A host for tests, configured with builder methods, then [`FakeHost::run`].
/// Each run starts from the configuration afresh, so one fake can run a
/// plugin several times.
#[derive(Default)]
pub struct FakeHost {
    secrets: BTreeMap<String, String>,
    routes: Vec<Route>,
    responder: Option<Responder>,
    calls: BTreeMap<String, CallHandler>,
    manifest: Option<Manifest>,
    run_id: Option<String>,
}

impl FakeHost {
    /// A host with no secrets, no recorded responses and no manifest: every
    /// secret that is set is given, every host may be asked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the host's rules for this manifest (see the module docs).
    pub fn manifest(mut self, manifest: Manifest) -> Self {
        self.manifest = Some(manifest);
        self
    }

    /// Sets a secret.
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.insert(name.into(), value.into());
        self
    }

    /// Answers `method` (any case) `url` (exactly, query string included)
    /// with `response`. Answers recorded for the same request are given in
    /// order, and the last one repeats.
    pub fn respond(self, method: &str, url: &str, response: HttpResponse) -> Self {
        self.answer(method, url, Ok(response))
    }

    /// Answers `method` `url` with a transport error (as a timeout or a
    /// refused connection would), in order with [`FakeHost::respond`].
    pub fn fail(self, method: &str, url: &str, error: &str) -> Self {
        self.answer(method, url, Err(error.into()))
    }

    /// Answers the requests no recorded response matches: `None` leaves the
    /// request unanswered (an error naming it).
    pub fn respond_with(
        mut self,
        responder: impl Fn(&HttpRequest) -> Option<Answer> + Send + Sync + 'static,
    ) -> Self {
        self.responder = Some(Box::new(responder));
        self
    }

    /// Answers `Host::call(method, json)`; other methods answer `Err`, as
    /// a host that does not know them does.
    pub fn on_call(
        mut self,
        method: &str,
        handler: impl Fn(&str) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.calls.insert(method.into(), Box::new(handler));
        self
    }

    /// The run id the plugin sees (default `test-run`).
    pub fn run_id(mut self, id: &str) -> Self {
        self.run_id = Some(id.into());
        self
    }

    /// Runs `run` with `request`, adjusted as the host would (see
    /// [`FakeHost::manifest`]).
    pub fn run(
        &self,
        run: impl FnOnce(&PluginCtx<'_>, RunRequest) -> PluginResult,
        request: &RunRequest,
    ) -> Outcome {
        let request = self.as_sent(request.clone());
        // A request of strings always serialises; an empty text would only
        // make the guard report an invalid request.
        let json = serde_json::to_string(&request).unwrap_or_default();
        self.run_with(run, &json, &request)
    }

    /// Runs `run` with the request JSON exactly as given (to test keys this
    /// crate's [`RunRequest`] does not know, or a malformed request).
    pub fn run_json(
        &self,
        run: impl FnOnce(&PluginCtx<'_>, RunRequest) -> PluginResult,
        request_json: &str,
    ) -> Outcome {
        let request = serde_json::from_str(request_json).unwrap_or_default();
        self.run_with(run, request_json, &request)
    }

    fn run_with(
        &self,
        run: impl FnOnce(&PluginCtx<'_>, RunRequest) -> PluginResult,
        json: &str,
        request: &RunRequest,
    ) -> Outcome {
        let session = Session {
            fake: self,
            routes: Mutex::new(self.routes.clone()),
            allowed_hosts: self.allowed_hosts(request),
            requests: Mutex::default(),
            logs: Mutex::default(),
        };
        let run_id = self.run_id.as_deref().unwrap_or("test-run");
        let ctx = PluginCtx { host: Host_TO::from_ptr(&session, TD_Opaque), run_id: run_id.into() };
        let result = guard_run(&ctx, RStr::from(json), run);
        drop(ctx);
        Outcome {
            result,
            requests: session.requests.into_inner().unwrap_or_else(PoisonError::into_inner),
            logs: session.logs.into_inner().unwrap_or_else(PoisonError::into_inner),
        }
    }

    fn answer(mut self, method: &str, url: &str, answer: Answer) -> Self {
        let same = |r: &&mut Route| r.method.eq_ignore_ascii_case(method) && r.url == url;
        match self.routes.iter_mut().find(same) {
            Some(route) => route.answers.push_back(answer),
            None => self.routes.push(Route {
                method: method.into(),
                url: url.into(),
                answers: VecDeque::from([answer]),
            }),
        }
        self
    }

    /// The request as the host would send it: only declared settings, and
    /// parameter defaults filled in.
    fn as_sent(&self, mut request: RunRequest) -> RunRequest {
        let Some(m) = &self.manifest else { return request };
        request.settings.retain(|k, _| m.settings.contains(k));
        for p in &m.params {
            if let Some(default) = &p.default {
                request.params.entry(p.name.clone()).or_insert_with(|| default.clone());
            }
        }
        request
    }

    /// The hosts HTTP may reach (`None`: any): the manifest's, and those of
    /// URL-valued settings, as the host allows them.
    fn allowed_hosts(&self, request: &RunRequest) -> Option<Vec<String>> {
        let m = self.manifest.as_ref()?;
        let mut hosts = m.hosts.clone();
        hosts.extend(request.settings.values().filter_map(|v| url_host(v)));
        Some(hosts)
    }
}

/// One run's state: the answers left, and what the plugin did.
struct Session<'a> {
    fake: &'a FakeHost,
    routes: Mutex<Vec<Route>>,
    allowed_hosts: Option<Vec<String>>,
    requests: Mutex<Vec<HttpRequest>>,
    logs: Mutex<Vec<LogLine>>,
}

/// A poisoned lock only means a panic elsewhere, already reported; the data
/// is still what was recorded.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Session<'_> {
    fn note(&self, level: LogLevel, message: String) {
        lock(&self.logs).push(LogLine { level, message });
    }

    fn answer(&self, request: &HttpRequest) -> Answer {
        lock(&self.requests).push(request.clone());
        if let Some(allowed) = &self.allowed_hosts {
            host_allowed(&request.url, allowed)?;
        }
        if let Some(answer) = self.recorded(request) {
            return answer;
        }
        if let Some(responder) = &self.fake.responder {
            // A panic must not cross the plugin boundary: abi_stable would
            // end the whole test process.
            match catch_panic(|| responder(request)) {
                Ok(Some(answer)) => return answer,
                Ok(None) => {}
                Err(p) => return Err(format!("the test's respond_with closure panicked: {p}")),
            }
        }
        Err(format!("no recorded response for {} {}", request.method, request.url))
    }

    fn recorded(&self, request: &HttpRequest) -> Option<Answer> {
        let mut routes = lock(&self.routes);
        let route = routes.iter_mut().find(|r| {
            r.method.eq_ignore_ascii_case(&request.method) && r.url == request.url.as_str()
        })?;
        if route.answers.len() > 1 {
            route.answers.pop_front()
        } else {
            route.answers.front().cloned()
        }
    }
}

fn to_r(answer: Answer) -> RResult<HttpResponse, RString> {
    match answer {
        Ok(r) => ROk(r),
        Err(e) => RErr(e.into()),
    }
}

impl Host for Session<'_> {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        self.note(level, message.to_string());
    }

    fn secret(&self, name: RStr<'_>) -> ROption<RString> {
        let name = name.as_str();
        if let Some(m) = &self.fake.manifest {
            if !m.secrets.iter().any(|s| s == name) {
                // The host's own warning, word for word.
                let why = format!("refused secret {name}: not declared by this plugin's manifest");
                self.note(LogLevel::WARN, why);
                return RNone;
            }
        }
        match self.fake.secrets.get(name) {
            Some(v) => RSome(v.as_str().into()),
            None => RNone,
        }
    }

    fn http(&self, request: &HttpRequest) -> RResult<HttpResponse, RString> {
        to_r(self.answer(request))
    }

    fn http_all(&self, requests: RSlice<'_, HttpRequest>) -> RVec<RResult<HttpResponse, RString>> {
        requests.iter().map(|r| to_r(self.answer(r))).collect()
    }

    fn call(&self, method: RStr<'_>, json: RStr<'_>) -> RResult<RString, RString> {
        let Some(handler) = self.fake.calls.get(method.as_str()) else {
            // Like a real host of this contract, unless the test says otherwise.
            if method.as_str() == "host.features" {
                let answer = crate::HostFeatures {
                    contract: crate::CONTRACT_VERSION.into(),
                    features: crate::FEATURES.iter().map(|f| f.to_string()).collect(),
                    ..Default::default()
                };
                return ROk(serde_json::to_string(&answer).unwrap_or_default().into());
            }
            return RErr(format!("unknown host method {:?}", method.as_str()).into());
        };
        match catch_panic(|| handler(json.as_str())) {
            Ok(Ok(answer)) => ROk(answer.into()),
            Ok(Err(e)) => RErr(e.into()),
            Err(p) => RErr(format!("the test's on_call closure panicked: {p}").into()),
        }
    }
}

/// The host of an `http`/`https` URL, lowercase, without port or brackets.
fn url_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host_port.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Whether `url`'s host is one of `allowed`, in the host's words when not.
fn host_allowed(url: &str, allowed: &[String]) -> Result<(), String> {
    let host = url_host(url).ok_or_else(|| format!("invalid URL {url:?}"))?;
    if allowed.iter().any(|a| a.trim_matches(['[', ']']).eq_ignore_ascii_case(&host)) {
        return Ok(());
    }
    let listed = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
    Err(format!(
        "host {host} is not allowed for this plugin (allowed: {listed}); declare it in the \
         manifest's hosts or configure it as the plugin's base URL"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ParamSpec, RunStatus};

    /// A tiny plugin: reads a key and a base URL, makes two requests at
    /// once, and returns one record per answer.
    fn plugin(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
        ctx.info("starting");
        let Some(key) = ctx.secret("DEMO_KEY") else {
            return PluginResult::failed("no DEMO_KEY");
        };
        let base = req.settings.get("DEMO_BASE_URL").cloned().unwrap_or_default();
        let mode = req.params.get("mode").cloned().unwrap_or_default();
        let requests: Vec<HttpRequest> = ["a", "b"]
            .iter()
            .map(|p| HttpRequest::get(&format!("{base}/{p}")).header("Authorization", &key))
            .collect();
        let mut records = Vec::new();
        for (i, answer) in ctx.http_all(&requests).into_iter().enumerate() {
            match answer {
                Ok(r) => records.push(Record::new("demo", &i.to_string(), r.text().into_owned())),
                Err(e) => return PluginResult::failed(e),
            }
        }
        let meta = RunMetadata { requests: 2, state: Some(mode), ..RunMetadata::default() };
        PluginResult::success(records, &meta)
    }

    fn manifest() -> Manifest {
        Manifest::new("demo", "0.1.0")
            .secrets(["DEMO_KEY"])
            .settings(["DEMO_BASE_URL"])
            .params([ParamSpec::new("mode", "").with_default("fast")])
    }

    fn request(base: &str) -> RunRequest {
        let mut req = RunRequest::default();
        req.settings.insert("DEMO_BASE_URL".into(), base.into());
        req.settings.insert("UNDECLARED".into(), "x".into());
        req
    }

    #[test]
    fn answers_from_recorded_responses_and_captures_everything() {
        let out = FakeHost::new()
            .manifest(manifest())
            .secret("DEMO_KEY", "k1")
            .respond("GET", "https://api.test/a", json_response(200, r#"{"n":1}"#))
            .respond("get", "https://api.test/b", response(200, "two"))
            .run(plugin, &request("https://api.test"));
        assert_eq!(out.result.status, RunStatus::SUCCESS, "{:?}", out.error());
        let not_json = out.payloads("demo").unwrap_err();
        assert!(not_json.starts_with("record demo/1: payload is not JSON"), "{not_json}");
        assert_eq!(out.records("demo")[0].payload_json.as_str(), r#"{"n":1}"#);
        assert_eq!(out.requests.len(), 2);
        assert_eq!(out.requests[1].headers[0].value.as_str(), "k1");
        assert!(out.logged("starting"));
        let meta = out.metadata().unwrap();
        assert_eq!(meta.state.as_deref(), Some("fast"), "the default parameter is filled in");
    }

    /// Asks `http://h/a` three times, then `/b` and `/c`; fails with what it got.
    fn asks_five_times(ctx: &PluginCtx<'_>, _: RunRequest) -> PluginResult {
        let seen: Vec<String> = ["a", "a", "a", "b", "c"]
            .iter()
            .map(|p| match ctx.http(&HttpRequest::get(&format!("http://h/{p}"))) {
                Ok(r) => r.status.to_string(),
                Err(e) => e,
            })
            .collect();
        PluginResult::failed(seen.join(","))
    }

    #[test]
    fn answers_come_in_order_the_last_repeats_and_runs_start_afresh() {
        let fake = FakeHost::new()
            .fail("GET", "http://h/a", "timed out")
            .respond("GET", "http://h/a", response(200, ""))
            .respond_with(|r| r.url.ends_with("/b").then(|| Ok(response(204, ""))));
        let expected = "timed out,200,200,204,no recorded response for GET http://h/c";
        assert_eq!(fake.run(asks_five_times, &RunRequest::default()).error(), Some(expected));
        assert_eq!(fake.run(asks_five_times, &RunRequest::default()).error(), Some(expected));
    }

    #[test]
    fn the_manifest_rules_apply() {
        let fake = FakeHost::new().manifest(manifest()).secret("DEMO_KEY", "k");
        let out = fake.run(
            |ctx, req| {
                assert!(!req.settings.contains_key("UNDECLARED"));
                assert_eq!(ctx.secret("OTHER_KEY"), None);
                match ctx.http(&HttpRequest::get("https://evil.test/x")) {
                    Ok(_) => PluginResult::failed("reached an undeclared host"),
                    Err(e) => PluginResult::failed(e),
                }
            },
            &request("https://api.test"),
        );
        assert!(out.logged("refused secret OTHER_KEY"), "{:?}", out.logs);
        let error = out.error().unwrap_or_default();
        assert!(error.starts_with("host evil.test is not allowed"), "{error}");
        assert_eq!(out.requests.len(), 1, "refused requests are listed too");
    }

    #[test]
    fn unanswered_requests_panics_and_calls_are_reported() {
        let fake = FakeHost::new().secret("DEMO_KEY", "k");
        let out = fake.run(plugin, &request("https://api.test"));
        assert_eq!(out.error(), Some("no recorded response for GET https://api.test/a"));
        let boom = fake.run(|_, _| panic!("boom"), &RunRequest::default());
        assert_eq!(boom.error(), Some("plugin panicked: boom"));
        let bad = fake.run_json(plugin, "{not json");
        assert!(bad.error().unwrap_or_default().starts_with("invalid run request"));
        let fake = fake.on_call("echo", |j| Ok(j.to_string()));
        let call = fake.run(
            |ctx, _| {
                let call = |m: &str| ctx.host.call(m.into(), "{}".into()).into_result();
                let echo = call("echo").map(String::from).map_err(String::from);
                let other = call("nope").map(String::from).map_err(String::from);
                let text = format!("{echo:?} {other:?}");
                PluginResult::failed(text)
            },
            &RunRequest::default(),
        );
        assert_eq!(call.error(), Some(r#"Ok("{}") Err("unknown host method \"nope\"")"#));
    }

    #[test]
    fn the_run_id_is_the_one_given() {
        let fake = FakeHost::new();
        let echo = |ctx: &PluginCtx<'_>, _| PluginResult::failed(ctx.run_id.as_str());
        assert_eq!(fake.run(echo, &RunRequest::default()).error(), Some("test-run"));
        let fake = fake.run_id("r7");
        assert_eq!(fake.run(echo, &RunRequest::default()).error(), Some("r7"));
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://User:pw@API.test:8443/x?y").as_deref(), Some("api.test"));
        assert_eq!(url_host("http://[::1]:80/").as_deref(), Some("::1"));
        assert_eq!(url_host("ftp://x/"), None);
        assert_eq!(url_host("not a url"), None);
    }
}
