//! The `Host` object a plugin receives: logging, its declared secrets only,
//! HTTP to allowed hosts only, and `call` for later capabilities. Every
//! method catches panics, because a panic must never cross the ABI.

use std::collections::BTreeMap;
use std::sync::Arc;

use abi_stable::std_types::{
    RErr, RNone, ROk, ROption, RResult, RSlice, RSome, RStr, RString, RVec,
};
use plugin_api::{Host, HttpRequest, HttpResponse, LogLevel};

use super::http::{host_allowed, HttpClient};
use crate::logging::redact;

/// Where the capability's log lines go (the worker's pipe, or tracing).
pub type LogFn = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// The capabilities handed to one run of one plugin.
pub struct PluginHost {
    secrets: BTreeMap<String, String>,
    secret_values: Vec<String>,
    allowed_hosts: Vec<String>,
    http: HttpClient,
    log: LogFn,
}

impl PluginHost {
    /// Capabilities for a run: `secrets` are the declared ones that are set.
    pub fn new(
        secrets: BTreeMap<String, String>,
        allowed_hosts: Vec<String>,
        http: HttpClient,
        log: LogFn,
    ) -> Self {
        let secret_values = secrets.values().cloned().collect();
        PluginHost { secrets, secret_values, allowed_hosts, http, log }
    }

    /// `text` with every secret value handed to this plugin redacted.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secret_values)
    }

    /// Logs a line with every secret value redacted.
    pub fn emit(&self, level: LogLevel, message: &str) {
        (self.log)(level, &self.redact(message));
    }

    fn do_http(&self, req: &HttpRequest) -> Result<HttpResponse, String> {
        host_allowed(req.url.as_str(), &self.allowed_hosts)?;
        self.http.execute(req, &|level, msg| self.emit(level, msg)).map_err(|e| self.redact(&e))
    }
}

fn guarded<T>(f: impl FnOnce() -> T, on_panic: impl FnOnce(String) -> T) -> T {
    plugin_api::catch_panic(f).unwrap_or_else(on_panic)
}

impl Host for PluginHost {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        guarded(|| self.emit(level, message.as_str()), |_| ());
    }

    fn secret(&self, name: RStr<'_>) -> ROption<RString> {
        guarded(
            || match self.secrets.get(name.as_str()) {
                Some(v) => RSome(RString::from(v.as_str())),
                None => {
                    self.emit(
                        LogLevel::WARN,
                        &format!(
                            "refused secret {}: not declared by this plugin's manifest, or not set",
                            name.as_str()
                        ),
                    );
                    RNone
                }
            },
            |_| RNone,
        )
    }

    fn http(&self, request: &HttpRequest) -> RResult<HttpResponse, RString> {
        guarded(
            || match self.do_http(request) {
                Ok(r) => ROk(r),
                Err(e) => RErr(e.into()),
            },
            |p| RErr(format!("host HTTP capability panicked: {p}").into()),
        )
    }

    fn http_all(&self, requests: RSlice<'_, HttpRequest>) -> RVec<RResult<HttpResponse, RString>> {
        // At most this many requests are in flight at once.
        const PARALLEL: usize = 8;
        let mut out: Vec<RResult<HttpResponse, RString>> = Vec::with_capacity(requests.len());
        for chunk in requests.as_slice().chunks(PARALLEL) {
            let answers: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = chunk.iter().map(|r| s.spawn(move || self.http(r))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| RErr("HTTP worker thread died".into())))
                    .collect()
            });
            out.extend(answers);
        }
        out.into()
    }

    fn call(&self, method: RStr<'_>, _json: RStr<'_>) -> RResult<RString, RString> {
        RErr(format!("unknown host method {:?}", method.as_str()).into())
    }
}
