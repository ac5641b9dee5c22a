//! The life of a run: plan its days, record its start, execute it in a
//! sandboxed worker (HTTP and redaction done here, by the [`Broker`]), check
//! its records through the application's sink, and commit records, status,
//! logs and coverage in one transaction. A run whose commit fails is
//! recorded as failed on its own; the others go on.
//!
//! The database is touched only on the calling thread; executions may overlap.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, SecondsFormat, Utc};
use plugin_api::{LogLevel, RunMetadata, RunRequest};
use serde::Serialize;

use super::capabilities::{Broker, LogFn};
use super::destination::Destinations;
use super::error::{KernelError, Result};
use super::grants::check_read_path;
use super::http::{HttpClient, HttpSettings};
use super::isolate::{run_worker, OutputLimits};
use super::job::Job;
use super::loader::Plugin;
use super::plan::{days, plan};
use super::protocol::{Job as WorkerJob, ProtocolInfo, RunJob, SandboxSpec, WireResult};
use super::sink::{RecordSink, SinkInput};
use super::status::RunStatus;
use crate::config::Settings;
use crate::store::runs::{RunEnd, RunLog};
use crate::store::Store;

/// How many runs may fail to complete a day before the plan stops asking
/// for it (`--from`/`--to` still can).
pub const MISSING_DAY_ATTEMPTS: u32 = 5;

/// The longest a run may be allowed to take (a week): `--timeout` and
/// `AGENT_RUN_TIMEOUT_SECS` both stop here.
pub const MAX_RUN_TIMEOUT_SECS: u64 = 7 * 86_400;

/// The most days one run covers: a longer range is collected by
/// consecutive runs, so what a run holds (its records, in the worker and
/// here) is bounded by this, not by the range asked for.
pub const MAX_WINDOW_DAYS: u64 = 92;

/// Largest payload a record may carry.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Largest state a plugin may keep between runs.
pub const MAX_STATE: usize = 64 << 20;

/// The most runs one plugin may chain by saying it has more to do, so a
/// plugin that always says so cannot keep the host busy forever.
pub const MAX_CHAINED_RUNS: usize = 1000;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// First day, overriding the plan.
    pub from: Option<NaiveDate>,
    /// Last day, overriding the plan.
    pub to: Option<NaiveDate>,
    /// `--param` values.
    pub params: BTreeMap<String, String>,
    /// The agent-host executable, run as the worker.
    pub exe: PathBuf,
    /// Kill the worker after this long (a job's own timeout wins unless
    /// this one was given on the command line).
    pub timeout: Duration,
    /// Whether `timeout` was given on the command line.
    pub timeout_given: bool,
    /// The worker's address-space limit in bytes.
    pub memory_bytes: u64,
    /// What a run may send back.
    pub limits: OutputLimits,
    /// Days re-pulled at the end of the plan.
    pub trailing_days: u64,
    /// Today, UTC.
    pub today: NaiveDate,
    /// HTTP behaviour.
    pub http: HttpSettings,
    /// Plugin executions allowed at once in `run_many`.
    pub jobs: usize,
    /// Every secret name any installed plugin declares: never a setting,
    /// always redacted.
    pub secret_names: Vec<String>,
    /// Progress bars (requests done of requests asked) on a terminal.
    pub progress: Option<indicatif::MultiProgress>,
    /// Folders no read path may reach, whatever was granted (the home and
    /// the plugins folder).
    pub protected: Vec<PathBuf>,
    /// The webhook trigger these runs answer, recorded with each run.
    pub trigger: Option<String>,
    /// Run ids chosen before the runs start (a trigger answers with them),
    /// by job name: each is taken by that job's first run.
    pub preset_ids: std::sync::Arc<std::sync::Mutex<BTreeMap<String, String>>>,
}

impl RunOptions {
    /// Starts a run of job `name`: its id (preset or new), recorded as
    /// running, with its trigger.
    fn begin(
        &self,
        store: &mut Store,
        name: &str,
        window: Option<(NaiveDate, NaiveDate)>,
        sha256: &str,
    ) -> Result<String> {
        let preset = self.preset_ids.lock().ok().and_then(|mut ids| ids.remove(name));
        let run_id = preset.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        store.begin_run(&run_id, name, &now_rfc3339(), window, Some(sha256))?;
        if let Some(trigger) = &self.trigger {
            store.note_trigger(&run_id, trigger)?;
        }
        Ok(run_id)
    }

    /// How long a run of `spec` may take.
    fn timeout_for(&self, spec: &Job) -> Duration {
        match spec.timeout {
            Some(t) if !self.timeout_given => t,
            _ => self.timeout,
        }
    }
}

/// What happened in a run, for the console and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: String,
    /// Plugin name.
    pub plugin: String,
    /// `success`, `partial` or `failed` (`skipped` when it was not run).
    pub status: RunStatus,
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
    /// Days of the window not stored, each with the reason; the plan asks
    /// for them again.
    pub lost_days: BTreeMap<NaiveDate, String>,
    /// Days of the window the source can never return, with the reason:
    /// not stored, and not asked for again.
    pub unavailable_days: BTreeMap<NaiveDate, String>,
    /// What the application noted about the stored data.
    pub notes: Vec<String>,
    /// The plugin stopped early with more to do: the host runs it again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
}

impl RunReport {
    /// Whether the run collected everything it was asked for (a plugin
    /// skipped for want of a key is not a failure).
    pub fn succeeded(&self) -> bool {
        self.status.succeeded()
    }
}

/// Why `plugin` cannot run with these settings: none of the secrets it needs
/// one of is set.
pub fn missing_secret(plugin: &Plugin, settings: &Settings) -> Option<String> {
    let needed = &plugin.manifest.requires_one_of;
    if needed.is_empty() || needed.iter().any(|k| settings.get(k).is_some()) {
        return None;
    }
    let mut why = format!(
        "no key configured: set {} in {} or the environment",
        needed[0],
        settings.env_file().display()
    );
    if let Some(setup) = &plugin.manifest.setup {
        why.push_str(&format!(" ({setup})"));
    }
    if needed.len() > 1 {
        why.push_str(&format!(
            "; {} also works, with the limits the plugin warns about",
            needed[1..].join(" or ")
        ));
    }
    Some(why)
}

/// A run that has been planned and recorded as started.
struct Prepared {
    /// Shared by the job's runs (one per window, and chained ones).
    spec: Arc<Job>,
    job: RunJob,
    destinations: Destinations,
    secret_values: Vec<String>,
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
            return Err(KernelError::UnknownParam {
                plugin: plugin.manifest.name.clone(),
                param: name.clone(),
                known: specs.iter().map(|s| s.name.clone()).collect(),
            });
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

/// The windows of days to run: the plan for daily plugins without
/// `--from`/`--to` (each hole in the job's ledger, whatever left it, then
/// the recent days), the range asked for otherwise; one window without days
/// for other plugins.
fn windows(
    store: &Store,
    spec: &Job,
    opts: &RunOptions,
) -> Result<Vec<Option<(NaiveDate, NaiveDate)>>> {
    let m = &spec.plugin.manifest;
    let name = &spec.name;
    if !m.daily {
        if opts.from.is_some() || opts.to.is_some() {
            tracing::warn!(plugin = %name, "does not collect days; --from/--to ignored");
        }
        return Ok(vec![None]);
    }
    let windows = match (opts.from, opts.to) {
        (None, None) => {
            let complete = store.complete_days(name)?;
            let missing = store.missing_days(name, MISSING_DAY_ATTEMPTS, opts.today)?;
            let p = plan(opts.today, &complete, &missing, opts.trailing_days);
            if let Some((a, b)) = p.skipped {
                tracing::info!(
                    plugin = %name,
                    "{a}..{b} already complete; skipped (outside the {}-day re-pull window)",
                    opts.trailing_days
                );
            }
            for (a, b) in &p.holes {
                tracing::info!(plugin = %name, "{a}..{b} missing (asked for before, never completed)");
            }
            p.windows()
        }
        (from, to) => {
            let yesterday = opts.today.pred_opt().unwrap_or(opts.today);
            let to = to.unwrap_or(yesterday);
            vec![(from.unwrap_or(to), to)]
        }
    };
    Ok(windows.into_iter().flat_map(split_window).map(Some).collect())
}

/// A window cut into consecutive windows of at most [`MAX_WINDOW_DAYS`].
fn split_window((from, to): (NaiveDate, NaiveDate)) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + chrono::Days::new(MAX_WINDOW_DAYS - 1)).min(to);
        out.push((start, end));
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    out
}

/// Plans a plugin's runs (one per window) and records their start.
fn prepare_all(
    store: &mut Store,
    spec: &Arc<Job>,
    opts: &RunOptions,
    params: &BTreeMap<String, String>,
) -> Result<Vec<Prepared>> {
    // Read once: no run of these has stored anything yet.
    let state = store.plugin_state(&spec.name)?;
    windows(store, spec, opts)?
        .into_iter()
        .map(|w| prepare(store, spec, opts, params.clone(), w, state.clone()))
        .collect()
}

/// Records the start of one run over `window`, handing the plugin `state`
/// (what its last stored run kept).
fn prepare(
    store: &mut Store,
    spec: &Arc<Job>,
    opts: &RunOptions,
    params: BTreeMap<String, String>,
    window: Option<(NaiveDate, NaiveDate)>,
    state: Option<String>,
) -> Result<Prepared> {
    let (plugin, settings, name) = (&spec.plugin, &spec.settings, &spec.name);
    let m = &plugin.manifest;
    // The scan sets ungranted plugins aside; a job built some other way
    // is refused here all the same.
    let Some(grant) = plugin.standing.grant() else {
        let why = plugin.standing.refusal(&m.name).unwrap_or_default();
        return Err(KernelError::JobNotGranted { job: spec.name.clone(), why });
    };
    let mut settings_given = BTreeMap::new();
    for name in &m.settings {
        if settings.is_secret(name, &opts.secret_names) {
            tracing::warn!(
                plugin = %spec.name,
                "setting {name} names a secret; it is never handed over as a plain setting"
            );
        } else if let Some(v) = settings.for_plugin(name, &grant.env) {
            settings_given.insert(name.clone(), v.to_string());
        }
    }
    let secrets: BTreeMap<String, String> = m
        .secrets
        .iter()
        .filter_map(|k| settings.get(k).map(|v| (k.clone(), v.to_string())))
        .collect();
    // The operator's URL settings (base URLs) are reachable wherever they
    // point; the manifest's hosts only at public addresses.
    let destinations = Destinations::new(&m.hosts, settings_given.values().map(String::as_str));
    let read_paths = resolve_read_paths(plugin, &settings_given, &opts.protected)?;
    let request = RunRequest {
        from: window.map(|w| w.0.to_string()),
        to: window.map(|w| w.1.to_string()),
        params,
        settings: settings_given,
        today: Some(opts.today.to_string()),
        read_paths: read_paths
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|p| p.display().to_string()).collect()))
            .collect(),
        state,
        account: spec.account.clone(),
        ..Default::default()
    };
    let run_id = opts.begin(store, name, window, &plugin.sha256)?;
    match window {
        Some((f, t)) => tracing::info!(plugin = %name, run_id = %run_id, "collecting {f}..{t}"),
        None => tracing::info!(plugin = %name, run_id = %run_id, "running"),
    }
    let job = RunJob {
        plugin: m.name.clone(),
        run_id,
        request_json: serde_json::to_string(&request).unwrap_or_default(),
        secrets,
        declared: m.secrets.clone(),
        sandbox: SandboxSpec {
            host_pid: std::process::id(),
            read_paths: read_paths.values().flatten().map(|p| p.display().to_string()).collect(),
            memory_bytes: opts.memory_bytes,
            cgroup: None,
            cpu_secs: opts.timeout_for(spec).as_secs() + 5,
        },
        protocol: ProtocolInfo::default(),
    };
    Ok(Prepared {
        spec: Arc::clone(spec),
        job,
        destinations,
        secret_values: settings.secret_values(&opts.secret_names),
        window,
        started: Instant::now(),
    })
}

/// What each declared read path grants with the plugin's settings.
/// None may reach the home, the plugins folder, a system folder or `/`.
fn resolve_read_paths(
    plugin: &Plugin,
    settings: &BTreeMap<String, String>,
    protected: &[PathBuf],
) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let refuse = |why: String| KernelError::CannotRun { job: plugin.manifest.name.clone(), why };
    plugin
        .read_paths
        .iter()
        .map(|p| {
            let paths = p.resolve(|name| settings.get(name).cloned()).map_err(refuse)?;
            for path in &paths {
                check_read_path(path, protected).map_err(refuse)?;
            }
            Ok((p.declared().to_string(), paths))
        })
        .collect()
}

/// Runs the plugin in a worker; never touches the store.
fn execute(mut prepared: Prepared, opts: &RunOptions) -> Executed {
    // A run's duration is its own, not the wait for a free slot.
    prepared.started = Instant::now();
    let logs = Arc::new(Mutex::new(Vec::<RunLog>::new()));
    let sink = logs.clone();
    let plugin = prepared.spec.name.clone();
    let run_id = prepared.job.run_id.clone();
    let log: LogFn = Arc::new(move |level: LogLevel, message: &str| {
        emit(&plugin, &run_id, level, message);
        let entry =
            RunLog { at: now_rfc3339(), level: level_name(level), message: message.to_string() };
        sink.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
    });
    let bar = opts.progress.as_ref().map(|mp| {
        let style = indicatif::ProgressStyle::with_template(
            "{prefix:24} {bar:30} {pos}/{len} requests {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        mp.add(
            indicatif::ProgressBar::new(0)
                .with_style(style)
                .with_prefix(prepared.spec.name.clone()),
        )
    });
    let broker = Arc::new(Broker::new(
        prepared.destinations.clone(),
        prepared.secret_values.clone(),
        HttpClient::new(opts.http.clone()),
        log.clone(),
        bar.clone(),
    ));
    let job = WorkerJob::Run(Box::new(prepared.job.clone()));
    let outcome = run_worker(
        &opts.exe,
        &prepared.spec.plugin.file,
        job,
        opts.timeout_for(&prepared.spec),
        &opts.limits,
        Some(broker),
        &mut |level, msg| log(level, &msg),
    );
    drop(log);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let logs = std::mem::take(&mut *logs.lock().unwrap_or_else(|p| p.into_inner()));
    Executed { prepared, result: outcome.into_result(), logs }
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

/// The run's status and error as the plugin reported them, checked: an
/// unknown status, invalid metadata or an oversized record fails the run.
fn judge(result: &WireResult) -> (RunStatus, Option<String>, RunMetadata) {
    let Some(mut status) = RunStatus::from_plugin(plugin_api::RunStatus(result.status)) else {
        let why = format!("plugin returned an unknown status value {}", result.status);
        return (RunStatus::Failed, Some(why), RunMetadata::default());
    };
    let mut error = result.error.clone();
    if status == RunStatus::Failed && error.is_none() {
        error = Some("the plugin reported failure without a reason".into());
    }
    let metadata: RunMetadata = match serde_json::from_str(&result.metadata) {
        Ok(m) => m,
        Err(e) if status != RunStatus::Failed => {
            status = RunStatus::Failed;
            error = Some(format!("the plugin returned invalid metadata: {e}"));
            RunMetadata::default()
        }
        Err(_) => RunMetadata::default(),
    };
    if status != RunStatus::Failed && metadata.state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        status = RunStatus::Failed;
        error = Some(format!("the plugin's state is over the {MAX_STATE} byte limit"));
    }
    if status != RunStatus::Failed {
        if let Some((i, r)) =
            result.records.iter().enumerate().find(|(_, r)| r.payload.len() > MAX_PAYLOAD)
        {
            status = RunStatus::Failed;
            error = Some(format!(
                "rejected the plugin's records, nothing was stored: record {i} ({}) is {} bytes, over the {} byte limit",
                r.kind,
                r.payload.len(),
                MAX_PAYLOAD
            ));
        }
    }
    (status, error, metadata)
}

/// The days a run completed: the whole window for a success, the days the
/// metadata names for a partial run; never today or later.
fn completed_days(
    status: RunStatus,
    window: Option<(NaiveDate, NaiveDate)>,
    metadata: &RunMetadata,
    today: NaiveDate,
) -> Vec<NaiveDate> {
    match (status, window) {
        (RunStatus::Success, Some((f, t))) => days(f, t).filter(|d| *d < today).collect(),
        (RunStatus::Partial, Some((f, t))) => metadata
            .complete_days
            .iter()
            .filter_map(|d| d.parse::<NaiveDate>().ok())
            .filter(|d| *d >= f && *d <= t && *d < today)
            .collect(),
        _ => Vec::new(),
    }
}

/// The days a partial result did not complete, with the plugin's reasons:
/// those the source can never return, and the lost ones (asked for again);
/// a day it gives no reason for is lost.
fn reported_gaps(
    window: Option<(NaiveDate, NaiveDate)>,
    complete: &[NaiveDate],
    metadata: &RunMetadata,
    today: NaiveDate,
) -> (BTreeMap<NaiveDate, String>, BTreeMap<NaiveDate, String>) {
    let (mut unavailable, mut lost) = (BTreeMap::new(), BTreeMap::new());
    let Some((from, to)) = window else { return (unavailable, lost) };
    for d in days(from, to).filter(|d| *d < today && !complete.contains(d)) {
        let key = d.to_string();
        if let Some(why) = metadata.unavailable_days.get(&key) {
            unavailable.insert(d, one_line(why, 300));
        } else {
            let why = metadata.lost_days.get(&key).map(|w| one_line(w, 300));
            lost.insert(d, why.unwrap_or_else(|| "the plugin did not report it complete".into()));
        }
    }
    (unavailable, lost)
}

/// Text made safe for one line of a report: control and format characters
/// dropped, cut at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let clean: String =
        text.chars().filter(|c| !c.is_control() && !crate::logging::is_format(*c)).collect();
    match clean.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &clean[..i]),
        None => clean,
    }
}

/// Lost days as spans of consecutive days that share a reason, in order.
pub fn lost_spans(lost: &BTreeMap<NaiveDate, String>) -> Vec<(NaiveDate, NaiveDate, &str)> {
    let mut spans: Vec<(NaiveDate, NaiveDate, &str)> = Vec::new();
    for (day, why) in lost {
        match spans.last_mut() {
            Some((_, end, w)) if end.succ_opt() == Some(*day) && *w == why.as_str() => *end = *day,
            _ => spans.push((*day, *day, why)),
        }
    }
    spans
}

/// Days as `D` or `A..B`.
pub fn span_text(from: NaiveDate, to: NaiveDate) -> String {
    if from == to {
        from.to_string()
    } else {
        format!("{from}..{to}")
    }
}

/// The run's error for lost days: how many, and the first spans with why.
fn describe_lost(lost: &BTreeMap<NaiveDate, String>) -> String {
    const SHOWN: usize = 3;
    let spans = lost_spans(lost);
    let mut list: Vec<String> = spans
        .iter()
        .take(SHOWN)
        .map(|(a, b, why)| format!("{} ({why})", span_text(*a, *b)))
        .collect();
    if spans.len() > SHOWN {
        list.push(format!("and {} more", spans.len() - SHOWN));
    }
    format!("{} day(s) not stored, asked for again next run: {}", lost.len(), list.join("; "))
}

/// A note on the days the source cannot return, by span.
fn unavailable_note(days: &BTreeMap<NaiveDate, String>) -> Option<String> {
    if days.is_empty() {
        return None;
    }
    let spans: Vec<String> = lost_spans(days)
        .iter()
        .map(|(a, b, why)| format!("{} ({why})", span_text(*a, *b)))
        .collect();
    Some(format!("{} day(s) not available from the source: {}", days.len(), spans.join("; ")))
}

/// Checks the records through the sink: the batch to write, with the days
/// it refused taken out of `complete` and added to `lost`, or why the whole
/// run is refused.
fn check<S: RecordSink>(
    sink: &S,
    input: &SinkInput<'_>,
    records: Vec<super::protocol::WireRecord>,
    complete: &mut Vec<NaiveDate>,
    lost: &mut BTreeMap<NaiveDate, String>,
) -> std::result::Result<S::Batch, String> {
    let refused = |e: &str| format!("rejected the plugin's records, nothing was stored: {e}");
    let checked = sink.prepare(input, records).map_err(|e| refused(&e))?;
    // Without days to leave out, a bad value refuses the whole run.
    if let (None, Some((_, why))) = (input.window, checked.rejected.first_key_value()) {
        return Err(refused(why));
    }
    for (day, why) in checked.rejected {
        if complete.contains(&day) {
            complete.retain(|d| *d != day);
            lost.insert(day, one_line(&why, 300));
        }
    }
    Ok(checked.batch)
}

/// Checks the records and commits everything about the run at once. A
/// commit that fails (a full disk) fails this run only.
fn commit<S: RecordSink>(store: &mut Store, sink: &S, today: NaiveDate, ex: Executed) -> RunReport {
    let Executed { prepared, mut result, logs } = ex;
    let received = result.records.len();
    let (mut status, mut error, metadata) = judge(&result);
    let complete_days = completed_days(status, prepared.window, &metadata, today);
    let (unavailable, mut lost) = if status == RunStatus::Partial {
        reported_gaps(prepared.window, &complete_days, &metadata, today)
    } else {
        Default::default()
    };
    let collected_at = now_rfc3339();
    let input = SinkInput {
        plugin: &prepared.spec.name,
        run_id: &prepared.job.run_id,
        window: prepared.window,
        complete_days: &complete_days,
        metadata: &result.metadata,
        collected_at: &collected_at,
        claims: &prepared.spec.plugin.manifest.providers,
        observes: &prepared.spec.plugin.manifest.observes,
        account: prepared.spec.account.as_deref(),
    };
    let records = std::mem::take(&mut result.records);
    let mut complete = complete_days.clone();
    let batch = match status {
        RunStatus::Failed => None,
        _ => match check(sink, &input, records, &mut complete, &mut lost) {
            Ok(b) => Some(b),
            Err(e) => {
                (status, error) = (RunStatus::Failed, Some(e));
                None
            }
        },
    };
    if status != RunStatus::Failed && !lost.is_empty() {
        status = RunStatus::Partial;
        error = Some(describe_lost(&lost));
    } else if status == RunStatus::Partial {
        // Every day it could return is stored: the rest is not to be had.
        status = RunStatus::Success;
        error = None;
    }
    let input = SinkInput { complete_days: &complete, ..input };
    let mut report = RunReport {
        run_id: prepared.job.run_id.clone(),
        plugin: prepared.spec.name.clone(),
        status,
        error,
        from: prepared.window.map(|w| w.0),
        to: prepared.window.map(|w| w.1),
        records_received: received,
        records_written: 0,
        records_changed: 0,
        duration_ms: prepared.started.elapsed().as_millis() as u64,
        lost_days: if status == RunStatus::Failed { BTreeMap::new() } else { lost },
        notes: unavailable_note(&unavailable).into_iter().collect(),
        unavailable_days: unavailable,
        // Only a run without days may chain: a daily plugin's windows are the plan's.
        more: status == RunStatus::Success && metadata.more && prepared.window.is_none(),
    };
    let state = if status == RunStatus::Failed { None } else { metadata.state.as_deref() };
    let quota = prepared.spec.plugin.standing.grant().map(|g| (g.max_records, g.max_record_bytes));
    match write_run(store, sink, &input, batch, (state, quota), &report, &logs) {
        Ok(stats) => {
            report.records_written = stats.written;
            report.records_changed = stats.changed;
            report.notes.extend(stats.notes);
        }
        Err(e) => {
            // Nothing of the run's data was kept; say so in the run itself.
            report.status = RunStatus::Failed;
            report.error = Some(format!("could not store the run's results: {e}"));
            report.lost_days.clear();
            report.more = false;
            let end = run_end(&report);
            if let Err(e) = store.fail_run(&report.run_id, &now_rfc3339(), &end, &logs) {
                // The next run marks it interrupted; this one is reported failed.
                tracing::error!(plugin = %report.plugin, "cannot record the failure either: {e}");
            }
        }
    }
    log_outcome(&report);
    report
}

/// Writes the run's rows, end, logs and coverage in one transaction.
fn write_run<S: RecordSink>(
    store: &mut Store,
    sink: &S,
    input: &SinkInput<'_>,
    batch: Option<S::Batch>,
    (state, quota): (Option<&str>, Option<(u64, u64)>),
    report: &RunReport,
    logs: &[RunLog],
) -> crate::store::Result<super::sink::WriteStats> {
    let tx = store.transaction()?;
    let stats = match batch {
        Some(b) => sink.write(&tx, input, b)?,
        None => Default::default(),
    };
    if let Some((max_records, max_bytes)) = quota {
        let (held, bytes) = tx.records_held(input.plugin)?;
        if held > max_records || bytes > max_bytes {
            // Dropping the transaction keeps nothing of the run.
            return Err(crate::store::StoreError::Invalid(format!(
                "{} would keep {held} records of {bytes} bytes, past its grant's quota of \
                 {max_records} records and {max_bytes} bytes; nothing of this run was stored \
                 (`agent-host records prune --plugin {}` frees room)",
                input.plugin, input.plugin
            )));
        }
    }
    if let Some(state) = state {
        tx.save_plugin_state(input.plugin, state, input.run_id, input.collected_at)?;
    }
    let end = RunEnd {
        records_written: stats.written,
        records_changed: stats.changed,
        ..run_end(report)
    };
    tx.finish_run(input.run_id, &now_rfc3339(), &end)?;
    tx.insert_run_logs(input.run_id, logs)?;
    let marked: &[NaiveDate] =
        if report.status == RunStatus::Failed { &[] } else { input.complete_days };
    tx.mark_complete(input.plugin, marked.iter().copied(), input.run_id, input.collected_at)?;
    if let Some((from, to)) = input.window {
        let lost = days(from, to)
            .filter(|d| !marked.contains(d) && !report.unavailable_days.contains_key(d))
            .map(|d| (d, report.lost_days.get(&d).or(report.error.as_ref()).map(String::as_str)));
        tx.mark_missing(input.plugin, lost, input.run_id)?;
        let unavailable = report.unavailable_days.iter().map(|(d, why)| (*d, why.as_str()));
        tx.mark_unavailable(input.plugin, unavailable, input.run_id)?;
    }
    tx.commit()?;
    Ok(stats)
}

fn run_end(r: &RunReport) -> RunEnd<'_> {
    RunEnd {
        status: r.status.as_str(),
        error: r.error.as_deref(),
        records_received: r.records_received,
        records_written: r.records_written,
        records_changed: r.records_changed,
        duration_ms: r.duration_ms,
    }
}

fn log_outcome(r: &RunReport) {
    match &r.error {
        // For agent.log: the console already shows the run's result line.
        Some(e) => {
            tracing::error!(target: crate::logging::OUTCOME, plugin = %r.plugin, run_id = %r.run_id, "{}: {e}", r.status)
        }
        None => tracing::info!(
            plugin = %r.plugin,
            run_id = %r.run_id,
            "{}: {} records, {} rows written, {} changed, {} ms",
            r.status,
            r.records_received,
            r.records_written,
            r.records_changed,
            r.duration_ms
        ),
    }
}

/// Records a job that was not run, with the reason: `skipped` (no key) or
/// `failed` (it cannot be prepared, e.g. a bad read-path setting).
fn not_run(
    store: &mut Store,
    opts: &RunOptions,
    spec: &Job,
    status: RunStatus,
    why: &str,
) -> Result<RunReport> {
    let (name, plugin) = (&spec.name, &spec.plugin);
    // The result line says why; the log keeps it too.
    tracing::info!(plugin = %name, "{status}: {why}");
    let run_id = opts.begin(store, name, None, &plugin.sha256)?;
    let tx = store.transaction()?;
    let end = RunEnd {
        status: status.as_str(),
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
        status,
        error: Some(why.to_string()),
        from: None,
        to: None,
        records_received: 0,
        records_written: 0,
        records_changed: 0,
        duration_ms: 0,
        lost_days: BTreeMap::new(),
        unavailable_days: BTreeMap::new(),
        notes: Vec::new(),
        more: false,
    })
}

/// Runs `plugin` again, one run after another, while its last run says it
/// has more to do (each run reads the state the previous one stored).
fn chain<S: RecordSink>(
    store: &mut Store,
    spec: &Arc<Job>,
    sink: &S,
    opts: &RunOptions,
    mut last: RunReport,
    on_done: &mut dyn FnMut(&RunReport),
) -> Result<Vec<RunReport>> {
    let mut reports = Vec::new();
    if !last.more {
        return Ok(reports);
    }
    let params = job_params(spec, &opts.params)?;
    let mut chained = 0;
    let mut state = store.plugin_state(&spec.name)?;
    while last.more && chained < MAX_CHAINED_RUNS {
        chained += 1;
        let prepared = prepare(store, spec, opts, params.clone(), None, state.clone())?;
        last = commit(store, sink, opts.today, execute(prepared, opts));
        on_done(&last);
        reports.push(last.clone());
        // A run that stored nothing and moved its state nowhere would say
        // "more" forever: stop it.
        let now = store.plugin_state(&spec.name)?;
        if last.more && last.records_received == 0 && now == state {
            tracing::warn!(plugin = %spec.name, "says it has more to do but made no progress; stopped");
            last.more = false;
        }
        state = now;
    }
    if last.more {
        tracing::warn!(
            plugin = %spec.name,
            "still has more to do after {MAX_CHAINED_RUNS} chained runs; the next run goes on"
        );
    }
    Ok(reports)
}

/// The job's parameters with `given` (`--param`) laid over them, checked
/// against the manifest.
fn job_params(spec: &Job, given: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let mut all = spec.params.clone();
    all.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    resolve_params(&spec.plugin, &all)
}

/// Runs one job from start to commit: one run per window of days.
pub fn run_plugin<S: RecordSink>(
    store: &mut Store,
    spec: &Job,
    sink: &S,
    opts: &RunOptions,
    on_done: &mut dyn FnMut(&RunReport),
) -> Result<Vec<RunReport>> {
    let params = job_params(spec, &opts.params)?;
    if let Some(why) = missing_secret(&spec.plugin, &spec.settings) {
        return Err(KernelError::CannotRun { job: spec.name.clone(), why });
    }
    let mut reports = Vec::new();
    let spec = Arc::new(spec.clone());
    for prepared in prepare_all(store, &spec, opts, &params)? {
        let executed = execute(prepared, opts);
        let report = commit(store, sink, opts.today, executed);
        on_done(&report);
        reports.push(report.clone());
        reports.extend(chain(store, &spec, sink, opts, report, on_done)?);
    }
    Ok(reports)
}

/// Runs several jobs: executions overlap (up to `opts.jobs` at once),
/// commits happen one by one on this thread as runs finish, and `on_done`
/// hears of each run as it is committed.
pub fn run_many<S: RecordSink>(
    store: &mut Store,
    specs: &[Job],
    sink: &S,
    opts: &RunOptions,
    on_done: &mut dyn FnMut(&RunReport),
) -> Result<Vec<RunReport>> {
    let mut prepared = Vec::new();
    let mut skipped = Vec::new();
    for spec in specs {
        if let Some(why) = missing_secret(&spec.plugin, &spec.settings) {
            let report = not_run(store, opts, spec, RunStatus::Skipped, &why)?;
            on_done(&report);
            skipped.push(report);
            continue;
        }
        // One job that cannot be prepared fails alone; the others run.
        let shared = Arc::new(spec.clone());
        match job_params(spec, &BTreeMap::new()).and_then(|p| prepare_all(store, &shared, opts, &p))
        {
            Ok(p) => prepared.extend(p),
            Err(e) => {
                let report = not_run(store, opts, spec, RunStatus::Failed, &e.to_string())?;
                on_done(&report);
                skipped.push(report);
            }
        }
    }
    let jobs = opts.jobs.max(1);
    let queue =
        Arc::new(Mutex::new(prepared.into_iter().collect::<std::collections::VecDeque<_>>()));
    // Bounded: a run executed ahead of the commits waits with its records,
    // so what the host holds does not grow with the number of windows.
    let (tx, rx) = mpsc::sync_channel::<Executed>(1);
    let mut reports = skipped;
    std::thread::scope(|s| {
        for _ in 0..jobs.min(specs.len()) {
            let queue = queue.clone();
            let tx = tx.clone();
            s.spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some(p) = next else { break };
                if tx.send(execute(p, opts)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for executed in rx {
            let spec = Arc::clone(&executed.prepared.spec);
            let report = commit(store, sink, opts.today, executed);
            on_done(&report);
            reports.push(report.clone());
            match chain(store, &spec, sink, opts, report, on_done) {
                Ok(more) => reports.extend(more),
                Err(e) => tracing::error!(plugin = %spec.name, "cannot run again: {e}"),
            }
        }
    });
    let order: Vec<&str> = specs.iter().map(|j| j.name.as_str()).collect();
    // By plugin, then by window (the sort is stable; windows ran oldest first).
    reports.sort_by_key(|r| (order.iter().position(|n| *n == r.plugin), r.from));
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn long_ranges_are_cut_into_bounded_windows() {
        let w = split_window((d("2016-01-01"), d("2025-12-31")));
        assert_eq!(w.len(), 40);
        assert_eq!(w[0], (d("2016-01-01"), d("2016-04-01")));
        assert!(w.windows(2).all(|p| p[0].1.succ_opt() == Some(p[1].0)));
        assert_eq!(w[39].1, d("2025-12-31"));
        assert!(w.iter().all(|(a, b)| (*b - *a).num_days() < MAX_WINDOW_DAYS as i64));
        assert_eq!(split_window((d("2025-08-01"), d("2025-08-01"))).len(), 1);
    }

    #[test]
    fn lost_days_are_listed_briefly_with_their_reasons() {
        let lost: BTreeMap<NaiveDate, String> =
            (1..=5).map(|i| (d(&format!("2025-08-0{i}")), format!("why {i}"))).collect();
        assert_eq!(
            describe_lost(&lost),
            "5 day(s) not stored, asked for again next run: 2025-08-01 (why 1); 2025-08-02 (why 2); 2025-08-03 (why 3); and 2 more"
        );
        let same: BTreeMap<NaiveDate, String> =
            (1..=5).map(|i| (d(&format!("2025-08-0{i}")), "down".to_string())).collect();
        assert_eq!(
            describe_lost(&same),
            "5 day(s) not stored, asked for again next run: 2025-08-01..2025-08-05 (down)"
        );
        assert_eq!(one_line("a\nb\u{7}c", 300), "abc");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
