//! Kernel tables: runs, their log lines, per-plugin day coverage and the
//! ledger of what each job's history should hold, and the generic keyed
//! records of plugins whose kinds no application claims.
//!
//! A day is missing by arithmetic: every day from the first day any run of
//! a job asked for up to yesterday that is neither complete nor one the
//! source can never return. Nothing has to be written for a day to count as
//! missing, so a run killed at any point (SIGKILL, a full disk) costs time,
//! never days.

use std::collections::{BTreeMap, BTreeSet};

use super::postgres;
use super::sql::{args, owned, Db, Row};
use chrono::NaiveDate;

use super::{Result, Store, StoreError, Tx};
use crate::kernel::ledger::{
    GenericRecord, Ledger, LedgerReads, MissingDay, RunEnd, RunLog, RunRow, StoredRecord,
};

/// A run's window, for the causes of missing days.
struct Asked {
    id: String,
    status: String,
    error: Option<String>,
    from: NaiveDate,
    to: NaiveDate,
}

/// A run id as `runs` shows it.
fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Why `day` is missing: what the newest run that asked for it says, or
/// the reason its last finished run recorded.
fn cause(newest: Option<&Asked>, recorded: Option<&Option<String>>) -> String {
    let interrupted = |r: &Asked| {
        r.status == "failed" && r.error.as_deref().is_some_and(|e| e.starts_with("interrupted"))
    };
    match (newest, recorded) {
        (Some(r), _) if r.status == "running" => {
            format!("run {} has not finished", short_id(&r.id))
        }
        (Some(r), _) if interrupted(r) => format!("interrupted run {}", short_id(&r.id)),
        (_, Some(why)) => why.clone().unwrap_or_else(|| "no reason given".into()),
        (Some(r), None) if r.status == "failed" => {
            let why = r.error.as_deref().unwrap_or("no reason given");
            let why: String = why.chars().take(200).collect();
            format!("run {} failed: {why}", short_id(&r.id))
        }
        (Some(r), None) => format!("run {} did not complete it", short_id(&r.id)),
        (None, None) => "not collected yet".into(),
    }
}

const RUN_COLUMNS: &str = "id, plugin_name, status, started_at, finished_at, error, \
     records_received, records_written, records_changed, window_from, window_to, plugin_sha256, \
     duration_ms, trigger";

fn run_from_row(r: &Row<'_>) -> Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        plugin_name: r.get(1)?,
        status: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        error: r.get(5)?,
        records_received: r.get(6)?,
        records_written: r.get(7)?,
        records_changed: r.get(8)?,
        window_from: r.get(9)?,
        window_to: r.get(10)?,
        plugin_sha256: r.get(11)?,
        duration_ms: r.get(12)?,
        trigger: r.get(13)?,
    })
}

impl Store {
    /// The sha256 of every plugin file that has ever run here: the files an
    /// operator ran before grants existed.
    pub fn plugin_files_run(&self) -> Result<std::collections::BTreeSet<String>> {
        self.query_all(
            "read the plugin files that ran",
            "SELECT DISTINCT plugin_sha256 FROM runs WHERE plugin_sha256 IS NOT NULL",
            args![],
            |r| r.get(0),
        )
    }

    /// Marks every `running` row of a host that died as failed. Called
    /// while holding the home's run lock, so in the home's own SQLite file
    /// every such row is a dead host's. In a shared store a row is a dead
    /// host's when nobody holds its job (a live run holds its job's lock
    /// until it ends; the server drops the lock of a host that died).
    pub fn mark_interrupted(&mut self, now: &str) -> Result<usize> {
        const MARK: &str = "UPDATE runs SET status = 'failed', finished_at = ?1,
             error = 'interrupted: the host stopped before the run finished; nothing of it was stored'
             WHERE status = 'running' AND (plugin_name = ?2 OR ?2 IS NULL)";
        if !self.is_shared() {
            return self.db.exec("mark interrupted runs", MARK, args![now, None::<&str>]);
        }
        let running: Vec<String> = self.query_all(
            "read running runs",
            "SELECT DISTINCT plugin_name FROM runs WHERE status = 'running'",
            args![],
            |r| r.get(0),
        )?;
        let mut marked = 0;
        for job in running {
            if self.try_claim_job(&job)? {
                marked += self.db.exec("mark interrupted runs", MARK, args![now, job])?;
                self.release_job(&job)?;
            }
        }
        Ok(marked)
    }

    /// The runs of `plugin` that asked for days between `from` and `to`,
    /// newest first.
    fn asked(&self, plugin: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<Asked>> {
        let rows: Vec<(String, String, Option<String>, String, String)> = self.query_all(
            "read runs",
            "SELECT id, status, error, window_from, window_to FROM runs
             WHERE plugin_name = ?1 AND window_from IS NOT NULL
               AND window_from <= ?3 AND window_to >= ?2
             ORDER BY rowid DESC",
            args![plugin, from.to_string(), to.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        rows.into_iter()
            .map(|(id, status, error, f, t)| {
                Ok(Asked { id, status, error, from: parse_day(&f)?, to: parse_day(&t)? })
            })
            .collect()
    }

    /// The days of `plugin` between `from` and `to` that are neither
    /// complete nor unavailable from the source (nor, with `max_attempts`,
    /// failed that many times).
    fn missing_between(
        &self,
        plugin: &str,
        from: NaiveDate,
        to: NaiveDate,
        max_attempts: Option<u32>,
    ) -> Result<BTreeSet<NaiveDate>> {
        let given_up = match max_attempts {
            Some(n) => format!(
                "UNION ALL SELECT day FROM missing_days WHERE plugin_name = ?1
                 AND day BETWEEN ?2 AND ?3 AND attempts >= {n}"
            ),
            None => String::new(),
        };
        let sql = format!(
            "SELECT day FROM coverage WHERE plugin_name = ?1 AND day BETWEEN ?2 AND ?3
             UNION ALL SELECT day FROM unavailable_days WHERE plugin_name = ?1
               AND day BETWEEN ?2 AND ?3
             {given_up}"
        );
        let have: Vec<String> = self.query_all(
            "read coverage",
            &sql,
            args![plugin, from.to_string(), to.to_string()],
            |r| r.get(0),
        )?;
        let have: BTreeSet<NaiveDate> = have.iter().map(|d| parse_day(d)).collect::<Result<_>>()?;
        Ok(crate::kernel::plan::days(from, to).filter(|d| !have.contains(d)).collect())
    }

    /// Every plugin or job name that ran or stored records here.
    pub fn run_names(&self) -> Result<Vec<String>> {
        let stmt = "SELECT DISTINCT plugin_name FROM runs
                 UNION SELECT DISTINCT plugin_name FROM records ORDER BY 1";
        self.query_all("read run names", stmt, args![], |r| r.get(0))
    }

    /// The generic records of `plugin` (of `kind`, when given), newest
    /// first, at most `limit`.
    pub fn generic_records(
        &self,
        plugin: &str,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        self.query_all(
            "read records",
            "SELECT plugin_name, kind, key, updated_at, run_id, payload FROM records
             WHERE plugin_name = ?1 AND (kind = ?2 OR ?2 IS NULL)
             ORDER BY updated_at DESC, id DESC LIMIT ?3",
            args![plugin, kind, limit as i64],
            stored_record,
        )
    }

    fn days_of(&self, sql: &str, plugin: &str) -> Result<BTreeSet<NaiveDate>> {
        let days: Vec<String> =
            self.query_all("read coverage", sql, args![plugin], |r| r.get(0))?;
        days.iter().map(|d| parse_day(d)).collect()
    }
}

/// The kernel's ledger, on either engine.
impl Ledger for Store {
    /// Records that a run started, and the days it asks for in the job's
    /// ledger (committed at once, so a crash leaves a visible `running` row
    /// that the next run marks as interrupted, and its days missing).
    fn begin_run(
        &mut self,
        id: &str,
        plugin: &str,
        started_at: &str,
        window: Option<(NaiveDate, NaiveDate)>,
        plugin_sha256: Option<&str>,
    ) -> Result<()> {
        let (from, to) = match window {
            Some((f, t)) => (Some(f.to_string()), Some(t.to_string())),
            None => (None, None),
        };
        let tx = self.transaction()?;
        tx.db.exec(
            "record the start of a run",
            "INSERT INTO runs (id, plugin_name, status, started_at, window_from, window_to,
                   plugin_sha256, machine)
                 VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7)",
            args![id, plugin, started_at, from, to, plugin_sha256, tx.machine],
        )?;
        // The ledger learns what the job's history should hold before
        // anything is fetched: a run that never ends still leaves its days
        // missing.
        if let (Some(from), Some(to)) = (from, to) {
            tx.db.exec(
                "record the start of a run",
                "INSERT INTO ledger (plugin_name, first_day, last_day) VALUES (?1, ?2, ?3)
                     ON CONFLICT (plugin_name) DO UPDATE SET
                       first_day = CASE WHEN excluded.first_day < ledger.first_day
                         THEN excluded.first_day ELSE ledger.first_day END,
                       last_day = CASE WHEN excluded.last_day > ledger.last_day
                         THEN excluded.last_day ELSE ledger.last_day END",
                args![plugin, from, to],
            )?;
        }
        tx.commit()
    }

    /// Notes which webhook trigger started a run (right after
    /// [`Store::begin_run`]).
    fn note_trigger(&mut self, id: &str, trigger: &str) -> Result<()> {
        self.db.exec(
            "record the trigger of a run",
            "UPDATE runs SET trigger = ?2 WHERE id = ?1",
            args![id, trigger],
        )?;
        Ok(())
    }

    /// Ends a run as failed, with its logs, when its own commit could not be
    /// made: its data is gone, its reason and logs are kept.
    fn fail_run(
        &mut self,
        id: &str,
        finished_at: &str,
        end: &RunEnd<'_>,
        logs: &[RunLog],
    ) -> Result<()> {
        let tx = self.transaction()?;
        tx.finish_run(id, finished_at, end)?;
        tx.insert_run_logs(id, logs)?;
        tx.commit()
    }

    /// The days of `plugin` whose data is complete.
    fn complete_days(&self, plugin: &str) -> Result<BTreeSet<NaiveDate>> {
        self.days_of("SELECT day FROM coverage WHERE plugin_name = ?1", plugin)
    }

    /// The days of `plugin` missing before `today`: from the first day any
    /// of its runs asked for, those that are not complete, not unavailable
    /// from the source, and not failed `max_attempts` times (the plan gives
    /// up on a day that keeps failing; `--from`/`--to` still ask for it).
    fn missing_days(
        &self,
        plugin: &str,
        max_attempts: u32,
        today: NaiveDate,
    ) -> Result<BTreeSet<NaiveDate>> {
        let first: Option<String> = self.db.row_opt(
            "read the ledger",
            "SELECT first_day FROM ledger WHERE plugin_name = ?1",
            args![plugin],
            |r| r.get(0),
        )?;
        match (first, today.pred_opt()) {
            (Some(first), Some(yesterday)) => {
                self.missing_between(plugin, parse_day(&first)?, yesterday, Some(max_attempts))
            }
            _ => Ok(BTreeSet::new()),
        }
    }

    /// What `plugin` asked to keep at the end of its last stored run on
    /// this machine. A plugin's state describes what it read where it runs
    /// (a log reader's files and offsets), so in a shared store each machine
    /// keeps its own; the state a single-machine store kept (before a
    /// `store migrate`) is this machine's until it saves one.
    fn plugin_state(&self, plugin: &str) -> Result<Option<String>> {
        const READ: &str = "SELECT state FROM plugin_state WHERE plugin_name = ?1";
        let what = "read the plugin's state";
        if self.is_shared() {
            let own = state_key(plugin, &self.machine, true);
            if let Some(s) = self.db.row_opt(what, READ, args![own], |r| r.get(0))? {
                return Ok(Some(s));
            }
        }
        self.db.row_opt(what, READ, args![plugin], |r| r.get(0))
    }

    /// Takes job `name` for this process: `false` when another machine
    /// sharing the store is collecting it now. (An SQLite store is one
    /// home's, and the home's run lock already serializes its runs.)
    fn try_claim_job(&self, name: &str) -> Result<bool> {
        match &self.db {
            Db::Lite(_) => Ok(true),
            Db::Pg(p) => postgres::try_lock_job(&mut p.client.borrow_mut(), name),
        }
    }

    /// Gives job `name` back (also given back when the process ends).
    fn release_job(&self, name: &str) -> Result<()> {
        match &self.db {
            Db::Lite(_) => Ok(()),
            Db::Pg(p) => postgres::unlock_job(&mut p.client.borrow_mut(), name),
        }
    }

    fn begin_commit(&mut self) -> Result<()> {
        self.begin().map(Tx::keep_open)
    }

    fn end_commit(&mut self) -> Result<()> {
        Tx::reopen(&self.db, &self.machine).commit()
    }

    fn abandon_commit(&mut self) {
        drop(Tx::reopen(&self.db, &self.machine));
    }

    fn finish_run(&self, id: &str, finished_at: &str, end: &RunEnd<'_>) -> Result<()> {
        self.within().finish_run(id, finished_at, end)
    }

    fn insert_run_logs(&self, run_id: &str, logs: &[RunLog]) -> Result<()> {
        self.within().insert_run_logs(run_id, logs)
    }

    fn mark_complete(
        &self,
        plugin: &str,
        days: &[NaiveDate],
        run_id: &str,
        now: &str,
    ) -> Result<()> {
        self.within().mark_complete(plugin, days.iter().copied(), run_id, now)
    }

    fn mark_missing(
        &self,
        plugin: &str,
        days: &[(NaiveDate, Option<&str>)],
        run_id: &str,
    ) -> Result<()> {
        self.within().mark_missing(plugin, days.iter().copied(), run_id)
    }

    fn mark_unavailable(
        &self,
        plugin: &str,
        days: &[(NaiveDate, &str)],
        run_id: &str,
    ) -> Result<()> {
        self.within().mark_unavailable(plugin, days.iter().copied(), run_id)
    }

    fn save_plugin_state(&self, plugin: &str, state: &str, run_id: &str, now: &str) -> Result<()> {
        self.within().save_plugin_state(plugin, state, run_id, now)
    }

    fn records_held(&self, plugin: &str) -> Result<(u64, u64)> {
        self.within().records_held(plugin)
    }

    fn upsert_records(
        &self,
        plugin: &str,
        run_id: &str,
        now: &str,
        records: &[GenericRecord],
    ) -> Result<usize> {
        self.within().upsert_records(plugin, run_id, now, records)
    }
}

/// Where a plugin's state is kept: under its name, or, in a shared store,
/// under `name@machine`.
fn state_key(plugin: &str, machine: &str, shared: bool) -> String {
    if shared {
        format!("{plugin}@{machine}")
    } else {
        plugin.to_string()
    }
}

use super::stored_day as parse_day;

impl Tx<'_> {
    /// Writes how a run ended.
    pub fn finish_run(&self, id: &str, finished_at: &str, end: &RunEnd<'_>) -> Result<()> {
        let n = self.db.exec(
            "record the end of a run",
            "UPDATE runs SET status = ?2, finished_at = ?3, error = ?4, records_received = ?5,
                 records_written = ?6, records_changed = ?7, duration_ms = ?8 WHERE id = ?1",
            args![
                id,
                end.status,
                finished_at,
                end.error,
                end.records_received as i64,
                end.records_written as i64,
                end.records_changed as i64,
                end.duration_ms as i64
            ],
        )?;
        if n != 1 {
            return Err(StoreError::Invalid(format!("run {id} is not in the runs table")));
        }
        Ok(())
    }

    /// Stores a run's log lines.
    pub fn insert_run_logs(&self, run_id: &str, logs: &[RunLog]) -> Result<()> {
        let stmt =
            "INSERT INTO run_logs (run_id, seq, at, level, message) VALUES (?1, ?2, ?3, ?4, ?5)";
        for (seq, log) in logs.iter().enumerate() {
            self.db.exec(
                "store run logs",
                stmt,
                args![run_id, seq as i64, log.at, log.level, log.message],
            )?;
        }
        Ok(())
    }

    /// Marks `days` of `plugin` complete.
    pub fn mark_complete(
        &self,
        plugin: &str,
        days: impl IntoIterator<Item = NaiveDate>,
        run_id: &str,
        now: &str,
    ) -> Result<()> {
        let stmt =
            "INSERT INTO coverage (plugin_name, day, run_id, completed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (plugin_name, day) DO UPDATE SET run_id = excluded.run_id,
                   completed_at = excluded.completed_at";
        let rows: Vec<_> =
            days.into_iter().map(|d| owned(args![plugin, d.to_string(), run_id, now])).collect();
        self.db.exec_rows("record coverage", stmt, &rows)?;
        // The days just marked are those this run now holds.
        let found = "DELETE FROM missing_days WHERE plugin_name = ?1 AND day IN
                 (SELECT day FROM coverage WHERE plugin_name = ?1 AND run_id = ?2)";
        self.db.exec("record coverage", found, args![plugin, run_id])?;
        Ok(())
    }

    /// Records days a run asked for but did not complete, unless an earlier
    /// run completed them.
    pub fn mark_missing<'a>(
        &self,
        plugin: &str,
        days: impl IntoIterator<Item = (NaiveDate, Option<&'a str>)>,
        run_id: &str,
    ) -> Result<()> {
        let stmt = "INSERT INTO missing_days (plugin_name, day, run_id, reason)
                 SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS
                   (SELECT 1 FROM coverage WHERE plugin_name = ?1 AND day = ?2)
                 ON CONFLICT (plugin_name, day) DO UPDATE SET run_id = ?3, reason = ?4,
                   attempts = missing_days.attempts + 1";
        for (day, reason) in days {
            self.db.exec(
                "record missing days",
                stmt,
                args![plugin, day.to_string(), run_id, reason],
            )?;
        }
        Ok(())
    }

    /// Records days the source can never return (with the plugin's reason):
    /// they are not missing, and not asked for again.
    pub fn mark_unavailable<'a>(
        &self,
        plugin: &str,
        days: impl IntoIterator<Item = (NaiveDate, &'a str)>,
        run_id: &str,
    ) -> Result<()> {
        let stmt = "INSERT INTO unavailable_days (plugin_name, day, reason, run_id)
                 VALUES (?1, ?2, ?4, ?3)
                 ON CONFLICT (plugin_name, day) DO UPDATE SET reason = ?4, run_id = ?3";
        let found = "DELETE FROM missing_days WHERE plugin_name = ?1 AND day = ?2";
        for (day, reason) in days {
            self.db.exec(
                "record unavailable days",
                stmt,
                args![plugin, day.to_string(), run_id, reason],
            )?;
            self.db.exec("record unavailable days", found, args![plugin, day.to_string()])?;
        }
        Ok(())
    }

    /// Keeps what `plugin` asked for at the end of this run, for its next.
    pub fn save_plugin_state(
        &self,
        plugin: &str,
        state: &str,
        run_id: &str,
        now: &str,
    ) -> Result<()> {
        self.db.exec(
            "store the plugin's state",
            "INSERT INTO plugin_state (plugin_name, state, run_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (plugin_name) DO UPDATE SET state = ?2, run_id = ?3, updated_at = ?4",
            args![state_key(plugin, self.machine, self.db.is_postgres()), state, run_id, now],
        )?;
        Ok(())
    }

    /// How many generic records `plugin` keeps, and their payload bytes.
    pub fn records_held(&self, plugin: &str) -> Result<(u64, u64)> {
        self.db.row(
            "count the plugin's records",
            "SELECT count(*), coalesce(sum(octet_length(payload)), 0)
                 FROM records WHERE plugin_name = ?1",
            args![plugin],
            |r| Ok((r.get::<i64>(0)? as u64, r.get::<i64>(1)? as u64)),
        )
    }

    /// Deletes `plugin`'s generic records (of `kind`, when given) beyond
    /// the `keep` newest, or last updated before `before`; how many went.
    pub fn prune_records(
        &self,
        plugin: &str,
        kind: Option<&str>,
        keep: Option<usize>,
        before: Option<&str>,
    ) -> Result<usize> {
        let gone = self.db.exec(
            "prune records",
            "DELETE FROM records WHERE plugin_name = ?1 AND (kind = ?2 OR ?2 IS NULL)
                 AND ((CAST(?3 AS BIGINT) IS NOT NULL AND id NOT IN (
                        SELECT id FROM records WHERE plugin_name = ?1 AND (kind = ?2 OR ?2 IS NULL)
                        ORDER BY updated_at DESC, id DESC LIMIT ?3))
                   OR (CAST(?4 AS TEXT) IS NOT NULL AND updated_at < ?4))",
            args![plugin, kind, keep.map(|k| k as i64), before],
        )?;
        Ok(gone)
    }

    /// Upserts generic records by (plugin, kind, key); keyless ones are added.
    pub fn upsert_records(
        &self,
        plugin: &str,
        run_id: &str,
        now: &str,
        records: &[GenericRecord],
    ) -> Result<usize> {
        let stmt = "INSERT INTO records (plugin_name, kind, key, payload, run_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (plugin_name, kind, key) DO UPDATE
                 SET payload = ?4, run_id = ?5, updated_at = ?6";
        for r in records {
            self.db.exec(
                "store records",
                stmt,
                args![plugin, r.kind, r.key, r.payload, run_id, now],
            )?;
        }
        Ok(records.len())
    }
}

/// A row of `plugin_name, kind, key, updated_at, run_id, payload`.
fn stored_record(r: &Row<'_>) -> Result<StoredRecord> {
    Ok(StoredRecord {
        plugin: r.get(0)?,
        kind: r.get(1)?,
        key: r.get(2)?,
        updated_at: r.get(3)?,
        run_id: r.get(4)?,
        payload: r.get(5)?,
    })
}

/// The ledger's reads for reports, on either engine.
impl LedgerReads for Store {
    /// The newest `limit` runs, newest first.
    fn list_runs(&self, limit: usize) -> Result<Vec<RunRow>> {
        let sql =
            format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?1");
        self.query_all("list runs", &sql, args![limit], run_from_row)
    }

    /// The newest finished run of each plugin, by plugin name.
    fn last_runs(&self) -> Result<Vec<RunRow>> {
        // One grouped pass over the (plugin, status) index, not a subquery
        // per run: flat in the number of stored runs.
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE rowid IN (
                SELECT max(rowid) FROM runs WHERE status != 'running' GROUP BY plugin_name)
             ORDER BY plugin_name"
        );
        self.query_all("read the last runs", &sql, args![], run_from_row)
    }

    /// Per plugin, how many days between `from` and `to` are complete.
    fn coverage_counts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<std::collections::BTreeMap<String, i64>> {
        self.query_all(
            "read coverage",
            "SELECT plugin_name, count(*) FROM coverage WHERE day BETWEEN ?1 AND ?2
             GROUP BY plugin_name ORDER BY plugin_name",
            args![from.to_string(), to.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Every job's missing days between `from` and `to` (never today or
    /// later), with why each is missing, by job and day. Days after the last
    /// one a job ever asked for are left out: the job's next run collects
    /// them, and a job that no longer runs has no hole growing every day.
    fn missing_in(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<MissingDay>> {
        let ledger: Vec<(String, String, String)> = self.query_all(
            "read the ledger",
            "SELECT plugin_name, first_day, last_day FROM ledger ORDER BY plugin_name",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let Some(to) = today.pred_opt().map(|y| y.min(to)) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (plugin, first, last) in ledger {
            let (start, end) = (parse_day(&first)?.max(from), parse_day(&last)?.min(to));
            if start > end {
                continue;
            }
            let days = self.missing_between(&plugin, start, end, None)?;
            let (Some(&a), Some(&b)) = (days.first(), days.last()) else { continue };
            let recorded: BTreeMap<String, (Option<String>, i64)> = self.query_all(
                "read missing days",
                "SELECT day, reason, attempts FROM missing_days
                 WHERE plugin_name = ?1 AND day BETWEEN ?2 AND ?3",
                args![plugin, a.to_string(), b.to_string()],
                |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))),
            )?;
            let asked = self.asked(&plugin, a, b)?;
            // Each day's newest run, in one pass over the runs (newest
            // first), however many runs and days there are.
            let mut newest: BTreeMap<NaiveDate, &Asked> = BTreeMap::new();
            let mut pending = days.clone();
            for r in &asked {
                let hit: Vec<NaiveDate> = pending.range(r.from..=r.to).copied().collect();
                for d in hit {
                    pending.remove(&d);
                    newest.insert(d, r);
                }
                if pending.is_empty() {
                    break;
                }
            }
            for day in days {
                let rec = recorded.get(&day.to_string());
                out.push(MissingDay {
                    plugin: plugin.clone(),
                    day: day.to_string(),
                    reason: Some(cause(newest.get(&day).copied(), rec.map(|r| &r.0))),
                    attempts: rec.map_or(0, |r| r.1),
                });
            }
        }
        Ok(out)
    }

    /// When each plugin's newest successful run started, by plugin.
    fn last_successes(&self) -> Result<std::collections::BTreeMap<String, String>> {
        self.query_all(
            "read the last successes",
            "SELECT plugin_name, max(started_at) FROM runs WHERE status = 'success'
             GROUP BY plugin_name",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// The newest generic records of `kind`, whichever plugin sent them
    /// (the dashboard's status-page incidents).
    fn records_of_kind(&self, kind: &str, limit: usize) -> Result<Vec<StoredRecord>> {
        self.query_all(
            "read records",
            "SELECT plugin_name, kind, key, updated_at, run_id, payload FROM records
             WHERE kind = ?1 ORDER BY updated_at DESC, id DESC LIMIT ?2",
            args![kind, limit as i64],
            stored_record,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn run_lifecycle_and_coverage() {
        let mut store = Store::for_tests();
        store
            .begin_run(
                "r1",
                "p",
                "2025-01-01T00:00:00Z",
                Some((day("2025-01-01"), day("2025-01-02"))),
                Some("abc"),
            )
            .unwrap();
        let tx = store.transaction().unwrap();
        let end = RunEnd {
            status: "success",
            error: None,
            records_received: 2,
            records_written: 2,
            records_changed: 0,
            duration_ms: 5,
        };
        tx.finish_run("r1", "2025-01-01T00:00:01Z", &end).unwrap();
        tx.mark_complete("p", [day("2025-01-01"), day("2025-01-02")], "r1", "now").unwrap();
        tx.commit().unwrap();
        let runs = store.list_runs(10).unwrap();
        assert_eq!(runs[0].status, "success");
        assert_eq!(store.complete_days("p").unwrap().len(), 2);
    }

    #[test]
    fn uncommitted_run_leaves_nothing_and_is_marked_interrupted() {
        let mut store = Store::for_tests();
        store.begin_run("r1", "p", "2025-01-01T00:00:00Z", None, None).unwrap();
        {
            let tx = store.transaction().unwrap();
            tx.mark_complete("p", [day("2025-01-01")], "r1", "now").unwrap();
            // dropped: rolled back
        }
        assert!(store.complete_days("p").unwrap().is_empty());
        assert_eq!(store.mark_interrupted("now").unwrap(), 1);
        assert_eq!(store.list_runs(1).unwrap()[0].status, "failed");
    }

    #[test]
    fn a_day_is_missing_by_arithmetic_whatever_became_of_its_run() {
        let mut store = Store::for_tests();
        let today = day("2025-01-11");
        let window = |a: &str, b: &str| Some((day(a), day(b)));
        // A run that asked for 1..5 and died before its commit.
        store.begin_run("dead0001", "p", "t0", window("2025-01-01", "2025-01-05"), None).unwrap();
        // One that completed 6..10 except 8, which it lost, and 9, which the
        // source can never return.
        store.begin_run("live0002", "p", "t1", window("2025-01-06", "2025-01-10"), None).unwrap();
        let tx = store.transaction().unwrap();
        let end = RunEnd {
            status: "partial",
            error: Some("1 day(s) not stored"),
            records_received: 0,
            records_written: 0,
            records_changed: 0,
            duration_ms: 1,
        };
        tx.finish_run("live0002", "t2", &end).unwrap();
        tx.mark_complete(
            "p",
            [day("2025-01-06"), day("2025-01-07"), day("2025-01-10")],
            "live0002",
            "t2",
        )
        .unwrap();
        tx.mark_missing("p", [(day("2025-01-08"), Some("HTTP 500"))], "live0002").unwrap();
        tx.mark_unavailable("p", [(day("2025-01-09"), "older than 30 days")], "live0002").unwrap();
        tx.commit().unwrap();

        let missing = store.missing_days("p", 5, today).unwrap();
        let expected: BTreeSet<NaiveDate> =
            ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05", "2025-01-08"]
                .iter()
                .map(|d| day(d))
                .collect();
        assert_eq!(missing, expected);
        let why = |store: &Store| -> Vec<(String, String)> {
            store
                .missing_in(day("2025-01-04"), day("2025-12-31"), today)
                .unwrap()
                .into_iter()
                .map(|m| (m.day, m.reason.unwrap_or_default()))
                .collect()
        };
        assert_eq!(
            why(&store),
            [
                ("2025-01-04".into(), "run dead0001 has not finished".into()),
                ("2025-01-05".into(), "run dead0001 has not finished".into()),
                ("2025-01-08".into(), "HTTP 500".into()),
            ]
        );
        store.mark_interrupted("t3").unwrap();
        assert_eq!(why(&store)[0].1, "interrupted run dead0001");
        // Days after the last run up to yesterday are missing too, and a day
        // failed five times is given up on (still listed, not planned).
        let later = day("2025-01-14");
        assert!(store.missing_days("p", 5, later).unwrap().contains(&day("2025-01-12")));
        assert_eq!(why(&store).last().unwrap().1, "HTTP 500");
        let tx = store.transaction().unwrap();
        for _ in 0..4 {
            tx.mark_missing("p", [(day("2025-01-08"), Some("HTTP 500"))], "live0002").unwrap();
        }
        tx.commit().unwrap();
        assert!(!store.missing_days("p", 5, today).unwrap().contains(&day("2025-01-08")));
        let listed = store.missing_in(day("2025-01-08"), day("2025-01-08"), today).unwrap();
        assert_eq!(listed[0].attempts, 5);
    }
}
