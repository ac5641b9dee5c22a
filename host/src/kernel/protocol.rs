//! The messages between the host and a worker process, as JSON lines.
//!
//! The host writes one [`Job`] line on the worker's stdin, then answers the
//! worker's HTTP requests there ([`Reply`]). The worker writes [`Message`]
//! lines back: log lines, HTTP requests, records one by one, and a closing
//! result. Records travel one per line so the host can cap what it keeps
//! while reading, whatever a plugin sends.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// What a worker is asked to do with the plugin file on its descriptor 3.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Read the manifest and answer with [`Message::Manifest`].
    Manifest {
        /// What the sandbox allows.
        sandbox: SandboxSpec,
    },
    /// Run the plugin.
    Run(Box<RunJob>),
}

/// The version of this protocol (the lines between host and worker).
///
/// Changelog:
///
/// - 1: jobs, logs, HTTP, records, results, manifests.
/// - 2: a run job carries [`ProtocolInfo`]: the host's contract and the
///   features its `Host::call` answers.
pub const PROTOCOL_VERSION: u32 = 2;

/// What the host tells a worker about itself (as nushell's plugin
/// `ProtocolInfo` does): the protocol, the plugin contract it speaks and the
/// features `Host::call` offers. A plugin reads it through
/// `Host::call("host.features")`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolInfo {
    /// Always `agent-host-worker`.
    pub protocol: String,
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The host's `plugin_api::CONTRACT_VERSION`.
    pub contract: String,
    /// The `Host::call` features it offers (`plugin_api::FEATURES`).
    pub features: Vec<String>,
}

impl Default for ProtocolInfo {
    /// This host's.
    fn default() -> Self {
        ProtocolInfo {
            protocol: "agent-host-worker".into(),
            version: PROTOCOL_VERSION,
            contract: plugin_api::CONTRACT_VERSION.into(),
            features: plugin_api::FEATURES.iter().map(|f| f.to_string()).collect(),
        }
    }
}

impl ProtocolInfo {
    /// What `Host::call("host.features")` answers.
    pub fn features_json(&self) -> String {
        let answer = plugin_api::HostFeatures {
            contract: self.contract.clone(),
            features: self.features.clone(),
            ..Default::default()
        };
        serde_json::to_string(&answer).unwrap_or_default()
    }
}

/// One run of a plugin.
#[derive(Clone, Serialize, Deserialize)]
pub struct RunJob {
    /// The plugin name the library must declare.
    pub plugin: String,
    /// The run id.
    pub run_id: String,
    /// The [`plugin_api::RunRequest`] JSON handed to `run`.
    pub request_json: String,
    /// The declared secrets that are set (never logged).
    pub secrets: BTreeMap<String, String>,
    /// Every secret name the manifest declares, set or not.
    #[serde(default)]
    pub declared: Vec<String>,
    /// What the sandbox allows.
    pub sandbox: SandboxSpec,
    /// The protocol and what the host offers (absent from a protocol 1
    /// host: version 1, no features).
    #[serde(default = "ProtocolInfo::version_1")]
    pub protocol: ProtocolInfo,
}

impl ProtocolInfo {
    /// What a job of a protocol 1 host (which did not say) amounts to.
    fn version_1() -> Self {
        ProtocolInfo {
            version: 1,
            contract: "1.3.0".into(),
            features: Vec::new(),
            ..Self::default()
        }
    }
}

// The job carries secrets: never print them.
impl std::fmt::Debug for RunJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunJob")
            .field("plugin", &self.plugin)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// What the worker's sandbox lets the plugin do beyond loading itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Extra read-only paths the manifest declares.
    pub read_paths: Vec<String>,
    /// Address-space limit in bytes.
    pub memory_bytes: u64,
    /// CPU-time limit in seconds (a back-stop behind the wall-clock timeout).
    pub cpu_secs: u64,
    /// The host's pid: a worker whose parent is no longer it exits.
    #[serde(default)]
    pub host_pid: u32,
    /// The pids cgroup the host claimed for this worker, which it joins
    /// first (see `sandbox::CgroupSlot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
}

impl Job {
    /// What the sandbox allows, to change before the job is sent.
    pub fn sandbox_mut(&mut self) -> &mut SandboxSpec {
        match self {
            Job::Manifest { sandbox } => sandbox,
            Job::Run(run) => &mut run.sandbox,
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

/// The plugin's answer, once every record has been read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireResult {
    /// The raw status value.
    pub status: u8,
    /// Why it failed.
    pub error: Option<String>,
    /// Records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<WireRecord>,
    /// Metadata JSON text.
    pub metadata: String,
}

impl WireResult {
    /// A failed result with a reason and nothing else.
    pub fn failed(error: impl Into<String>) -> Self {
        WireResult {
            status: plugin_api::RunStatus::FAILED.0,
            error: Some(error.into()),
            records: Vec::new(),
            metadata: "{}".into(),
        }
    }
}

/// An HTTP request as it crosses the process boundary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireRequest {
    /// Method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Body,
    /// Timeout in milliseconds, 0 for the host's default.
    pub timeout_ms: u32,
    /// Retries allowed for 429/5xx/529.
    pub max_retries: u32,
}

/// An HTTP answer as it crosses the process boundary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireResponse {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Body,
}

/// Bytes on the wire: text when they are UTF-8 and JSON carries them at
/// about their size (the usual case, and cheap), base64 otherwise, so a
/// body of control bytes (six bytes each as JSON escapes) never grows past
/// a third more than it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// No bytes.
    #[default]
    Empty,
    /// UTF-8 text.
    Text(String),
    /// Anything else.
    Base64(String),
}

/// The length of `text` as a JSON string's content.
fn escaped_len(text: &str) -> usize {
    text.len()
        + text
            .bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
                0..=0x1f => 5,
                _ => 0,
            })
            .sum::<usize>()
}

impl Body {
    /// Wraps bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Body {
        if bytes.is_empty() {
            return Body::Empty;
        }
        let base64 = |b: &[u8]| Body::Base64(base64::engine::general_purpose::STANDARD.encode(b));
        match String::from_utf8(bytes) {
            Ok(t) if escaped_len(&t) <= t.len() / 3 * 4 + 4 => Body::Text(t),
            Ok(t) => base64(t.as_bytes()),
            Err(e) => base64(e.as_bytes()),
        }
    }

    /// The number of bytes it carries.
    pub fn raw_len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::Text(t) => t.len(),
            Body::Base64(b) => {
                let padding = b.bytes().rev().take_while(|c| *c == b'=').count();
                (b.len() / 4 * 3).saturating_sub(padding)
            }
        }
    }

    /// Its size on the wire.
    pub fn len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::Text(t) | Body::Base64(t) => t.len(),
        }
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes again; invalid base64 reads as an error.
    pub fn into_bytes(self) -> Result<Vec<u8>, String> {
        match self {
            Body::Empty => Ok(Vec::new()),
            Body::Text(t) => Ok(t.into_bytes()),
            Body::Base64(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("invalid body encoding: {e}")),
        }
    }
}

impl From<&plugin_api::HttpRequest> for WireRequest {
    fn from(r: &plugin_api::HttpRequest) -> Self {
        WireRequest {
            method: r.method.to_string(),
            url: r.url.to_string(),
            headers: r.headers.iter().map(|h| (h.name.to_string(), h.value.to_string())).collect(),
            body: Body::from_bytes(r.body.to_vec()),
            timeout_ms: r.timeout_ms,
            max_retries: r.max_retries,
        }
    }
}

impl WireRequest {
    /// The request in the plugin API's form.
    pub fn into_api(self) -> Result<plugin_api::HttpRequest, String> {
        Ok(plugin_api::HttpRequest {
            method: self.method.into(),
            url: self.url.into(),
            headers: self.headers.iter().map(|(n, v)| plugin_api::Header::new(n, v)).collect(),
            body: self.body.into_bytes()?.into(),
            timeout_ms: self.timeout_ms,
            max_retries: self.max_retries,
        })
    }
}

impl From<plugin_api::HttpResponse> for WireResponse {
    fn from(r: plugin_api::HttpResponse) -> Self {
        WireResponse {
            status: r.status,
            headers: r.headers.iter().map(|h| (h.name.to_string(), h.value.to_string())).collect(),
            body: Body::from_bytes(r.body.into_vec()),
        }
    }
}

impl WireResponse {
    /// The answer in the plugin API's form.
    pub fn into_api(self) -> Result<plugin_api::HttpResponse, String> {
        Ok(plugin_api::HttpResponse {
            status: self.status,
            headers: self.headers.iter().map(|(n, v)| plugin_api::Header::new(n, v)).collect(),
            body: self.body.into_bytes()?.into(),
        })
    }
}

/// One line from a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Message {
    /// A log line from the plugin.
    Log {
        /// [`plugin_api::LogLevel`] value.
        level: u8,
        /// The line.
        message: String,
    },
    /// HTTP requests the host should perform (answered by [`Reply::Http`]).
    Http {
        /// Matches the reply.
        id: u64,
        /// The requests, answered in order.
        requests: Vec<WireRequest>,
    },
    /// How far the run is (`host.progress`), for the progress bar.
    Progress {
        /// Units done.
        done: u64,
        /// Units in all.
        total: u64,
    },
    /// One record of the result.
    Record(WireRecord),
    /// The result, after its records; the last line.
    Result(WireResult),
    /// The manifest JSON, for a [`Job::Manifest`].
    Manifest {
        /// What `manifest()` returned.
        json: String,
    },
    /// The worker could not do its job (the plugin did not load).
    Fatal {
        /// Why.
        error: String,
    },
}

/// One line from the host to a worker, after the job.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Reply {
    /// The answers to [`Message::Http`], in order.
    Http {
        /// Matches the request.
        id: u64,
        /// One answer per request.
        results: Vec<Result<WireResponse, String>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_job_carries_the_protocol_and_the_features() {
        let job = RunJob {
            plugin: "p".into(),
            run_id: "r".into(),
            request_json: "{}".into(),
            secrets: BTreeMap::new(),
            declared: Vec::new(),
            sandbox: SandboxSpec::default(),
            protocol: ProtocolInfo::default(),
        };
        let line = serde_json::to_string(&job).unwrap();
        let back: RunJob = serde_json::from_str(&line).unwrap();
        assert_eq!(back.protocol.version, PROTOCOL_VERSION);
        assert_eq!(back.protocol.contract, plugin_api::CONTRACT_VERSION);
        let answer: plugin_api::HostFeatures =
            serde_json::from_str(&back.protocol.features_json()).unwrap();
        assert!(answer.has("host.features"));
        // A job without it reads as protocol 1.
        let mut old: serde_json::Value = serde_json::from_str(&line).unwrap();
        old.as_object_mut().unwrap().remove("protocol");
        let old: RunJob = serde_json::from_value(old).unwrap();
        assert_eq!(old.protocol.version, 1);
    }

    #[test]
    fn a_body_never_grows_by_more_than_a_third_on_the_wire() {
        for bytes in [vec![1u8; 4096], vec![b'"'; 4096], b"plain json {\"a\": 1}".to_vec()] {
            let body = Body::from_bytes(bytes.clone());
            let wire = serde_json::to_vec(&body).unwrap();
            assert!(wire.len() <= bytes.len() / 3 * 4 + 64, "{} for {}", wire.len(), bytes.len());
            assert_eq!(body.raw_len(), bytes.len());
            assert_eq!(body.into_bytes().unwrap(), bytes);
        }
        assert!(matches!(Body::from_bytes(b"{\"ok\":true}".to_vec()), Body::Text(_)));
    }
}
