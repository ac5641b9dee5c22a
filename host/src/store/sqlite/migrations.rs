//! Versioned schema migrations, applied atomically and tracked with
//! `PRAGMA user_version`. A shipped migration is never edited; add a new one.

use std::path::Path;

use rusqlite::Connection;

use super::Context;
use crate::store::{Result, StoreError};

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: kernel tables and the billing application's normalized tables.
    r#"
    CREATE TABLE runs (
        id               TEXT PRIMARY KEY,
        plugin_name      TEXT NOT NULL,
        status           TEXT NOT NULL,
        started_at       TEXT NOT NULL,
        finished_at      TEXT,
        error            TEXT,
        records_received INTEGER NOT NULL DEFAULT 0,
        records_written  INTEGER NOT NULL DEFAULT 0,
        records_changed  INTEGER NOT NULL DEFAULT 0,
        window_from      TEXT,
        window_to        TEXT,
        isolated         INTEGER NOT NULL DEFAULT 1,
        duration_ms      INTEGER
    );
    CREATE INDEX runs_by_plugin ON runs (plugin_name, started_at);

    CREATE TABLE run_logs (
        run_id  TEXT NOT NULL REFERENCES runs (id),
        seq     INTEGER NOT NULL,
        at      TEXT NOT NULL,
        level   TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE coverage (
        plugin_name  TEXT NOT NULL,
        day          TEXT NOT NULL,
        run_id       TEXT NOT NULL,
        completed_at TEXT NOT NULL,
        PRIMARY KEY (plugin_name, day)
    ) WITHOUT ROWID;

    CREATE TABLE records (
        id          INTEGER PRIMARY KEY,
        plugin_name TEXT NOT NULL,
        kind        TEXT NOT NULL,
        key         TEXT,
        payload     TEXT NOT NULL,
        run_id      TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        UNIQUE (plugin_name, kind, key)
    );

    CREATE TABLE cost_rows (
        provider       TEXT NOT NULL,
        account        TEXT NOT NULL,
        day            TEXT NOT NULL,
        project        TEXT NOT NULL,
        api_key        TEXT NOT NULL,
        line_item      TEXT NOT NULL,
        model          TEXT NOT NULL,
        token_type     TEXT NOT NULL,
        cost_type      TEXT NOT NULL,
        service_tier   TEXT NOT NULL,
        context_window TEXT NOT NULL,
        amount         TEXT NOT NULL,
        currency       TEXT NOT NULL,
        quantity       TEXT,
        quantity_unit  TEXT,
        plugin_name    TEXT NOT NULL,
        run_id         TEXT NOT NULL,
        collected_at   TEXT NOT NULL,
        PRIMARY KEY (provider, account, day, project, api_key, line_item, model,
                     token_type, cost_type, service_tier, context_window)
    ) WITHOUT ROWID;
    CREATE INDEX cost_rows_by_day ON cost_rows (day);
    CREATE INDEX cost_rows_by_plugin ON cost_rows (plugin_name, day);

    CREATE TABLE usage_rows (
        provider     TEXT NOT NULL,
        account      TEXT NOT NULL,
        day          TEXT NOT NULL,
        source       TEXT NOT NULL,
        model        TEXT NOT NULL,
        project      TEXT NOT NULL,
        api_key      TEXT NOT NULL,
        user_id      TEXT NOT NULL,
        service_tier TEXT NOT NULL,
        dims         TEXT NOT NULL,
        metric       TEXT NOT NULL,
        quantity     INTEGER NOT NULL,
        counts_as_tokens INTEGER NOT NULL,
        plugin_name  TEXT NOT NULL,
        run_id       TEXT NOT NULL,
        collected_at TEXT NOT NULL,
        PRIMARY KEY (provider, account, day, source, model, project, api_key, user_id,
                     service_tier, dims, metric)
    ) WITHOUT ROWID;
    CREATE INDEX usage_rows_by_day ON usage_rows (day);
    CREATE INDEX usage_rows_by_plugin ON usage_rows (plugin_name, day);

    CREATE TABLE revisions (
        id          INTEGER PRIMARY KEY,
        table_name  TEXT NOT NULL,
        day         TEXT NOT NULL,
        natural_key TEXT NOT NULL,
        old_value   TEXT,
        new_value   TEXT,
        run_id      TEXT NOT NULL,
        changed_at  TEXT NOT NULL
    );

    -- One row per provider and day, as in the original plan:
    -- cost is exact decimal text in USD.
    CREATE TABLE results (
        provider     TEXT NOT NULL,
        date         TEXT NOT NULL,
        tokens       INTEGER NOT NULL,
        cost         TEXT NOT NULL,
        collected_at TEXT NOT NULL,
        PRIMARY KEY (provider, date)
    );
    "#,
    // 2: alerts already delivered, once per rule, period and channel.
    r#"
    CREATE TABLE alerts_sent (
        rule_key TEXT NOT NULL,
        channel  TEXT NOT NULL,
        sent_at  TEXT NOT NULL,
        message  TEXT NOT NULL,
        PRIMARY KEY (rule_key, channel)
    ) WITHOUT ROWID;
    "#,
    // 3: every run names the exact plugin file (its sha256) that produced it.
    r#"
    ALTER TABLE runs ADD COLUMN plugin_sha256 TEXT;
    "#,
    // 4: what the nightly queries need to stay flat in history size, and the
    // days partial runs left missing (the next plan collects them).
    r#"
    CREATE INDEX runs_by_plugin_status ON runs (plugin_name, status);
    CREATE INDEX runs_by_start ON runs (started_at);
    CREATE TABLE missing_days (
        plugin_name TEXT NOT NULL,
        day         TEXT NOT NULL,
        run_id      TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (plugin_name, day)
    ) WITHOUT ROWID;

    -- Cost and tokens per provider, day and model or project, kept with the
    -- rows in the same transaction, so a breakdown over any range reads a
    -- few rows per day instead of every detailed row.
    CREATE TABLE daily_totals (
        provider TEXT NOT NULL,
        day      TEXT NOT NULL,
        dim      TEXT NOT NULL,
        key      TEXT NOT NULL,
        cost     TEXT NOT NULL,
        tokens   INTEGER NOT NULL,
        PRIMARY KEY (dim, day, provider, key)
    ) WITHOUT ROWID;
    INSERT INTO daily_totals (provider, day, dim, key, cost, tokens)
    SELECT provider, day, 'model', k, dec_sum(cost), SUM(tokens) FROM (
        SELECT provider, day, CASE WHEN model != '' THEN model ELSE line_item END AS k,
               amount AS cost, 0 AS tokens FROM cost_rows
        UNION ALL
        SELECT provider, day, model, NULL, quantity FROM usage_rows WHERE counts_as_tokens = 1
    ) GROUP BY provider, day, k;
    INSERT INTO daily_totals (provider, day, dim, key, cost, tokens)
    SELECT provider, day, 'project', k, dec_sum(cost), SUM(tokens) FROM (
        SELECT provider, day, project AS k, amount AS cost, 0 AS tokens FROM cost_rows
        UNION ALL
        SELECT provider, day, project, NULL, quantity FROM usage_rows WHERE counts_as_tokens = 1
    ) GROUP BY provider, day, k;
    "#,
    // 5: why a day is missing; usage the provider's cost report leaves out,
    // and its tokens per day; providers as their collectors describe them.
    r#"
    ALTER TABLE missing_days ADD COLUMN reason TEXT;
    ALTER TABLE usage_rows ADD COLUMN not_in_cost INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE results ADD COLUMN not_in_cost_tokens INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE providers (
        provider            TEXT PRIMARY KEY,
        display_name        TEXT NOT NULL,
        service_name        TEXT,
        service_category    TEXT,
        service_subcategory TEXT,
        sub_account_type    TEXT,
        not_in_cost_note    TEXT,
        updated_at          TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 6: what a plugin keeps between runs; API calls seen in local logs,
    // one row per call, never deleted (history outlives the logs); usage
    // counts as prices see them, one row per usage record.
    r#"
    CREATE TABLE plugin_state (
        plugin_name TEXT PRIMARY KEY,
        state       TEXT NOT NULL,
        run_id      TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE calls (
        plugin_name    TEXT NOT NULL,
        source         TEXT NOT NULL,
        key            TEXT NOT NULL,
        provider       TEXT NOT NULL,
        account        TEXT NOT NULL,
        day            TEXT NOT NULL,
        at             TEXT,
        model          TEXT NOT NULL,
        project        TEXT NOT NULL,
        session        TEXT NOT NULL,
        service_tier   TEXT NOT NULL,
        speed          TEXT NOT NULL,
        input          INTEGER NOT NULL,
        output         INTEGER NOT NULL,
        cache_read     INTEGER NOT NULL,
        cache_write_5m INTEGER NOT NULL,
        cache_write_1h INTEGER NOT NULL,
        reasoning      INTEGER NOT NULL,
        web_searches   INTEGER NOT NULL,
        run_id         TEXT NOT NULL,
        PRIMARY KEY (plugin_name, source, key)
    ) WITHOUT ROWID;
    CREATE INDEX calls_by_day ON calls (day, provider);
    CREATE TABLE usage_priced (
        plugin_name    TEXT NOT NULL,
        provider       TEXT NOT NULL,
        account        TEXT NOT NULL,
        day            TEXT NOT NULL,
        model          TEXT NOT NULL,
        project        TEXT NOT NULL,
        service_tier   TEXT NOT NULL,
        long_context   INTEGER NOT NULL,
        not_in_cost    INTEGER NOT NULL,
        input          INTEGER NOT NULL,
        output         INTEGER NOT NULL,
        cache_read     INTEGER NOT NULL,
        cache_write_5m INTEGER NOT NULL,
        cache_write_1h INTEGER NOT NULL,
        reasoning      INTEGER NOT NULL,
        web_searches   INTEGER NOT NULL
    );
    CREATE INDEX usage_priced_by_day ON usage_priced (day, provider);
    CREATE INDEX usage_priced_by_plugin ON usage_priced (plugin_name, day);
    "#,
    // 7: daily totals per account too (several organizations per provider).
    r#"
    INSERT INTO daily_totals (provider, day, dim, key, cost, tokens)
    SELECT provider, day, 'account', k, dec_sum(cost), SUM(tokens) FROM (
        SELECT provider, day, account AS k, amount AS cost, 0 AS tokens FROM cost_rows
        UNION ALL
        SELECT provider, day, account, NULL, quantity FROM usage_rows WHERE counts_as_tokens = 1
    ) GROUP BY provider, day, k;
    "#,
    // 8: the coverage ledger. Each job's history is wanted from the first
    // day any of its runs asked for (written when a run starts, before it
    // fetches anything), so a day is missing by arithmetic, whatever became
    // of the run that asked for it; the last day asked for bounds what is
    // listed for a job that no longer runs. Days the source can never return
    // are kept so they are not asked for again. Filled from what older
    // releases recorded.
    r#"
    CREATE TABLE ledger (
        plugin_name TEXT PRIMARY KEY,
        first_day   TEXT NOT NULL,
        last_day    TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO ledger (plugin_name, first_day, last_day)
    SELECT plugin_name, min(day), max(last) FROM (
        SELECT plugin_name, window_from AS day, window_to AS last FROM runs
         WHERE window_from IS NOT NULL
        UNION ALL SELECT plugin_name, day, day FROM coverage
        UNION ALL SELECT plugin_name, day, day FROM missing_days
    ) GROUP BY plugin_name;
    CREATE TABLE unavailable_days (
        plugin_name TEXT NOT NULL,
        day         TEXT NOT NULL,
        reason      TEXT,
        run_id      TEXT NOT NULL,
        PRIMARY KEY (plugin_name, day)
    ) WITHOUT ROWID;
    "#,
    // 9: who each job collects for: a fingerprint of the key it
    // authenticates with (never the key) and the account it gave, so one
    // organization's rows are kept under one account, whatever the job or
    // account is called.
    r#"
    CREATE TABLE job_identities (
        plugin_name TEXT NOT NULL,
        plugin      TEXT NOT NULL,
        identity    TEXT NOT NULL,
        account     TEXT NOT NULL,
        first_seen  TEXT NOT NULL,
        last_seen   TEXT NOT NULL,
        PRIMARY KEY (plugin_name, identity, account)
    ) WITHOUT ROWID;
    CREATE INDEX job_identities_by_identity ON job_identities (identity);
    "#,
    // 10: the calls of local logs summed per day and group as they are
    // stored, so an estimate over any range reads one row per day and
    // group, not every call. The import adds to them as it writes calls;
    // triggers keep them whatever else moves or removes a call (account
    // moves and merges). Long-context tiers price
    // whole requests, so each call's group holds the largest of
    // `call_tiers` (the price table's tier starts) its input exceeded; a
    // price table with other starts rebuilds the sums.
    r#"
    CREATE TABLE call_tiers (start INTEGER PRIMARY KEY);
    CREATE TABLE call_days (
        day            TEXT NOT NULL,
        provider       TEXT NOT NULL,
        account        TEXT NOT NULL,
        model          TEXT NOT NULL,
        project        TEXT NOT NULL,
        service_tier   TEXT NOT NULL,
        speed          TEXT NOT NULL,
        over           INTEGER NOT NULL,
        calls          INTEGER NOT NULL,
        input          INTEGER NOT NULL,
        output         INTEGER NOT NULL,
        cache_read     INTEGER NOT NULL,
        cache_write_5m INTEGER NOT NULL,
        cache_write_1h INTEGER NOT NULL,
        reasoning      INTEGER NOT NULL,
        web_searches   INTEGER NOT NULL,
        PRIMARY KEY (day, provider, account, model, project, service_tier, speed, over)
    ) WITHOUT ROWID;
    INSERT INTO call_days (day, provider, account, model, project, service_tier, speed, over, calls, input, output, cache_read, cache_write_5m, cache_write_1h, reasoning, web_searches)
        SELECT day, provider, account, model, project, service_tier, speed, 0, count(*), sum(input), sum(output), sum(cache_read), sum(cache_write_5m), sum(cache_write_1h), sum(reasoning), sum(web_searches)
        FROM calls GROUP BY day, provider, account, model, project, service_tier, speed;
    -- The store adds each call it writes (`Tx::upsert_calls`, the hot
    -- path, in one statement); these keep the sums whatever else changes a
    -- call's group (an account moved or merged) or removes it.
    CREATE TRIGGER call_days_move AFTER UPDATE OF day, provider, account, model, project, service_tier, speed ON calls BEGIN
        UPDATE call_days SET calls = calls - 1, input = input - OLD.input, output = output - OLD.output, cache_read = cache_read - OLD.cache_read, cache_write_5m = cache_write_5m - OLD.cache_write_5m, cache_write_1h = cache_write_1h - OLD.cache_write_1h, reasoning = reasoning - OLD.reasoning, web_searches = web_searches - OLD.web_searches
        WHERE day = OLD.day AND provider = OLD.provider AND account = OLD.account AND model = OLD.model AND project = OLD.project AND service_tier = OLD.service_tier AND speed = OLD.speed AND over = coalesce((SELECT max(start) FROM call_tiers WHERE start < OLD.input + OLD.cache_read + OLD.cache_write_5m + OLD.cache_write_1h), 0);
        DELETE FROM call_days WHERE day = OLD.day AND provider = OLD.provider AND account = OLD.account AND model = OLD.model AND project = OLD.project AND service_tier = OLD.service_tier AND speed = OLD.speed AND calls = 0;
        INSERT INTO call_days (day, provider, account, model, project, service_tier, speed, over, calls, input, output, cache_read, cache_write_5m, cache_write_1h, reasoning, web_searches)
        VALUES (NEW.day, NEW.provider, NEW.account, NEW.model, NEW.project, NEW.service_tier, NEW.speed, coalesce((SELECT max(start) FROM call_tiers WHERE start < NEW.input + NEW.cache_read + NEW.cache_write_5m + NEW.cache_write_1h), 0), 1, NEW.input, NEW.output, NEW.cache_read, NEW.cache_write_5m, NEW.cache_write_1h, NEW.reasoning, NEW.web_searches)
        ON CONFLICT DO UPDATE SET calls = calls + 1, input = input + excluded.input, output = output + excluded.output, cache_read = cache_read + excluded.cache_read, cache_write_5m = cache_write_5m + excluded.cache_write_5m, cache_write_1h = cache_write_1h + excluded.cache_write_1h, reasoning = reasoning + excluded.reasoning, web_searches = web_searches + excluded.web_searches;
    END;
    CREATE TRIGGER call_days_delete AFTER DELETE ON calls BEGIN
        UPDATE call_days SET calls = calls - 1, input = input - OLD.input, output = output - OLD.output, cache_read = cache_read - OLD.cache_read, cache_write_5m = cache_write_5m - OLD.cache_write_5m, cache_write_1h = cache_write_1h - OLD.cache_write_1h, reasoning = reasoning - OLD.reasoning, web_searches = web_searches - OLD.web_searches
        WHERE day = OLD.day AND provider = OLD.provider AND account = OLD.account AND model = OLD.model AND project = OLD.project AND service_tier = OLD.service_tier AND speed = OLD.speed AND over = coalesce((SELECT max(start) FROM call_tiers WHERE start < OLD.input + OLD.cache_read + OLD.cache_write_5m + OLD.cache_write_1h), 0);
        DELETE FROM call_days WHERE day = OLD.day AND provider = OLD.provider AND account = OLD.account AND model = OLD.model AND project = OLD.project AND service_tier = OLD.service_tier AND speed = OLD.speed AND calls = 0;
    END;
    "#,
    // 11: which signed webhook trigger (`[[trigger]]` of agent-host.toml)
    // started a run; NULL for a run started from the command line.
    r#"
    ALTER TABLE runs ADD COLUMN trigger TEXT;
    "#,
    // 12: the machine (AGENT_MACHINE) that ran a run, and that first read
    // a call: one store can hold a team's machines.
    r#"
    ALTER TABLE runs ADD COLUMN machine TEXT;
    ALTER TABLE calls ADD COLUMN machine TEXT NOT NULL DEFAULT '';
    "#,
];

/// `PRAGMA application_id` of an agent-host database ("AgHo"): a file
/// without it is not ours to change.
pub const APPLICATION_ID: i64 = 0x4167_486f;

/// The schema version this build writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Refuses a database that agent-host did not create, or a newer one,
/// before anything writes to it. Ours carries [`APPLICATION_ID`]; a file
/// without it (from before the stamp existed) is ours only when its schema
/// is exactly what our migrations built at its version.
pub fn check(conn: &Connection, path: &Path) -> Result<()> {
    let pragma = |name: &str| -> Result<i64> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).ctx("read the database header")
    };
    let (app_id, version) = (pragma("application_id")?, pragma("user_version")?);
    let foreign = || StoreError::Foreign { at: path.display().to_string() };
    if app_id != APPLICATION_ID {
        if app_id != 0 {
            return Err(foreign());
        }
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .ctx("read the schema")?;
        let fresh = version == 0 && tables == 0;
        let ours_unstamped =
            (1..=LATEST).contains(&version) && schema(conn)? == schema_at(version)?;
        if !fresh && !ours_unstamped {
            return Err(foreign());
        }
    }
    if version > LATEST {
        return Err(StoreError::TooNew {
            at: path.display().to_string(),
            found: version,
            known: LATEST,
        });
    }
    Ok(())
}

/// The schema's objects, as SQLite stores them.
fn schema(conn: &Connection) -> Result<Vec<(String, String, Option<String>)>> {
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .ctx("read the schema")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .ctx("read the schema")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx("read the schema")?;
    Ok(rows)
}

/// The schema our first `version` migrations build.
fn schema_at(version: i64) -> Result<Vec<(String, String, Option<String>)>> {
    let conn = Connection::open_in_memory().ctx("open an in-memory database")?;
    super::decimal_sum::register(&conn).ctx("register dec_sum")?;
    for sql in MIGRATIONS.iter().take(version as usize) {
        conn.execute_batch(sql).ctx("build the reference schema")?;
    }
    schema(&conn)
}

/// Applies every migration the database lacks, each in its own transaction.
pub fn apply(conn: &mut Connection, path: &Path) -> Result<()> {
    check(conn, path)?;
    let version: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).ctx("read the schema version")?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("begin a migration")?;
        // Another process may have migrated while we waited for the lock.
        let now: i64 =
            tx.query_row("PRAGMA user_version", [], |r| r.get(0)).ctx("read the schema version")?;
        if now > i as i64 {
            continue;
        }
        tx.execute_batch(sql).ctx(&format!("apply migration {}", i + 1))?;
        // Stamped in the same transaction: an interrupted upgrade never
        // leaves a database this build would call foreign.
        tx.pragma_update(None, "application_id", APPLICATION_ID).ctx("stamp the database")?;
        tx.pragma_update(None, "user_version", i as i64 + 1).ctx("record the schema version")?;
        tx.commit().ctx("commit a migration")?;
    }
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .ctx("read the database header")?;
    if app_id != APPLICATION_ID {
        conn.pragma_update(None, "application_id", APPLICATION_ID).ctx("stamp the database")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_version(version: i64, extra: &str) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        super::super::decimal_sum::register(&conn).unwrap();
        for sql in MIGRATIONS.iter().take(version as usize) {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(extra).unwrap();
        conn.pragma_update(None, "user_version", version).unwrap();
        conn
    }

    #[test]
    fn an_unstamped_database_is_ours_only_with_exactly_our_schema() {
        let path = Path::new("test.db");
        for version in 1..=LATEST {
            assert!(check(&at_version(version, ""), path).is_ok(), "version {version}");
            let other = at_version(version, "CREATE TABLE notes (body TEXT);");
            assert!(matches!(check(&other, path), Err(StoreError::Foreign { .. })));
        }
        let lookalike = Connection::open_in_memory().unwrap();
        lookalike.execute_batch("CREATE TABLE runs (id TEXT); PRAGMA user_version = 1;").unwrap();
        assert!(matches!(check(&lookalike, path), Err(StoreError::Foreign { .. })));
    }

    #[test]
    fn another_application_id_is_foreign_and_ours_is_stamped() {
        let path = Path::new("test.db");
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::decimal_sum::register(&conn).unwrap();
        apply(&mut conn, path).unwrap();
        let id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
        assert_eq!(id, APPLICATION_ID);
        conn.pragma_update(None, "application_id", 7).unwrap();
        assert!(matches!(check(&conn, path), Err(StoreError::Foreign { .. })));
    }

    #[test]
    fn an_upgrade_sums_the_calls_a_previous_release_stored() {
        let call = |key: &str, day: &str, input: i64| {
            format!(
                "INSERT INTO calls VALUES ('claude_code_logs', 'claude_code', '{key}', 'anthropic',
                   'default', '{day}', NULL, 'claude-sonnet-4-5', '/w', 's', 'standard', '',
                   {input}, 10, 0, 0, 0, 0, 0, 'r');"
            )
        };
        let calls =
            [call("a", "2026-11-01", 5), call("b", "2026-11-01", 7), call("c", "2026-11-02", 1)];
        let mut conn = at_version(9, &calls.concat());
        conn.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        apply(&mut conn, Path::new("test.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT day, over, calls, input, output FROM call_days ORDER BY day")
            .unwrap();
        let sums: Vec<(String, i64, i64, i64, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(sums, [("2026-11-01".into(), 0, 2, 12, 20), ("2026-11-02".into(), 0, 1, 1, 10)]);
    }

    #[test]
    fn the_ledger_starts_from_what_the_previous_schema_recorded() {
        let path = Path::new("test.db");
        let mut conn = at_version(
            7,
            "INSERT INTO runs (id, plugin_name, status, started_at, window_from, window_to)
               VALUES ('a', 'openai_collector', 'failed', 't', '2025-03-01', '2025-05-31'),
                      ('b', 'openai_collector', 'success', 't', '2025-08-01', '2025-08-30'),
                      ('c', 'status_watch', 'success', 't', NULL, NULL);
             INSERT INTO coverage VALUES ('openai_collector', '2025-08-01', 'b', 't'),
                                         ('old_job', '2024-12-31', 'x', 't');
             INSERT INTO missing_days (plugin_name, day, run_id) VALUES ('anthropic', '2025-02-02', 'z');",
        );
        conn.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        apply(&mut conn, path).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, LATEST);
        let mut stmt = conn
            .prepare("SELECT plugin_name, first_day || '..' || last_day FROM ledger ORDER BY plugin_name")
            .unwrap();
        let ledger: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected = [
            ("anthropic", "2025-02-02..2025-02-02"),
            ("old_job", "2024-12-31..2024-12-31"),
            ("openai_collector", "2025-03-01..2025-08-30"),
        ];
        let expected: Vec<(String, String)> =
            expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(ledger, expected);
    }
}
