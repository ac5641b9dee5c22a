//! OpenCode's SQLite database (`opencode.db`, table `message(id,
//! session_id, time_created, time_updated, data)`), read without ever
//! writing: not the database, not its `-wal` or `-shm`, not a temporary
//! file. OpenCode keeps the database in WAL mode, where even a reader
//! normally writes the `-shm` index; the sandbox lets this plugin read
//! those three files and nothing else beside them.
//!
//! * While OpenCode runs (a `-wal` and a `-shm` exist) the database is opened
//!   `mode=ro`: SQLite reads a `-shm` it cannot write as a read-only index
//!   (or, when no writer holds it, rebuilds one in memory from the `-wal`).
//! * Otherwise every change is in the database file itself (the last
//!   connection checkpointed and removed the `-wal`; or a crash left a
//!   `-wal` without its `-shm`, whose rows wait until OpenCode next opens
//!   the database), which is opened
//!   `immutable=1`: no lock, no `-shm`, nothing to create. Should OpenCode
//!   start while it is read, the run keeps its mark and asks to run again.
//!
//! Rows are read in `(time_updated, id)` order after the last run's mark
//! (see [`crate::cursor`]); OpenCode sets `time_updated` on every insert
//! and update, so a message whose tokens arrive later is read again.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use crate::cursor::{self, Mark};
use crate::message::Origin;

/// How far before its mark a finished run's successor looks again, in
/// milliseconds: OpenCode waits up to 5 s for the database's lock after
/// stamping a row.
pub const SLACK_MS: i64 = 30_000;

/// What the next run needs to know of one database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbState {
    /// The database file's device: a replaced file is read from the start.
    pub dev: u64,
    /// Its inode.
    pub ino: u64,
    /// Where the last run stopped.
    pub mark: Mark,
}

/// One run over one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbRead {
    /// For the next run.
    pub state: DbState,
    /// Whether there is more to read now.
    pub more: bool,
    /// Rows whose `data` was read.
    pub rows: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Whether the file was replaced since the last run (read again).
    pub replaced: bool,
}

/// The file beside `db` named with `suffix` (`-wal`, `-shm`).
pub fn companion(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Reads the rows of `db` changed since `prev`, at most about `max_bytes`
/// of their `data`, handing each to `on_row` with the row's own columns.
pub fn read(
    db: &Path,
    prev: Option<&DbState>,
    max_bytes: u64,
    on_row: &mut dyn FnMut(Origin<'_>, &[u8]),
) -> Result<DbRead, String> {
    let meta = fs::metadata(db).map_err(|e| format!("{}: {e}", db.display()))?;
    let (dev, ino) = (meta.dev(), meta.ino());
    let same = prev.filter(|p| (p.dev, p.ino) == (dev, ino));
    let replaced = prev.is_some() && same.is_none();
    let companions = || (companion(db, "-wal").exists(), companion(db, "-shm").exists());
    let before = companions();
    // A `-wal` without its `-shm` was left by a process that died: no one
    // has the database open, and SQLite could not rebuild the index without
    // writing it, so the file alone is read; the rest once OpenCode opens
    // it again and checkpoints.
    let live = before == (true, true);
    let conn = open(db, live).map_err(|e| format!("{}: {e}", db.display()))?;
    let prev_mark = same.map(|s| &s.mark);
    let adv = scan(&conn, prev_mark, max_bytes, on_row).map_err(|e| {
        let hint =
            if live { " (OpenCode is running; its -wal and -shm must be readable)" } else { "" };
        format!("{}: {e}{hint}", db.display())
    })?;
    drop(conn);
    if !live && companions() != before {
        // OpenCode started while the file was read without locks: what was
        // read stays (keyed, so never twice), the mark stays, and the next
        // run reads through the WAL.
        let state = DbState { dev, ino, mark: prev_mark.cloned().unwrap_or_default() };
        return Ok(DbRead { state, more: true, rows: adv.fetched, bytes: adv.bytes, replaced });
    }
    let state = DbState { dev, ino, mark: adv.mark };
    Ok(DbRead { state, more: adv.more, rows: adv.fetched, bytes: adv.bytes, replaced })
}

/// Opens `db` read-only: through its WAL while one exists, else as an
/// immutable file. Sorting stays in memory, so no temporary file is made.
fn open(db: &Path, live: bool) -> rusqlite::Result<Connection> {
    let mode = if live { "mode=ro" } else { "immutable=1" };
    let uri = format!("file:{}?{mode}", uri_path(db));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

/// A path as the path of a `file:` URI: `%`, `?` and `#` escaped, so a
/// folder named with them is still the folder meant.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The keys changed after the mark, then each row's data, in one read
/// transaction (one snapshot).
fn scan(
    conn: &Connection,
    prev: Option<&Mark>,
    max_bytes: u64,
    on_row: &mut dyn FnMut(Origin<'_>, &[u8]),
) -> rusqlite::Result<cursor::Advanced> {
    conn.execute_batch("BEGIN")?;
    let (t, id) = Mark::after(prev, SLACK_MS);
    let mut keys = conn.prepare(
        "SELECT time_updated, id FROM message
         WHERE time_updated > ?1 OR (time_updated = ?1 AND id > ?2)
         ORDER BY time_updated, id",
    )?;
    let items = keys
        .query_map((t, id), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut row =
        conn.prepare("SELECT session_id, time_created, data FROM message WHERE id = ?1")?;
    let mut failed = None;
    let adv = cursor::advance(prev, &items, SLACK_MS, max_bytes, |key| {
        let got = row.query_row([key], |r| {
            let session: String = r.get(0)?;
            let created: Option<i64> = r.get(1)?;
            let data = match r.get_ref(2)? {
                ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
                _ => Vec::new(),
            };
            Ok((session, created, data))
        });
        match got {
            Ok((session, created, data)) => {
                on_row(Origin { id: Some(key), session: Some(&session), created }, &data);
                data.len() as u64
            }
            Err(e) => {
                failed.get_or_insert(e);
                0
            }
        }
    });
    drop((keys, row));
    conn.execute_batch("COMMIT")?;
    match failed {
        Some(e) => Err(e),
        None => Ok(adv),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_escape_what_a_uri_would_read_otherwise() {
        assert_eq!(uri_path(Path::new("/a b/50%?#/x.db")), "/a b/50%25%3F%23/x.db");
        assert_eq!(
            companion(Path::new("/d/opencode.db"), "-wal"),
            PathBuf::from("/d/opencode.db-wal")
        );
    }
}
