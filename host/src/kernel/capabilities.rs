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

/// A job's progress bar on a terminal: requests asked and done, or, once
/// its plugin reports `host.progress`, bytes read of an import, kept across
/// the chained runs the import takes (one bar, one rate).
#[derive(Debug)]
pub struct JobBar {
    /// The bar.
    pub bar: indicatif::ProgressBar,
    /// Where the plugin's first `host.progress` said the import was: the
    /// bar counts from there.
    start: std::sync::OnceLock<u64>,
}

impl JobBar {
    /// A bar that counts requests until its plugin reports bytes.
    pub fn new(bar: indicatif::ProgressBar) -> Self {
        JobBar { bar, start: std::sync::OnceLock::new() }
    }

    /// Whether it counts bytes (and so outlives one run of the job).
    pub fn counts_bytes(&self) -> bool {
        self.start.get().is_some()
    }
}

/// The capabilities of one run of one plugin.
pub struct Broker {
    destinations: Destinations,
    secret_values: Vec<String>,
    http: HttpClient,
    log: LogFn,
    progress: Option<Arc<JobBar>>,
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
        progress: Option<Arc<JobBar>>,
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

    /// Shows how far the plugin says it is (`host.progress`: bytes done of
    /// bytes in all, over an import that may take several chained runs),
    /// counted from its first report, with the rate.
    pub fn progress(&self, done: u64, total: u64) {
        let Some(job) = &self.progress else { return };
        let mut first = false;
        let start = *job.start.get_or_init(|| {
            first = true;
            done
        });
        if first {
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix:24} {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta} left",
            ) {
                job.bar.set_style(style);
            }
        }
        let (done, total) = (done.saturating_sub(start), total.saturating_sub(start));
        // A file that grew during the import: the bar never runs past its end.
        job.bar.set_length(total.max(done));
        job.bar.set_position(done);
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
            p.bar.inc_length(requests.len() as u64);
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
                        p.bar.inc(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A log plugin's progress turns the job's bar into a byte count of
    /// its import, kept across the chained runs.
    #[test]
    fn progress_makes_the_bar_count_bytes() {
        let job = Arc::new(JobBar::new(indicatif::ProgressBar::hidden()));
        let broker = |job: &Arc<JobBar>| {
            Broker::new(
                Destinations::new(&[], []),
                Vec::new(),
                HttpClient::new(crate::kernel::http::HttpSettings::default()),
                Arc::new(|_, _| {}),
                Some(job.clone()),
            )
        };
        assert!(!job.counts_bytes(), "requests until the plugin says otherwise");
        // An import whose first run starts 40 MiB into 100 MiB (what was
        // read before): the bar counts what is left, from zero.
        broker(&job).progress(40 << 20, 100 << 20);
        assert!(job.counts_bytes());
        assert_eq!((job.bar.position(), job.bar.length()), (0, Some(60 << 20)));
        // The next chained run (another broker) goes on on the same bar.
        broker(&job).progress(70 << 20, 100 << 20);
        assert_eq!(job.bar.position(), 30 << 20);
        // A file grew during the import: the bar never runs past its end.
        broker(&job).progress(101 << 20, 100 << 20);
        assert_eq!((job.bar.position(), job.bar.length()), (61 << 20, Some(61 << 20)));
    }
}
