//! The stable-ABI contract between `agent-host` and its plugins: contract
//! [`CONTRACT_VERSION`] (its binary interface frozen at 1.0), crate 2.x.
//!
//! # Brief overview
//!
//! A plugin is a `cdylib` that exports one root module, [`PluginMod`], through
//! [`export_plugin!`]. The host loads it, reads its [`Manifest`] (JSON), and
//! calls `run` with a [`PluginCtx`] and the run's parameters as JSON
//! ([`RunRequest`]). The plugin does all its I/O through the [`Host`]
//! capability object in the context (logging, its declared secrets, HTTP, and a
//! generic `call` for capabilities added later) and answers with a
//! [`PluginResult`]: a status, an error text, [`Record`]s (a kind, a natural
//! key and a JSON payload) and JSON metadata.
//!
//! This crate does no I/O. It holds types, the root module, and the panic guard
//! that [`export_plugin!`] wraps around every exported function.
//!
//! With the `testing` feature, `plugin_api::testing` runs a plugin's `run`
//! function in-process against a fake host (recorded HTTP responses, fake
//! secrets, captured logs), for the plugin's own tests. The crate's
//! `README.md` walks through a complete plugin, every capability, every
//! manifest field and the record kinds the host understands.
//!
//! # Source compatibility
//!
//! New fields never break a plugin's build. The structs a plugin builds
//! ([`Manifest`], [`ParamSpec`], [`RunMetadata`], [`RunRequest`]) have
//! `Default`, builders where they are long ([`Manifest::new`] and its
//! setters, [`ParamSpec::new`]), and a hidden last field, so a struct literal
//! must end in `..Default::default()`: the only style a new field would
//! break does not compile to begin with. The crate's version follows semver
//! over this source API; [`CONTRACT_VERSION`] is the binary contract, which a
//! host checks.
//!
//! # Evolution rules
//!
//! abi_stable accepts a plugin only when the host's view of every prefix type
//! (the root module and the `Host` vtable) is the same length as the plugin's
//! or shorter. A host that grows either one rejects every older plugin, even
//! when the new method has a default body. So version 1.0 is frozen:
//!
//! * **May change without breaking anything** (a minor release of this crate,
//!   or no release at all): the JSON payloads. New optional manifest fields,
//!   new keys in [`RunRequest`], new record kinds, new payload fields, new
//!   keys in `metadata_json`, and new `Host::call` methods. Readers ignore
//!   unknown JSON fields and treat missing optional ones as absent; a plugin
//!   that calls a `Host::call` method an older host does not know gets an
//!   `Err` it must handle.
//! * **Needs a new major** (a separate crate, `plugin-api-v2`, which the host
//!   links beside this one and tries first): any change to a `#[repr(C)]`
//!   type, a new field in [`PluginMod`], a new method on [`Host`], a renamed
//!   field, a new value of [`RunStatus`] or [`LogLevel`] that old hosts would
//!   not understand, or a change in the meaning of an existing JSON field.
//!
//! Plugins must be built with `panic = "unwind"` (the default), against a
//! release of this crate of contract 1.x and abi_stable 0.11.

#![warn(missing_docs)]
// abi_stable's derives name the prefix reference `PluginMod_Ref` and emit
// impls inside generated constants; neither is ours to change.
#![allow(non_camel_case_types, non_local_definitions)]

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use abi_stable;
use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RNone, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};
use serde::{Deserialize, Serialize};

pub use abi_stable::sabi_trait::TD_Opaque;
pub use abi_stable::sabi_types::RRef;

#[cfg(feature = "testing")]
pub mod testing;

/// The version of the contract between host and plugin: its major is the
/// binary interface (the `#[repr(C)]` types, [`PluginMod`], the [`Host`]
/// vtable), frozen at 1; its minor counts the JSON additions. abi_stable
/// stamps it into every type layout (see `build.rs`), and a host loads a
/// plugin of the same major whatever the minor: readers ignore what they do
/// not know. It is not the crate's version, which follows semver over the
/// Rust source API.
///
/// Changelog:
///
/// - 1.0: the binary interface; the manifest's `name`, `version`,
///   `description`, `secrets`, `settings`, `requires_one_of`, `hosts`,
///   `params`, `daily`; the run request's `from`, `to`, `params`,
///   `settings`; the metadata's `complete_days` and `requests`.
/// - 1.1: the manifest's `read_paths`, `setup`, `providers`.
/// - 1.2: the run request's `today`; the metadata's `lost_days` and
///   `unavailable_days`.
/// - 1.3: `$SETTING` read paths and `observes`; the run request's
///   `read_paths`, `state` and `account`; the metadata's `state` and `more`.
/// - 1.4: `Host::call("host.features", "{}")` answers the host's contract
///   version and features ([`HostFeatures`]); the manifest's `features`;
///   [`export_plugin!`] writes the exact contract version into the file
///   ([`CONTRACT_MARKER`]).
pub const CONTRACT_VERSION: &str = env!("PLUGIN_API_CONTRACT");

/// What [`export_plugin!`] writes into every plugin file, followed by
/// [`CONTRACT_VERSION`] and a NUL: `plugin check` reads the exact contract
/// a file was built against from it.
pub const CONTRACT_MARKER: &str = "agent-plugin-contract=";

#[doc(hidden)]
pub const CONTRACT_STAMP: &str =
    concat!("agent-plugin-contract=", env!("PLUGIN_API_CONTRACT"), "\0");

/// The features a host of this crate's contract offers through
/// `Host::call`, by name (see [`HostFeatures`]).
pub const FEATURES: &[&str] = &["host.features", "host.progress"];

/// What `Host::call("host.progress", …)` carries: how far a long run is
/// (`done` of `total` units; bytes for the log readers), for the host's
/// progress bar on a terminal. Call it as often as is convenient: the
/// worker passes on at most a few a second. A host without the feature
/// answers `Err`, which [`PluginCtx::progress`] ignores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Units done.
    pub done: u64,
    /// Units in all (0: not known yet).
    pub total: u64,
}

/// What `Host::call("host.features", "{}")` answers (contract 1.4): the
/// host's contract version and the features it offers. An older host
/// answers `Err` (an unknown method): take that as contract 1.3 without
/// features.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFeatures {
    /// The host's [`CONTRACT_VERSION`].
    pub contract: String,
    /// The `Host::call` methods and behaviours it offers.
    #[serde(default)]
    pub features: Vec<String>,
    #[doc(hidden)]
    #[serde(skip)]
    pub __non_exhaustive: NonExhaustive,
}

impl HostFeatures {
    /// Whether the host offers `feature`.
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// The outcome of a run: `SUCCESS`, `PARTIAL` or `FAILED`.
///
/// A `u8` newtype rather than an enum, so an unknown value read from a plugin
/// is a value the host can reject, not undefined behaviour.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStatus(pub u8);

impl RunStatus {
    /// Everything the run was asked for was collected.
    pub const SUCCESS: RunStatus = RunStatus(0);
    /// Some of it was collected; `metadata_json` says which part.
    pub const PARTIAL: RunStatus = RunStatus(1);
    /// Nothing usable was collected; `error` says why.
    pub const FAILED: RunStatus = RunStatus(2);

    /// The lowercase name used in the database and on the command line.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::SUCCESS => Some("success"),
            Self::PARTIAL => Some("partial"),
            Self::FAILED => Some("failed"),
            _ => None,
        }
    }
}

/// The severity of a log line sent through [`Host::log`].
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLevel(pub u8);

impl LogLevel {
    /// Something failed.
    pub const ERROR: LogLevel = LogLevel(1);
    /// Something is off but the run goes on.
    pub const WARN: LogLevel = LogLevel(2);
    /// Progress an operator wants to see.
    pub const INFO: LogLevel = LogLevel(3);
    /// Detail for debugging.
    pub const DEBUG: LogLevel = LogLevel(4);
}

/// One HTTP header.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name; compared case-insensitively.
    pub name: RString,
    /// Header value.
    pub value: RString,
}

impl Header {
    /// A header from two strings.
    pub fn new(name: &str, value: &str) -> Self {
        Header { name: name.into(), value: value.into() }
    }
}

/// An HTTP request the host performs for the plugin.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: RString,
    /// The absolute URL, query string included and already encoded.
    pub url: RString,
    /// Request headers.
    pub headers: RVec<Header>,
    /// Request body (empty for none).
    pub body: RVec<u8>,
    /// Whole-request timeout in milliseconds; 0 means the host's default.
    pub timeout_ms: u32,
    /// How often the host may retry a 5xx answer (honouring `Retry-After`)
    /// before it hands the last answer back. Above 0, a rate limit (429 or
    /// 529) is also waited out, as often as the operator's patience for
    /// that host allows (`AGENT_HTTP_MAX_WAIT_SECS`); 0 returns the first
    /// answer, whatever it is.
    pub max_retries: u32,
}

impl HttpRequest {
    /// A `GET` of `url` with the host's default timeout and no retries.
    pub fn get(url: &str) -> Self {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: RVec::new(),
            body: RVec::new(),
            timeout_ms: 0,
            max_retries: 0,
        }
    }

    /// A `POST` of `body` to `url`, with the host's default timeout and no
    /// retries.
    pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Self {
        let mut request = HttpRequest::get(url);
        request.method = "POST".into();
        request.body = body.into().into();
        request
    }

    /// Sets the whole-request timeout in milliseconds (0: the host's).
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(Header::new(name, value));
        self
    }

    /// Sets how often a 5xx answer may be retried (above 0, rate limits are
    /// waited out too; see [`HttpRequest::max_retries`]).
    pub fn retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }
}

/// The answer to an [`HttpRequest`]. Any status, including 4xx and 5xx, is an
/// answer; transport failures come back as the `Err` side of the result.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: RVec<Header>,
    /// Response body.
    pub body: RVec<u8>,
}

impl HttpResponse {
    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }

    /// The body as UTF-8 text, with invalid bytes replaced.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// What the host does for a plugin. Every method is safe to call from any
/// thread; none of them panics across the boundary.
#[sabi_trait]
pub trait Host: Send + Sync {
    /// Writes a log line, tagged by the host with the plugin and run id.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// The value of a secret the manifest declares; `None` for an undeclared
    /// or unset one.
    fn secret(&self, name: RStr<'_>) -> ROption<RString>;

    /// Performs one HTTP request (timeouts, TLS, proxies and retries are the
    /// host's). Only hosts the manifest or the operator allowed are reached.
    fn http(&self, request: &HttpRequest) -> RResult<HttpResponse, RString>;

    /// Performs several independent requests at once and answers in the same
    /// order, so a plugin can overlap slow requests without threads of its own.
    fn http_all(&self, requests: RSlice<'_, HttpRequest>) -> RVec<RResult<HttpResponse, RString>>;

    /// A generic capability call for methods added after 1.0: `method` names
    /// it, `json` carries its arguments. Unknown methods answer `Err`.
    #[sabi(last_prefix_field)]
    fn call(&self, method: RStr<'_>, json: RStr<'_>) -> RResult<RString, RString>;
}

/// The host object as a plugin sees it.
pub type HostRef<'a> = Host_TO<'a, RRef<'a, ()>>;

/// What `run` gets besides its parameters.
#[repr(C)]
#[derive(StableAbi)]
pub struct PluginCtx<'a> {
    /// The host's capabilities.
    pub host: HostRef<'a>,
    /// The id of this run, as stored in the host's `runs` table.
    pub run_id: RStr<'a>,
}

impl PluginCtx<'_> {
    /// Logs at `level`.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.host.log(level, message.into());
    }

    /// Logs at info level.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::INFO, message);
    }

    /// Logs at warn level.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::WARN, message);
    }

    /// A declared secret, if it is set.
    pub fn secret(&self, name: &str) -> Option<String> {
        self.host.secret(name.into()).into_option().map(String::from)
    }

    /// Performs one request.
    pub fn http(&self, request: &HttpRequest) -> Result<HttpResponse, String> {
        self.host.http(request).into_result().map_err(String::from)
    }

    /// What the host supports: its contract version and features
    /// (`Host::call("host.features")`), or `None` from a host older than
    /// contract 1.4.
    pub fn host_features(&self) -> Option<HostFeatures> {
        let answer = self.host.call("host.features".into(), "{}".into()).into_result().ok()?;
        serde_json::from_str(answer.as_str()).ok()
    }

    /// Tells the host how far this run is, in bytes (`host.progress`), for
    /// its progress bar; a host without the feature ignores it.
    pub fn progress(&self, done: u64, total: u64) {
        let json = serde_json::to_string(&Progress { done, total }).unwrap_or_default();
        // Advisory only: an older host answers Err, and nothing depends on it.
        let _ = self.host.call("host.progress".into(), json.as_str().into());
    }

    /// Performs independent requests concurrently, answering in order.
    pub fn http_all(&self, requests: &[HttpRequest]) -> Vec<Result<HttpResponse, String>> {
        self.host
            .http_all(RSlice::from_slice(requests))
            .into_iter()
            .map(|r| r.into_result().map_err(String::from))
            .collect()
    }
}

/// One piece of data a plugin returns.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What the payload is, e.g. `cost` or `usage`; the host routes on it.
    pub kind: RString,
    /// The record's natural key; a later record with the same plugin, kind
    /// and key replaces it. Empty means "no key": the record is kept as is.
    pub key: RString,
    /// The payload, a JSON object.
    pub payload_json: RString,
}

impl Record {
    /// A record from its parts.
    pub fn new(kind: &str, key: &str, payload_json: String) -> Self {
        Record { kind: kind.into(), key: key.into(), payload_json: payload_json.into() }
    }
}

/// What `run` returns.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct PluginResult {
    /// Success, partial or failed.
    pub status: RunStatus,
    /// Why the run failed or is partial.
    pub error: ROption<RString>,
    /// The data collected.
    pub records: RVec<Record>,
    /// A JSON object with anything else (see [`RunMetadata`]); `{}` for none.
    pub metadata_json: RString,
}

impl PluginResult {
    /// A successful result.
    pub fn success(records: Vec<Record>, metadata: &RunMetadata) -> Self {
        PluginResult {
            status: RunStatus::SUCCESS,
            error: RNone,
            records: records.into(),
            metadata_json: metadata.to_json().into(),
        }
    }

    /// A partial result: the records of what was collected, and why the
    /// rest was not (the metadata says which days are complete).
    pub fn partial(records: Vec<Record>, metadata: &RunMetadata, error: impl Into<String>) -> Self {
        PluginResult {
            status: RunStatus::PARTIAL,
            error: abi_stable::std_types::RSome(RString::from(error.into())),
            records: records.into(),
            metadata_json: metadata.to_json().into(),
        }
    }

    /// A failed result with a reason and no records.
    pub fn failed(error: impl Into<String>) -> Self {
        PluginResult {
            status: RunStatus::FAILED,
            error: abi_stable::std_types::RSome(RString::from(error.into())),
            records: RVec::new(),
            metadata_json: "{}".into(),
        }
    }
}

/// The hidden last field of the JSON structs a plugin builds ([`Manifest`],
/// [`ParamSpec`], [`RunMetadata`], [`RunRequest`]): a struct literal must end
/// in `..Default::default()`, so a field added in a minor release never
/// breaks a plugin's build. (`#[non_exhaustive]` would forbid that style
/// outside this crate too; the builders and `Default` stay open.)
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NonExhaustive(());

/// One parameter a plugin accepts through `--param name=value`.
///
/// Built with [`ParamSpec::new`] (and [`ParamSpec::with_default`]), or a
/// literal ending in `..Default::default()`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// The parameter's name.
    pub name: String,
    /// What it does, for `plugins list`.
    #[serde(default)]
    pub description: String,
    /// Its default, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[doc(hidden)]
    #[serde(skip)]
    pub __non_exhaustive: NonExhaustive,
}

impl ParamSpec {
    /// A parameter without a default.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        ParamSpec { name: name.into(), description: description.into(), ..Default::default() }
    }

    /// Sets its default.
    pub fn with_default(mut self, value: impl Into<String>) -> Self {
        self.default = Some(value.into());
        self
    }
}

/// What a plugin declares about itself (the JSON `manifest()` returns).
///
/// Built with [`Manifest::new`] and its builder methods
/// (`Manifest::new("acme_usage", "0.1.0").secrets(["ACME_KEY"]).hosts(["api.acme.example"])`),
/// or a literal ending in `..Default::default()`. Either way a field added
/// in a later release never breaks the build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Unique plugin name, e.g. `openai_collector`.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// One line saying what it collects.
    #[serde(default)]
    pub description: String,
    /// Secrets it may read through [`Host::secret`]; no other secret is given.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Non-secret settings (environment or `.env`) it receives in
    /// [`RunRequest::settings`], e.g. a base URL.
    #[serde(default)]
    pub settings: Vec<String>,
    /// When non-empty, at least one of these secrets must be set for the
    /// plugin to run; otherwise the host skips it with a warning naming them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_one_of: Vec<String>,
    /// Host names it may reach over HTTP. The host of any URL-valued setting
    /// the operator configured is allowed as well.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Parameters it accepts.
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    /// `true` when the plugin collects whole UTC days: the host then plans
    /// which days to ask for and tracks which are complete.
    #[serde(default)]
    pub daily: bool,
    /// Files or folders the plugin may read (read-only), e.g. local logs.
    /// Absolute, or starting with `~/` for the user's home. Nothing else of
    /// the file system is readable inside the sandbox. Since 1.1 (JSON).
    ///
    /// Since 1.3, an entry may also be `$NAME` or `$NAME/sub/folder`, where
    /// `NAME` is one of the plugin's `settings`: the paths the operator set
    /// in it (a comma-separated list, each absolute or `~/…`), each joined
    /// with the relative `sub/folder` (declare the narrowest folder that
    /// holds what the plugin reads), nothing when it is unset. What each
    /// entry resolved to reaches the plugin in
    /// [`RunRequest::read_paths`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_paths: Vec<String>,
    /// How an operator gets the first secret of `requires_one_of` (where to
    /// create the key), shown when none is set. Since 1.1 (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
    /// The provider ids whose data the plugin may report (for the billing
    /// application, the `provider` of its cost and usage records). A record
    /// for any other provider rejects the run. Since 1.1 (JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Provider ids whose usage the plugin observes without owning their
    /// data (local logs of an agent that calls them): unlike `providers`,
    /// any number of plugins may observe one provider, and the billing
    /// application accepts only estimate-only `call` records for them.
    /// Since 1.3 (JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observes: Vec<String>,
    /// The host features (`Host::call` methods, see [`FEATURES`]) the
    /// plugin relies on: `plugin check` shows them, and whether this host
    /// offers each. Since 1.4 (JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    #[doc(hidden)]
    #[serde(skip)]
    pub __non_exhaustive: NonExhaustive,
}

/// A list of anything string-like, for the builders.
fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

impl Manifest {
    /// A manifest with a name and a version; everything else empty.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Manifest { name: name.into(), version: version.into(), ..Default::default() }
    }

    /// Sets [`Manifest::description`].
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Sets [`Manifest::secrets`].
    pub fn secrets<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.secrets = strings(names);
        self
    }

    /// Sets [`Manifest::settings`].
    pub fn settings<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.settings = strings(names);
        self
    }

    /// Sets [`Manifest::requires_one_of`].
    pub fn requires_one_of<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.requires_one_of = strings(names);
        self
    }

    /// Sets [`Manifest::hosts`].
    pub fn hosts<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.hosts = strings(names);
        self
    }

    /// Sets [`Manifest::params`].
    pub fn params(mut self, params: impl IntoIterator<Item = ParamSpec>) -> Self {
        self.params = params.into_iter().collect();
        self
    }

    /// Sets [`Manifest::daily`].
    pub fn daily(mut self, daily: bool) -> Self {
        self.daily = daily;
        self
    }

    /// Sets [`Manifest::read_paths`] (since 1.1).
    pub fn read_paths<S: Into<String>>(mut self, paths: impl IntoIterator<Item = S>) -> Self {
        self.read_paths = strings(paths);
        self
    }

    /// Sets [`Manifest::setup`] (since 1.1).
    pub fn setup(mut self, text: impl Into<String>) -> Self {
        self.setup = Some(text.into());
        self
    }

    /// Sets [`Manifest::providers`] (since 1.1).
    pub fn providers<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.providers = strings(ids);
        self
    }

    /// Sets [`Manifest::features`] (since 1.4).
    pub fn features<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.features = strings(names);
        self
    }

    /// Sets [`Manifest::observes`] (since 1.3).
    pub fn observes<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.observes = strings(ids);
        self
    }

    /// Parses the manifest JSON.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Serialises the manifest.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a manifest always serialises")
    }
}

/// The parameters of one run (the JSON passed to `run`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// First UTC day to collect (`YYYY-MM-DD`), for daily plugins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last UTC day to collect, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `--param` values, defaults filled in.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The declared settings that are set.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// The host's "today" (`YYYY-MM-DD`, UTC): what a plugin should take as
    /// the current day (hosts pin it for tests and reproducible runs).
    /// Since 1.2 (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub today: Option<String>,
    /// What each of the manifest's `read_paths` entries resolved to on this
    /// machine (the entry as declared → absolute paths; an unset `$NAME`
    /// maps to nothing). The sandbox grants exactly these. Since 1.3 (JSON).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub read_paths: BTreeMap<String, Vec<String>>,
    /// The [`RunMetadata::state`] of this plugin's last run whose records
    /// were stored, exactly as it was returned; absent on the first run.
    /// Since 1.3 (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The account label the operator gave this job (one organization or
    /// key of a provider); a plugin labels its records with it. Absent: the
    /// plugin's own default. Since 1.3 (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[doc(hidden)]
    #[serde(skip)]
    pub __non_exhaustive: NonExhaustive,
}

/// Well-known keys of `metadata_json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMetadata {
    /// The days (`YYYY-MM-DD`) whose data is complete in this result. For a
    /// successful daily run the host assumes the whole requested range.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub complete_days: Vec<String>,
    /// Days of a partial run that are not complete, each with the reason
    /// (`YYYY-MM-DD` → one line): the host lists them and asks for them
    /// again next run. Since 1.2 (JSON).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lost_days: BTreeMap<String, String>,
    /// Days of a partial run the source can never return (past what it
    /// keeps), each with the reason: not complete, but not asked for again.
    /// Since 1.2 (JSON).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable_days: BTreeMap<String, String>,
    /// How many HTTP requests the run made.
    #[serde(default)]
    pub requests: u64,
    /// Text the plugin wants back in the next run's [`RunRequest::state`]
    /// (e.g. how far it has read each log file). The host keeps it only when
    /// this run's records are stored, in the same transaction, so state and
    /// data never disagree. At most 64 MiB. Since 1.3 (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `true` when the plugin stopped early to keep a run small and has more
    /// to do now: the host stores this run, then runs the plugin again with
    /// the new state (up to a limit). Since 1.3 (JSON).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
    /// Anything else.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
    #[doc(hidden)]
    #[serde(skip)]
    pub __non_exhaustive: NonExhaustive,
}

impl RunMetadata {
    /// Serialises the metadata.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("metadata always serialises")
    }
}

/// The root module every plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginMod_Ref)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// Returns the [`Manifest`] as JSON. Since 1.0.
    pub manifest: extern "C" fn() -> RString,
    /// Runs the plugin once. Since 1.0. New fields go below this one only in
    /// a new major (see the crate docs).
    #[sabi(last_prefix_field)]
    pub run: extern "C" fn(ctx: &PluginCtx<'_>, params_json: RStr<'_>) -> PluginResult,
}

impl RootModule for PluginMod_Ref {
    declare_root_module_statics! {PluginMod_Ref}
    const BASE_NAME: &'static str = "agent_plugin";
    const NAME: &'static str = "agent plugin";
    // The contract's version, not the crate's: a plugin is loaded by any
    // host of the same contract major (see `CONTRACT_VERSION`).
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(CONTRACT_VERSION);
}

/// Runs `f`, turning a panic into `Err` with the panic's message.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-text payload".to_string()
        }
    })
}

/// The body of the exported `run`: parses the request, calls the plugin's
/// function, and turns a bad request or a panic into a failed result.
pub fn guard_run(
    ctx: &PluginCtx<'_>,
    params_json: RStr<'_>,
    run: impl FnOnce(&PluginCtx<'_>, RunRequest) -> PluginResult,
) -> PluginResult {
    let request: RunRequest = match serde_json::from_str(params_json.as_str()) {
        Ok(r) => r,
        Err(e) => return PluginResult::failed(format!("invalid run request: {e}")),
    };
    match catch_panic(|| run(ctx, request)) {
        Ok(result) => result,
        Err(msg) => PluginResult::failed(format!("plugin panicked: {msg}")),
    }
}

/// The body of the exported `manifest`: a panic yields an empty string, which
/// the host rejects as an invalid manifest.
pub fn guard_manifest(manifest: impl FnOnce() -> Manifest) -> RString {
    catch_panic(|| manifest().to_json()).unwrap_or_default().into()
}

/// Exports a plugin's root module.
///
/// ```ignore
/// plugin_api::export_plugin! {
///     manifest: my_manifest,   // fn() -> Manifest
///     run: my_run,             // fn(&PluginCtx<'_>, RunRequest) -> PluginResult
/// }
/// ```
///
/// Both functions are wrapped in `catch_unwind`, so a panic becomes a failed
/// result instead of killing the host. Everything the expansion names is
/// reached through `$crate`, so a plugin depends on `plugin-api` alone (and
/// `serde_json` if it writes JSON): it is what abi_stable's
/// `#[export_root_module]` expands to, written with `$crate::abi_stable`
/// paths because that attribute names `::abi_stable` by absolute path.
#[macro_export]
macro_rules! export_plugin {
    (manifest: $manifest:path, run: $run:path $(,)?) => {
        /// The plugin's root module, checked by the host before any of it runs.
        pub fn __agent_plugin_root_module() -> $crate::PluginMod_Ref {
            use $crate::abi_stable::prefix_type::PrefixTypeTrait;
            $crate::PluginMod { manifest: __agent_plugin_manifest, run: __agent_plugin_run }
                .leak_into_prefix()
        }

        /// What the host's loader looks up: the library header, under the
        /// name abi_stable looks for (`plugin_api::ROOT_MODULE_SYMBOL`).
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::abi_stable::library::LibHeader = {
            extern "C" fn erased() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(__agent_plugin_root_module)
            }
            // SAFETY: `erased` returns the root module of type `PluginMod_Ref`,
            // the type given here, exactly as `#[export_root_module]` does.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::PluginMod_Ref>(
                    erased,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };

        /// The exact contract this file was built against, for `plugin check`.
        #[used]
        static __AGENT_PLUGIN_CONTRACT: &str = $crate::CONTRACT_STAMP;

        extern "C" fn __agent_plugin_manifest() -> $crate::abi_stable::std_types::RString {
            $crate::guard_manifest($manifest)
        }

        extern "C" fn __agent_plugin_run(
            ctx: &$crate::PluginCtx<'_>,
            params_json: $crate::abi_stable::std_types::RStr<'_>,
        ) -> $crate::PluginResult {
            $crate::guard_run(ctx, params_json, $run)
        }
    };
}

/// The symbol [`export_plugin!`] exports, which abi_stable's loader looks up
/// (abi_stable's `ROOT_MODULE_LOADER_NAME`; a test keeps them equal).
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_ignores_unknown_fields_and_fills_defaults() {
        let m = Manifest::from_json(r#"{"name":"x","version":"1","future":true}"#).unwrap();
        assert_eq!(m.name, "x");
        assert!(m.secrets.is_empty());
        assert!(!m.daily);
    }

    #[test]
    fn run_status_names() {
        assert_eq!(RunStatus::SUCCESS.name(), Some("success"));
        assert_eq!(RunStatus(9).name(), None);
    }

    #[test]
    fn the_exported_symbol_is_the_one_abi_stable_looks_up() {
        assert_eq!(ROOT_MODULE_SYMBOL, abi_stable::library::ROOT_MODULE_LOADER_NAME);
    }

    #[test]
    fn builders_and_default_fill_the_same_manifest() {
        let built = Manifest::new("x", "1")
            .secrets(["K"])
            .hosts(vec!["h".to_string()])
            .params([ParamSpec::new("p", "d").with_default("1")])
            .daily(true);
        let literal = Manifest {
            name: "x".into(),
            version: "1".into(),
            secrets: vec!["K".into()],
            hosts: vec!["h".into()],
            params: vec![ParamSpec {
                name: "p".into(),
                description: "d".into(),
                default: Some("1".into()),
                ..Default::default()
            }],
            daily: true,
            ..Default::default()
        };
        assert_eq!(built, literal);
        assert_eq!(Manifest::from_json(&built.to_json()).unwrap(), built);
    }

    #[test]
    fn the_file_stamp_carries_the_contract() {
        assert_eq!(CONTRACT_STAMP, format!("{CONTRACT_MARKER}{CONTRACT_VERSION}\0"));
        assert!(CONTRACT_VERSION.starts_with("1."), "the binary interface is 1.x");
    }

    #[test]
    fn catch_panic_reports_message() {
        assert_eq!(catch_panic(|| panic!("boom {}", 1)).unwrap_err(), "boom 1");
        assert_eq!(catch_panic(|| 5).unwrap(), 5);
    }
}
