//! The life of a run: plan its days, record its start, execute it (in a
//! worker or in-process), check its records through the application's sink,
//! and commit records, status, logs and coverage in one transaction.
//!
//! The database is touched only on the calling thread; executions may overlap.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, SecondsFormat, Utc};
use plugin_api::{LogLevel, RunMetadata, RunRequest, RunStatus};
use serde::Serialize;

use super::capabilities::LogFn;
use super::http::url_host;
use super::invoke::invoke;
use super::isolate::run_isolated;
use super::loader::Plugin;
use super::plan::{days, plan};
use super::protocol::{HttpSettings, Job, WireResult};
use super::sink::{RecordSink, SinkInput};
use crate::config::Settings;
use crate::error::{HostError, Result};
use crate::store::runs::{RunEnd, RunLog};
use crate::store::Store;

/// Largest payload a record may carry.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Where a plugin runs.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// In a worker child process (`exe __worker`), killed after `timeout`.
    Worker {
        /// The agent-host executable.
        exe: PathBuf,
        /// Kill the worker after this long.
        timeout: Duration,
    },
    /// In this process (development only: a crash takes the host down).
    InProcess,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// First day, overriding the plan.
    pub from: Option<NaiveDate>,
    /// Last day, overriding the plan.
    pub to: Option<NaiveDate>,
    /// `--param` values.
    pub params: BTreeMap<String, String>,
    /// Worker or in-process.
    pub isolation: Isolation,
    /// Days re-pulled at the end of the plan.
    pub trailing_days: u64,
    /// Today, UTC.
    pub today: NaiveDate,
    /// HTTP behaviour.
    pub http: HttpSettings,
    /// Plugin executions allowed at once in `run_many`.
    pub jobs: usize,
}

/// What happened in a run, for the console and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: String,
    /// Plugin name.
    pub plugin: String,
    /// `success`, `partial` or `failed`.
    pub status: String,
    /// Why, if not a success.
    pub error: Option<String>,
    /// First day collected.
    pub from: Option<NaiveDate>,
    /// Last day collected.
    pub to: Option<NaiveDate>,
    /// Records the plugin returned.
    pub records_received: usize,
    /// Rows written.
    pub records_written: usize,
    /// Stored rows that changed.
    pub records_changed: usize,
    /// Wall time.
    pub duration_ms: u64,
}

impl RunReport {
    /// Whether the run collected everything it was asked for (a plugin
    /// skipped for want of a key is not a failure).
    pub fn succeeded(&self) -> bool {
        self.status == "success" || self.status == "skipped"
    }
}

/// Why `plugin` cannot run with these settings: none of the secrets it needs
/// one of is set.
pub fn missing_secret(plugin: &Plugin, settings: &Settings) -> Option<String> {
    let needed = &plugin.manifest.requires_one_of;
    if needed.is_empty() || needed.iter().any(|k| settings.get(k).is_some()) {
        return None;
    }
    Some(format!("no key configured: set {} in the environment or .env", needed.join(" or ")))
}

/// A run that has been planned and recorded as started.
struct Prepared {
    plugin: Plugin,
    job: Job,
    window: Option<(NaiveDate, NaiveDate)>,
    started: Instant,
}

/// A run that has executed and awaits its commit.
struct Executed {
    prepared: Prepared,
    result: WireResult,
    logs: Vec<RunLog>,
}

/// Checks `--param` values against the manifest and fills in defaults.
pub fn resolve_params(
    plugin: &Plugin,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let specs = &plugin.manifest.params;
    for name in given.keys() {
        if !specs.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(HostError::usage(format!(
                "plugin {} has no parameter {name}",
                plugin.manifest.name
            ))
            .with_hint(if known.is_empty() {
                "it takes no parameters".to_string()
            } else {
                format!("it accepts: {}", known.join(", "))
            }));
        }
    }
    let mut out = BTreeMap::new();
    for spec in specs {
        if let Some(v) = given.get(&spec.name).or(spec.default.as_ref()) {
            out.insert(spec.name.clone(), v.clone());
        }
    }
    Ok(out)
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Plans the run and records its start.
fn prepare(
    store: &mut Store,
    plugin: &Plugin,
    settings: &Settings,
    opts: &RunOptions,
    params: BTreeMap<String, String>,
) -> Result<Prepared> {
    let m = &plugin.manifest;
    let window = if m.daily {
        Some(match (opts.from, opts.to) {
            (None, None) => {
                let complete = store.complete_days(&m.name)?;
                let p = plan(opts.today, &complete, opts.trailing_days);
                if let Some((a, b)) = p.skipped {
                    tracing::info!(
                        plugin = %m.name,
                        "{a}..{b} already complete; skipped (outside the {}-day re-pull window)",
                        opts.trailing_days
                    );
                }
                (p.from, p.to)
            }
            (from, to) => {
                let yesterday = opts.today.pred_opt().unwrap_or(opts.today);
                let to = to.unwrap_or(yesterday);
                (from.unwrap_or(to), to)
            }
        })
    } else {
        if opts.from.is_some() || opts.to.is_some() {
            tracing::warn!(plugin = %m.name, "does not collect days; --from/--to ignored");
        }
        None
    };
    let settings_given: BTreeMap<String, String> = m
        .settings
        .iter()
        .filter_map(|k| settings.get(k).map(|v| (k.clone(), v.to_string())))
        .collect();
    let secrets: BTreeMap<String, String> = m
        .secrets
        .iter()
        .filter_map(|k| settings.get(k).map(|v| (k.clone(), v.to_string())))
        .collect();
    let mut allowed_hosts = m.hosts.clone();
    allowed_hosts.extend(settings_given.values().filter_map(|v| url_host(v)));
    let request = RunRequest {
        from: window.map(|w| w.0.to_string()),
        to: window.map(|w| w.1.to_string()),
        params,
        settings: settings_given,
    };
    let run_id = uuid::Uuid::new_v4().to_string();
    let isolated = matches!(opts.isolation, Isolation::Worker { .. });
    store.begin_run(&run_id, &m.name, &now_rfc3339(), window, isolated)?;
    match window {
        Some((f, t)) => tracing::info!(plugin = %m.name, run_id = %run_id, "collecting {f}..{t}"),
        None => tracing::info!(plugin = %m.name, run_id = %run_id, "running"),
    }
    let job = Job {
        library: plugin.path.clone(),
        plugin: m.name.clone(),
        run_id,
        request_json: serde_json::to_string(&request).unwrap_or_default(),
        secrets,
        allowed_hosts,
        http: opts.http.clone(),
    };
    Ok(Prepared { plugin: plugin.clone(), job, window, started: Instant::now() })
}

/// Runs the plugin; never touches the store.
fn execute(prepared: Prepared, isolation: &Isolation) -> Executed {
    let logs = Arc::new(Mutex::new(Vec::<RunLog>::new()));
    let sink = logs.clone();
    let plugin = prepared.job.plugin.clone();
    let run_id = prepared.job.run_id.clone();
    let log: LogFn = Arc::new(move |level: LogLevel, message: &str| {
        emit(&plugin, &run_id, level, message);
        let entry =
            RunLog { at: now_rfc3339(), level: level_name(level), message: message.to_string() };
        sink.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
    });
    let result = match isolation {
        Isolation::Worker { exe, timeout } => {
            let log = log.clone();
            run_isolated(exe, &prepared.job, *timeout, &mut |level, msg| log(level, &msg))
        }
        Isolation::InProcess => {
            let module = prepared.plugin.module;
            match plugin_api::catch_panic(|| invoke(module, &prepared.job, log.clone())) {
                Ok(r) => r,
                Err(p) => WireResult {
                    status: RunStatus::FAILED.0,
                    error: Some(format!("plugin panicked: {p}")),
                    records: Vec::new(),
                    metadata: "{}".into(),
                },
            }
        }
    };
    drop(log);
    let logs = std::mem::take(&mut *logs.lock().unwrap_or_else(|p| p.into_inner()));
    Executed { prepared, result, logs }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::ERROR => "error",
        LogLevel::WARN => "warn",
        LogLevel::DEBUG => "debug",
        _ => "info",
    }
}

/// A plugin's log line into tracing, tagged with plugin and run id.
fn emit(plugin: &str, run_id: &str, level: LogLevel, message: &str) {
    match level {
        LogLevel::ERROR => tracing::error!(plugin, run_id, "{message}"),
        LogLevel::WARN => tracing::warn!(plugin, run_id, "{message}"),
        LogLevel::DEBUG => tracing::debug!(plugin, run_id, "{message}"),
        _ => tracing::info!(plugin, run_id, "{message}"),
    }
}

/// Checks the records and commits everything about the run at once.
fn commit<S: RecordSink>(
    store: &mut Store,
    sink: &S,
    today: NaiveDate,
    ex: Executed,
) -> Result<RunReport> {
    let Executed { prepared, result, logs } = ex;
    let name = prepared.job.plugin.clone();
    let run_id = prepared.job.run_id.clone();
    let received = result.records.len();
    let mut status = RunStatus(result.status).name().unwrap_or("failed");
    let mut error = result.error.clone();
    if status == "failed" && error.is_none() {
        error = Some("the plugin reported failure without a reason".into());
    }

    let metadata: RunMetadata = match serde_json::from_str(&result.metadata) {
        Ok(m) => m,
        Err(e) if status != "failed" => {
            status = "failed";
            error = Some(format!("the plugin returned invalid metadata: {e}"));
            RunMetadata::default()
        }
        Err(_) => RunMetadata::default(),
    };
    let complete_days: Vec<NaiveDate> = match (status, prepared.window) {
        ("success", Some((f, t))) => days(f, t).filter(|d| *d < today).collect(),
        ("partial", Some((f, t))) => metadata
            .complete_days
            .iter()
            .filter_map(|d| d.parse::<NaiveDate>().ok())
            .filter(|d| *d >= f && *d <= t && *d < today)
            .collect(),
        _ => Vec::new(),
    };
    let collected_at = now_rfc3339();
    let input = SinkInput {
        plugin: &name,
        run_id: &run_id,
        window: prepared.window,
        complete_days: &complete_days,
        metadata: &result.metadata,
        collected_at: &collected_at,
    };
    if let Some((i, r)) =
        result.records.iter().enumerate().find(|(_, r)| r.payload.len() > MAX_PAYLOAD)
    {
        if status != "failed" {
            status = "failed";
            error = Some(format!(
                "rejected the plugin's records, nothing was stored: record {i} ({}) is {} bytes, over the {} byte limit",
                r.kind,
                r.payload.len(),
                MAX_PAYLOAD
            ));
        }
    }
    let batch = if status == "failed" {
        None
    } else {
        match sink.prepare(&input, result.records) {
            Ok(b) => Some(b),
            Err(e) => {
                status = "failed";
                error = Some(format!("rejected the plugin's records, nothing was stored: {e}"));
                None
            }
        }
    };
    let marked: &[NaiveDate] = if status == "failed" { &[] } else { &complete_days };

    let duration_ms = prepared.started.elapsed().as_millis() as u64;
    let tx = store.transaction()?;
    let stats = match batch {
        Some(b) => sink.write(&tx, &input, b)?,
        None => Default::default(),
    };
    let end = RunEnd {
        status,
        error: error.as_deref(),
        records_received: received,
        records_written: stats.written,
        records_changed: stats.changed,
        duration_ms,
    };
    tx.finish_run(&run_id, &now_rfc3339(), &end)?;
    tx.insert_run_logs(&run_id, &logs)?;
    tx.mark_complete(&name, marked.iter().copied(), &run_id, &collected_at)?;
    tx.commit()?;

    match &error {
        Some(e) => tracing::error!(plugin = %name, run_id = %run_id, "{status}: {e}"),
        None => tracing::info!(
            plugin = %name,
            run_id = %run_id,
            "{status}: {received} records, {} rows written, {} changed, {duration_ms} ms",
            stats.written,
            stats.changed
        ),
    }
    Ok(RunReport {
        run_id,
        plugin: name,
        status: status.to_string(),
        error,
        from: prepared.window.map(|w| w.0),
        to: prepared.window.map(|w| w.1),
        records_received: received,
        records_written: stats.written,
        records_changed: stats.changed,
        duration_ms,
    })
}

/// Records a plugin that was not run, with the reason, and warns.
fn skip(store: &mut Store, plugin: &Plugin, why: &str) -> Result<RunReport> {
    let name = &plugin.manifest.name;
    tracing::warn!(plugin = %name, "skipped: {why}");
    let run_id = uuid::Uuid::new_v4().to_string();
    store.begin_run(&run_id, name, &now_rfc3339(), None, false)?;
    let tx = store.transaction()?;
    let end = RunEnd {
        status: "skipped",
        error: Some(why),
        records_received: 0,
        records_written: 0,
        records_changed: 0,
        duration_ms: 0,
    };
    tx.finish_run(&run_id, &now_rfc3339(), &end)?;
    tx.commit()?;
    Ok(RunReport {
        run_id,
        plugin: name.clone(),
        status: "skipped".into(),
        error: Some(why.to_string()),
        from: None,
        to: None,
        records_received: 0,
        records_written: 0,
        records_changed: 0,
        duration_ms: 0,
    })
}

/// Runs one plugin from start to commit.
pub fn run_plugin<S: RecordSink>(
    store: &mut Store,
    plugin: &Plugin,
    settings: &Settings,
    sink: &S,
    opts: &RunOptions,
) -> Result<RunReport> {
    let params = resolve_params(plugin, &opts.params)?;
    if let Some(why) = missing_secret(plugin, settings) {
        return Err(HostError::config(format!("{} cannot run: {why}", plugin.manifest.name)));
    }
    let prepared = prepare(store, plugin, settings, opts, params)?;
    let executed = execute(prepared, &opts.isolation);
    commit(store, sink, opts.today, executed)
}

/// Runs several plugins: executions overlap (up to `opts.jobs` at once when
/// isolated), commits happen one by one on this thread as runs finish.
pub fn run_many<S: RecordSink>(
    store: &mut Store,
    plugins: &[&Plugin],
    settings: &Settings,
    sink: &S,
    opts: &RunOptions,
) -> Result<Vec<RunReport>> {
    let mut prepared = Vec::new();
    let mut skipped = Vec::new();
    for plugin in plugins {
        if let Some(why) = missing_secret(plugin, settings) {
            skipped.push(skip(store, plugin, &why)?);
            continue;
        }
        let params = resolve_params(plugin, &BTreeMap::new())?;
        prepared.push(prepare(store, plugin, settings, opts, params)?);
    }
    let jobs = match opts.isolation {
        Isolation::Worker { .. } => opts.jobs.max(1),
        Isolation::InProcess => 1,
    };
    let queue =
        Arc::new(Mutex::new(prepared.into_iter().collect::<std::collections::VecDeque<_>>()));
    let (tx, rx) = mpsc::channel::<Executed>();
    let mut reports = skipped;
    let mut first_error = None;
    std::thread::scope(|s| {
        for _ in 0..jobs.min(plugins.len()) {
            let queue = queue.clone();
            let tx = tx.clone();
            let isolation = &opts.isolation;
            s.spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some(p) = next else { break };
                if tx.send(execute(p, isolation)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for executed in rx {
            match commit(store, sink, opts.today, executed) {
                Ok(r) => reports.push(r),
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    let order: Vec<&str> = plugins.iter().map(|p| p.manifest.name.as_str()).collect();
    reports.sort_by_key(|r| order.iter().position(|n| *n == r.plugin));
    Ok(reports)
}
