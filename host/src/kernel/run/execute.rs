//! Executing a prepared run in a sandboxed worker, with the [`Broker`]
//! doing its HTTP and its log lines going to tracing and to the run's
//! logs. Never touches the store, so executions may overlap.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use plugin_api::LogLevel;

use super::prepare::Prepared;
use super::{now_rfc3339, RunOptions};
use crate::kernel::capabilities::{Broker, LogFn};
use crate::kernel::http::HttpClient;
use crate::kernel::isolate::run_worker;
use crate::kernel::ledger::RunLog;
use crate::kernel::protocol::{Job as WorkerJob, WireResult};

/// A run that has executed and awaits its commit.
pub(super) struct Executed {
    pub(super) prepared: Prepared,
    pub(super) result: WireResult,
    pub(super) logs: Vec<RunLog>,
}

/// Runs the plugin in a worker; never touches the store.
pub(super) fn execute(mut prepared: Prepared, opts: &RunOptions) -> Executed {
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
    let bar = opts.progress.as_ref().map(|mp| opts.bar_for(mp, &prepared.spec.name));
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
    // A bar of bytes stays for the job's next chained run; the loops over
    // jobs clear it once the job is done.
    if let Some(job) = bar.filter(|b| !b.counts_bytes()) {
        opts.clear_bar(&prepared.spec.name, &job);
    }
    let logs = std::mem::take(&mut *logs.lock().unwrap_or_else(|p| p.into_inner()));
    Executed { prepared, result: outcome.into_result(), logs }
}

pub(super) fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::ERROR => "error",
        LogLevel::WARN => "warn",
        LogLevel::DEBUG => "debug",
        _ => "info",
    }
}

/// A plugin's log line into tracing, tagged with plugin and run id.
pub(super) fn emit(plugin: &str, run_id: &str, level: LogLevel, message: &str) {
    match level {
        LogLevel::ERROR => tracing::error!(plugin, run_id, "{message}"),
        LogLevel::WARN => tracing::warn!(plugin, run_id, "{message}"),
        LogLevel::DEBUG => tracing::debug!(plugin, run_id, "{message}"),
        _ => tracing::info!(plugin, run_id, "{message}"),
    }
}
