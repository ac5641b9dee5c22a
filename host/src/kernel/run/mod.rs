//! The life of a run: plan its days and record its start (`prepare`),
//! execute it in a sandboxed worker, HTTP and redaction done here by the
//! broker (`execute`), judge what it returned (`verdict`), and check its
//! records through the application's sink and commit records, status, logs
//! and coverage in one transaction (`commit`). A run whose commit fails is
//! recorded as failed on its own; the others go on. This module holds the
//! limits, the options and report, and the loops over jobs and windows.
//!
//! The database is touched only on the calling thread; executions may overlap.

mod commit;
mod execute;
mod prepare;
mod verdict;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, SecondsFormat, Utc};
use serde::Serialize;

use self::commit::{commit, not_run};
use self::execute::{execute, Executed};
use self::prepare::{job_params, prepare, prepare_all};
pub use self::prepare::{missing_secret, resolve_params};
pub use self::verdict::{lost_spans, span_text};
use super::capabilities::JobBar;
use super::error::{KernelError, Result};
use super::http::HttpSettings;
use super::isolate::OutputLimits;
use super::job::Job;
use super::ledger::Ledger;
use super::sink::RecordSink;
use super::status::RunStatus;

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
    /// Each job's progress bar, kept across its chained runs while it
    /// counts the bytes of an import.
    pub bars: Arc<Mutex<BTreeMap<String, Arc<JobBar>>>>,
    /// Run ids chosen before the runs start (a trigger answers with them),
    /// by job name: each is taken by that job's first run.
    pub preset_ids: std::sync::Arc<std::sync::Mutex<BTreeMap<String, String>>>,
}

impl RunOptions {
    /// Starts a run of job `name`: its id (preset or new), recorded as
    /// running, with its trigger.
    fn begin<L: Ledger>(
        &self,
        store: &mut L,
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

    /// Job `name`'s progress bar: the one its earlier chained run left, or
    /// a new one counting requests.
    fn bar_for(&self, mp: &indicatif::MultiProgress, name: &str) -> Arc<JobBar> {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        let bar = bars.entry(name.to_string()).or_insert_with(|| {
            let style = indicatif::ProgressStyle::with_template(
                "{prefix:24} {bar:30} {pos}/{len} requests {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            let bar =
                indicatif::ProgressBar::new(0).with_style(style).with_prefix(name.to_string());
            Arc::new(JobBar::new(mp.add(bar)))
        });
        Arc::clone(bar)
    }

    /// Takes job `name`'s bar off the terminal.
    fn clear_bar(&self, name: &str, job: &JobBar) {
        job.bar.finish_and_clear();
        self.bars.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    /// Takes every bar left (of imports now done) off the terminal.
    fn clear_bars(&self) {
        let bars = std::mem::take(&mut *self.bars.lock().unwrap_or_else(|p| p.into_inner()));
        bars.values().for_each(|b| b.bar.finish_and_clear());
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

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Runs one job from start to commit: one run per window of days.
pub fn run_plugin<L: Ledger, S: RecordSink<L>>(
    store: &mut L,
    spec: &Job,
    sink: &S,
    opts: &RunOptions,
    on_done: &mut dyn FnMut(&RunReport),
) -> Result<Vec<RunReport>> {
    let params = job_params(spec, &opts.params)?;
    if let Some(why) = missing_secret(&spec.plugin, &spec.settings) {
        return Err(KernelError::CannotRun { job: spec.name.clone(), why });
    }
    if !store.try_claim_job(&spec.name)? {
        let report = not_run(store, opts, spec, RunStatus::Skipped, TAKEN)?;
        on_done(&report);
        return Ok(vec![report]);
    }
    let mut reports = Vec::new();
    let spec = Arc::new(spec.clone());
    let ran = (|| -> Result<()> {
        for prepared in prepare_all(store, &spec, opts, &params)? {
            let executed = execute(prepared, opts);
            let report = commit(store, sink, opts.today, executed);
            on_done(&report);
            reports.push(report.clone());
            reports.extend(chain(store, &spec, sink, opts, report, on_done)?);
        }
        Ok(())
    })();
    opts.clear_bars();
    store.release_job(&spec.name)?;
    ran.map(|()| reports)
}

/// Why a job is skipped: a machine sharing the store holds it. Its windows
/// are computed only once the job is held, so two machines never fetch the
/// same days, and the next run finds whatever the other left missing.
pub const TAKEN: &str = "another machine sharing the store is collecting this job now";

/// Runs several jobs: executions overlap (up to `opts.jobs` at once),
/// commits happen one by one on this thread as runs finish, and `on_done`
/// hears of each run as it is committed.
pub fn run_many<L: Ledger, S: RecordSink<L>>(
    store: &mut L,
    specs: &[Job],
    sink: &S,
    opts: &RunOptions,
    on_done: &mut dyn FnMut(&RunReport),
) -> Result<Vec<RunReport>> {
    let mut prepared = Vec::new();
    let mut skipped = Vec::new();
    let mut claimed = Vec::new();
    for spec in specs {
        if let Some(why) = missing_secret(&spec.plugin, &spec.settings) {
            let report = not_run(store, opts, spec, RunStatus::Skipped, &why)?;
            on_done(&report);
            skipped.push(report);
            continue;
        }
        if !store.try_claim_job(&spec.name)? {
            let report = not_run(store, opts, spec, RunStatus::Skipped, TAKEN)?;
            on_done(&report);
            skipped.push(report);
            continue;
        }
        claimed.push(spec.name.as_str());
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
    opts.clear_bars();
    for name in claimed {
        store.release_job(name)?;
    }
    let order: Vec<&str> = specs.iter().map(|j| j.name.as_str()).collect();
    // By plugin, then by window (the sort is stable; windows ran oldest first).
    reports.sort_by_key(|r| (order.iter().position(|n| *n == r.plugin), r.from));
    Ok(reports)
}

/// Runs `plugin` again, one run after another, while its last run says it
/// has more to do (each run reads the state the previous one stored).
fn chain<L: Ledger, S: RecordSink<L>>(
    store: &mut L,
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
