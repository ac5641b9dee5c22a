//! The embedded SQLite engine: one file in the home, WAL mode, a busy
//! timeout, versioned migrations tracked with `PRAGMA user_version`, and
//! `dec_sum`, the exact decimal aggregate. A file that is not an
//! agent-host database is refused, never overwritten.

mod decimal_sum;
mod migrations;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{Result, StoreError};

/// Adds "failed to ..." context to rusqlite results.
trait Context<T> {
    fn ctx(self, what: &str) -> Result<T>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn ctx(self, what: &str) -> Result<T> {
        self.map_err(|e| StoreError::sqlite(what, e))
    }
}

/// Opens (or creates) the database at `path` and brings its schema up to
/// date.
pub fn open(path: &Path) -> Result<Connection> {
    if path.exists() {
        check_header(path)?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).ctx("open the database")?;
    // Judge the schema before anything writes (WAL mode changes the header).
    migrations::check(&conn, path)?;
    configure(&conn)?;
    migrations::apply(&mut conn, path)?;
    Ok(conn)
}

/// Opens an existing database for reading only: ours, at this build's
/// schema version, and never written through this connection.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    check_header(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).ctx("open the database")?;
    migrations::check(&conn, path)?;
    let version: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).ctx("read the schema version")?;
    if version != migrations::LATEST {
        return Err(StoreError::Invalid(format!(
            "{} is at schema version {version}, not {}: run any other agent-host command once to upgrade it",
            path.display(),
            migrations::LATEST
        )));
    }
    conn.busy_timeout(Duration::from_secs(10)).ctx("set the busy timeout")?;
    decimal_sum::register(&conn).ctx("register dec_sum")?;
    Ok(conn)
}

/// Checks a database without changing it: ours (see `migrations::check`),
/// and intact (`PRAGMA integrity_check`).
pub fn check_file(path: &Path) -> Result<String> {
    check_header(path)?;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .ctx("open the database")?;
    migrations::check(&conn, path)?;
    let version: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).ctx("read the schema version")?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .ctx("check the database")?;
    if problems.len() == 1 && problems[0] == "ok" {
        Ok(format!("agent-host database, schema version {version}, integrity ok"))
    } else {
        Err(StoreError::Corrupt(problems.join("; ")))
    }
}

/// A fresh in-memory database (tests and benchmarks).
pub fn open_in_memory() -> Result<Connection> {
    let mut conn = Connection::open_in_memory().ctx("open an in-memory database")?;
    configure(&conn)?;
    migrations::apply(&mut conn, Path::new(":memory:"))?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(10)).ctx("set the busy timeout")?;
    // journal_mode answers with a row, so it is read rather than executed.
    let _mode: String =
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).ctx("switch to WAL mode")?;
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .ctx("configure the database")?;
    decimal_sum::register(conn).ctx("register dec_sum")?;
    Ok(())
}

/// Refuses files that are not SQLite databases before SQLite touches them.
fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| StoreError::ReadOnly(e.to_string()))?;
    let n = file.read(&mut head).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // An empty file is what SQLite itself creates before the first write.
    if n == 0 {
        return Ok(());
    }
    if n < 16 || &head != b"SQLite format 3\0" {
        return Err(StoreError::NotADatabase { at: path.display().to_string() });
    }
    Ok(())
}
