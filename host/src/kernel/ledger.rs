//! What the kernel asks of a store, defined here and implemented by the
//! store on each engine: the run ledger (runs, their logs and the days each
//! job's history should hold), day coverage, plugin state, generic records
//! and job claims. The kernel's run code is written against [`Ledger`]; it
//! names no store type and no engine, and a store is anything that keeps
//! these promises.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::store::StoreError;

/// A `Result` of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The kernel's persistence: a run is begun (committed at once, so a crash
/// leaves a visible `running` row and its days missing), executed without
/// the store, then committed in one transaction together with the
/// application's rows ([`Ledger::begin_commit`] to [`Ledger::end_commit`]).
pub trait Ledger {
    /// Records that a run started, and the days it asks for in the job's
    /// ledger, committed at once.
    fn begin_run(
        &mut self,
        id: &str,
        plugin: &str,
        started_at: &str,
        window: Option<(NaiveDate, NaiveDate)>,
        plugin_sha256: Option<&str>,
    ) -> Result<()>;

    /// Notes which webhook trigger started a run.
    fn note_trigger(&mut self, id: &str, trigger: &str) -> Result<()>;

    /// Ends a run as failed, with its logs, when its own commit could not
    /// be made: its data is gone, its reason and logs are kept.
    fn fail_run(
        &mut self,
        id: &str,
        finished_at: &str,
        end: &RunEnd<'_>,
        logs: &[RunLog],
    ) -> Result<()>;

    /// The days of `plugin` whose data is complete.
    fn complete_days(&self, plugin: &str) -> Result<BTreeSet<NaiveDate>>;

    /// The days of `plugin` missing before `today`, from the first day any
    /// of its runs asked for, leaving out days failed `max_attempts` times.
    fn missing_days(
        &self,
        plugin: &str,
        max_attempts: u32,
        today: NaiveDate,
    ) -> Result<BTreeSet<NaiveDate>>;

    /// What `plugin` asked to keep at the end of its last stored run (on
    /// this machine).
    fn plugin_state(&self, plugin: &str) -> Result<Option<String>>;

    /// Takes job `name` for this process: `false` when another machine
    /// sharing the store is collecting it now.
    fn try_claim_job(&self, name: &str) -> Result<bool>;

    /// Gives job `name` back (also given back when the process ends).
    fn release_job(&self, name: &str) -> Result<()>;

    /// Starts the write transaction a run's commit happens in; every write
    /// below belongs to it until [`Ledger::end_commit`] or
    /// [`Ledger::abandon_commit`].
    fn begin_commit(&mut self) -> Result<()>;

    /// Commits everything written since [`Ledger::begin_commit`] at once;
    /// a commit that fails keeps nothing.
    fn end_commit(&mut self) -> Result<()>;

    /// Keeps nothing written since [`Ledger::begin_commit`].
    fn abandon_commit(&mut self);

    /// Writes how a run ended.
    fn finish_run(&self, id: &str, finished_at: &str, end: &RunEnd<'_>) -> Result<()>;

    /// Stores a run's log lines.
    fn insert_run_logs(&self, run_id: &str, logs: &[RunLog]) -> Result<()>;

    /// Marks `days` of `plugin` complete.
    fn mark_complete(
        &self,
        plugin: &str,
        days: &[NaiveDate],
        run_id: &str,
        now: &str,
    ) -> Result<()>;

    /// Records why `days` of `plugin` were not completed by this run.
    fn mark_missing(
        &self,
        plugin: &str,
        days: &[(NaiveDate, Option<&str>)],
        run_id: &str,
    ) -> Result<()>;

    /// Records `days` of `plugin` the source can never return, with why.
    fn mark_unavailable(
        &self,
        plugin: &str,
        days: &[(NaiveDate, &str)],
        run_id: &str,
    ) -> Result<()>;

    /// Keeps what `plugin` asked to keep for its next run.
    fn save_plugin_state(&self, plugin: &str, state: &str, run_id: &str, now: &str) -> Result<()>;

    /// How many generic records `plugin` keeps, and their bytes.
    fn records_held(&self, plugin: &str) -> Result<(u64, u64)>;

    /// Stores generic records by (plugin, kind, key): how many were written.
    fn upsert_records(
        &self,
        plugin: &str,
        run_id: &str,
        now: &str,
        records: &[GenericRecord],
    ) -> Result<usize>;
}

/// The ledger's reads for reports and views: runs, coverage and missing
/// days, and generic records.
pub trait LedgerReads {
    /// The newest `limit` runs, newest first.
    fn list_runs(&self, limit: usize) -> Result<Vec<RunRow>>;

    /// The newest finished run of each plugin, by plugin name.
    fn last_runs(&self) -> Result<Vec<RunRow>>;

    /// Per plugin, how many days between `from` and `to` are complete.
    fn coverage_counts(&self, from: NaiveDate, to: NaiveDate) -> Result<BTreeMap<String, i64>>;

    /// Every job's missing days between `from` and `to` (never today or
    /// later), with why each is missing, by job and day.
    fn missing_in(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<MissingDay>>;

    /// When each plugin's newest successful run started, by plugin.
    fn last_successes(&self) -> Result<BTreeMap<String, String>>;

    /// The newest generic records of `kind`, whichever plugin sent them.
    fn records_of_kind(&self, kind: &str, limit: usize) -> Result<Vec<StoredRecord>>;
}

/// A run as the ledger keeps it in `runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    /// Run id (a UUID).
    pub id: String,
    /// The plugin's manifest name.
    pub plugin_name: String,
    /// `running`, `success`, `partial` or `failed`.
    pub status: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC; `None` while running.
    pub finished_at: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Records the plugin returned.
    pub records_received: i64,
    /// Rows written.
    pub records_written: i64,
    /// Stored rows whose value changed.
    pub records_changed: i64,
    /// First day asked for, for daily plugins.
    pub window_from: Option<String>,
    /// Last day asked for.
    pub window_to: Option<String>,
    /// The sha256 of the plugin file that ran (none for a skipped run, or
    /// runs stored before it was recorded).
    pub plugin_sha256: Option<String>,
    /// Wall time.
    pub duration_ms: Option<i64>,
    /// The webhook trigger that started it (`None`: the command line).
    pub trigger: Option<String>,
}

/// A day of a job's history that is not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingDay {
    /// The plugin (the job).
    pub plugin: String,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// Why: the reason the last run that tried gave, `interrupted run
    /// 1a2b3c4d`, or `not collected yet`.
    pub reason: Option<String>,
    /// How many finished runs tried and failed (an interrupted run is not
    /// counted: a crash never makes a day be given up on).
    pub attempts: i64,
}

/// How a run ended, written in the same transaction as its data.
#[derive(Debug, Clone)]
pub struct RunEnd<'a> {
    /// `success`, `partial` or `failed`.
    pub status: &'a str,
    /// Why, if not a success.
    pub error: Option<&'a str>,
    /// Records the plugin returned.
    pub records_received: usize,
    /// Rows written.
    pub records_written: usize,
    /// Rows whose stored value changed.
    pub records_changed: usize,
    /// Wall time.
    pub duration_ms: u64,
}

/// One log line of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLog {
    /// RFC 3339, UTC.
    pub at: String,
    /// `error`, `warn`, `info`, `debug`.
    pub level: &'static str,
    /// The line, secrets already redacted.
    pub message: String,
}

/// A record no application claims, kept as the plugin sent it.
#[derive(Debug, Clone)]
pub struct GenericRecord {
    /// Its kind.
    pub kind: String,
    /// Its natural key; `None` keeps every copy.
    pub key: Option<String>,
    /// JSON payload.
    pub payload: String,
}

/// A stored generic record, as `records` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRecord {
    /// The plugin (or job) that sent it.
    pub plugin: String,
    /// Its kind.
    pub kind: String,
    /// Its natural key.
    pub key: Option<String>,
    /// When it was last written (RFC 3339).
    pub updated_at: String,
    /// The run that last wrote it.
    pub run_id: String,
    /// JSON payload, as sent.
    pub payload: String,
}
