//! What the host does on a plugin's behalf, in the host process where plugin
//! code cannot reach: HTTP to allowed destinations only (every redirect hop
//! checked where its connection is made, credentials dropped when a hop
//! leaves the origin), and redaction of every secret value the host knows
//! from whatever the plugin sends back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use plugin_api::LogLevel;

use super::destination::Destinations;
use super::http::{AnswerBudget, HttpClient};
use super::protocol::{WireRequest, WireResponse};
use crate::logging::redact;

/// Where the capability's log lines go.
pub type LogFn = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// Answer bytes the host may hold for one worker, from the moment they
/// arrive until the worker has read them; requests made past it are
/// answered with an error instead of being sent, so the host's memory does
/// not grow with what a plugin asks for.
const MAX_HELD_BYTES: u64 = 128 << 20;

/// Retries a plugin may ask for per request.
const MAX_RETRIES: u32 = 8;

/// The longest timeout a plugin may ask for per request.
const MAX_TIMEOUT_MS: u32 = 10 * 60 * 1000;

/// The capabilities of one run of one plugin.
pub struct Broker {
    destinations: Destinations,
    secret_values: Vec<String>,
    http: HttpClient,
    log: LogFn,
    progress: Option<indicatif::ProgressBar>,
    /// Answer bytes held for the worker and not yet read by it.
    held: Arc<AnswerBudget>,
}

impl Broker {
    /// Capabilities for a run: HTTP to `destinations`, and `secret_values`
    /// (every secret the host knows, not only this plugin's) redacted;
    /// `progress` counts requests asked and done.
    pub fn new(
        destinations: Destinations,
        secret_values: Vec<String>,
        http: HttpClient,
        log: LogFn,
        progress: Option<indicatif::ProgressBar>,
    ) -> Self {
        let held = Arc::new(AnswerBudget::new(MAX_HELD_BYTES));
        let http = http.with_budget(held.clone());
        Broker { destinations, secret_values, http, log, progress, held }
    }

    /// The answer bytes held for the worker: the writer that hands answers
    /// to the worker gives them back once read.
    pub fn held(&self) -> Arc<AnswerBudget> {
        self.held.clone()
    }

    /// `text` with every known secret value redacted.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secret_values)
    }

    /// Logs a line with every secret value redacted.
    pub fn emit(&self, level: LogLevel, message: &str) {
        (self.log)(level, &self.redact(message));
    }

    /// Performs independent requests as a pipeline: `AGENT_HTTP_PARALLEL`
    /// in flight, the next one starting as soon as any finishes; answers in
    /// order.
    pub fn http_all(&self, requests: Vec<WireRequest>) -> Vec<Result<WireResponse, String>> {
        let next = AtomicUsize::new(0);
        let answers: Vec<Mutex<Option<Result<WireResponse, String>>>> =
            requests.iter().map(|_| Mutex::new(None)).collect();
        let lanes = self.http.settings().parallel.min(requests.len());
        if let Some(p) = &self.progress {
            p.inc_length(requests.len() as u64);
        }
        std::thread::scope(|s| {
            for _ in 0..lanes {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(req) = requests.get(i) else { break };
                    let answer = if self.held.held() >= MAX_HELD_BYTES {
                        Err(format!(
                            "the answers waiting for this plugin passed {MAX_HELD_BYTES} bytes; not sent"
                        ))
                    } else {
                        plugin_api::catch_panic(|| self.http(req))
                            .unwrap_or_else(|p| Err(format!("the HTTP capability panicked: {p}")))
                    };
                    if let Some(p) = &self.progress {
                        p.inc(1);
                    }
                    *answers[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(answer);
                });
            }
        });
        answers
            .into_iter()
            .map(|a| {
                a.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_else(|| Err("the request was not performed".into()))
            })
            .collect()
    }

    fn http(&self, req: &WireRequest) -> Result<WireResponse, String> {
        let mut request = req.clone().into_api()?;
        request.max_retries = request.max_retries.min(MAX_RETRIES);
        request.timeout_ms = request.timeout_ms.min(MAX_TIMEOUT_MS);
        self.http
            .execute(&request, &self.destinations, &self.secret_values, &|level, msg| {
                self.emit(level, msg)
            })
            .map(WireResponse::from)
            .map_err(|e| self.redact(&e))
    }
}
