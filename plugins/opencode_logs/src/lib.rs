//! `opencode_logs`: one `call` record per OpenCode assistant message with
//! tokens, read from OpenCode's local database (`<data>/opencode/
//! opencode.db`) and from the JSON files older versions kept
//! (`<data>/opencode/storage/message/`), where `<data>` is `XDG_DATA_HOME`
//! or `~/.local/share`. For people without billing access: token counts to
//! estimate from, never billed amounts.
//!
//! # Brief overview
//!
//! * [`collect`] is the whole run, pure but for reading files: the database
//!   first, then the legacy files, each from its mark in the state, within
//!   one byte budget, calls merged by message id, into a
//!   [`log_kit::Outcome`].
//! * [`db`] reads the database read-only (never its folder: `auth.json`
//!   lies beside it), [`legacy`] the JSON files, both through [`cursor`]'s
//!   high-water mark.
//! * [`message::read`] turns one message into a call; [`providers`] says
//!   whose prices apply.

pub mod cursor;
pub mod db;
pub mod legacy;
pub mod message;
pub mod providers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use billing_records::CallPayload;
use log_kit::{Counts, Level, Log, Outcome};
use plugin_api::{Manifest, PluginCtx, PluginResult, Record, RunRequest};
use serde::{Deserialize, Serialize};

use crate::cursor::Mark;
use crate::db::DbState;
use crate::message::{Origin, Read};

/// The setting that relocates OpenCode's data, as OpenCode reads it.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
/// The database under [`XDG_DATA_HOME`].
pub const XDG_DB: &str = "$XDG_DATA_HOME/opencode/opencode.db";
/// The database when [`XDG_DATA_HOME`] is unset.
pub const DEFAULT_DB: &str = "~/.local/share/opencode/opencode.db";
/// The legacy message files under [`XDG_DATA_HOME`].
pub const XDG_LEGACY: &str = "$XDG_DATA_HOME/opencode/storage/message";
/// The legacy message files when [`XDG_DATA_HOME`] is unset.
pub const DEFAULT_LEGACY: &str = "~/.local/share/opencode/storage/message";

/// What the plugin declares. The read paths are the database and its two
/// companions, file by file, and the legacy message folder: never the
/// folder that holds them, where OpenCode keeps `auth.json`.
pub fn manifest() -> Manifest {
    let db_files = |db: &str| [db.to_string(), format!("{db}-wal"), format!("{db}-shm")];
    let mut read_paths: Vec<String> = db_files(XDG_DB).into();
    read_paths.push(XDG_LEGACY.into());
    read_paths.extend(db_files(DEFAULT_DB));
    read_paths.push(DEFAULT_LEGACY.into());
    Manifest::new("opencode_logs", env!("CARGO_PKG_VERSION"))
        .description("OpenCode API calls from its local database (token counts, for estimates)")
        .settings([XDG_DATA_HOME, log_kit::MAX_BYTES_SETTING])
        .read_paths(read_paths)
        .observes(providers::observed())
}

fn run(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
    let mut log = |level: Level, message: &str| match level {
        Level::Info => ctx.info(message),
        Level::Warn => ctx.warn(message),
        Level::Progress { done, total } => ctx.progress(done, total),
    };
    match collect(&req, &mut log) {
        Ok(mut out) => {
            if let Some(account) = &req.account {
                out.calls.iter_mut().for_each(|c| c.account = account.clone());
            }
            ctx.info(&out.summary());
            PluginResult::success(records(&out), &out.metadata())
        }
        Err(e) => PluginResult::failed(e),
    }
}

plugin_api::export_plugin! { manifest: manifest, run: run }

/// The calls, and how each provider they name is shown.
pub fn records(out: &Outcome) -> Vec<Record> {
    let mut records = out.records();
    let named: BTreeSet<&str> = out.calls.iter().map(|c| c.provider.as_str()).collect();
    for p in named.into_iter().filter_map(providers::describe) {
        let payload = serde_json::to_string(&p).unwrap_or_default();
        records.push(Record::new(billing_records::PROVIDER, &p.provider, payload));
    }
    records
}

/// What the next run starts from, by path.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    db: BTreeMap<String, DbState>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    legacy: BTreeMap<String, Mark>,
}

impl State {
    /// A state that does not read starts the reading over (calls are merged
    /// by key, so nothing counts twice), with a warning.
    fn load(text: Option<&str>, log: Log<'_>) -> State {
        let Some(text) = text else { return State::default() };
        serde_json::from_str(text).unwrap_or_else(|e| {
            log(
                Level::Warn,
                &format!("the stored state does not read ({e}); reading from the start"),
            );
            State::default()
        })
    }
}

/// One run: the messages changed since `req.state`, at most about
/// `LOG_MAX_BYTES` of them, the database before the legacy files.
pub fn collect(req: &RunRequest, log: Log<'_>) -> Result<Outcome, String> {
    let max_bytes = log_kit::max_bytes(&req.settings)?;
    let old = State::load(req.state.as_deref(), log);
    let mut run = Run { max_bytes, ..Run::default() };
    for path in log_kit::roots(&req.read_paths, XDG_DB, &[DEFAULT_DB]) {
        run.database(path, &old, log);
    }
    for path in log_kit::roots(&req.read_paths, XDG_LEGACY, &[DEFAULT_LEGACY]) {
        run.legacy(path, &old, log);
    }
    let extra = BTreeMap::from([
        ("rows_read".to_string(), run.rows),
        ("provider_unpriced".to_string(), run.tally.other_provider),
        ("model_unknown".to_string(), run.tally.unknown_model),
        ("legacy_unreadable".to_string(), run.unreadable),
    ]);
    run.counts.lines_skipped = run.tally.skipped;
    let state = serde_json::to_string(&run.next).expect("a state always serializes");
    let calls = run.tally.calls.into_values().collect();
    Ok(Outcome { calls, state, more: run.more, counts: run.counts, extra })
}

/// A run in progress.
#[derive(Default)]
struct Run {
    max_bytes: u64,
    tally: Tally,
    next: State,
    counts: Counts,
    more: bool,
    rows: u64,
    unreadable: u64,
}

impl Run {
    fn left(&self) -> Option<u64> {
        (!self.more && self.counts.bytes_read <= self.max_bytes)
            .then(|| (self.max_bytes - self.counts.bytes_read).max(1))
    }

    fn database(&mut self, path: PathBuf, old: &State, log: Log<'_>) {
        let key = path.to_string_lossy().into_owned();
        let prev = old.db.get(&key);
        if !path.exists() {
            log(Level::Info, &format!("{key}: no OpenCode database there"));
            return;
        }
        let Some(left) = self.left() else {
            self.next.db.extend(prev.map(|p| (key, p.clone())));
            self.more = true;
            return;
        };
        let tally = &mut self.tally;
        let read = db::read(&path, prev, left, &mut |origin, data| tally.feed(data, origin));
        match read {
            Ok(r) => {
                if r.replaced {
                    log(Level::Info, &format!("{key}: a new database file; reading it whole"));
                }
                self.counts.files_read += 1;
                self.counts.bytes_read += r.bytes;
                self.rows += r.rows;
                self.more |= r.more;
                self.next.db.insert(key, r.state);
            }
            Err(e) => {
                log(Level::Warn, &format!("skipped, cannot be read: {e}"));
                self.next.db.extend(prev.map(|p| (key, p.clone())));
            }
        }
    }

    fn legacy(&mut self, root: PathBuf, old: &State, log: Log<'_>) {
        let key = root.to_string_lossy().into_owned();
        let prev = old.legacy.get(&key);
        if !root.is_dir() {
            return;
        }
        let Some(left) = self.left() else {
            self.next.legacy.extend(prev.map(|p| (key, p.clone())));
            self.more = true;
            return;
        };
        let tally = &mut self.tally;
        let read = legacy::read(&root, prev, left, log, &mut |data| {
            tally.feed(data, Origin::default());
        });
        self.counts.files_read += read.files;
        self.counts.bytes_read += read.bytes;
        self.unreadable += read.unreadable;
        self.more |= read.more;
        self.next.legacy.insert(key, read.mark);
    }
}

/// The run's calls by message id, and its counters.
#[derive(Default)]
struct Tally {
    calls: BTreeMap<String, CallPayload>,
    skipped: u64,
    other_provider: u64,
    unknown_model: u64,
}

impl Tally {
    /// A message in the database and in a legacy file (OpenCode migrated
    /// it) has the same id: one call.
    fn feed(&mut self, data: &[u8], origin: Origin<'_>) {
        match message::read(data, origin) {
            Read::Call { call, other_provider, unknown_model } => {
                if log_kit::tally::merge_call(&mut self.calls, call) {
                    self.other_provider += u64::from(other_provider);
                    self.unknown_model += u64::from(unknown_model);
                }
            }
            Read::Noted => {}
            Read::Skipped => self.skipped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_asks_for_the_database_files_never_their_folder() {
        let m = manifest();
        assert_eq!(
            m.read_paths,
            [
                "$XDG_DATA_HOME/opencode/opencode.db",
                "$XDG_DATA_HOME/opencode/opencode.db-wal",
                "$XDG_DATA_HOME/opencode/opencode.db-shm",
                "$XDG_DATA_HOME/opencode/storage/message",
                "~/.local/share/opencode/opencode.db",
                "~/.local/share/opencode/opencode.db-wal",
                "~/.local/share/opencode/opencode.db-shm",
                "~/.local/share/opencode/storage/message",
            ]
        );
        assert_eq!(m.settings, ["XDG_DATA_HOME", "LOG_MAX_BYTES"]);
        assert!(m.observes.contains(&"anthropic".to_string()));
        assert!(m.observes.contains(&providers::OTHER.to_string()));
        assert!(m.providers.is_empty() && !m.daily && m.hosts.is_empty() && m.secrets.is_empty());
    }
}
