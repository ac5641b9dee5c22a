//! `log_kit`: what the local-log plugins (`claude_code_logs`, `codex_logs`,
//! `gemini_cli_logs`) share: finding log files, reading each one incrementally and within a
//! byte budget, the state that remembers how far each file was read, and the
//! run's outcome as plugin records and metadata. It knows nothing of any
//! agent's line format: a plugin hands it a per-line function.
//!
//! # Brief overview
//!
//! * [`LogState`] maps each file to an [`Entry`]: its device, inode, the
//!   offset after its last complete line, and a plugin-defined context `T`
//!   (what a line needs from the lines before it).
//! * [`scan()`] reads the new complete lines of a list of files, resuming each
//!   from its entry, and stops at a line boundary once the run has consumed
//!   more than its budget ([`max_bytes`], or [`MAX_KEPT`] calls held); the
//!   state keeps the files left ([`LogState::remaining`]), and the run the
//!   host chains next reads those, without a walk and without looking at
//!   the files already read again.
//! * [`Outcome`] is what a plugin's pure `collect` returns; [`run_with`]
//!   turns it into a [`plugin_api::PluginResult`].
//!
//! Nothing here panics on file contents: a line is only ever bytes handed
//! to the plugin's function.

mod outcome;
mod read;
mod scan;
mod state;
pub mod tally;
mod text;
mod time;
mod walk;

pub use outcome::{run_with, Outcome};
pub use read::{read_file, Budget, FileRead, Line, MAX_KEPT};
pub use scan::{scan, scan_within, Counts, Scanned};
pub use state::{Entry, LogState, STATE_VERSION};
pub use text::Text;
pub use time::utc_time;
pub use walk::{find_jsonl, roots};

use std::collections::BTreeMap;

/// How bad a log message is; a plugin maps it to the host's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Progress or an expected absence (a log folder that does not exist).
    Info,
    /// Something was left out (a file that could not be read).
    Warn,
    /// How far the import under way is, in bytes (no message): for the
    /// host's progress bar (`PluginCtx::progress`).
    Progress {
        /// Bytes read so far in the import.
        done: u64,
        /// Bytes the import has to read in all.
        total: u64,
    },
}

/// Where messages go: the host's log in a run, anything in tests.
pub type Log<'a> = &'a mut dyn FnMut(Level, &str);

/// The setting that bounds how much new log data one run reads.
pub const MAX_BYTES_SETTING: &str = "LOG_MAX_BYTES";

/// The default budget: 256 MiB of new log data per run. What a run holds
/// is bounded by the calls it keeps ([`MAX_KEPT`]), not by the bytes it
/// reads past (each line is dropped once parsed), so this only bounds how
/// long one run takes (a first import of 1.2 GB of real-shaped
/// transcripts, 85,000 calls, is 14 runs, each reading what the last left).
/// The host runs the plugin again while it answers `more`.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The run's byte budget from the `LOG_MAX_BYTES` setting (a whole positive
/// number of bytes), else [`DEFAULT_MAX_BYTES`].
pub fn max_bytes(settings: &BTreeMap<String, String>) -> Result<u64, String> {
    let Some(text) = settings.get(MAX_BYTES_SETTING) else {
        return Ok(DEFAULT_MAX_BYTES);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{MAX_BYTES_SETTING} must be a positive whole number of bytes, not {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_bytes_defaults_and_rejects_nonsense() {
        let mut settings = BTreeMap::new();
        assert_eq!(max_bytes(&settings), Ok(DEFAULT_MAX_BYTES));
        settings.insert(MAX_BYTES_SETTING.to_string(), " 4096 ".to_string());
        assert_eq!(max_bytes(&settings), Ok(4096));
        for bad in ["0", "-1", "64MiB", ""] {
            settings.insert(MAX_BYTES_SETTING.to_string(), bad.to_string());
            assert!(max_bytes(&settings).is_err(), "{bad}");
        }
    }
}
