//! OpenCode's storage before its database (versions before 1.2): one JSON
//! file per message, `storage/message/<session>/<message>.json`, rewritten
//! whole at every change. Files are read in `(modification time, path)`
//! order after the last run's mark (see [`crate::cursor`]), so a nightly
//! run only lists the folder and reads what changed.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use log_kit::{Level, Log};

use crate::cursor::{self, Mark};

/// Modification times are in nanoseconds; a file written a little before
/// the mark but closed after it is still read.
pub const SLACK_NS: i64 = 30_000_000_000;

/// A message file is a few hundred bytes; a larger one is not a message and
/// is left out, so one odd file cannot fill the worker's memory.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// One run over one `storage/message` folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRead {
    /// For the next run.
    pub mark: Mark,
    /// Whether there is more to read now.
    pub more: bool,
    /// Files read.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files that could not be read (or were too large).
    pub unreadable: u64,
}

/// Every `<session>/<message>.json` under `root` with its modification
/// time (ns), sorted by time, then path.
fn list(root: &Path, log: Log<'_>) -> Vec<(i64, String)> {
    let mut items = Vec::new();
    let Ok(sessions) = fs::read_dir(root) else { return items };
    for session in sessions.flatten() {
        let dir = session.path();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
            Err(e) => {
                log(Level::Warn, &format!("{}: skipped, cannot be listed: {e}", dir.display()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(meta) = fs::metadata(&path) else { continue };
            if meta.is_file() {
                let ns =
                    meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec());
                items.push((ns, path.to_string_lossy().into_owned()));
            }
        }
    }
    items.sort();
    items
}

/// Reads the message files of `root` changed since `prev`, at most about
/// `max_bytes` of them, handing each file's bytes to `on_file`.
pub fn read(
    root: &Path,
    prev: Option<&Mark>,
    max_bytes: u64,
    log: Log<'_>,
    on_file: &mut dyn FnMut(&[u8]),
) -> LegacyRead {
    let (t, key) = Mark::after(prev, SLACK_NS);
    let items: Vec<(i64, String)> = list(root, log)
        .into_iter()
        .filter(|(it, ik)| (*it, ik.as_str()) > (t, key.as_str()))
        .collect();
    let mut unreadable = 0;
    let adv = cursor::advance(prev, &items, SLACK_NS, max_bytes, |path| {
        match read_small(Path::new(path)) {
            Ok(bytes) => {
                on_file(&bytes);
                bytes.len() as u64
            }
            Err(e) => {
                log(Level::Warn, &format!("{path}: skipped: {e}"));
                unreadable += 1;
                0
            }
        }
    });
    LegacyRead { mark: adv.mark, more: adv.more, files: adv.fetched, bytes: adv.bytes, unreadable }
}

fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    fs::File::open(path)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_BYTES} bytes, not a message"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_message_files_only_and_reads_each_change_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("ses_a")).unwrap();
        fs::write(root.join("ses_a/msg_1.json"), "{}").unwrap();
        fs::write(root.join("ses_a/notes.txt"), "x").unwrap();
        fs::write(root.join("stray.json"), "{}").unwrap();
        let mut read_count = 0;
        let first = read(root, None, 1000, &mut |_, _| {}, &mut |_| read_count += 1);
        assert_eq!((first.files, read_count, first.more), (1, 1, false));
        let again = read(root, Some(&first.mark), 1000, &mut |_, _| {}, &mut |_| read_count += 1);
        assert_eq!((again.files, read_count), (0, 1), "unchanged: not read again");
        fs::write(root.join("ses_a/msg_2.json"), vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        let big = read(root, Some(&again.mark), 1000, &mut |_, _| {}, &mut |_| read_count += 1);
        assert_eq!((big.unreadable, read_count), (1, 1));
    }
}
