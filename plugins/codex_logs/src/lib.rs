//! `codex_logs`: one `call` record per Codex CLI API call, read from the
//! rollout files Codex keeps (`<codex home>/sessions/**/*.jsonl` and
//! `archived_sessions/`). For people without an Admin API key: token counts
//! to estimate from, never billed amounts.
//!
//! # Brief overview
//!
//! * [`collect`] is the whole run, pure but for reading files: roots from
//!   the request, rollouts under them, new lines since the state, calls
//!   merged by key, into a [`log_kit::Outcome`].
//! * [`Session`] is one file's running context, kept in the state; its
//!   [`Session::feed`] turns a `token_count` event into a call (the delta of
//!   the thread's running totals).
//! * [`parse_line`] reads one line into an [`Event`].

mod parse;
mod session;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use billing_records::CallPayload;
use log_kit::{Level, Line, Log, LogState, Outcome};
use plugin_api::{Manifest, PluginCtx, PluginResult, RunRequest};

pub use parse::{parse_line, Event};
pub use session::{Fed, Session, Totals, FALLBACK_MODEL, PROVIDER, SOURCE};

/// The setting that relocates Codex's folder.
pub const CODEX_HOME: &str = "CODEX_HOME";
/// The `read_paths` entries under [`CODEX_HOME`]: only the two session
/// folders, never the rest (which holds `auth.json`).
pub const HOME_SESSIONS: [&str; 2] = ["$CODEX_HOME/sessions", "$CODEX_HOME/archived_sessions"];
/// The entries read when [`CODEX_HOME`] is unset.
pub const DEFAULT_SESSIONS: [&str; 2] = ["~/.codex/sessions", "~/.codex/archived_sessions"];

/// What the plugin declares.
pub fn manifest() -> Manifest {
    Manifest::new("codex_logs", env!("CARGO_PKG_VERSION"))
        .description(
            "Codex CLI API calls from its local session logs (token counts, for estimates)",
        )
        .settings([CODEX_HOME, log_kit::MAX_BYTES_SETTING])
        .read_paths(HOME_SESSIONS.iter().chain(&DEFAULT_SESSIONS).copied())
        .observes([PROVIDER])
}

fn run(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
    let provider = billing_records::ProviderPayload::new(PROVIDER, "OpenAI");
    log_kit::run_with(ctx, &req, &provider, collect)
}

plugin_api::export_plugin! { manifest: manifest, run: run }

/// One run: the calls in the rollouts' lines not read yet (by `req.state`),
/// at most about `LOG_MAX_BYTES` of them.
pub fn collect(req: &RunRequest, log: Log<'_>) -> Result<Outcome, String> {
    let max_bytes = log_kit::max_bytes(&req.settings)?;
    // Each granted path is a home's `sessions/` or `archived_sessions/`: its
    // parent is the Codex home.
    let mut roots: Vec<PathBuf> = Vec::new();
    for (home, default) in HOME_SESSIONS.iter().zip(DEFAULT_SESSIONS) {
        for p in log_kit::roots(&req.read_paths, home, &[default]) {
            match p.parent() {
                Some(root) if !roots.iter().any(|r| r == root) => roots.push(root.to_path_buf()),
                _ => {}
            }
        }
    }
    let state = LogState::<Session>::load(req.state.as_deref(), log);
    // An import under way goes on with what its last run left, unwalked.
    let files = state.remaining().unwrap_or_else(|| rollouts(&roots, log));
    let mut tally = Tally::default();
    let scanned =
        log_kit::scan(&files, state, max_bytes, log, |session, line| tally.feed(session, line));
    let extra = BTreeMap::from([
        ("model_guessed".to_string(), tally.model_guessed),
        ("stale_events".to_string(), tally.stale_events),
    ]);
    Ok(scanned.into_outcome(tally.calls.into_values().collect(), extra))
}

/// Every rollout under the roots: `sessions/` first, then those of
/// `archived_sessions/` whose path inside it is not also in `sessions/`
/// (there the live copy wins, as in ccusage).
pub fn rollouts(roots: &[PathBuf], log: Log<'_>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for root in roots {
        if !root.is_dir() {
            log(Level::Info, &format!("{}: no Codex home there", root.display()));
            continue;
        }
        let (live_dir, archive_dir) = (root.join("sessions"), root.join("archived_sessions"));
        let live = log_kit::find_jsonl(&live_dir, |_| true, log);
        let live_names: HashSet<&Path> =
            live.iter().filter_map(|p| p.strip_prefix(&live_dir).ok()).collect();
        let archived = log_kit::find_jsonl(
            &archive_dir,
            |p| p.strip_prefix(&archive_dir).is_ok_and(|rel| !live_names.contains(rel)),
            log,
        );
        files.extend(live);
        files.extend(archived);
    }
    files
}

/// The run's calls by key, and its counters.
#[derive(Default)]
struct Tally {
    calls: BTreeMap<String, CallPayload>,
    model_guessed: u64,
    stale_events: u64,
}

impl Tally {
    fn feed(&mut self, session: &mut Session, line: &[u8]) -> Line {
        match session.feed(line) {
            // A copy of a call already held costs no memory: only new keys count.
            Fed::Call { call, guessed } => match self.add(call, guessed) {
                true => Line::Kept,
                false => Line::Used,
            },
            Fed::Stale => {
                self.stale_events += 1;
                Line::Used
            }
            Fed::Noted => Line::Used,
            Fed::Skipped => Line::Skipped,
        }
    }

    /// A key's counts are fixed by the key, so a copy (a fork's replay, an
    /// archived duplicate) only confirms it: the first copy is kept.
    fn add(&mut self, call: CallPayload, guessed: bool) -> bool {
        let new = log_kit::tally::merge_call(&mut self.calls, call);
        self.model_guessed += u64::from(new && guessed);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_declares_its_paths_and_provider() {
        let m = manifest();
        assert_eq!(
            m.read_paths,
            [
                "$CODEX_HOME/sessions",
                "$CODEX_HOME/archived_sessions",
                "~/.codex/sessions",
                "~/.codex/archived_sessions"
            ]
        );
        assert_eq!(m.settings, ["CODEX_HOME", "LOG_MAX_BYTES"]);
        assert!(m.providers.is_empty());
        assert_eq!(m.observes, ["openai"]);
        assert!(!m.daily && m.hosts.is_empty() && m.secrets.is_empty());
    }
}
