//! What the host does on a plugin's behalf, in the host process where plugin
//! code cannot reach: HTTP to allowed hosts only (every redirect hop checked,
//! credentials dropped when a hop leaves the origin), and redaction of every
//! secret value the host knows from whatever the plugin sends back.

use std::sync::Arc;

use plugin_api::LogLevel;

use super::http::{host_allowed, HttpClient};
use super::protocol::{WireRequest, WireResponse};
use crate::logging::redact;

/// Where the capability's log lines go.
pub type LogFn = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// At most this many requests of one plugin are in flight at once.
const PARALLEL: usize = 8;

/// The capabilities of one run of one plugin.
pub struct Broker {
    allowed_hosts: Vec<String>,
    secret_values: Vec<String>,
    http: HttpClient,
    log: LogFn,
}

impl Broker {
    /// Capabilities for a run: HTTP to `allowed_hosts`, and `secret_values`
    /// (every secret the host knows, not only this plugin's) redacted.
    pub fn new(
        allowed_hosts: Vec<String>,
        secret_values: Vec<String>,
        http: HttpClient,
        log: LogFn,
    ) -> Self {
        Broker { allowed_hosts, secret_values, http, log }
    }

    /// `text` with every known secret value redacted.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secret_values)
    }

    /// Logs a line with every secret value redacted.
    pub fn emit(&self, level: LogLevel, message: &str) {
        (self.log)(level, &self.redact(message));
    }

    /// Performs independent requests, at most `PARALLEL` at once, and
    /// answers in order.
    pub fn http_all(&self, requests: Vec<WireRequest>) -> Vec<Result<WireResponse, String>> {
        let mut out = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(PARALLEL) {
            let answers: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = chunk.iter().map(|r| s.spawn(move || self.http(r))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("HTTP worker thread died".into())))
                    .collect()
            });
            out.extend(answers);
        }
        out
    }

    fn http(&self, req: &WireRequest) -> Result<WireResponse, String> {
        let allowed = |url: &str| host_allowed(url, &self.allowed_hosts);
        allowed(&req.url).map_err(|e| self.redact(&e))?;
        let request = req.clone().into_api()?;
        self.http
            .execute(&request, &allowed, &self.secret_values, &|level, msg| self.emit(level, msg))
            .map(WireResponse::from)
            .map_err(|e| self.redact(&e))
    }
}
