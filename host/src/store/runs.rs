//! Kernel tables: runs, their log lines, per-plugin day coverage, and the
//! generic keyed records of plugins whose kinds no application claims.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{Context, Result, Store, StoreError, Tx};

/// A run as stored in `runs`.
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
}

/// A day a run asked for and did not complete.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MissingDay {
    /// The plugin.
    pub plugin: String,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// Why, as the last run said.
    pub reason: Option<String>,
    /// How many runs tried.
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

const RUN_COLUMNS: &str = "id, plugin_name, status, started_at, finished_at, error, \
     records_received, records_written, records_changed, window_from, window_to, plugin_sha256, \
     duration_ms";

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
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
    })
}

impl Store {
    /// Records that a run started (committed at once, so a crash leaves a
    /// visible `running` row that the next run marks as interrupted).
    pub fn begin_run(
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
        self.conn
            .execute(
                "INSERT INTO runs (id, plugin_name, status, started_at, window_from, window_to, plugin_sha256)
                 VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6)",
                params![id, plugin, started_at, from, to, plugin_sha256],
            )
            .ctx("record the start of a run")?;
        Ok(())
    }

    /// Ends a run as failed, with its logs, when its own commit could not be
    /// made: its data is gone, its reason and logs are kept.
    pub fn fail_run(
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

    /// Marks every `running` row as failed. Called while holding the run lock,
    /// so such rows belong to a host that died.
    pub fn mark_interrupted(&mut self, now: &str) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE runs SET status = 'failed', finished_at = ?1,
                 error = 'interrupted: the host stopped before the run finished; nothing of it was stored'
                 WHERE status = 'running'",
                params![now],
            )
            .ctx("mark interrupted runs")
    }

    /// The newest `limit` runs, newest first.
    pub fn list_runs(&self, limit: usize) -> Result<Vec<RunRow>> {
        let sql =
            format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?1");
        let mut stmt = self.conn.prepare(&sql).ctx("list runs")?;
        let rows = stmt.query_map([limit as i64], run_from_row).ctx("list runs")?;
        rows.collect::<rusqlite::Result<_>>().ctx("read runs")
    }

    /// The newest finished run of each plugin, by plugin name.
    pub fn last_runs(&self) -> Result<Vec<RunRow>> {
        // One grouped pass over the (plugin, status) index, not a subquery
        // per run: flat in the number of stored runs.
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE rowid IN (
                SELECT max(rowid) FROM runs WHERE status != 'running' GROUP BY plugin_name)
             ORDER BY plugin_name"
        );
        let mut stmt = self.conn.prepare(&sql).ctx("read the last runs")?;
        let rows = stmt.query_map([], run_from_row).ctx("read the last runs")?;
        rows.collect::<rusqlite::Result<_>>().ctx("read the last runs")
    }

    /// Per plugin, how many days between `from` and `to` are complete.
    pub fn coverage_counts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<std::collections::BTreeMap<String, i64>> {
        self.query_all(
            "read coverage",
            "SELECT plugin_name, count(*) FROM coverage WHERE day BETWEEN ?1 AND ?2
             GROUP BY plugin_name ORDER BY plugin_name",
            [from.to_string(), to.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// The days between `from` and `to` that runs asked for and did not
    /// complete: plugin, day, why, and how many runs tried.
    pub fn missing_in(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<MissingDay>> {
        self.query_all(
            "read missing days",
            "SELECT plugin_name, day, reason, attempts FROM missing_days
             WHERE day BETWEEN ?1 AND ?2 ORDER BY plugin_name, day",
            [from.to_string(), to.to_string()],
            |r| {
                Ok(MissingDay {
                    plugin: r.get(0)?,
                    day: r.get(1)?,
                    reason: r.get(2)?,
                    attempts: r.get(3)?,
                })
            },
        )
    }

    /// When each plugin's newest successful run started, by plugin.
    pub fn last_successes(&self) -> Result<std::collections::BTreeMap<String, String>> {
        self.query_all(
            "read the last successes",
            "SELECT plugin_name, max(started_at) FROM runs WHERE status = 'success'
             GROUP BY plugin_name",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// The days of `plugin` whose data is complete.
    pub fn complete_days(&self, plugin: &str) -> Result<BTreeSet<NaiveDate>> {
        self.days_of("SELECT day FROM coverage WHERE plugin_name = ?1", plugin)
    }

    /// The days runs of `plugin` asked for and did not complete (and no
    /// later run has completed), fewer than `max_attempts` times: the next
    /// plan collects them again, and gives up on a day that keeps failing.
    pub fn missing_days(&self, plugin: &str, max_attempts: u32) -> Result<BTreeSet<NaiveDate>> {
        self.days_of(
            &format!(
                "SELECT day FROM missing_days WHERE plugin_name = ?1 AND attempts < {max_attempts}"
            ),
            plugin,
        )
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
             WHERE plugin_name = ?1 AND (?2 IS NULL OR kind = ?2)
             ORDER BY updated_at DESC, id DESC LIMIT ?3",
            params![plugin, kind, limit as i64],
            |r| {
                Ok(StoredRecord {
                    plugin: r.get(0)?,
                    kind: r.get(1)?,
                    key: r.get(2)?,
                    updated_at: r.get(3)?,
                    run_id: r.get(4)?,
                    payload: r.get(5)?,
                })
            },
        )
    }

    /// What `plugin` asked to keep at the end of its last stored run.
    pub fn plugin_state(&self, plugin: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT state FROM plugin_state WHERE plugin_name = ?1", [plugin], |r| {
                r.get(0)
            })
            .optional()
            .ctx("read the plugin's state")
    }

    fn days_of(&self, sql: &str, plugin: &str) -> Result<BTreeSet<NaiveDate>> {
        let mut stmt = self.conn.prepare_cached(sql).ctx("read coverage")?;
        let days = stmt.query_map([plugin], |r| r.get::<_, String>(0)).ctx("read coverage")?;
        let mut out = BTreeSet::new();
        for day in days {
            let day = day.ctx("read coverage")?;
            let parsed = day
                .parse()
                .map_err(|_| StoreError::Invalid(format!("coverage day {day:?} is not a date")))?;
            out.insert(parsed);
        }
        Ok(out)
    }
}

impl Tx<'_> {
    /// Writes how a run ended.
    pub fn finish_run(&self, id: &str, finished_at: &str, end: &RunEnd<'_>) -> Result<()> {
        let n = self
            .tx
            .execute(
                "UPDATE runs SET status = ?2, finished_at = ?3, error = ?4, records_received = ?5,
                 records_written = ?6, records_changed = ?7, duration_ms = ?8 WHERE id = ?1",
                params![
                    id,
                    end.status,
                    finished_at,
                    end.error,
                    end.records_received as i64,
                    end.records_written as i64,
                    end.records_changed as i64,
                    end.duration_ms as i64
                ],
            )
            .ctx("record the end of a run")?;
        if n != 1 {
            return Err(StoreError::Invalid(format!("run {id} is not in the runs table")));
        }
        Ok(())
    }

    /// Stores a run's log lines.
    pub fn insert_run_logs(&self, run_id: &str, logs: &[RunLog]) -> Result<()> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO run_logs (run_id, seq, at, level, message) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .ctx("store run logs")?;
        for (seq, log) in logs.iter().enumerate() {
            stmt.execute(params![run_id, seq as i64, log.at, log.level, log.message])
                .ctx("store run logs")?;
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
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO coverage (plugin_name, day, run_id, completed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (plugin_name, day) DO UPDATE SET run_id = ?3, completed_at = ?4",
            )
            .ctx("record coverage")?;
        let mut found = self
            .tx
            .prepare_cached("DELETE FROM missing_days WHERE plugin_name = ?1 AND day = ?2")
            .ctx("record coverage")?;
        for day in days {
            stmt.execute(params![plugin, day.to_string(), run_id, now]).ctx("record coverage")?;
            found.execute(params![plugin, day.to_string()]).ctx("record coverage")?;
        }
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
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO missing_days (plugin_name, day, run_id, reason)
                 SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS
                   (SELECT 1 FROM coverage WHERE plugin_name = ?1 AND day = ?2)
                 ON CONFLICT (plugin_name, day) DO UPDATE SET run_id = ?3, reason = ?4,
                   attempts = attempts + 1",
            )
            .ctx("record missing days")?;
        for (day, reason) in days {
            stmt.execute(params![plugin, day.to_string(), run_id, reason])
                .ctx("record missing days")?;
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
        self.tx
            .execute(
                "INSERT INTO plugin_state (plugin_name, state, run_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO UPDATE SET state = ?2, run_id = ?3, updated_at = ?4",
                params![plugin, state, run_id, now],
            )
            .ctx("store the plugin's state")?;
        Ok(())
    }

    /// Upserts generic records by (plugin, kind, key); keyless ones are added.
    pub fn upsert_records(
        &self,
        plugin: &str,
        run_id: &str,
        now: &str,
        records: &[GenericRecord],
    ) -> Result<usize> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO records (plugin_name, kind, key, payload, run_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (plugin_name, kind, key) DO UPDATE
                 SET payload = ?4, run_id = ?5, updated_at = ?6",
            )
            .ctx("store records")?;
        for r in records {
            stmt.execute(params![plugin, r.kind, r.key, r.payload, run_id, now])
                .ctx("store records")?;
        }
        Ok(records.len())
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
        let mut store = Store::open_in_memory().unwrap();
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
        let mut store = Store::open_in_memory().unwrap();
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
}
