//! Accounts: the organizations billed rows are kept under. Which jobs (and
//! so which keys, by fingerprint) collected each account, and moving rows
//! from one account or job to another without ever counting a day twice.

use std::collections::{BTreeMap, BTreeSet};

use super::sql::args;
use chrono::NaiveDate;
use serde::Serialize;

use super::{Result, Store, Tx};

/// An account of one provider, as `accounts list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRow {
    /// The provider.
    pub provider: String,
    /// The account label.
    pub account: String,
    /// Days with rows.
    pub days: i64,
    /// First day with rows.
    pub first_day: String,
    /// Last day with rows.
    pub last_day: String,
    /// The jobs whose rows these are.
    pub jobs: Vec<String>,
    /// Who collected them: the fingerprints of the keys those jobs used
    /// (none for rows stored before identities were kept).
    pub identities: Vec<String>,
}

/// A job's identity as recorded: under which name and account it collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownJob {
    /// The job's name.
    pub job: String,
    /// The plugin it ran.
    pub plugin: String,
    /// The account it gave, `""` when its plugin chose.
    pub account: String,
}

/// What moving one account's rows did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Moved {
    /// Rows that changed account or job.
    pub rows: usize,
    /// Days both accounts held and that kept one copy, with whether the
    /// copies were identical.
    pub overlapping: BTreeMap<NaiveDate, bool>,
}

/// Days both accounts hold with different rows: a merge would count them
/// twice (or lose one copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap(pub Vec<NaiveDate>);

/// A row's columns beside its account and the job and run that wrote it,
/// as compared between two accounts' copies of a day.
const COST_COLUMNS: &str = "project, api_key, line_item, model, token_type, cost_type, \
     service_tier, context_window, amount, currency, quantity, quantity_unit";
const USAGE_COLUMNS: &str = "source, model, project, api_key, user_id, service_tier, dims, \
     metric, quantity, counts_as_tokens, not_in_cost";

impl Store {
    /// Every account with rows, by provider and account.
    pub fn accounts(&self) -> Result<Vec<AccountRow>> {
        let groups: Vec<(String, String, String, i64, String, String)> = self.query_all(
"read accounts",
"SELECT provider, account, plugin_name, count(DISTINCT day), min(day), max(day) FROM (
                SELECT provider, account, plugin_name, day FROM cost_rows
                UNION ALL SELECT provider, account, plugin_name, day FROM usage_rows
             ) AS all_rows GROUP BY provider, account, plugin_name ORDER BY provider, account, plugin_name",
args![],
|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
)?;
        let days: BTreeMap<(String, String), i64> = self.query_all(
            "read accounts",
            "SELECT provider, account, count(DISTINCT day) FROM (
                SELECT provider, account, day FROM cost_rows
                UNION ALL SELECT provider, account, day FROM usage_rows
             ) AS all_rows GROUP BY provider, account",
            args![],
            |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)),
        )?;
        let identities: Vec<(String, String)> = self.query_all(
            "read identities",
            "SELECT plugin_name, identity FROM job_identities ORDER BY identity",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut out: Vec<AccountRow> = Vec::new();
        for (provider, account, job, _, first, last) in groups {
            let same = out.last().is_some_and(|a| a.provider == provider && a.account == account);
            if !same {
                out.push(AccountRow {
                    days: days.get(&(provider.clone(), account.clone())).copied().unwrap_or(0),
                    provider,
                    account,
                    first_day: first.clone(),
                    last_day: last.clone(),
                    jobs: Vec::new(),
                    identities: Vec::new(),
                });
            }
            let Some(a) = out.last_mut() else { continue };
            a.first_day = a.first_day.clone().min(first);
            a.last_day = a.last_day.clone().max(last);
            for (_, id) in identities.iter().filter(|(j, _)| *j == job) {
                if !a.identities.contains(id) {
                    a.identities.push(id.clone());
                }
            }
            a.jobs.push(job);
        }
        Ok(out)
    }

    /// The jobs recorded with `identity`, and the account each gave.
    pub fn jobs_of_identity(&self, identity: &str) -> Result<Vec<KnownJob>> {
        self.query_all(
            "read identities",
            "SELECT plugin_name, plugin, account FROM job_identities WHERE identity = ?1
             ORDER BY plugin_name, account",
            args![identity],
            |r| Ok(KnownJob { job: r.get(0)?, plugin: r.get(1)?, account: r.get(2)? }),
        )
    }
}

impl Tx<'_> {
    /// Records that `job` (running `plugin`, for `account`, `""` when its
    /// plugin chooses) collects with `identity`; with `replace`, in place of
    /// whatever jobs and accounts that identity was recorded under before
    /// (their rows are this job's now).
    pub fn set_identity(
        &self,
        job: &str,
        plugin: &str,
        identity: &str,
        account: &str,
        replace: bool,
        now: &str,
    ) -> Result<()> {
        const WHAT: &str = "record the job's identity";
        let first: Option<String> = self.db.row(
            WHAT,
            "SELECT min(first_seen) FROM job_identities WHERE identity = ?1",
            args![identity],
            |r| r.get(0),
        )?;
        if replace {
            self.db.exec(
                WHAT,
                "DELETE FROM job_identities WHERE identity = ?1",
                args![identity],
            )?;
        }
        self.db
            .exec(WHAT, "INSERT INTO job_identities (plugin_name, plugin, identity, account, first_seen,
                    last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (plugin_name, identity, account) DO UPDATE SET plugin = ?2, last_seen = ?6", args![job, plugin, identity, account, first.as_deref().unwrap_or(now), now])?;
        Ok(())
    }

    /// The accounts of `provider` whose rows `job` wrote, other than `but`.
    pub fn accounts_of_job(&self, job: &str, provider: &str, but: &str) -> Result<Vec<String>> {
        const WHAT: &str = "read the job's accounts";
        let stmt = "SELECT account FROM cost_rows WHERE plugin_name = ?1 AND provider = ?2
                   AND account != ?3
                 UNION SELECT account FROM usage_rows WHERE plugin_name = ?1 AND provider = ?2
                   AND account != ?3";
        self.db.rows(WHAT, stmt, args![job, provider, but], |r| r.get(0))
    }

    /// Gives `job` the rows of `provider` that `from_job` wrote (the
    /// account they carry stays): their days are replaced by its runs.
    pub fn move_job_rows(&self, provider: &str, from_job: &str, job: &str) -> Result<usize> {
        const WHAT: &str = "move rows to another job";
        let mut rows = 0;
        for table in ["cost_rows", "usage_rows", "usage_priced"] {
            rows += self.db.exec(
                WHAT,
                &format!(
                    "UPDATE {table} SET plugin_name = ?3 WHERE plugin_name = ?1 AND provider = ?2"
                ),
                args![from_job, provider, job],
            )?;
        }
        Ok(rows)
    }

    /// Gives `job` what `from_job` knew of its history: its complete and
    /// unavailable days and its ledger (which `from_job` loses: its holes are
    /// now `job`'s).
    pub fn move_history(&self, from_job: &str, job: &str) -> Result<()> {
        const WHAT: &str = "move the job's history";
        self.db.batch(
            WHAT,
            &format!(
                "INSERT INTO coverage (plugin_name, day, run_id, completed_at)
                   SELECT {to}, day, run_id, completed_at FROM coverage WHERE plugin_name = {from}
                   ON CONFLICT DO NOTHING;
                 INSERT INTO unavailable_days (plugin_name, day, reason, run_id)
                   SELECT {to}, day, reason, run_id FROM unavailable_days
                   WHERE plugin_name = {from} ON CONFLICT DO NOTHING;
                 INSERT INTO ledger (plugin_name, first_day, last_day)
                   SELECT {to}, first_day, last_day FROM ledger WHERE plugin_name = {from}
                   ON CONFLICT (plugin_name) DO UPDATE SET
                     first_day = CASE WHEN excluded.first_day < ledger.first_day
                       THEN excluded.first_day ELSE ledger.first_day END,
                     last_day = CASE WHEN excluded.last_day > ledger.last_day
                       THEN excluded.last_day ELSE ledger.last_day END;
                 DELETE FROM ledger WHERE plugin_name = {from};",
                to = quote(job),
                from = quote(from_job),
            ),
        )
    }

    /// Moves the rows of `provider` under account `from` (only those `job`
    /// wrote, when given) to account `into`, and to job `new_job` when given.
    /// A day both accounts hold keeps one copy: `into`'s, when the copies are
    /// identical or `keep_into`; otherwise nothing moves and the differing
    /// days are returned. Totals of the days touched are recomputed.
    #[expect(clippy::too_many_arguments, reason = "each is one dimension of the move")]
    pub fn move_account(
        &self,
        provider: &str,
        from: &str,
        into: &str,
        job: Option<&str>,
        new_job: Option<&str>,
        keep_into: bool,
        now: &str,
    ) -> Result<std::result::Result<Moved, Overlap>> {
        const WHAT: &str = "move an account's rows";
        if from == into {
            return Ok(Ok(Moved::default()));
        }
        let source = "provider = ?1 AND account = ?2 AND (plugin_name = ?3 OR ?3 IS NULL)";
        let days_of = |sql: &str, p: &[&dyn super::sql::Arg]| -> Result<BTreeSet<NaiveDate>> {
            let rows: Vec<String> = self.db.rows(WHAT, sql, p, |r| r.get(0))?;
            let mut out = BTreeSet::new();
            for d in rows {
                out.insert(super::stored_day(&d)?);
            }
            Ok(out)
        };
        let moving = days_of(
            &format!(
                "SELECT day FROM cost_rows WHERE {source} UNION SELECT day FROM usage_rows WHERE {source}"
            ),
            args![provider, from, job],
        )?;
        let held = days_of(
            "SELECT day FROM cost_rows WHERE provider = ?1 AND account = ?2
             UNION SELECT day FROM usage_rows WHERE provider = ?1 AND account = ?2",
            args![provider, into],
        )?;
        let mut moved = Moved::default();
        let mut differing = Vec::new();
        for day in moving.intersection(&held) {
            let same = self.same_day(provider, *day, from, into, job)?;
            if !same {
                differing.push(*day);
            }
            moved.overlapping.insert(*day, same);
        }
        if !differing.is_empty() && !keep_into {
            return Ok(Err(Overlap(differing)));
        }
        for day in moved.overlapping.keys() {
            for table in ["cost_rows", "usage_rows", "usage_priced"] {
                self.db.exec(
                    WHAT,
                    &format!("DELETE FROM {table} WHERE {source} AND day = ?4"),
                    args![provider, from, job, day.to_string()],
                )?;
            }
        }
        for table in ["cost_rows", "usage_rows", "usage_priced"] {
            moved.rows += self.db.exec(
                WHAT,
                &format!(
                    "UPDATE {table} SET account = ?4, plugin_name = coalesce(?5, plugin_name)
                         WHERE {source}"
                ),
                args![provider, from, job, into, new_job],
            )?;
        }
        // Calls (local logs, estimates) follow a renamed account; a job's
        // adoption concerns billed rows only.
        if job.is_none() {
            self.db.exec(
                WHAT,
                "UPDATE calls SET account = ?3 WHERE provider = ?1 AND account = ?2",
                args![provider, from, into],
            )?;
        }
        let providers = BTreeSet::from([provider.to_string()]);
        let days: Vec<NaiveDate> = moving.into_iter().collect();
        self.refresh_results(&providers, &days, now)?;
        Ok(Ok(moved))
    }

    /// Whether `from`'s rows of `provider` on `day` (only `job`'s, when
    /// given) equal `into`'s, all but the account.
    fn same_day(
        &self,
        provider: &str,
        day: NaiveDate,
        from: &str,
        into: &str,
        job: Option<&str>,
    ) -> Result<bool> {
        let mut differ = false;
        for (table, columns) in [("cost_rows", COST_COLUMNS), ("usage_rows", USAGE_COLUMNS)] {
            let a = format!(
                "SELECT {columns} FROM {table} WHERE provider = ?1 AND day = ?2 AND account = ?3
                 AND (plugin_name = ?5 OR ?5 IS NULL)"
            );
            let b = format!(
                "SELECT {columns} FROM {table} WHERE provider = ?1 AND day = ?2 AND account = ?4"
            );
            let sql = format!("SELECT EXISTS ({a} EXCEPT {b}) OR EXISTS ({b} EXCEPT {a})");
            let d: bool = self.db.row(
                "compare two accounts' days",
                &sql,
                args![provider, day.to_string(), from, into, job],
                |r| r.get(0),
            )?;
            differ |= d;
        }
        Ok(!differ)
    }
}

/// An SQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(store: &Store, account: &str, job: &str, day: &str, amount: &str) {
        store
            .db
            .exec(
                "insert",
                "INSERT INTO cost_rows (provider, account, day, project, api_key, line_item, model,
                    token_type, cost_type, service_tier, context_window, amount, currency,
                    plugin_name, run_id, collected_at)
                 VALUES ('openai', ?1, ?2, '', '', 'gpt', 'gpt', '', '', '', '', ?3, 'USD', ?4,
                    'r', 't')",
                args![account, day, amount, job],
            )
            .unwrap();
    }

    fn accounts(store: &Store) -> Vec<(String, i64)> {
        store.accounts().unwrap().into_iter().map(|a| (a.account, a.days)).collect()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_merge_keeps_one_copy_of_identical_days_and_refuses_differing_ones() {
        let mut store = Store::for_tests();
        cost(&store, "default", "openai_collector", "2025-08-01", "1.5");
        cost(&store, "default", "openai_collector", "2025-08-02", "2");
        cost(&store, "acme", "openai-acme", "2025-08-02", "2");
        cost(&store, "acme", "openai-acme", "2025-08-03", "3");
        let tx = store.transaction().unwrap();
        let moved =
            tx.move_account("openai", "default", "acme", None, None, false, "t").unwrap().unwrap();
        tx.commit().unwrap();
        assert_eq!(moved.rows, 1, "the identical day kept acme's copy");
        assert_eq!(moved.overlapping, BTreeMap::from([(day("2025-08-02"), true)]));
        assert_eq!(accounts(&store), [("acme".to_string(), 3)]);
        let total: Vec<String> = store
            .query_all("read", "SELECT dec_sum(cost) FROM results", args![], |r| r.get(0))
            .unwrap();
        assert_eq!(total, ["3.5"], "results of the moved days, each counted once");

        cost(&store, "globex", "openai-globex", "2025-08-03", "4");
        let tx = store.transaction().unwrap();
        let refused = tx.move_account("openai", "globex", "acme", None, None, false, "t").unwrap();
        assert_eq!(refused, Err(Overlap(vec![day("2025-08-03")])));
        drop(tx);
        assert_eq!(accounts(&store), [("acme".to_string(), 3), ("globex".to_string(), 1)]);
    }
}
