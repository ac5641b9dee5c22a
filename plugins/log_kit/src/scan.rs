//! One run over a list of log files: each read from where the state says,
//! all within one byte budget, and the state the next run starts from.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{read_file, Budget, Entry, FileRead, Level, Line, Log, LogState};

/// What a run read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Files that had new data, so were opened.
    pub files_read: u64,
    /// Bytes of complete lines consumed.
    pub bytes_read: u64,
    /// Lines that were not valid JSON or lacked a needed field.
    pub lines_skipped: u64,
}

impl Counts {
    fn add<T>(&mut self, read: &FileRead<T>) {
        self.files_read += u64::from(read.opened);
        self.bytes_read += read.bytes;
        self.lines_skipped += read.lines_skipped;
    }

    /// The counts as run metadata keys.
    pub fn extra(&self) -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("files_read".to_string(), Value::from(self.files_read)),
            ("bytes_read".to_string(), Value::from(self.bytes_read)),
            ("lines_skipped".to_string(), Value::from(self.lines_skipped)),
        ])
    }
}

/// The result of [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned<T> {
    /// Where the next run resumes: one entry per file of this run's list
    /// (files gone since are dropped) and, in an import under way, of the
    /// files its earlier runs read; and the files left to read, if any.
    pub state: LogState<T>,
    /// Whether the budget ran out with new data left to read.
    pub more: bool,
    /// What was read.
    pub counts: Counts,
}

impl<T: serde::Serialize + serde::de::DeserializeOwned + Default + PartialEq> Scanned<T> {
    /// The run's outcome: `calls` and plugin counters beside what was read.
    pub fn into_outcome(
        self,
        calls: Vec<billing_records::CallPayload>,
        extra: BTreeMap<String, u64>,
    ) -> crate::Outcome {
        crate::Outcome {
            calls,
            state: self.state.to_json(),
            more: self.more,
            counts: self.counts,
            extra,
        }
    }
}

/// Reads the new complete lines of `files`, in order, resuming each from its
/// entry in `old`, and hands each line to `on_line` with that file's
/// context. Once more than `max_bytes` are consumed, or [`crate::MAX_KEPT`]
/// new records kept, it stops at the next line boundary and answers `more`
/// if files are left, keeping them in the state's `todo`: the run after it
/// reads those ([`LogState::remaining`]), without a walk. A file that
/// cannot be read is logged and keeps its old entry; the run goes on.
pub fn scan<T, F>(
    files: &[PathBuf],
    old: LogState<T>,
    max_bytes: u64,
    log: Log<'_>,
    on_line: F,
) -> Scanned<T>
where
    T: Default + Clone,
    F: FnMut(&mut T, &[u8]) -> Line,
{
    scan_within(files, old, Budget::new(max_bytes), log, on_line)
}

/// [`scan`] within any [`Budget`].
pub fn scan_within<T, F>(
    files: &[PathBuf],
    mut old: LogState<T>,
    mut budget: Budget,
    log: Log<'_>,
    mut on_line: F,
) -> Scanned<T>
where
    T: Default + Clone,
    F: FnMut(&mut T, &[u8]) -> Line,
{
    let mut out = Scanned { state: LogState::default(), more: false, counts: Counts::default() };
    // An import under way: `files` is what the last run left, and the
    // entries of the files it read stand as they are.
    let continuing = !std::mem::take(&mut old.todo).is_empty();
    // How far the import is, for the host's progress bar.
    let (before, total) = if continuing {
        (old.import_done, old.import_total)
    } else {
        (0, unread_bytes(files, &old.files))
    };
    let mut stop = None;
    for (i, path) in files.iter().enumerate() {
        let key = path.to_string_lossy().into_owned();
        if out.state.files.contains_key(&key) {
            continue;
        }
        let prev = old.files.remove(&key);
        let entry = if stop.is_some() {
            // Not read this run, not even stat'ed: the next run reads it.
            prev
        } else {
            let (entry, rest) = visit(path, prev, &mut budget, &mut out.counts, log, &mut on_line);
            log(Level::Progress { done: before + budget.used(), total }, "");
            if budget.spent() {
                stop = Some(if rest { i } else { i + 1 });
            }
            entry
        };
        if let Some(entry) = entry {
            out.state.files.insert(key, entry);
        }
    }
    if let Some(at) = stop {
        out.state.todo = files[at..].iter().map(|f| f.to_string_lossy().into_owned()).collect();
        out.more = !out.state.todo.is_empty();
    }
    if out.more {
        (out.state.import_done, out.state.import_total) = (before + budget.used(), total);
    }
    if continuing {
        // Read earlier in this import (or gone since: the next walk says so).
        out.state.files.append(&mut old.files);
    } else if !old.files.is_empty() {
        // Files read before and gone now (a log cleanup): what they held
        // stays stored, never re-derived smaller.
        log(
            Level::Info,
            &format!(
                "{} log file(s) read before are gone; the calls read from them stay stored",
                old.files.len()
            ),
        );
    }
    out
}

/// What `files` hold beyond where each was read (all of a file not read
/// before, or replaced): the bytes an import has ahead of it.
fn unread_bytes<T>(files: &[PathBuf], read: &BTreeMap<String, Entry<T>>) -> u64 {
    files
        .iter()
        .filter_map(|path| {
            let meta = std::fs::metadata(path).ok()?;
            let off = read
                .get(path.to_string_lossy().as_ref())
                .filter(|e| crate::read::same_file(e, &meta))
                .map_or(0, |e| e.off);
            Some(meta.len().saturating_sub(off))
        })
        .sum()
}

/// One file of [`scan`]: the entry it keeps in the state, if any, and
/// whether the budget ran out with bytes of it left.
fn visit<T, F>(
    path: &Path,
    prev: Option<Entry<T>>,
    budget: &mut Budget,
    counts: &mut Counts,
    log: Log<'_>,
    on_line: &mut F,
) -> (Option<Entry<T>>, bool)
where
    T: Default + Clone,
    F: FnMut(&mut T, &[u8]) -> Line,
{
    match read_file(path, prev.as_ref(), budget, on_line) {
        Ok(read) => {
            counts.add(&read);
            (Some(read.entry), read.rest)
        }
        // Gone since it was listed: like any file no longer present.
        Err(e) if e.kind() == ErrorKind::NotFound => (None, false),
        Err(e) => {
            log(Level::Warn, &format!("{}: skipped, cannot be read: {e}", path.display()));
            (prev, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn count_lines(files: &[PathBuf], old: LogState<u32>, max: u64) -> (u32, Scanned<u32>) {
        let mut total = 0;
        let scanned = scan(files, old, max, &mut |_, _| {}, |n: &mut u32, _: &[u8]| {
            *n += 1;
            total += 1;
            Line::Used
        });
        (total, scanned)
    }

    #[test]
    fn resumes_across_runs_until_done_and_drops_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("{i}.jsonl"))).collect();
        for f in &files {
            fs::write(f, "0123456789\n0123456789\n").unwrap();
        }
        let (mut lines, mut state, mut runs) = (0, LogState::default(), 0);
        loop {
            let (n, scanned) = count_lines(&files, state, 15);
            (lines, state, runs) = (lines + n, scanned.state, runs + 1);
            if !scanned.more {
                break;
            }
        }
        assert_eq!((lines, runs), (6, 3));
        assert!(state.files.values().all(|e| e.off == 22 && e.ctx == 2));
        let (n, scanned) = count_lines(&files[1..], state, 15);
        assert_eq!((n, scanned.counts, scanned.more), (0, Counts::default(), false));
        assert_eq!(scanned.state.files.len(), 2);
    }

    #[test]
    fn a_chained_run_reads_what_the_last_left_and_nothing_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("{i}.jsonl"))).collect();
        for f in &files {
            fs::write(f, "0123456789\n0123456789\n").unwrap();
        }
        let (n, first) = count_lines(&files, LogState::default(), 15);
        assert_eq!((n, first.more), (2, true));
        assert_eq!(first.state.remaining().unwrap(), &files[1..]);
        // A file already read grows between the runs: the chained run
        // takes its entry as it is, without a look at the disk.
        fs::write(&files[0], "0123456789\n0123456789\nnew\n").unwrap();
        let left = first.state.remaining().unwrap();
        let (n, second) = count_lines(&left, first.state, 15);
        assert_eq!((n, second.counts.files_read, second.more), (2, 1, true));
        assert!(second.state.files.contains_key(&*files[0].to_string_lossy()), "kept, unread");
        let left = second.state.remaining().unwrap();
        let (n, third) = count_lines(&left, second.state, 15);
        assert_eq!((n, third.more, third.state.remaining()), (2, false, None));
        // The run after the import looks at every file again: the growth is read.
        let (n, next) = count_lines(&files, third.state, 15);
        assert_eq!((n, next.counts.files_read, next.more), (1, 1, false));
        assert_eq!(next.state.files.len(), 3);
    }

    /// The host's progress bar hears the whole import's bytes: counted once
    /// at its walk (a file read before counts what it grew by), carried
    /// through the chained runs, ending at the total; the state forgets it
    /// once the import is done.
    #[test]
    fn progress_covers_the_whole_import_across_chained_runs() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("{i}.jsonl"))).collect();
        for f in &files {
            fs::write(f, "0123456789\n0123456789\n").unwrap();
        }
        let run = |files: &[PathBuf], old: LogState<()>, heard: &mut Vec<(u64, u64)>| {
            let mut log = |level: Level, _: &str| {
                if let Level::Progress { done, total } = level {
                    heard.push((done, total));
                }
            };
            scan(files, old, 15, &mut log, |_: &mut (), _: &[u8]| Line::Used)
        };
        let mut heard = Vec::new();
        let mut scanned = run(&files, LogState::default(), &mut heard);
        assert_eq!((scanned.state.import_done, scanned.state.import_total), (22, 66));
        while scanned.more {
            let left = scanned.state.remaining().unwrap();
            scanned = run(&left, scanned.state, &mut heard);
        }
        assert_eq!(heard.last(), Some(&(66, 66)), "{heard:?}");
        assert!(heard.windows(2).all(|w| w[0].0 <= w[1].0 && w[1].1 == 66), "{heard:?}");
        assert_eq!((scanned.state.import_done, scanned.state.import_total), (0, 0));
        // The next import counts only what was added since.
        fs::write(&files[2], "0123456789\n0123456789\nmore\n").unwrap();
        heard.clear();
        run(&files, scanned.state, &mut heard);
        assert_eq!(heard.last(), Some(&(5, 5)), "{heard:?}");
    }

    /// An import the last release left half way (its state has no byte
    /// counts) goes on where it stopped, every line once: the bar knows no
    /// total for it, and the next import counts again.
    #[test]
    fn an_import_left_by_the_last_release_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("{i}.jsonl"))).collect();
        for f in &files {
            fs::write(f, "0123456789\n0123456789\n").unwrap();
        }
        let (_, first) = count_lines(&files, LogState::default(), 15);
        let mut json: serde_json::Value = serde_json::from_str(&first.state.to_json()).unwrap();
        let old = json.as_object_mut().unwrap();
        assert!(old.remove("import_total").is_some() && old.remove("import_done").is_some());
        let old: LogState<u32> = serde_json::from_value(json).unwrap();
        let (mut lines, mut state, mut heard) = (2, old, Vec::new());
        loop {
            let left = state.remaining().unwrap();
            let mut log = |level: Level, _: &str| {
                if let Level::Progress { done, total } = level {
                    heard.push((done, total));
                }
            };
            let scanned = scan(&left, state, 15, &mut log, |n: &mut u32, _: &[u8]| {
                *n += 1;
                lines += 1;
                Line::Used
            });
            state = scanned.state;
            if !scanned.more {
                break;
            }
        }
        assert_eq!(lines, 6, "every line once");
        assert!(heard.iter().all(|&(_, total)| total == 0), "{heard:?}");
        assert_eq!((state.import_done, state.import_total), (0, 0));
    }

    #[test]
    fn a_file_left_to_read_and_gone_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("{i}.jsonl"))).collect();
        fs::write(&files[0], "x\n").unwrap();
        let todo = files.iter().map(|f| f.to_string_lossy().into_owned()).collect();
        let old = LogState { todo, ..LogState::default() };
        let (n, scanned) = count_lines(&files, old, 100);
        assert_eq!((n, scanned.more, scanned.state.files.len()), (1, false, 1));
    }

    #[test]
    fn a_run_stops_once_it_keeps_its_most_records() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.jsonl");
        fs::write(&file, "call\nnote\ncall\ncall\n").unwrap();
        let keep = |_: &mut (), line: &[u8]| if line == b"call" { Line::Kept } else { Line::Used };
        let files = std::slice::from_ref(&file);
        let budget = Budget::with_kept(u64::MAX, 2);
        let scanned = scan_within(files, LogState::default(), budget, &mut |_, _| {}, keep);
        assert_eq!((scanned.counts.bytes_read, scanned.more), (15, true));
        let budget = Budget::with_kept(u64::MAX, 2);
        let rest = scan_within(files, scanned.state, budget, &mut |_, _| {}, keep);
        assert_eq!((rest.counts.bytes_read, rest.more), (5, false));
    }

    #[test]
    fn a_budget_spent_exactly_at_the_end_answers_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.jsonl");
        fs::write(&file, "0123456789\n").unwrap();
        let (_, scanned) = count_lines(std::slice::from_ref(&file), LogState::default(), 5);
        assert!(!scanned.more);
        assert_eq!(scanned.counts.bytes_read, 11);
    }

    #[test]
    fn an_unreadable_file_keeps_its_entry_and_the_run_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.jsonl");
        fs::write(&good, "x\n").unwrap();
        // A folder named like a log: listed, but reading it fails.
        let bad = dir.path().join("bad.jsonl");
        fs::create_dir(&bad).unwrap();
        let mut old = LogState::default();
        old.files.insert(bad.to_string_lossy().into_owned(), Entry::new(9, 9));
        let mut warnings = 0;
        let scanned = scan(
            &[bad, good],
            old,
            100,
            &mut |l, _| warnings += u32::from(l == Level::Warn),
            |_: &mut (), _: &[u8]| Line::Used,
        );
        assert_eq!((warnings, scanned.counts.files_read, scanned.state.files.len()), (1, 1, 2));
    }
}
