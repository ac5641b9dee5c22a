//! `store migrate`: a whole history copied from one store into another
//! (SQLite into PostgreSQL, or back), in one transaction on the target,
//! then verified: every table's row count, and the exact sum of every money
//! column, equal on both sides. A target that already holds history is
//! refused, unless appending proves that no row of the source is there
//! already (the same key twice would be a day counted twice).

use bigdecimal::BigDecimal;

use super::sql::{args, Val};
use super::{Result, Store, StoreError};

/// One table as copied: its columns (never an engine's own row id), the
/// order rows are read in, and its money columns.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
    order: &'static str,
    money: &'static [&'static str],
}

/// Every table, parents before children. `call_days` is not copied: the
/// target sums its own calls again (it may have calls of its own).
const TABLES: &[Table] = &[
    Table {
        name: "runs",
        columns: &[
            "id",
            "plugin_name",
            "status",
            "started_at",
            "finished_at",
            "error",
            "records_received",
            "records_written",
            "records_changed",
            "window_from",
            "window_to",
            "isolated",
            "duration_ms",
            "plugin_sha256",
            "trigger",
            "machine",
        ],
        order: "rowid",
        money: &[],
    },
    Table {
        name: "run_logs",
        columns: &["run_id", "seq", "at", "level", "message"],
        order: "run_id, seq",
        money: &[],
    },
    Table {
        name: "coverage",
        columns: &["plugin_name", "day", "run_id", "completed_at"],
        order: "plugin_name, day",
        money: &[],
    },
    Table {
        name: "records",
        columns: &["plugin_name", "kind", "key", "payload", "run_id", "updated_at"],
        order: "id",
        money: &[],
    },
    Table {
        name: "cost_rows",
        columns: &[
            "provider",
            "account",
            "day",
            "project",
            "api_key",
            "line_item",
            "model",
            "token_type",
            "cost_type",
            "service_tier",
            "context_window",
            "amount",
            "currency",
            "quantity",
            "quantity_unit",
            "plugin_name",
            "run_id",
            "collected_at",
        ],
        order: "day, provider, account",
        money: &["amount"],
    },
    Table {
        name: "usage_rows",
        columns: &[
            "provider",
            "account",
            "day",
            "source",
            "model",
            "project",
            "api_key",
            "user_id",
            "service_tier",
            "dims",
            "metric",
            "quantity",
            "counts_as_tokens",
            "plugin_name",
            "run_id",
            "collected_at",
            "not_in_cost",
        ],
        order: "day, provider, account",
        money: &[],
    },
    Table {
        name: "revisions",
        columns: &[
            "table_name",
            "day",
            "natural_key",
            "old_value",
            "new_value",
            "run_id",
            "changed_at",
        ],
        order: "id",
        money: &[],
    },
    Table {
        name: "results",
        columns: &["provider", "date", "tokens", "cost", "collected_at", "not_in_cost_tokens"],
        order: "date, provider",
        money: &["cost"],
    },
    Table {
        name: "alerts_sent",
        columns: &["rule_key", "channel", "sent_at", "message"],
        order: "rule_key, channel",
        money: &[],
    },
    Table {
        name: "missing_days",
        columns: &["plugin_name", "day", "run_id", "attempts", "reason"],
        order: "plugin_name, day",
        money: &[],
    },
    Table {
        name: "daily_totals",
        columns: &["provider", "day", "dim", "key", "cost", "tokens"],
        order: "dim, day, provider, key",
        money: &["cost"],
    },
    Table {
        name: "providers",
        columns: &[
            "provider",
            "display_name",
            "service_name",
            "service_category",
            "service_subcategory",
            "sub_account_type",
            "not_in_cost_note",
            "updated_at",
        ],
        order: "provider",
        money: &[],
    },
    Table {
        name: "plugin_state",
        columns: &["plugin_name", "state", "run_id", "updated_at"],
        order: "plugin_name",
        money: &[],
    },
    Table {
        name: "calls",
        columns: &[
            "plugin_name",
            "source",
            "key",
            "provider",
            "account",
            "day",
            "at",
            "model",
            "project",
            "session",
            "service_tier",
            "speed",
            "input",
            "output",
            "cache_read",
            "cache_write_5m",
            "cache_write_1h",
            "reasoning",
            "web_searches",
            "run_id",
            "machine",
        ],
        order: "plugin_name, source, key",
        money: &[],
    },
    Table {
        name: "usage_priced",
        columns: &[
            "plugin_name",
            "provider",
            "account",
            "day",
            "model",
            "project",
            "service_tier",
            "long_context",
            "not_in_cost",
            "input",
            "output",
            "cache_read",
            "cache_write_5m",
            "cache_write_1h",
            "reasoning",
            "web_searches",
        ],
        order: "plugin_name, day, provider, account, model",
        money: &[],
    },
    Table {
        name: "ledger",
        columns: &["plugin_name", "first_day", "last_day"],
        order: "plugin_name",
        money: &[],
    },
    Table {
        name: "unavailable_days",
        columns: &["plugin_name", "day", "reason", "run_id"],
        order: "plugin_name, day",
        money: &[],
    },
    Table {
        name: "job_identities",
        columns: &["plugin_name", "plugin", "identity", "account", "first_seen", "last_seen"],
        order: "plugin_name, identity, account",
        money: &[],
    },
];

/// One table's part of a copy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Copied {
    /// The table.
    pub table: &'static str,
    /// Rows copied.
    pub rows: u64,
    /// Its money columns' exact sums over the copied rows.
    pub sums: Vec<(&'static str, String)>,
}

/// Rows read before they are written, in statements of many rows.
const COPY_BATCH: usize = 1024;

/// A table's row count and money sums.
fn measure(store: &Store, t: &Table) -> Result<(u64, Vec<BigDecimal>)> {
    let rows: i64 =
        store.db.row("count rows", &format!("SELECT count(*) FROM {}", t.name), args![], |r| {
            r.get(0)
        })?;
    let mut sums = Vec::new();
    for m in t.money {
        let text: String = store.db.row(
            "sum money",
            &format!("SELECT dec_sum({m}) FROM {}", t.name),
            args![],
            |r| r.get(0),
        )?;
        sums.push(
            text.parse()
                .map_err(|_| StoreError::Invalid(format!("{}.{m} sums to {text:?}", t.name)))?,
        );
    }
    Ok((rows.max(0) as u64, sums))
}

impl Store {
    /// Copies this store's whole history into `target` and verifies it.
    /// Without `append` the target must hold no history; with it, the copy
    /// is refused (and nothing written) as soon as one row is already there.
    pub fn copy_into(&self, target: &mut Store, append: bool) -> Result<Vec<Copied>> {
        let before: Vec<(u64, Vec<BigDecimal>)> =
            TABLES.iter().map(|t| measure(target, t)).collect::<Result<_>>()?;
        if !append {
            if let Some((t, (n, _))) = TABLES.iter().zip(&before).find(|(_, (n, _))| *n > 0) {
                return Err(StoreError::NotEmpty(format!(
                    "the target already holds history ({n} rows in {})",
                    t.name
                )));
            }
        }
        let tiers: Vec<i64> = self.query_all(
            "read calls",
            "SELECT start FROM call_tiers ORDER BY start DESC",
            args![],
            |r| r.get(0),
        )?;
        let tx = target.begin()?;
        let mut out = Vec::new();
        for t in TABLES {
            let cols = t.columns.join(", ");
            let marks: Vec<String> = (1..=t.columns.len()).map(|i| format!("?{i}")).collect();
            let insert = format!(
                "INSERT INTO {} ({cols}) VALUES ({}) ON CONFLICT DO NOTHING",
                t.name,
                marks.join(", ")
            );
            if t.name == "usage_priced" && append {
                overlap_of_priced_usage(self, tx.db)?;
            }
            let (mut copied, mut refused) = (0u64, 0u64);
            let what = format!("copy {}", t.name);
            // Many rows per statement toward PostgreSQL (a round trip per
            // row made a million rows a minute's work).
            let mut pending: Vec<Vec<Val<'static>>> = Vec::with_capacity(COPY_BATCH);
            let mut flush = |pending: &mut Vec<Vec<Val<'static>>>| -> Result<()> {
                let n = tx.db.exec_rows(&what, &insert, pending)? as u64;
                copied += n;
                refused += pending.len() as u64 - n;
                pending.clear();
                Ok(())
            };
            self.db.each(
                &format!("read {}", t.name),
                &format!("SELECT {cols} FROM {} ORDER BY {}", t.name, t.order),
                args![],
                |r| {
                    let row = (0..t.columns.len())
                        .map(|i| r.val(i).map(Val::into_owned))
                        .collect::<Result<_>>()?;
                    pending.push(row);
                    if pending.len() == COPY_BATCH {
                        flush(&mut pending)?;
                    }
                    Ok(true)
                },
            )?;
            flush(&mut pending)?;
            if refused > 0 {
                // Dropping `tx` rolls every table back.
                return Err(StoreError::NotEmpty(format!(
                    "{refused} rows of {} are in the target already; nothing was copied",
                    t.name
                )));
            }
            out.push(Copied { table: t.name, rows: copied, sums: Vec::new() });
        }
        tx.commit()?;
        let starts: Vec<u64> = tiers.iter().map(|t| *t as u64).collect();
        target.rebuild_call_days(&starts)?;
        self.verify(target, &before, &mut out)?;
        Ok(out)
    }

    /// Each table of `target` grew by exactly this store's rows and sums.
    fn verify(
        &self,
        target: &Store,
        before: &[(u64, Vec<BigDecimal>)],
        out: &mut [Copied],
    ) -> Result<()> {
        for ((t, (rows_before, sums_before)), copied) in TABLES.iter().zip(before).zip(out) {
            let (rows, sums) = measure(self, t)?;
            let (rows_after, sums_after) = measure(target, t)?;
            if rows_after - rows_before != rows || copied.rows != rows {
                return Err(StoreError::Invalid(format!(
                    "{}: {rows} rows here, but the target gained {}",
                    t.name,
                    rows_after - rows_before
                )));
            }
            for (((m, sum), after), before) in
                t.money.iter().zip(&sums).zip(&sums_after).zip(sums_before)
            {
                if &(after - before) != sum {
                    return Err(StoreError::Invalid(format!(
                        "{}.{m}: {sum} here, but the target gained {}",
                        t.name,
                        after - before
                    )));
                }
                copied.sums.push((m, sum.normalized().to_string()));
            }
        }
        Ok(())
    }
}

/// Priced usage has no key: a (job, day) the target holds already would be
/// counted twice, so it is refused.
fn overlap_of_priced_usage(source: &Store, target: &super::sql::Db) -> Result<()> {
    let pairs: Vec<(String, String)> = source.query_all(
        "read priced usage",
        "SELECT DISTINCT plugin_name, day FROM usage_priced",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (job, day) in pairs {
        let held: Option<i64> = target.row_opt(
            "read priced usage",
            "SELECT 1 FROM usage_priced WHERE plugin_name = ?1 AND day = ?2 LIMIT 1",
            args![job, day],
            |r| r.get(0),
        )?;
        if held.is_some() {
            return Err(StoreError::NotEmpty(format!(
                "the target holds priced usage of {job} on {day} already; nothing was copied"
            )));
        }
    }
    Ok(())
}
