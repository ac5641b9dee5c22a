//! The store: the only module that names a database engine.
//!
//! It implements what the layers above define and depend on: the kernel's
//! [`crate::kernel::ledger::Ledger`] and `LedgerReads` (in [`runs`]), the
//! billing application's [`crate::billing::storage::BillingWrites`] (in
//! [`billing`]) and `BillingReads` (in [`reports`]); commands that change
//! history by hand (accounts, pruning, `store migrate`) use [`Store`]
//! itself. Two engines behind one seam ([`sql::Db`]): the embedded SQLite
//! file (the default, no setup; see [`sqlite`]) and a PostgreSQL server
//! shared by a team's machines (`AGENT_STORE_URL`; see [`postgres`]). The
//! query modules are written once, in the SQL both accept. A database that
//! is not agent-host's is refused, never overwritten.

pub mod accounts;
pub mod billing;
pub mod copy;
pub mod postgres;
pub mod reports;
pub mod runs;
pub mod sql;
pub mod sqlite;

use std::path::{Path, PathBuf};

use sql::{args, Db};

/// Where the history lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server (`postgres://user:pass@host:port/db`).
    Postgres(String),
}

impl Location {
    /// From a store URL: `postgres://…` / `postgresql://…`, or
    /// `sqlite:PATH` (a relative path is taken from the working folder).
    pub fn parse(url: &str) -> Result<Location> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Location::Postgres(url.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite://").or(url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(StoreError::Url("sqlite: needs a file path (sqlite:PATH)".into()));
            }
            Ok(Location::Sqlite(PathBuf::from(path)))
        } else {
            Err(StoreError::Url(format!(
                "{} is not a store URL: use postgres://user:password@host:port/database or sqlite:PATH",
                postgres::redacted(url)
            )))
        }
    }
}

/// Shown without its password.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(&postgres::redacted(url)),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Why the store cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not an SQLite database at all.
    #[error("{at} is not an SQLite database (left untouched)")]
    NotADatabase {
        /// The file.
        at: String,
    },
    /// A database that agent-host did not create.
    #[error("{at} is a database that agent-host did not create (left untouched)")]
    Foreign {
        /// The file or server.
        at: String,
    },
    /// Written by a newer agent-host.
    #[error("{at} has schema version {found}, newer than this agent-host knows ({known})")]
    TooNew {
        /// The file or server.
        at: String,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// A store URL that cannot be used (shown without its password).
    #[error("{0}")]
    Url(String),
    /// The PostgreSQL server could not be reached or refused the login.
    #[error("cannot reach the store: {0}")]
    Unreachable(String),
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
    /// Anything else from PostgreSQL, with what was being done.
    #[error("failed to {what}: {detail}")]
    Postgres {
        /// What was being done, as a "failed to ..." fragment.
        what: String,
        /// The server's message (never holds the password).
        detail: String,
    },
    /// A copy's target already holds what it would copy.
    #[error("{0}")]
    NotEmpty(String),
    /// A stored value that does not read back (a bug or a hand edit).
    #[error("invalid stored data: {0}")]
    Invalid(String),
}

impl StoreError {
    /// How to fix it, where that is known.
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::NotADatabase { at } | StoreError::Foreign { at } => Some(format!(
                "move {at} aside (or use another --home or AGENT_STORE_URL); agent-host creates a fresh database"
            )),
            StoreError::TooNew { .. } => Some("upgrade agent-host".into()),
            StoreError::Url(_) => Some(
                "set AGENT_STORE_URL (or [store] url in agent-host.toml) to postgres://user:password@host:port/database; TLS is required toward another machine".into(),
            ),
            StoreError::Unreachable(_) => Some(
                "check that the PostgreSQL server is up, the URL's host, port, user and password, and that the database exists; nothing was written".into(),
            ),
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
            StoreError::NotEmpty(_) => Some(
                "migrate into an empty database, or pass --append to add a history that shares no row with it".into(),
            ),
            _ => None,
        }
    }

    /// Wraps an SQLite error, classifying the ones a user can act on.
    pub(crate) fn sqlite(what: &str, source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
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

    /// Wraps a PostgreSQL error, classifying the ones a user can act on.
    pub(crate) fn postgres(what: &str, e: ::postgres::Error) -> Self {
        use ::postgres::error::SqlState;
        let detail = match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => e.to_string(),
        };
        match e.code() {
            _ if e.is_closed() => {
                StoreError::Unreachable(format!("the connection closed ({detail})"))
            }
            Some(c) if *c == SqlState::DISK_FULL => StoreError::Full(detail),
            Some(c) if *c == SqlState::READ_ONLY_SQL_TRANSACTION => StoreError::ReadOnly(detail),
            Some(c)
                if *c == SqlState::INVALID_PASSWORD
                    || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                StoreError::Unreachable(detail)
            }
            _ => StoreError::Postgres { what: what.to_string(), detail },
        }
    }
}

/// A day as the store keeps it (`YYYY-MM-DD` text), read back.
pub(crate) fn stored_day(text: &str) -> Result<chrono::NaiveDate> {
    text.parse().map_err(|_| StoreError::Invalid(format!("stored day {text:?} is not a date")))
}

/// A `Result` with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open store, on either engine.
pub struct Store {
    db: Db,
    /// The machine this process writes as (`AGENT_MACHINE`).
    machine: String,
}

/// One write transaction; dropped without [`Tx::commit`] it rolls back.
pub struct Tx<'a> {
    db: &'a Db,
    machine: &'a str,
    done: bool,
}

impl<'a> Tx<'a> {
    /// Commits everything written through this transaction at once.
    pub fn commit(mut self) -> Result<()> {
        let committed = self.db.batch("commit", "COMMIT");
        // A COMMIT that failed (a full disk, a lost server) may leave the
        // transaction open: dropping `self` then rolls it back, so the
        // connection is ready for the next one and nothing half-written
        // stays.
        self.done = committed.is_ok();
        committed
    }

    /// Leaves the transaction open past this guard: the kernel's
    /// [`crate::kernel::ledger::Ledger::begin_commit`] holds it until the commit.
    fn keep_open(mut self) {
        self.done = true;
    }

    /// A guard for the transaction [`Tx::keep_open`] left open: committed
    /// through it, or rolled back when it is dropped.
    fn reopen(db: &'a Db, machine: &'a str) -> Tx<'a> {
        Tx { db, machine, done: false }
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Nothing to report: a failed rollback leaves the server or
            // SQLite to discard the transaction when the connection ends.
            let _ = self.db.batch("roll back", "ROLLBACK");
        }
    }
}

impl Store {
    /// Opens (or creates) the store at `at` and brings its schema up to
    /// date. A database that is not ours is refused and left as it is.
    pub fn open_at(at: &Location) -> Result<Store> {
        match at {
            Location::Sqlite(path) => Store::open(path),
            Location::Postgres(url) => {
                let mut client = postgres::connect(url)?;
                postgres::migrate(&mut client, &at.to_string())?;
                Ok(Store::from_db(Db::Pg(Box::new(sql::PgConn::new(client)))))
            }
        }
    }

    /// Opens (or creates) the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        sqlite::open(path).map(Db::Lite).map(Store::from_db)
    }

    /// Opens an existing store for reading only (the dashboard): ours, at
    /// this build's schema version, and never written through.
    pub fn open_read_only(at: &Location) -> Result<Store> {
        match at {
            Location::Sqlite(path) => sqlite::open_read_only(path).map(Db::Lite),
            Location::Postgres(url) => {
                let mut client = postgres::connect(url)?;
                let shown = at.to_string();
                let version = postgres::check(&mut client, &shown)?;
                if version != postgres::LATEST {
                    return Err(StoreError::Invalid(format!(
                        "{shown} is at schema version {version}, not {}: run any other agent-host command once to upgrade it",
                        postgres::LATEST
                    )));
                }
                client
                    .batch_execute("SET default_transaction_read_only = on")
                    .map_err(|e| StoreError::postgres("open the store read-only", e))?;
                Ok(Db::Pg(Box::new(sql::PgConn::new(client))))
            }
        }
        .map(Store::from_db)
    }

    /// Checks a store without changing it: ours, at a known version, and
    /// (for SQLite) intact.
    pub fn check(at: &Location) -> Result<String> {
        match at {
            Location::Sqlite(path) => sqlite::check_file(path),
            Location::Postgres(url) => {
                let mut client = postgres::connect(url)?;
                let version = postgres::check(&mut client, &at.to_string())?;
                Ok(format!("agent-host PostgreSQL store, schema version {version}"))
            }
        }
    }

    /// A fresh in-memory SQLite database (tests and benchmarks).
    pub fn open_in_memory() -> Result<Store> {
        sqlite::open_in_memory().map(Db::Lite).map(Store::from_db)
    }

    /// A fresh store for a unit test: in memory, or, when the suite runs
    /// on PostgreSQL (`AGENT_TEST_STORE=postgres`), a new database on
    /// `AGENT_TEST_PG_URL`'s server.
    #[cfg(test)]
    pub fn for_tests() -> Store {
        if std::env::var("AGENT_TEST_STORE").as_deref() != Ok("postgres") {
            return Store::open_in_memory().expect("an in-memory store");
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let server = std::env::var("AGENT_TEST_PG_URL").expect("AGENT_TEST_PG_URL");
        let name = format!(
            "unit_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let mut admin = postgres::connect(&server).expect("the test server");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).expect("a clean slate");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("a test database");
        let (base, _) = server.rsplit_once('/').expect("a database in AGENT_TEST_PG_URL");
        Store::open_at(&Location::Postgres(format!("{base}/{name}"))).expect("the test store")
    }

    /// The write methods of the transaction open on this store (or of
    /// none: each statement then commits alone); never rolls back.
    pub(crate) fn within(&self) -> Tx<'_> {
        Tx { db: &self.db, machine: &self.machine, done: true }
    }

    fn from_db(db: Db) -> Store {
        Store { db, machine: String::new() }
    }

    /// Writes as `machine` from now on (runs and newly read calls say so).
    pub fn set_machine(&mut self, machine: &str) {
        self.machine = machine.to_string();
    }

    /// The machine this store writes as.
    pub fn machine(&self) -> &str {
        &self.machine
    }

    /// Whether this is a store several machines share (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.db.is_postgres()
    }

    /// Every row `sql` returns for `args`, mapped by `row`, collected
    /// (into a `Vec`, a map...); `what` names the read in errors.
    pub(crate) fn query_all<T, C: FromIterator<T>>(
        &self,
        what: &str,
        sql: &str,
        args: &[&dyn sql::Arg],
        row: impl FnMut(&sql::Row<'_>) -> Result<T>,
    ) -> Result<C> {
        self.db.rows(what, sql, args, row)
    }

    /// Starts a write transaction. SQLite's `BEGIN IMMEDIATE` and
    /// PostgreSQL's write lock take the write turn now, so two writers
    /// queue instead of failing half way.
    pub fn transaction(&mut self) -> Result<Tx<'_>> {
        self.begin()
    }

    /// [`Store::transaction`] for the store's own multi-statement writes
    /// behind `&self` (a read that first rebuilds what it reads).
    pub(crate) fn begin(&self) -> Result<Tx<'_>> {
        if self.db.is_postgres() {
            self.db.batch("begin a transaction", "BEGIN")?;
            let tx = Tx { db: &self.db, machine: &self.machine, done: false };
            self.db.exec(
                "begin a transaction",
                "SELECT pg_advisory_xact_lock(?1, ?2)",
                args![i64::from(postgres::LOCK_SPACE), i64::from(postgres::WRITE_LOCK)],
            )?;
            Ok(tx)
        } else {
            self.db.batch("begin a transaction", "BEGIN IMMEDIATE")?;
            Ok(Tx { db: &self.db, machine: &self.machine, done: false })
        }
    }
}
