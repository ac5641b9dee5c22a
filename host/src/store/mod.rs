//! The SQLite store: the only module that touches `rusqlite`.
//!
//! WAL mode, a busy timeout, and versioned migrations tracked with
//! `PRAGMA user_version`. Kernel tables (runs, logs, coverage, generic records)
//! live in [`runs`]; the billing application's tables in [`billing`]. A file
//! that is not an agent-host database is refused, never overwritten.

pub mod accounts;
pub mod billing;
pub mod calls;
mod decimal_sum;
mod migrations;
pub mod reports;
pub mod runs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

/// Why the store cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not an SQLite database at all.
    #[error("{path} is not an SQLite database (left untouched)")]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// An SQLite database that agent-host did not create.
    #[error("{path} is an SQLite database that agent-host did not create (left untouched)")]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer agent-host.
    #[error("{path} has schema version {found}, newer than this agent-host knows ({known})")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// The database file is damaged.
    #[error("the database is corrupt: {0}")]
    Corrupt(String),
    /// The disk or folder is read-only.
    #[error("the database is read-only: {0}")]
    ReadOnly(String),
    /// The disk is full.
    #[error("the disk is full: {0}")]
    Full(String),
    /// Reading or writing the file failed (often a full disk).
    #[error("disk I/O error while trying to {0}; is the disk full?")]
    Io(String),
    /// Another process held the database past the busy timeout.
    #[error("the database stayed locked by another process: {0}")]
    Busy(String),
    /// Anything else from SQLite, with what was being done.
    #[error("failed to {what}: {source}")]
    Sqlite {
        /// What was being done, as a "failed to ..." fragment.
        what: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored value that does not read back (a bug or a hand edit).
    #[error("invalid stored data: {0}")]
    Invalid(String),
}

impl StoreError {
    /// How to fix it, where that is known.
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::NotADatabase { path } | StoreError::Foreign { path } => Some(format!(
                "move {} aside (or use another --home); agent-host creates a fresh database",
                path.display()
            )),
            StoreError::TooNew { .. } => Some("upgrade agent-host".into()),
            StoreError::Corrupt(_) => {
                Some("restore agent_os.db from a backup, or move it aside to start afresh".into())
            }
            StoreError::ReadOnly(_) => {
                Some("make the home folder and agent_os.db writable by this user".into())
            }
            StoreError::Full(_) | StoreError::Io(_) => {
                Some("free disk space (and check the disk) and run again; nothing was lost".into())
            }
            StoreError::Busy(_) => Some("wait for the other agent-host to finish".into()),
            _ => None,
        }
    }

    /// Wraps an SQLite error, classifying the ones a user can act on.
    pub(crate) fn sqlite(what: &str, source: rusqlite::Error) -> Self {
        let code = source.sqlite_error_code();
        let text = source.to_string();
        match code {
            Some(ErrorCode::NotADatabase) => StoreError::Corrupt(text),
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt(text),
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly(text),
            Some(ErrorCode::DiskFull) => StoreError::Full(text),
            Some(ErrorCode::SystemIoFailure) => StoreError::Io(what.to_string()),
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                StoreError::Busy(text)
            }
            Some(ErrorCode::CannotOpen) => {
                StoreError::ReadOnly(format!("{text} (the folder may be read-only or missing)"))
            }
            _ => StoreError::Sqlite { what: what.to_string(), source },
        }
    }
}

/// A `Result` with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Adds "failed to ..." context to rusqlite results.
pub(crate) trait Context<T> {
    fn ctx(self, what: &str) -> Result<T>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn ctx(self, what: &str) -> Result<T> {
        self.map_err(|e| StoreError::sqlite(what, e))
    }
}

/// An open database.
pub struct Store {
    conn: Connection,
}

/// One write transaction; dropped without [`Tx::commit`] it rolls back.
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl Tx<'_> {
    /// Commits everything written through this transaction at once.
    pub fn commit(self) -> Result<()> {
        self.tx.commit().ctx("commit")
    }
}

impl Store {
    /// Opens (or creates) the database at `path` and brings its schema up to
    /// date. A file that is not ours is refused and left as it is.
    pub fn open(path: &Path) -> Result<Store> {
        let existed = path.exists();
        if existed {
            check_header(path)?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ctx("open the database")?;
        // Judge the schema before anything writes (WAL mode changes the header).
        migrations::check(&conn, path)?;
        let mut store = Store { conn };
        store.configure()?;
        migrations::apply(&mut store.conn, path)?;
        Ok(store)
    }

    /// Opens an existing database for reading only (the dashboard): ours,
    /// at this build's schema version, and never written through this
    /// connection.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        check_header(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ctx("open the database")?;
        migrations::check(&conn, path)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .ctx("read the schema version")?;
        if version != migrations::LATEST {
            return Err(StoreError::Invalid(format!(
                "{} is at schema version {version}, not {}: run any other agent-host command once to upgrade it",
                path.display(),
                migrations::LATEST
            )));
        }
        conn.busy_timeout(Duration::from_secs(10)).ctx("set the busy timeout")?;
        decimal_sum::register(&conn).ctx("register dec_sum")?;
        Ok(Store { conn })
    }

    /// Checks a database without changing it: ours (see
    /// `migrations::check`), and intact (`PRAGMA integrity_check`).
    pub fn check_file(path: &Path) -> Result<String> {
        check_header(path)?;
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ctx("open the database")?;
        migrations::check(&conn, path)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .ctx("read the schema version")?;
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
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory().ctx("open an in-memory database")?;
        let mut store = Store { conn };
        store.configure()?;
        migrations::apply(&mut store.conn, Path::new(":memory:"))?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<()> {
        self.conn.busy_timeout(Duration::from_secs(10)).ctx("set the busy timeout")?;
        // journal_mode answers with a row, so it is read rather than executed.
        let _mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .ctx("switch to WAL mode")?;
        self.conn
            .execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .ctx("configure the database")?;
        decimal_sum::register(&self.conn).ctx("register dec_sum")?;
        Ok(())
    }

    /// Every row `sql` returns for `params`, mapped by `row`, collected
    /// (into a `Vec`, a map...); `what` names the read in errors.
    pub(crate) fn query_all<T, C: FromIterator<T>>(
        &self,
        what: &str,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<C> {
        let mut stmt = self.conn.prepare_cached(sql).ctx(what)?;
        let rows = stmt.query_map(params, row).ctx(what)?;
        rows.collect::<rusqlite::Result<C>>().ctx(what)
    }

    /// Starts a write transaction. `BEGIN IMMEDIATE` takes the write lock now,
    /// so two writers queue instead of failing half way.
    pub fn transaction(&mut self) -> Result<Tx<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("begin a transaction")?;
        Ok(Tx { tx })
    }
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
        return Err(StoreError::NotADatabase { path: path.to_path_buf() });
    }
    Ok(())
}
