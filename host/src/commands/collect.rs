//! `agent-host run` and `run-all`: collection under the run lock, and the
//! run reports they print.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use chrono::Utc;

use super::accounts::adopt;
use super::write_err;
use crate::billing::BillingSink;
use crate::cli::ExecArgs;
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};
use crate::jobfile::Jobs;
use crate::kernel::http::HttpSettings;
use crate::kernel::isolate::OutputLimits;
use crate::kernel::job::Job;
use crate::kernel::loader::Catalog;
use crate::kernel::lock::RunLock;
use crate::kernel::run::{self, lost_spans, span_text, RunOptions, RunReport};
use crate::kernel::status::RunStatus;

/// Settings that shape a run, with their defaults.
fn run_options(
    ctx: &Context,
    exec: &ExecArgs,
    params: BTreeMap<String, String>,
    secret_names: Vec<String>,
    progress: Option<indicatif::MultiProgress>,
) -> Result<RunOptions> {
    if let (Some(f), Some(t)) = (exec.from, exec.to) {
        if f > t {
            return Err(HostError::usage(format!("--from {f} is after --to {t}")));
        }
    }
    let today = ctx.today()?;
    if let Some(t) = exec.to {
        if t >= today {
            return Err(HostError::usage(format!(
                "--to {t} is not a finished UTC day (today is {today})"
            ))
            .with_hint("collect up to yesterday at the latest"));
        }
    }
    if let Some(f) = exec.from {
        if exec.to.is_none() && f >= today {
            return Err(HostError::usage(format!(
                "--from {f} is not a finished UTC day (today is {today})"
            )));
        }
    }
    let s = &ctx.settings;
    let timeout_secs = match exec.timeout {
        Some(t) => t,
        None => s.bounded(
            "AGENT_RUN_TIMEOUT_SECS",
            600,
            run::MAX_RUN_TIMEOUT_SECS,
            "a number of seconds",
        )?,
    };
    let exe = std::env::current_exe()
        .map_err(|e| HostError::config(format!("cannot find the agent-host executable: {e}")))?;
    let http = HttpSettings::from_settings(s)?;
    let defaults = OutputLimits::default();
    let limits = OutputLimits {
        record_bytes: s.parsed(
            "AGENT_MAX_RECORD_BYTES",
            defaults.record_bytes,
            "a number of bytes",
        )?,
        log_lines: s.parsed("AGENT_MAX_LOG_LINES", defaults.log_lines, "a number of lines")?,
        log_line_bytes: s.parsed(
            "AGENT_MAX_LOG_LINE_BYTES",
            defaults.log_line_bytes,
            "a number of bytes",
        )?,
        log_bytes: s.parsed("AGENT_MAX_LOG_BYTES", defaults.log_bytes, "a number of bytes")?,
    };
    Ok(RunOptions {
        from: exec.from,
        to: exec.to,
        params,
        exe,
        timeout: Duration::from_secs(timeout_secs),
        timeout_given: exec.timeout.is_some(),
        memory_bytes: ctx.worker_memory()?,
        limits,
        secret_names,
        trailing_days: s.bounded("AGENT_TRAILING_DAYS", 3, 3650, "a number of days")?,
        today,
        http,
        jobs: s.bounded("AGENT_JOBS", 2, 64, "a number of parallel runs")? as usize,
        progress,
        protected: ctx.protected_paths(),
        trigger: None,
        preset_ids: Default::default(),
        bars: Default::default(),
    })
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub enum What<'a> {
    /// One plugin, with the host's settings.
    Plugin(&'a str),
    /// One job of `agent-host.toml`, enabled or not.
    Job(&'a str),
    /// Every enabled job (every plugin, without `agent-host.toml`).
    All,
}

/// `run` and `run-all`: collect under the run lock.
pub fn collect(
    ctx: &Context,
    what: What<'_>,
    params: BTreeMap<String, String>,
    exec: &ExecArgs,
) -> Result<u8> {
    let _lock = RunLock::acquire(&ctx.home.lock_path())?;
    let reports = collect_locked(ctx, what, params, exec, !exec.json)?;
    if exec.json {
        print_json(&reports)?;
    }
    let no_key = |r: &RunReport| {
        r.status == RunStatus::Skipped && r.error.as_deref() != Some(crate::kernel::run::TAKEN)
    };
    if !reports.is_empty() && reports.iter().all(no_key) {
        eprintln!(
            "hint: nothing was collected: no provider key is set. Put the keys named above in {} \
             (then `chmod 600` it), or try `scripts/demo.sh` to see agent-host on simulated data",
            ctx.settings.env_file().display()
        );
    }
    Ok(if reports.iter().all(RunReport::succeeded) { ExitCode::OK } else { ExitCode::RUN_FAILED })
}

/// Progress bars, on a terminal only (never in --json output or a log).
fn progress_bars(json: bool) -> Option<indicatif::MultiProgress> {
    use std::io::IsTerminal;
    (!json && std::io::stderr().is_terminal()).then(indicatif::MultiProgress::new)
}

/// Collection, for a caller that holds the run lock. With `stream`, each
/// run's line prints as it finishes (above the progress bars, on a
/// terminal); otherwise the caller prints the reports.
pub(crate) fn collect_locked(
    ctx: &Context,
    what: What<'_>,
    params: BTreeMap<String, String>,
    exec: &ExecArgs,
    stream: bool,
) -> Result<Vec<RunReport>> {
    let progress = progress_bars(!stream);
    let mut out = std::io::stdout().lock();
    let mut failed_print = None;
    let mut on_done = |r: &RunReport| {
        if stream && failed_print.is_none() {
            let mut print = || print_report(&mut out, r).err();
            failed_print = match &progress {
                Some(mp) => mp.suspend(print),
                None => print(),
            };
        }
    };
    let reports = run_collection(ctx, what, params, exec, progress.clone(), &mut on_done)?;
    match failed_print {
        Some(e) => Err(e),
        None => Ok(reports),
    }
}

fn run_collection(
    ctx: &Context,
    what: What<'_>,
    params: BTreeMap<String, String>,
    exec: &ExecArgs,
    progress: Option<indicatif::MultiProgress>,
    on_done: &mut dyn FnMut(&RunReport),
) -> Result<Vec<RunReport>> {
    let catalog = ctx.catalog()?;
    let mut store = ctx.store()?;
    let jobs = crate::jobfile::load(ctx, &catalog)?;
    let mut secret_names = catalog.declared_secrets();
    secret_names.extend(jobs.secret_variables.iter().cloned());
    let opts = run_options(ctx, exec, params, secret_names, progress)?;
    let now = Utc::now().to_rfc3339();
    let interrupted = store.mark_interrupted(&now)?;
    if interrupted > 0 {
        tracing::warn!("{interrupted} earlier run(s) were interrupted; marked failed (nothing of them was stored)");
    }
    let sink = BillingSink;
    match what {
        What::Plugin(name) => {
            let job = plugin_alone(ctx, &catalog, &jobs, name)?;
            adopt(&mut store, &[&job])?;
            Ok(run::run_plugin(&mut store, &job, &sink, &opts, on_done)?)
        }
        What::Job(name) => {
            let job = jobs.jobs.iter().find(|j| j.name == name).ok_or_else(|| {
                let known: Vec<&str> = jobs.jobs.iter().map(|j| j.name.as_str()).collect();
                HostError::usage(format!("no job named {name:?}"))
                    .with_hint(format!("jobs: {}", known.join(", ")))
            })?;
            adopt(&mut store, &[job])?;
            Ok(run::run_plugin(&mut store, job, &sink, &opts, on_done)?)
        }
        What::All => {
            report_rejected(&catalog);
            if catalog.plugins.is_empty() {
                return Err(HostError::config(format!(
                    "no plugin could be loaded from {}",
                    ctx.plugins_dir.display()
                ))
                .with_hint("run `agent-host plugins list` to see why, or `scripts/install.sh` to install them"));
            }
            if jobs.file.is_some() {
                report_unnamed(&catalog, &jobs);
            }
            let jobs: Vec<Job> = jobs.jobs.into_iter().filter(|j| j.enabled).collect();
            if jobs.is_empty() {
                return Err(HostError::config(format!(
                    "{} declares no enabled job: nothing would be collected",
                    crate::jobfile::FILE
                ))
                .with_hint("add a [[job]], or remove the file to run every plugin once"));
            }
            adopt(&mut store, &jobs.iter().collect::<Vec<_>>())?;
            Ok(run::run_many(&mut store, &jobs, &sink, &opts, on_done)?)
        }
    }
}

/// The jobs of a webhook trigger, for `serve`, which holds the run lock:
/// each job's first run takes its id from `ids` (the ids the trigger
/// answered with) and every run records the trigger.
pub(crate) fn collect_for_trigger(
    ctx: &Context,
    trigger: &str,
    job_names: &[String],
    ids: BTreeMap<String, String>,
) -> Result<Vec<RunReport>> {
    let catalog = ctx.catalog()?;
    let mut store = ctx.store()?;
    let jobs = crate::jobfile::load(ctx, &catalog)?;
    let mut secret_names = catalog.declared_secrets();
    secret_names.extend(jobs.secret_variables.iter().cloned());
    let exec = ExecArgs { from: None, to: None, timeout: None, json: true };
    let mut opts = run_options(ctx, &exec, BTreeMap::new(), secret_names, None)?;
    opts.trigger = Some(trigger.to_string());
    opts.preset_ids = std::sync::Arc::new(std::sync::Mutex::new(ids));
    let interrupted = store.mark_interrupted(&Utc::now().to_rfc3339())?;
    if interrupted > 0 {
        tracing::warn!("{interrupted} earlier run(s) were interrupted; marked failed");
    }
    let chosen: Vec<Job> = jobs.jobs.into_iter().filter(|j| job_names.contains(&j.name)).collect();
    adopt(&mut store, &chosen.iter().collect::<Vec<_>>())?;
    Ok(run::run_many(&mut store, &chosen, &BillingSink, &opts, &mut |_| {})?)
}

/// `name` as a job of its own with the host's settings; refused when
/// `agent-host.toml` declares jobs for it (a plain run would write their
/// rows).
fn plugin_alone(ctx: &Context, catalog: &Catalog, jobs: &Jobs, name: &str) -> Result<Job> {
    let plugin = catalog.get(name)?;
    if jobs.file.is_some() {
        let declared: Vec<&str> = jobs
            .jobs
            .iter()
            .filter(|j| j.plugin.manifest.name == name)
            .map(|j| j.name.as_str())
            .collect();
        if let Some(first) = declared.first() {
            return Err(HostError::usage(format!(
                "{name} runs as job(s) {} of {}",
                declared.join(", "),
                crate::jobfile::FILE
            ))
            .with_hint(format!("run one with `agent-host run --job {first}`")));
        }
    }
    Ok(Job::of(plugin, &ctx.settings))
}

/// With `agent-host.toml`, a plugin no job names is not run: said on every
/// `run-all`, so adding the file never stops a collector silently.
fn report_unnamed(catalog: &Catalog, jobs: &Jobs) {
    let unnamed = unnamed_plugins(catalog, jobs);
    if !unnamed.is_empty() {
        tracing::warn!(
            "{} names no job for {}: not run (add a [[job]] for each, or run one with `agent-host run --plugin NAME`)",
            crate::jobfile::FILE,
            unnamed.join(", ")
        );
    }
}

/// The loaded plugins no job of the file runs.
pub(crate) fn unnamed_plugins(catalog: &Catalog, jobs: &Jobs) -> Vec<String> {
    catalog
        .plugins
        .iter()
        .map(|p| p.manifest.name.clone())
        .filter(|name| !jobs.jobs.iter().any(|j| &j.plugin.manifest.name == name))
        .collect()
}

fn report_rejected(catalog: &Catalog) {
    for r in &catalog.rejected {
        tracing::warn!("skipped {}: {}", r.path.display(), r.reason);
    }
}

/// Every run's result as one JSON document (the lines stream as runs end).
pub(crate) fn print_json(reports: &[RunReport]) -> Result<()> {
    let doc = serde_json::to_string_pretty(reports).unwrap_or_default();
    writeln!(std::io::stdout().lock(), "{doc}").map_err(write_err)
}

/// One run's result line (and its reason, if any).
pub(crate) fn print_report(out: &mut dyn Write, r: &RunReport) -> Result<()> {
    let window = match (r.from, r.to) {
        (Some(f), Some(t)) => format!("{f}..{t}"),
        _ => "-".into(),
    };
    write!(
        out,
        "{:<24} {:<8} {:<22} {} records, {} written, {} changed, {} ms",
        r.plugin,
        r.status,
        window,
        r.records_received,
        r.records_written,
        r.records_changed,
        r.duration_ms
    )
    .map_err(write_err)?;
    match &r.error {
        Some(e) if r.status == RunStatus::Skipped => writeln!(out, "\n  why: {e}"),
        Some(e) => writeln!(out, "\n  error: {e}"),
        None => writeln!(out),
    }
    .map_err(write_err)?;
    const SHOWN: usize = 10;
    // The error names the first spans; more than one gets a line each.
    let spans = lost_spans(&r.lost_days);
    if spans.len() > 1 {
        for (from, to, why) in spans.iter().take(SHOWN) {
            writeln!(out, "  not stored: {}: {why}", span_text(*from, *to)).map_err(write_err)?;
        }
        if spans.len() > SHOWN {
            let more = spans.len() - SHOWN;
            writeln!(out, "  not stored: {more} more span(s) of days; see `agent-host runs`")
                .map_err(write_err)?;
        }
    }
    for note in &r.notes {
        writeln!(out, "  note: {note}").map_err(write_err)?;
    }
    out.flush().map_err(write_err)
}
