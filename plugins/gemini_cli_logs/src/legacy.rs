//! Gemini CLI's sessions from before v0.39.0 (April 2026): one
//! pretty-printed `ConversationRecord` per `chats/**/*.json`, rewritten whole,
//! in place, at every change. A file is read whole when its identity, size
//! or time changed since the last run; its replies keep their message ids,
//! so a re-read, or the `.jsonl` Gemini CLI migrates it to when the session
//! is resumed, adds no call twice.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use billing_records::CallPayload;
use log_kit::{Level, Log};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{Fed, Session};

/// A legacy file larger than this is left out with a warning: the largest
/// real sessions are a few MiB, and a run must not hold more in memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// What a legacy file was when it was last read: device, inode, size and
/// modification time (ns). Any change means a rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen(pub u64, pub u64, pub u64, pub i64);

impl Seen {
    fn of(meta: &fs::Metadata) -> Seen {
        let ns = meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec());
        Seen(meta.dev(), meta.ino(), meta.len(), ns)
    }
}

/// One pass over the legacy files.
#[derive(Debug, Default)]
pub struct Pass {
    /// What each file was when read (files gone are dropped; a file that
    /// did not read keeps its old entry, so it is tried again).
    pub seen: BTreeMap<String, Seen>,
    /// Files read whole.
    pub files_read: u64,
    /// Their bytes.
    pub bytes_read: u64,
    /// Files that are not a session record (or were caught mid-write).
    pub unreadable: u64,
    /// Whether the budget ran out with changed files left.
    pub more: bool,
}

/// The `*.json` session files of `<root>/<project>/chats/`, at any depth,
/// sorted by path.
pub fn legacy_files(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for root in roots {
        let Ok(projects) = fs::read_dir(root) else { continue };
        for project in projects.flatten() {
            let mut todo = vec![project.path().join("chats")];
            while let Some(dir) = todo.pop() {
                let Ok(entries) = fs::read_dir(&dir) else { continue };
                for e in entries.flatten() {
                    let path = e.path();
                    match e.file_type() {
                        Ok(t) if t.is_dir() => todo.push(path),
                        Ok(t) if t.is_file() && path.extension().is_some_and(|x| x == "json") => {
                            found.push(path)
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    found.sort();
    found
}

/// Reads the files changed since `old`, within `max_bytes`, handing each
/// reply with tokens to `on_call`.
pub fn read(
    files: &[PathBuf],
    old: &BTreeMap<String, Seen>,
    max_bytes: u64,
    log: Log<'_>,
    mut on_call: impl FnMut(CallPayload, bool),
) -> Pass {
    let mut pass = Pass::default();
    for path in files {
        let key = path.to_string_lossy().into_owned();
        let Ok(meta) = fs::metadata(path) else { continue };
        let now = Seen::of(&meta);
        if old.get(&key) == Some(&now) {
            pass.seen.insert(key, now);
            continue;
        }
        if pass.bytes_read > max_bytes {
            pass.more = true;
            if let Some(prev) = old.get(&key) {
                pass.seen.insert(key, *prev);
            }
            continue;
        }
        if meta.len() > MAX_FILE_BYTES {
            log(Level::Warn, &format!("{}: skipped, larger than 64 MiB", path.display()));
            pass.seen.insert(key, now);
            continue;
        }
        match read_one(path, &mut on_call) {
            Ok(bytes) => {
                pass.files_read += 1;
                pass.bytes_read += bytes;
                pass.seen.insert(key, now);
            }
            Err(why) => {
                log(
                    Level::Info,
                    &format!("{}: not read ({why}); tried again next run", path.display()),
                );
                pass.unreadable += 1;
                if let Some(prev) = old.get(&key) {
                    pass.seen.insert(key, *prev);
                }
            }
        }
    }
    pass
}

#[derive(Deserialize)]
struct Conversation<'a> {
    #[serde(rename = "sessionId")]
    session_id: String,
    #[serde(default, rename = "projectHash")]
    project_hash: Option<String>,
    #[serde(borrow)]
    messages: Vec<&'a RawValue>,
}

/// One file's calls; its size on success.
fn read_one(path: &Path, on_call: &mut impl FnMut(CallPayload, bool)) -> Result<u64, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let record: Conversation<'_> =
        serde_json::from_str(&text).map_err(|e| format!("not a session record: {e}"))?;
    let mut session =
        Session { id: Some(record.session_id), project: record.project_hash, model: None };
    for message in record.messages {
        if let Fed::Call { call, guessed } = session.feed(message.get().as_bytes()) {
            on_call(call, guessed);
        }
    }
    Ok(text.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{
  "sessionId": "s-old",
  "projectHash": "p1",
  "startTime": "2026-03-01T10:00:00.000Z",
  "lastUpdated": "2026-03-01T10:01:00.000Z",
  "messages": [
    {"id": "u1", "timestamp": "2026-03-01T10:00:00.000Z", "type": "user", "content": "hi"},
    {"id": "g1", "timestamp": "2026-03-01T10:00:05.000Z", "type": "gemini", "content": "yo",
     "tokens": {"input": 100, "output": 5, "cached": 40, "thoughts": 2, "tool": 0, "total": 107},
     "model": "gemini-2.5-pro"},
    {"id": "g2", "timestamp": "2026-03-01T10:00:09.000Z", "type": "gemini", "content": "", "tokens": null}
  ]
}"#;

    fn calls(dir: &Path, old: &BTreeMap<String, Seen>) -> (Pass, Vec<CallPayload>) {
        let mut out = Vec::new();
        let files = legacy_files(&[dir.to_path_buf()]);
        let pass = read(&files, old, 1 << 20, &mut |_, _| {}, |c, _| out.push(c));
        (pass, out)
    }

    #[test]
    fn a_record_is_read_once_until_it_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let chats = dir.path().join("p1/chats");
        fs::create_dir_all(&chats).unwrap();
        fs::write(chats.join("session-2026-03-01T10-00-s-old.json"), RECORD).unwrap();
        fs::write(dir.path().join("p1/logs.json"), "[]").unwrap();
        let (first, got) = calls(dir.path(), &BTreeMap::new());
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].key.as_str(), got[0].session.as_deref()), ("g1", Some("s-old")));
        assert_eq!(
            (got[0].priced.input, got[0].priced.cache_read, got[0].priced.output),
            (60, 40, 7)
        );
        assert_eq!((first.files_read, first.unreadable), (1, 0));
        let (second, got) = calls(dir.path(), &first.seen);
        assert!(got.is_empty());
        assert_eq!((second.files_read, &second.seen), (0, &first.seen));
        // Rewritten whole with a new reply: read again, both ids.
        let longer = RECORD.replace(r#""tokens": null"#, r#""tokens": {"input": 1, "output": 1, "cached": 0, "total": 2}, "model": "gemini-2.5-flash""#);
        fs::write(chats.join("session-2026-03-01T10-00-s-old.json"), longer).unwrap();
        let (_, got) = calls(dir.path(), &first.seen);
        let keys: Vec<&str> = got.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["g1", "g2"]);
    }

    #[test]
    fn a_file_caught_mid_write_is_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let chats = dir.path().join("p1/chats");
        fs::create_dir_all(&chats).unwrap();
        fs::write(chats.join("session-x.json"), &RECORD[..200]).unwrap();
        let (pass, got) = calls(dir.path(), &BTreeMap::new());
        assert!(got.is_empty());
        assert_eq!((pass.unreadable, pass.seen.len()), (1, 0));
    }
}
