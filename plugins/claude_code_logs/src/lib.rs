//! `claude_code_logs`: one `call` record per Claude Code API call, read from
//! the transcripts Claude Code keeps on disk (`<config>/projects/**/*.jsonl`,
//! subagent transcripts included). For people without an Admin API key:
//! token counts to estimate from, never billed amounts.
//!
//! # Brief overview
//!
//! * [`collect`] is the whole run, pure but for reading files: roots from
//!   the request, transcripts under them, new lines since the state, calls
//!   merged by key, into a [`log_kit::Outcome`].
//! * [`parse_line`] reads one transcript line into a [`Parsed`].
//! * [`Calls`] merges the copies of a call within a run.
//!
//! Which lines count, and why, is in [`parse_line`]'s module; how files are
//! read incrementally is `log_kit`'s.

mod calls;
mod parse;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use log_kit::{Level, Line, Log, LogState, Outcome};
use plugin_api::{Manifest, PluginCtx, PluginResult, RunRequest};

pub use calls::Calls;
pub use parse::{parse_line, Call, Parsed, PROVIDER, SOURCE};

/// The setting that relocates Claude Code's folder (a comma-separated list
/// here, as ccusage accepts).
pub const CONFIG_DIR: &str = "CLAUDE_CONFIG_DIR";
/// The `read_paths` entry of the transcripts under [`CONFIG_DIR`]: only
/// `projects/`, never the rest of the folder (which holds credentials).
pub const CONFIG_PROJECTS: &str = "$CLAUDE_CONFIG_DIR/projects";
/// The entries read when [`CONFIG_DIR`] is unset: the default folder's
/// transcripts and those of the XDG folder some versions use.
pub const DEFAULT_PROJECTS: [&str; 2] = ["~/.claude/projects", "~/.config/claude/projects"];

/// What the plugin declares.
pub fn manifest() -> Manifest {
    Manifest::new("claude_code_logs", env!("CARGO_PKG_VERSION"))
        .description(
            "Claude Code API calls from its local transcripts (token counts, for estimates)",
        )
        .settings([CONFIG_DIR, log_kit::MAX_BYTES_SETTING])
        .read_paths([CONFIG_PROJECTS, DEFAULT_PROJECTS[0], DEFAULT_PROJECTS[1]])
        .observes([PROVIDER])
}

fn run(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
    let provider = billing_records::ProviderPayload::new(PROVIDER, "Anthropic");
    log_kit::run_with(ctx, &req, &provider, collect)
}

plugin_api::export_plugin! { manifest: manifest, run: run }

/// One run: the calls in the transcripts' lines not read yet (by
/// `req.state`), at most about `LOG_MAX_BYTES` of them.
pub fn collect(req: &RunRequest, log: Log<'_>) -> Result<Outcome, String> {
    let max_bytes = log_kit::max_bytes(&req.settings)?;
    let projects = log_kit::roots(&req.read_paths, CONFIG_PROJECTS, &DEFAULT_PROJECTS);
    let state = LogState::<()>::load(req.state.as_deref(), log);
    // An import under way goes on with what its last run left, unwalked.
    let files = state.remaining().unwrap_or_else(|| transcripts(&projects, log));
    let mut calls = Calls::default();
    let scanned = log_kit::scan(&files, state, max_bytes, log, |_, line| match parse_line(line) {
        // A copy of a call already held costs no memory: only new keys count.
        Parsed::Call(call) => kept(calls.add(call)),
        Parsed::Ignored => Line::Used,
        Parsed::Skipped => Line::Skipped,
    });
    Ok(scanned.into_outcome(calls.into_payloads(), BTreeMap::new()))
}

/// What a call's line was: [`Line::Kept`] when it brought a new call.
fn kept(new: bool) -> Line {
    if new {
        Line::Kept
    } else {
        Line::Used
    }
}

/// Every transcript under the config folders' `projects/` folders (as
/// granted), subagents' included.
pub fn transcripts(projects: &[PathBuf], log: Log<'_>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for projects in projects {
        if projects.is_dir() {
            files.extend(log_kit::find_jsonl(projects, |p| !is_journal(p), log));
        } else {
            log(Level::Info, &format!("{}: no Claude Code transcripts there", projects.display()));
        }
    }
    files
}

/// `subagents/journal.jsonl` records subagents' lifecycle, not usage.
fn is_journal(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "journal.jsonl")
        && path.parent().and_then(Path::file_name).is_some_and(|n| n == "subagents")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_declares_its_paths_and_provider() {
        let m = manifest();
        assert_eq!(
            m.read_paths,
            ["$CLAUDE_CONFIG_DIR/projects", "~/.claude/projects", "~/.config/claude/projects"]
        );
        assert_eq!(m.settings, ["CLAUDE_CONFIG_DIR", "LOG_MAX_BYTES"]);
        assert!(m.providers.is_empty());
        assert_eq!(m.observes, ["anthropic"]);
        assert!(!m.daily && m.hosts.is_empty() && m.secrets.is_empty());
    }

    #[test]
    fn only_the_subagents_journal_is_left_out() {
        assert!(is_journal(Path::new("/p/s/subagents/journal.jsonl")));
        assert!(!is_journal(Path::new("/p/s/subagents/agent-1.jsonl")));
        assert!(!is_journal(Path::new("/p/journal.jsonl")));
    }
}
