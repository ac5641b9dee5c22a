//! Committing a run: its records checked through the application's
//! [`RecordSink`], then its rows, status, logs, state and coverage written
//! in one transaction; a commit that fails fails that run alone. Also the
//! record of a job that was not run at all.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::execute::Executed;
use super::verdict::{completed_days, judge, one_line, reported_gaps, settle, unavailable_note};
use super::{now_rfc3339, RunOptions, RunReport};
use crate::kernel::error::Result;
use crate::kernel::job::Job;
use crate::kernel::ledger::{self, Ledger, RunEnd, RunLog};
use crate::kernel::plan::days;
use crate::kernel::protocol::WireRecord;
use crate::kernel::sink::{RecordCheck, RecordSink, SinkInput, WriteStats};
use crate::kernel::status::RunStatus;

/// Checks the records through the sink: the batch to write, with the days
/// it refused taken out of `complete` and added to `lost`, or why the whole
/// run is refused.
pub(super) fn check<S: RecordCheck>(
    sink: &S,
    input: &SinkInput<'_>,
    records: Vec<WireRecord>,
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
pub(super) fn commit<L: Ledger, S: RecordSink<L>>(
    store: &mut L,
    sink: &S,
    today: NaiveDate,
    ex: Executed,
) -> RunReport {
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
    (status, error) = settle(status, error, &lost);
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
        Err(e) => record_failure(store, &mut report, &e, &logs),
    }
    log_outcome(&report);
    report
}

/// A commit that failed (a full disk): nothing of the run's data was kept,
/// and the run itself says so.
fn record_failure<L: Ledger>(
    store: &mut L,
    report: &mut RunReport,
    e: &crate::store::StoreError,
    logs: &[RunLog],
) {
    report.status = RunStatus::Failed;
    report.error = Some(format!("could not store the run's results: {e}"));
    report.lost_days.clear();
    report.more = false;
    let end = run_end(report);
    if let Err(e) = store.fail_run(&report.run_id, &now_rfc3339(), &end, logs) {
        // The next run marks it interrupted; this one is reported failed.
        tracing::error!(plugin = %report.plugin, "cannot record the failure either: {e}");
    }
}

/// Writes the run's rows, end, logs and coverage in one transaction.
pub(super) fn write_run<L: Ledger, S: RecordSink<L>>(
    store: &mut L,
    sink: &S,
    input: &SinkInput<'_>,
    batch: Option<S::Batch>,
    keep: (Option<&str>, Option<(u64, u64)>),
    report: &RunReport,
    logs: &[RunLog],
) -> ledger::Result<WriteStats> {
    let tx = Open::begin(store)?;
    let stats = write_all(&*tx.store, sink, input, batch, keep, report, logs)?;
    tx.commit()?;
    Ok(stats)
}

/// A run's transaction on the store: committed by [`Open::commit`], and
/// abandoned when dropped otherwise (an error, or a panic unwinding out of
/// the sink), so nothing of a run that did not commit is kept.
struct Open<'s, L: Ledger> {
    store: &'s mut L,
    open: bool,
}

impl<'s, L: Ledger> Open<'s, L> {
    fn begin(store: &'s mut L) -> ledger::Result<Self> {
        store.begin_commit()?;
        Ok(Open { store, open: true })
    }

    fn commit(mut self) -> ledger::Result<()> {
        // A commit that fails keeps nothing by itself: no abandon after it.
        self.open = false;
        self.store.end_commit()
    }
}

impl<L: Ledger> Drop for Open<'_, L> {
    fn drop(&mut self) {
        if self.open {
            self.store.abandon_commit();
        }
    }
}

/// Every write of [`write_run`], inside its transaction.
fn write_all<L: Ledger, S: RecordSink<L>>(
    store: &L,
    sink: &S,
    input: &SinkInput<'_>,
    batch: Option<S::Batch>,
    (state, quota): (Option<&str>, Option<(u64, u64)>),
    report: &RunReport,
    logs: &[RunLog],
) -> ledger::Result<WriteStats> {
    let stats = match batch {
        Some(b) => sink.write(store, input, b)?,
        None => Default::default(),
    };
    if let Some((max_records, max_bytes)) = quota {
        let (held, bytes) = store.records_held(input.plugin)?;
        if held > max_records || bytes > max_bytes {
            return Err(crate::store::StoreError::Invalid(format!(
                "{} would keep {held} records of {bytes} bytes, past its grant's quota of \
                 {max_records} records and {max_bytes} bytes; nothing of this run was stored \
                 (`agent-host records prune --plugin {}` frees room)",
                input.plugin, input.plugin
            )));
        }
    }
    if let Some(state) = state {
        store.save_plugin_state(input.plugin, state, input.run_id, input.collected_at)?;
    }
    let end = RunEnd {
        records_written: stats.written,
        records_changed: stats.changed,
        ..run_end(report)
    };
    store.finish_run(input.run_id, &now_rfc3339(), &end)?;
    store.insert_run_logs(input.run_id, logs)?;
    let marked: &[NaiveDate] =
        if report.status == RunStatus::Failed { &[] } else { input.complete_days };
    store.mark_complete(input.plugin, marked, input.run_id, input.collected_at)?;
    if let Some((from, to)) = input.window {
        let lost: Vec<(NaiveDate, Option<&str>)> = days(from, to)
            .filter(|d| !marked.contains(d) && !report.unavailable_days.contains_key(d))
            .map(|d| (d, report.lost_days.get(&d).or(report.error.as_ref()).map(String::as_str)))
            .collect();
        store.mark_missing(input.plugin, &lost, input.run_id)?;
        let unavailable: Vec<(NaiveDate, &str)> =
            report.unavailable_days.iter().map(|(d, why)| (*d, why.as_str())).collect();
        store.mark_unavailable(input.plugin, &unavailable, input.run_id)?;
    }
    Ok(stats)
}

pub(super) fn run_end(r: &RunReport) -> RunEnd<'_> {
    RunEnd {
        status: r.status.as_str(),
        error: r.error.as_deref(),
        records_received: r.records_received,
        records_written: r.records_written,
        records_changed: r.records_changed,
        duration_ms: r.duration_ms,
    }
}

pub(super) fn log_outcome(r: &RunReport) {
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
pub(super) fn not_run<L: Ledger>(
    store: &mut L,
    opts: &RunOptions,
    spec: &Job,
    status: RunStatus,
    why: &str,
) -> Result<RunReport> {
    let (name, plugin) = (&spec.name, &spec.plugin);
    // The result line says why; the log keeps it too.
    tracing::info!(plugin = %name, "{status}: {why}");
    let run_id = opts.begin(store, name, None, &plugin.sha256)?;
    let end = RunEnd {
        status: status.as_str(),
        error: Some(why),
        records_received: 0,
        records_written: 0,
        records_changed: 0,
        duration_ms: 0,
    };
    store.finish_run(&run_id, &now_rfc3339(), &end)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::ledger::LedgerReads;
    use crate::kernel::sink::Checked;
    use crate::store::Store;

    /// A sink whose write panics half way through the run's transaction.
    struct Panics;

    impl RecordCheck for Panics {
        type Batch = ();
        fn prepare(
            &self,
            _: &SinkInput<'_>,
            _: Vec<WireRecord>,
        ) -> std::result::Result<Checked<()>, String> {
            Ok(Checked { batch: (), rejected: BTreeMap::new() })
        }
    }

    impl RecordSink<Store> for Panics {
        fn write(
            &self,
            store: &Store,
            input: &SinkInput<'_>,
            (): (),
        ) -> ledger::Result<WriteStats> {
            store.save_plugin_state(input.plugin, "{}", input.run_id, input.collected_at)?;
            panic!("a sink that breaks");
        }
    }

    /// A panic inside the commit (a sink's bug) keeps nothing of the run
    /// and leaves the store ready for the next one.
    #[test]
    fn a_panic_in_the_commit_keeps_nothing_and_the_store_goes_on() {
        let mut store = Store::for_tests();
        let day: NaiveDate = "2025-01-01".parse().unwrap();
        store.begin_run("r1", "p", "t", Some((day, day)), None).unwrap();
        let input = SinkInput {
            plugin: "p",
            run_id: "r1",
            window: Some((day, day)),
            complete_days: &[day],
            metadata: "{}",
            collected_at: "t",
            claims: &[],
            observes: &[],
            account: None,
        };
        let report = RunReport {
            run_id: "r1".into(),
            plugin: "p".into(),
            status: RunStatus::Success,
            error: None,
            from: Some(day),
            to: Some(day),
            records_received: 0,
            records_written: 0,
            records_changed: 0,
            duration_ms: 0,
            lost_days: BTreeMap::new(),
            unavailable_days: BTreeMap::new(),
            notes: Vec::new(),
            more: false,
        };
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_run(&mut store, &Panics, &input, Some(()), (None, None), &report, &[])
        }));
        assert!(panicked.is_err());
        assert_eq!(store.plugin_state("p").unwrap(), None, "the state written before the panic");
        assert!(store.complete_days("p").unwrap().is_empty());
        // No transaction is left open: the next run commits.
        let stats = write_run(&mut store, &Nothing, &input, Some(()), (None, None), &report, &[]);
        assert_eq!(stats.unwrap(), WriteStats::default());
        assert_eq!(store.complete_days("p").unwrap().into_iter().collect::<Vec<_>>(), vec![day]);
        assert_eq!(store.list_runs(1).unwrap()[0].status, "success");
    }

    /// A sink that writes nothing.
    struct Nothing;

    impl RecordCheck for Nothing {
        type Batch = ();
        fn prepare(
            &self,
            _: &SinkInput<'_>,
            _: Vec<WireRecord>,
        ) -> std::result::Result<Checked<()>, String> {
            Ok(Checked { batch: (), rejected: BTreeMap::new() })
        }
    }

    impl RecordSink<Store> for Nothing {
        fn write(&self, _: &Store, _: &SinkInput<'_>, (): ()) -> ledger::Result<WriteStats> {
            Ok(WriteStats::default())
        }
    }
}
