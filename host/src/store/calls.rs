//! Single calls of local logs, one row each, for the views that need the
//! instant and the agent's session of every call (sessions, 5-hour blocks,
//! the status line); the grouped reads are in [`super::reports`].

use super::sql::args;
use chrono::NaiveDate;

use super::reports::{priced_columns, DISPLAY};
use super::{Result, Store};

/// One stored call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLine {
    /// Which log (`claude_code`, `codex`).
    pub source: String,
    /// Provider id (whose prices apply).
    pub provider: String,
    /// Display name.
    pub name: String,
    /// UTC day.
    pub day: NaiveDate,
    /// When it was logged (RFC 3339, UTC), when the log said.
    pub at: Option<String>,
    /// Model.
    pub model: String,
    /// Project (the agent's folder).
    pub project: String,
    /// The agent's session id (empty when the log had none).
    pub session: String,
    /// Service tier and speed, as `call_groups` joins them.
    pub tier: String,
    /// The token counts.
    pub counts: billing_records::Priced,
    /// The machine that first read it (empty before machines were kept).
    pub machine: String,
}

impl Store {
    /// Per plugin that reads local logs: its calls between two UTC days,
    /// and the newest instant among them.
    pub fn calls_by_plugin(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<std::collections::BTreeMap<String, (i64, Option<String>)>> {
        self.query_all(
            "read calls",
            "SELECT plugin_name, count(*), max(at) FROM calls WHERE day BETWEEN ?1 AND ?2
             GROUP BY plugin_name",
            args![from.to_string(), to.to_string()],
            |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))),
        )
    }

    /// Whether `plugin` has ever stored a call.
    pub fn has_calls(&self, plugin: &str) -> Result<bool> {
        self.db.row(
            "read calls",
            "SELECT EXISTS (SELECT 1 FROM calls WHERE plugin_name = ?1)",
            args![plugin],
            |r| r.get(0),
        )
    }

    /// Per machine, the runs started between two UTC days and the newest
    /// start among them (runs from before machines were kept: `""`).
    pub fn runs_by_machine(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<std::collections::BTreeMap<String, (i64, String)>> {
        self.query_all(
            "read runs",
            "SELECT coalesce(machine, ''), count(*), max(started_at) FROM runs
             WHERE substr(started_at, 1, 10) BETWEEN ?1 AND ?2 GROUP BY coalesce(machine, '')",
            args![from.to_string(), to.to_string()],
            |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))),
        )
    }

    /// Every call between two UTC days, oldest first (calls without an
    /// instant sort first on their day).
    pub fn calls_in(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<CallLine>> {
        let sql = format!(
            "SELECT t.source, t.provider, {DISPLAY}, t.day, t.at, t.model, t.project, t.session,
                    trim(t.service_tier || ' ' || t.speed), input, output, cache_read,
                    cache_write_5m, cache_write_1h, reasoning, web_searches, t.machine
             FROM calls t LEFT JOIN providers p USING (provider)
             WHERE t.day BETWEEN ?1 AND ?2
             ORDER BY t.day, t.at, t.source, t.key"
        );
        self.query_all("read calls", &sql, args![from.to_string(), to.to_string()], |r| {
            let day: String = r.get(3)?;
            Ok(CallLine {
                source: r.get(0)?,
                provider: r.get(1)?,
                name: r.get(2)?,
                day: day.parse().map_err(|_| {
                    super::StoreError::Invalid(format!("stored day {day:?} is not a date"))
                })?,
                at: r.get(4)?,
                model: r.get(5)?,
                project: r.get(6)?,
                session: r.get(7)?,
                tier: r.get(8)?,
                counts: priced_columns(r, 9)?,
                machine: r.get(16)?,
            })
        })
    }
}
