//! `POST /hooks/NAME` of `agent-host serve`: a signed webhook starts the
//! jobs of a `[[trigger]]`. The signature is the request's authentication
//! (no dashboard token, any address); a valid request takes the run lock,
//! answers 202 with the run ids, and the jobs run in the background on one
//! thread of `serve`, which holds the lock until they end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;

use super::serve::{error, respond};
use crate::context::Context;
use crate::kernel::error::KernelError;
use crate::kernel::lock::RunLock;
use crate::trigger::{self, RateLimit, Refusal, Trigger, Used};

/// A trigger request that was accepted: what the background thread runs.
pub struct Accepted {
    trigger: String,
    jobs: Vec<String>,
    ids: BTreeMap<String, String>,
    /// Held until the jobs end.
    lock: RunLock,
}

/// The triggers `serve` answers, and what it remembers of their requests.
pub struct Hooks {
    triggers: Vec<Trigger>,
    lock_path: PathBuf,
    memory: Mutex<(Used, RateLimit)>,
    queue: Mutex<mpsc::Sender<Accepted>>,
}

impl Hooks {
    /// The triggers, and the receiving end of their queue for [`work`].
    pub fn new(triggers: Vec<Trigger>, lock_path: PathBuf) -> (Hooks, mpsc::Receiver<Accepted>) {
        let (tx, rx) = mpsc::channel();
        let memory = Mutex::new((Used::default(), RateLimit::default()));
        (Hooks { triggers, lock_path, memory, queue: Mutex::new(tx) }, rx)
    }

    /// The trigger names, for the start-up line.
    pub fn names(&self) -> Vec<&str> {
        self.triggers.iter().map(|t| t.name.as_str()).collect()
    }
}

/// Runs accepted triggers one after another until `serve` stops.
pub fn work(ctx: &Context, queue: mpsc::Receiver<Accepted>) {
    for a in queue {
        match super::collect::collect_for_trigger(ctx, &a.trigger, &a.jobs, a.ids) {
            Ok(reports) => {
                for r in reports {
                    tracing::info!(trigger = %a.trigger, run_id = %r.run_id, "{}: {}", r.plugin, r.status);
                }
            }
            Err(e) => tracing::error!(trigger = %a.trigger, "the trigger's jobs did not run: {e}"),
        }
        drop(a.lock);
    }
}

/// Answers one request to `/hooks/NAME`.
pub async fn handle(hooks: Option<&Arc<Hooks>>, req: Request) -> Response {
    let name = req.uri().path().trim_start_matches("/hooks/").to_string();
    if req.method() != Method::POST {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "a trigger takes POST only");
        r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return r;
    }
    let Some(hooks) = hooks.cloned() else {
        return error(StatusCode::NOT_FOUND, &format!("no trigger {name:?}"));
    };
    let Some(trigger) = hooks.triggers.iter().find(|t| t.name == name).cloned() else {
        return error(StatusCode::NOT_FOUND, &format!("no trigger {name:?}"));
    };
    if !hooks.memory.lock().unwrap_or_else(|p| p.into_inner()).1.admit(std::time::Instant::now()) {
        return error(StatusCode::TOO_MANY_REQUESTS, "too many trigger requests; try again later");
    }
    let too_big = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("a trigger's body is at most {} bytes", trigger::MAX_BODY_BYTES),
        )
    };
    if content_length(req.headers()).is_some_and(|n| n > trigger::MAX_BODY_BYTES as u64) {
        return too_big();
    }
    let headers = req.headers().clone();
    let Ok(body) = axum::body::to_bytes(req.into_body(), trigger::MAX_BODY_BYTES).await else {
        return too_big();
    };
    let now = chrono::Utc::now().timestamp();
    let read = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let signed = match trigger::verify(&trigger, read, &body, now) {
        Ok(s) => s,
        Err(why) => return refuse(&trigger, &why),
    };
    if let Err(why) =
        hooks.memory.lock().unwrap_or_else(|p| p.into_inner()).0.check(&name, &signed, now)
    {
        return refuse(&trigger, &why);
    }
    let answer = tokio::task::spawn_blocking(move || accept(&hooks, trigger, signed, now)).await;
    answer.unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the request failed"))
}

/// A 401 (a 429 when the memory of used signatures is full), logged
/// without the request's content.
fn refuse(trigger: &Trigger, why: &Refusal) -> Response {
    tracing::warn!(trigger = %trigger.name, "trigger request refused: {why}");
    let status = match why {
        Refusal::Full => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::UNAUTHORIZED,
    };
    error(status, &why.to_string())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Takes the run lock (409 when a run holds it), remembers the signature
/// and queues the jobs.
fn accept(hooks: &Hooks, trigger: Trigger, signed: trigger::Signed, now: i64) -> Response {
    let lock = match RunLock::acquire(&hooks.lock_path) {
        Ok(l) => l,
        Err(KernelError::Busy) => {
            return error(
                StatusCode::CONFLICT,
                "a run is in progress in this home folder; nothing was started",
            )
        }
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    {
        let mut memory = hooks.memory.lock().unwrap_or_else(|p| p.into_inner());
        // Checked again under the lock: two copies of one request may race.
        if let Err(why) = memory.0.check(&trigger.name, &signed, now) {
            return refuse(&trigger, &why);
        }
        memory.0.remember(&trigger.name, signed);
    }
    let ids: BTreeMap<String, String> =
        trigger.jobs.iter().map(|j| (j.clone(), uuid::Uuid::new_v4().to_string())).collect();
    let runs: Vec<serde_json::Value> =
        trigger.jobs.iter().map(|j| serde_json::json!({ "job": j, "run_id": ids[j] })).collect();
    let accepted =
        Accepted { trigger: trigger.name.clone(), jobs: trigger.jobs.clone(), ids, lock };
    if hooks.queue.lock().unwrap_or_else(|p| p.into_inner()).send(accepted).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
    }
    tracing::info!(trigger = %trigger.name, "trigger accepted: {} job(s) started", runs.len());
    let body = serde_json::json!({ "trigger": trigger.name, "runs": runs }).to_string();
    respond(StatusCode::ACCEPTED, "application/json", body)
}
