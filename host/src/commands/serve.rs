//! `agent-host serve` (the local dashboard: one page and a read-only JSON
//! API over the store) and `agent-host report html` (the same page as one
//! file with its data inlined). Every number comes from
//! [`crate::billing::dashboard`], the code `summary --json` uses too.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;

use super::hooks::{self, Hooks};
use super::write_err;
use crate::billing::dashboard::{self, default_period, Query};
use crate::billing::money::Money;
use crate::billing::page;
use crate::cli::{HtmlArgs, ServeArgs};
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};
use crate::store::Store;

/// The shortest token `serve` accepts.
pub const MIN_TOKEN_CHARS: usize = 16;

/// API requests computed at once; more wait their turn.
const CONCURRENT_VIEWS: usize = 2;

/// What every request needs.
struct Server {
    store: crate::store::Location,
    token: Option<String>,
    /// Bound to loopback: requests must name a loopback host (a page on
    /// another site cannot reach the API through DNS rebinding).
    loopback: bool,
    /// `AGENT_TODAY`, when pinned.
    today: Option<NaiveDate>,
    budget: Money,
    prices: crate::billing::prices::PriceTable,
    /// Bounds the work requests can queue on the machine.
    views: tokio::sync::Semaphore,
    /// The signed webhook triggers of `agent-host.toml`, if any.
    hooks: Option<Arc<Hooks>>,
}

impl Server {
    fn today(&self) -> NaiveDate {
        self.today.unwrap_or_else(|| chrono::Utc::now().date_naive())
    }
}

/// `agent-host serve`.
pub fn serve(ctx: &Context, args: &ServeArgs) -> Result<u8> {
    let token = args
        .token
        .clone()
        .or_else(|| ctx.settings.get("AGENT_SERVE_TOKEN").map(str::to_string))
        .filter(|t| !t.is_empty());
    let loopback = args.bind.ip().is_loopback();
    match &token {
        None if !loopback => {
            return Err(HostError::usage(format!(
                "serve --bind {}: an address other than loopback needs a token",
                args.bind
            ))
            .with_hint(
                "set AGENT_SERVE_TOKEN (or pass --token); every request must then carry it",
            ))
        }
        Some(t) if t.chars().count() < MIN_TOKEN_CHARS => {
            return Err(HostError::usage(format!(
                "the serve token is shorter than {MIN_TOKEN_CHARS} characters"
            ))
            .with_hint("e.g. AGENT_SERVE_TOKEN=$(openssl rand -hex 16)"))
        }
        _ => {}
    }
    // Creates or upgrades the database once; the server only reads it.
    drop(ctx.store()?);
    let (hooks, queue) = match triggers(ctx)? {
        Some(triggers) => {
            let (hooks, queue) = Hooks::new(triggers, ctx.home.lock_path());
            (Some(Arc::new(hooks)), Some(queue))
        }
        None => (None, None),
    };
    let server = Arc::new(Server {
        store: ctx.store_location()?,
        token,
        loopback,
        today: pinned_today(ctx)?,
        budget: crate::billing::report::alert_settings(&ctx.settings)?.budget,
        prices: ctx.prices(),
        views: tokio::sync::Semaphore::new(CONCURRENT_VIEWS),
        hooks,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
        .map_err(|e| HostError::config(format!("cannot start the server: {e}")))?;
    // Triggered jobs run on a thread of their own, one trigger at a time.
    std::thread::scope(|s| {
        if let Some(queue) = queue {
            s.spawn(move || hooks::work(ctx, queue));
        }
        runtime.block_on(run(server, args.bind))
    })
}

/// The `[[trigger]]`s of `agent-host.toml` (checked with its jobs), or
/// `None` without the file or triggers: a dashboard without triggers never
/// loads plugins or reads the jobs.
fn triggers(ctx: &Context) -> Result<Option<Vec<crate::trigger::Trigger>>> {
    let Ok(text) = std::fs::read_to_string(ctx.home.path().join(crate::jobfile::FILE)) else {
        return Ok(None);
    };
    // A file that does not parse is checked in full when it may hold
    // triggers, so its mistake is said with its line.
    let declares = match text.parse::<toml::Table>() {
        Ok(t) => t.contains_key("trigger"),
        Err(_) => text.contains("trigger"),
    };
    if !declares {
        return Ok(None);
    }
    let jobs = crate::jobfile::load(ctx, &ctx.catalog()?)?;
    Ok((!jobs.triggers.is_empty()).then_some(jobs.triggers))
}

fn pinned_today(ctx: &Context) -> Result<Option<NaiveDate>> {
    Ok(match ctx.settings.get("AGENT_TODAY") {
        Some(_) => Some(ctx.today()?),
        None => None,
    })
}

async fn run(server: Arc<Server>, bind: SocketAddr) -> Result<u8> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| {
            let err = HostError::config(format!("cannot listen on {bind}: {e}"));
            match e.kind() {
                std::io::ErrorKind::AddrInUse => err.with_hint(format!(
                    "another program (another `agent-host serve`?) listens on port {}; choose another with --bind {}:PORT",
                    bind.port(),
                    bind.ip()
                )),
                _ => err,
            }
        })?;
    let addr = listener.local_addr().map_err(write_err)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "agent-host dashboard on http://{addr}/ (read-only; Ctrl-C stops it)")
            .map_err(write_err)?;
        if let Some(hooks) = &server.hooks {
            for name in hooks.names() {
                writeln!(out, "trigger {name}: POST http://{addr}/hooks/{name}")
                    .map_err(write_err)?;
            }
        }
        out.flush().map_err(write_err)?;
    }
    let app = axum::Router::new().fallback(handle).with_state(server);
    axum::serve(listener, app)
        .await
        .map_err(|e| HostError::config(format!("the server stopped: {e}")))?;
    Ok(ExitCode::OK)
}

/// A JSON error answer: `{"error": "one line"}`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    respond(status, "application/json", body)
}

pub(super) fn respond(status: StatusCode, content_type: &str, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-content-type-options", "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
        )
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Every request: checks, then the page or one API view.
async fn handle(State(server): State<Arc<Server>>, req: Request) -> Response {
    // A trigger's signature is its authentication: no token, any address.
    if req.uri().path().starts_with("/hooks/") {
        return hooks::handle(server.hooks.as_ref(), req).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error(StatusCode::METHOD_NOT_ALLOWED, "read-only: only GET is served");
    }
    let params: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if let Err((status, why)) = admit(&server, req.headers(), &params) {
        return error(status, &why);
    }
    let params: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k != "token").collect();
    let path = req.uri().path().to_string();
    if path == "/" || path == "/index.html" {
        return respond(StatusCode::OK, "text/html; charset=utf-8", page::render(None));
    }
    let Some(view) = path.strip_prefix("/api/").map(str::to_string) else {
        return error(StatusCode::NOT_FOUND, &format!("no page {path}"));
    };
    let Ok(_permit) = server.views.acquire().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
    };
    let server = server.clone();
    let answer = tokio::task::spawn_blocking(move || api(&server, &view, &params)).await;
    match answer {
        Ok(Ok(json)) => respond(StatusCode::OK, "application/json", json),
        Ok(Err((status, why))) => error(status, &why),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the request failed"),
    }
}

/// The token (when one is set) and, on loopback, a loopback `Host`.
fn admit(
    server: &Server,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> std::result::Result<(), (StatusCode, String)> {
    if server.loopback {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if !is_loopback_host(host) {
            return Err((StatusCode::FORBIDDEN, format!("host {host:?} is not this machine")));
        }
    }
    // Browsers say when another site sends the request: such a request may
    // not read the answer, and may not make this machine work either.
    if headers.get("sec-fetch-site").and_then(|h| h.to_str().ok()) == Some("cross-site") {
        return Err((StatusCode::FORBIDDEN, "requests from other sites are refused".into()));
    }
    let Some(token) = &server.token else { return Ok(()) };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| params.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone()));
    match given {
        Some(g) if same(g.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err((StatusCode::UNAUTHORIZED, "wrong token".into())),
        None => Err((StatusCode::UNAUTHORIZED, "a token is required".into())),
    }
}

/// Whether a `Host` header names this machine by a loopback name.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One view of the API, as JSON.
fn api(
    server: &Server,
    view: &str,
    params: &[(String, String)],
) -> std::result::Result<String, (StatusCode, String)> {
    let bad = |e: String| (StatusCode::BAD_REQUEST, e);
    let refused = |e: dashboard::QueryError| match e {
        dashboard::QueryError::Store(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        e => bad(e.to_string()),
    };
    let today = server.today();
    let extra: &[&str] = if view == "runs" { &["limit"] } else { &[] };
    let mut q = Query::from_params(params, extra, default_period(today)).map_err(refused)?;
    let store = Store::open_read_only(&server.store)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    q.resolve_provider(&store).map_err(refused)?;
    let failed = |e: crate::store::StoreError| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let json = match view {
        "summary" => to_json(
            &dashboard::summary(&store, &q, today, &server.budget, &server.prices)
                .map_err(failed)?,
        ),
        "daily" => to_json(&dashboard::daily(&store, &q, today).map_err(failed)?),
        "models" => to_json(&dashboard::models(&store, &q).map_err(failed)?),
        "coverage" => to_json(&dashboard::coverage(&store, &q, today).map_err(failed)?),
        "tokens" => to_json(&dashboard::token_mix(&store, &q).map_err(failed)?),
        "alerts" => to_json(&dashboard::alerts(&store).map_err(failed)?),
        "incidents" => to_json(&dashboard::incidents(&store).map_err(failed)?),
        "runs" => {
            let limit = match params.iter().find(|(k, _)| k == "limit") {
                None => 50,
                Some((_, v)) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=dashboard::MAX_RUNS).contains(n))
                    .ok_or_else(|| {
                        bad(format!("limit: {v:?} is not 1 to {}", dashboard::MAX_RUNS))
                    })?,
            };
            to_json(&dashboard::runs(&store, limit).map_err(failed)?)
        }
        "everything" => to_json(
            &dashboard::everything(&store, &q, today, &server.budget, &server.prices)
                .map_err(failed)?,
        ),
        other => return Err((StatusCode::NOT_FOUND, format!("no API view {other:?}"))),
    };
    Ok(json)
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// `agent-host report html`.
pub fn report_html(ctx: &Context, args: &HtmlArgs) -> Result<u8> {
    let store = ctx.store()?;
    let today = ctx.today()?;
    let period = super::billing::period(ctx, &args.period)?;
    let budget = crate::billing::report::alert_settings(&ctx.settings)?.budget;
    let mut q = Query { period, provider: args.provider.clone(), by: None };
    q.resolve_provider(&store)?;
    let data = dashboard::everything(&store, &q, today, &budget, &ctx.prices())?;
    let html = page::render(Some(&data));
    if args.out.as_os_str() == "-" {
        std::io::stdout().lock().write_all(html.as_bytes()).map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    super::billing::write_atomically(&args.out, |w| {
        w.write_all(html.as_bytes())
            .map_err(|e| HostError::output(format!("cannot write {}: {e}", args.out.display())))?;
        Ok(html.len())
    })?;
    println!("{}", args.out.display());
    Ok(ExitCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_are_this_machine() {
        for ok in ["127.0.0.1:8787", "localhost:8787", "LOCALHOST", "[::1]:8787", "127.0.0.2"] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in
            ["evil.example:8787", "", "192.168.1.2:8787", "localhost.evil.example", "[::2]:1"]
        {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
