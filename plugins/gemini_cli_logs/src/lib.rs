//! `gemini_cli_logs`: one `call` record per Gemini API reply, read from the
//! session files Gemini CLI keeps (`<gemini home>/.gemini/tmp/<project>/
//! chats/**/*.jsonl`). For people without billing access: token counts to
//! estimate from, never billed amounts.
//!
//! # Brief overview
//!
//! * [`collect`] is the whole run, pure but for reading files: roots from
//!   the request, session files under them, new lines since the state,
//!   calls merged by key, into a [`log_kit::Outcome`].
//! * [`Session`] is one file's running context, kept in the state; its
//!   [`Session::feed`] turns a reply with tokens into a call keyed by the
//!   message's id.
//! * [`parse_line`] reads one line into a [`Record`].
//! * [`legacy`] reads the whole-file `.json` sessions of Gemini CLI before
//!   v0.39.0, again only when one changed.

pub mod legacy;
mod parse;
mod session;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use billing_records::CallPayload;
use log_kit::{Level, Line, Log, LogState, Outcome};
use plugin_api::{Manifest, PluginCtx, PluginResult, RunRequest};
use serde::{Deserialize, Serialize};

pub use parse::{parse_line, Record, Tokens};
pub use session::{Fed, Session, PROVIDER, SOURCE, UNKNOWN_MODEL};

/// The setting that relocates Gemini CLI's home (its `.gemini` folder is
/// inside), as the CLI's own `GEMINI_CLI_HOME` does.
pub const GEMINI_CLI_HOME: &str = "GEMINI_CLI_HOME";
/// The `read_paths` entry under [`GEMINI_CLI_HOME`]: only the per-project
/// folder of sessions, never the rest of `.gemini` (which holds
/// `oauth_creds.json` and `.env`).
pub const HOME_TMP: &str = "$GEMINI_CLI_HOME/.gemini/tmp";
/// The entry read when [`GEMINI_CLI_HOME`] is unset.
pub const DEFAULT_TMP: &str = "~/.gemini/tmp";

/// What the plugin declares.
pub fn manifest() -> Manifest {
    Manifest::new("gemini_cli_logs", env!("CARGO_PKG_VERSION"))
        .description(
            "Gemini CLI API calls from its local session files (token counts, for estimates)",
        )
        .settings([GEMINI_CLI_HOME, log_kit::MAX_BYTES_SETTING])
        .read_paths([HOME_TMP, DEFAULT_TMP])
        .observes([PROVIDER])
}

fn run(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
    let provider = billing_records::ProviderPayload::new(PROVIDER, "Google");
    log_kit::run_with(ctx, &req, &provider, collect)
}

plugin_api::export_plugin! { manifest: manifest, run: run }

/// One run: the calls in the session files' lines not read yet (by
/// `req.state`), at most about `LOG_MAX_BYTES` of them.
pub fn collect(req: &RunRequest, log: Log<'_>) -> Result<Outcome, String> {
    let max_bytes = log_kit::max_bytes(&req.settings)?;
    let roots = log_kit::roots(&req.read_paths, HOME_TMP, &[DEFAULT_TMP]);
    let state = State::load(req.state.as_deref(), log);
    let mut tally = Tally::default();
    // The legacy files first: they are few and no longer grow.
    let pass = legacy::read(
        &legacy::legacy_files(&roots),
        &state.legacy,
        max_bytes,
        log,
        |call, guessed| {
            tally.add(call, guessed);
        },
    );
    let lines = LogState::<Session>::load(state.jsonl.as_deref(), log);
    let (jsonl, more, mut counts) = if pass.more {
        (state.jsonl, true, log_kit::Counts::default())
    } else {
        let left = max_bytes.saturating_sub(pass.bytes_read).max(1);
        // An import under way goes on with what its last run left, unwalked.
        let files = lines.remaining().unwrap_or_else(|| session_files(&roots, log));
        let scanned =
            log_kit::scan(&files, lines, left, log, |session, line| tally.feed(session, line));
        (Some(scanned.state.to_json()), scanned.more, scanned.counts)
    };
    counts.files_read += pass.files_read;
    counts.bytes_read += pass.bytes_read;
    let extra = BTreeMap::from([
        ("model_unknown".to_string(), tally.model_unknown),
        ("model_guessed".to_string(), tally.model_guessed),
        ("legacy_unreadable".to_string(), pass.unreadable),
    ]);
    let state = State { jsonl, legacy: pass.seen }.to_json();
    Ok(Outcome { calls: tally.calls.into_values().collect(), state, more, counts, extra })
}

/// What the next run starts from: the JSONL files' offsets (log_kit's own
/// state, as its text) and what each legacy file was when read.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jsonl: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    legacy: BTreeMap<String, legacy::Seen>,
}

impl State {
    /// A state that does not read starts the reading over (calls are
    /// merged by key, so nothing counts twice), with a warning.
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

    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a state always serializes")
    }
}

/// Every session file under the roots: `<root>/<project>/chats/**/*.jsonl`
/// (subagents' files lie in a folder named after their parent session).
/// The rest of a project's folder (logs, checkpoints, shell history) is
/// never opened.
pub fn session_files(roots: &[PathBuf], log: Log<'_>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for root in roots {
        if !root.is_dir() {
            log(Level::Info, &format!("{}: no Gemini CLI sessions there", root.display()));
            continue;
        }
        files.extend(log_kit::find_jsonl(root, |p| in_chats(root, p), log));
    }
    files
}

fn in_chats(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else { return false };
    let mut parts = rel.components();
    matches!(
        (parts.next(), parts.next()),
        (Some(Component::Normal(_)), Some(Component::Normal(c))) if c == "chats"
    )
}

/// The run's calls by key, and its counters.
#[derive(Default)]
struct Tally {
    calls: BTreeMap<String, CallPayload>,
    model_unknown: u64,
    model_guessed: u64,
}

impl Tally {
    fn feed(&mut self, session: &mut Session, line: &[u8]) -> Line {
        match session.feed(line) {
            // A copy of a call already held costs no memory: only new keys count.
            Fed::Call { call, guessed } => match self.add(call, guessed) {
                true => Line::Kept,
                false => Line::Used,
            },
            Fed::Noted => Line::Used,
            Fed::Skipped => Line::Skipped,
        }
    }

    /// A message re-appended in full (with its tool calls, on migration, in
    /// a rewritten legacy file) repeats its tokens: the first copy is kept.
    fn add(&mut self, call: CallPayload, guessed: bool) -> bool {
        let unknown = call.model == UNKNOWN_MODEL;
        let new = log_kit::tally::merge_call(&mut self.calls, call);
        self.model_unknown += u64::from(new && unknown);
        self.model_guessed += u64::from(new && guessed && !unknown);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_declares_its_paths_and_provider() {
        let m = manifest();
        assert_eq!(m.read_paths, ["$GEMINI_CLI_HOME/.gemini/tmp", "~/.gemini/tmp"]);
        assert_eq!(m.settings, ["GEMINI_CLI_HOME", "LOG_MAX_BYTES"]);
        assert!(m.providers.is_empty());
        assert_eq!(m.observes, ["google"]);
        assert!(!m.daily && m.hosts.is_empty() && m.secrets.is_empty());
    }

    #[test]
    fn only_chats_folders_are_read() {
        let root = Path::new("/t");
        assert!(in_chats(root, Path::new("/t/p1/chats/session-a.jsonl")));
        assert!(in_chats(root, Path::new("/t/p1/chats/parent/sub.jsonl")));
        assert!(!in_chats(root, Path::new("/t/p1/logs/x.jsonl")));
        assert!(!in_chats(root, Path::new("/t/chats/x.jsonl")));
    }
}
