//! The messages between the host and a worker process: one JSON job on the
//! worker's stdin, then JSON lines back (log lines, then one result).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a worker is asked to do.
#[derive(Clone, Serialize, Deserialize)]
pub struct Job {
    /// The library to load.
    pub library: PathBuf,
    /// The plugin name the library must declare.
    pub plugin: String,
    /// The run id.
    pub run_id: String,
    /// The [`plugin_api::RunRequest`] JSON handed to `run`.
    pub request_json: String,
    /// The declared secrets that are set (never logged).
    pub secrets: BTreeMap<String, String>,
    /// Host names the plugin may reach.
    pub allowed_hosts: Vec<String>,
    /// HTTP behaviour.
    pub http: HttpSettings,
}

// The job carries secrets: never print them.
impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("library", &self.library)
            .field("plugin", &self.plugin)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// HTTP settings for the host capability.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpSettings {
    /// Default whole-request timeout.
    pub timeout_ms: u64,
    /// First retry delay when no `Retry-After` is sent; doubles each retry.
    pub backoff_ms: u64,
    /// Longest single wait before a retry, `Retry-After` included.
    pub max_wait_ms: u64,
    /// Largest response body accepted.
    pub max_body_bytes: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout_ms: 60_000,
            backoff_ms: 500,
            max_wait_ms: 60_000,
            max_body_bytes: 64 << 20,
        }
    }
}

/// A record as it crosses the process boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRecord {
    /// Its kind.
    pub kind: String,
    /// Its natural key (may be empty).
    pub key: String,
    /// Its JSON payload, as text.
    pub payload: String,
}

/// The plugin's answer, as it crosses the process boundary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireResult {
    /// The raw status value.
    pub status: u8,
    /// Why it failed.
    pub error: Option<String>,
    /// Records.
    pub records: Vec<WireRecord>,
    /// Metadata JSON text.
    pub metadata: String,
}

/// One line from a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Message {
    /// A log line from the plugin or the host capability.
    Log {
        /// [`plugin_api::LogLevel`] value.
        level: u8,
        /// The line (already redacted).
        message: String,
    },
    /// The result; the last line.
    Result(WireResult),
}
