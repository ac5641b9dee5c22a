//! Reading the new complete lines of one file, from where the last run
//! stopped, within the run's byte budget.

use std::fs::{self, File, Metadata};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::Entry;

/// What the plugin made of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// Read: counted, or of no interest (another event type).
    Used,
    /// Not valid JSON, or lacking a field the plugin needs: counted in
    /// `lines_skipped`.
    Skipped,
    /// Read, and it left a new record in memory until the run ends (a call
    /// not seen before in the run): counted against the run's [`MAX_KEPT`].
    Kept,
}

/// The most new records (calls) a run keeps (5,120) before it stops at the
/// next line boundary and answers `more`. What a run holds (in the worker,
/// on the wire and in the host until the commit) grows with its records,
/// about 3.8 KB each, not with the bytes it reads past: real transcripts
/// are mostly tool output, about one call per 14 KB. Measured on 1.2 GB of
/// real-shaped transcripts, host and worker together peak at 39 MiB
/// (2,400 calls a run), 51–55 MiB (5,120), 58–65 MiB (6,144: over 64 MB
/// in one run of three), 64 MiB (8,192) and 93 MiB (16,384): 5,120 keeps
/// a margin under 64 MB at 17 runs for that import.
pub const MAX_KEPT: u64 = 5_120;

/// How many bytes of new log data a run may still consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    max: u64,
    used: u64,
    max_kept: u64,
    kept: u64,
}

impl Budget {
    /// A budget of `max` bytes and [`MAX_KEPT`] kept lines.
    pub fn new(max: u64) -> Self {
        Budget::with_kept(max, MAX_KEPT)
    }

    /// A budget of `max` bytes and `max_kept` kept lines.
    pub fn with_kept(max: u64, max_kept: u64) -> Self {
        Budget { max, used: 0, max_kept, kept: 0 }
    }

    /// Whether the run has consumed more than its budget, in bytes or in
    /// kept lines. Checked after each line, so a run always makes
    /// progress, even past one huge line.
    pub fn spent(&self) -> bool {
        self.used > self.max || self.kept >= self.max_kept
    }

    /// Bytes consumed so far.
    pub fn used(&self) -> u64 {
        self.used
    }
}

/// The result of reading one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRead<T> {
    /// Where the next run resumes.
    pub entry: Entry<T>,
    /// Bytes consumed (complete lines only).
    pub bytes: u64,
    /// Lines the plugin could not use.
    pub lines_skipped: u64,
    /// Whether the file had anything new, so was opened.
    pub opened: bool,
    /// Whether the budget ran out with bytes of this file left unread.
    pub rest: bool,
}

impl<T> FileRead<T> {
    fn untouched(entry: Entry<T>) -> Self {
        FileRead { entry, bytes: 0, lines_skipped: 0, opened: false, rest: false }
    }
}

/// The device and inode of a file: what tells a replaced file (log rotated,
/// rewritten) from the same file grown.
#[cfg(unix)]
fn identity(meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Elsewhere only a shrinking length tells a replaced file.
#[cfg(not(unix))]
fn identity(_meta: &Metadata) -> (u64, u64) {
    (0, 0)
}

/// Whether `prev` was read from this file, as it is now or shorter.
pub(crate) fn same_file<T>(prev: &Entry<T>, meta: &Metadata) -> bool {
    identity(meta) == (prev.dev, prev.ino) && meta.len() >= prev.off
}

fn unchanged<T>(prev: &Entry<T>, meta: &Metadata) -> bool {
    identity(meta) == (prev.dev, prev.ino) && meta.len() == prev.off
}

/// Where to resume: `prev` if it is the same file, no shorter than what was
/// read; else the start, with a fresh context.
fn resume<T: Default + Clone>(prev: Option<&Entry<T>>, meta: &Metadata) -> Entry<T> {
    match prev {
        Some(p) if same_file(p, meta) => p.clone(),
        _ => {
            let (dev, ino) = identity(meta);
            Entry::new(dev, ino)
        }
    }
}

/// Reads the complete lines of `path` after `prev` (all of it when the file
/// is new, replaced or shorter than `prev`'s offset), handing each one, line
/// ending removed, to `on_line` with the file's context. A last line without
/// its `\n` is still being written: it is left for the next run. Stops after
/// the line that spends the budget.
pub fn read_file<T, F>(
    path: &Path,
    prev: Option<&Entry<T>>,
    budget: &mut Budget,
    on_line: &mut F,
) -> io::Result<FileRead<T>>
where
    T: Default + Clone,
    F: FnMut(&mut T, &[u8]) -> Line,
{
    if let Some(p) = prev {
        if unchanged(p, &fs::metadata(path)?) {
            return Ok(FileRead::untouched(p.clone()));
        }
    }
    let file = File::open(path)?;
    // The file opened, not the one stat saw: it may have been replaced since.
    let entry = resume(prev, &file.metadata()?);
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    if entry.off > 0 {
        reader.seek(SeekFrom::Start(entry.off))?;
    }
    read_lines(reader, entry, budget, on_line)
}

fn read_lines<T, F>(
    mut reader: BufReader<File>,
    mut entry: Entry<T>,
    budget: &mut Budget,
    on_line: &mut F,
) -> io::Result<FileRead<T>>
where
    F: FnMut(&mut T, &[u8]) -> Line,
{
    // Bytes consumed and lines skipped.
    let (mut done, mut rest) = ((0u64, 0u64), false);
    let mut buf = Vec::new();
    let mut take =
        |n: u64, line: &[u8], entry: &mut Entry<T>, budget: &mut Budget, done: &mut (u64, u64)| {
            entry.off += n;
            done.0 += n;
            budget.used += n;
            let line = trim_line_end(line);
            if !line.is_empty() {
                match on_line(&mut entry.ctx, line) {
                    Line::Used => {}
                    Line::Skipped => done.1 += 1,
                    Line::Kept => budget.kept += 1,
                }
            }
        };
    loop {
        if budget.spent() {
            rest = !reader.fill_buf()?.is_empty();
            break;
        }
        // A line whole in the buffer is handed over where it lies: most
        // are, and copying every byte once more is a tenth of the import.
        let chunk = reader.fill_buf()?;
        if let Some(i) = memchr::memchr(b'\n', chunk) {
            take(i as u64 + 1, &chunk[..=i], &mut entry, budget, &mut done);
            reader.consume(i + 1);
            continue;
        }
        buf.clear();
        let n = (&mut reader).take(MAX_LINE + 1).read_until(b'\n', &mut buf)? as u64;
        if buf.last() != Some(&b'\n') {
            if n <= MAX_LINE {
                // The last line is still being written: next run.
                break;
            }
            // A line no log writes: skip to its end without holding it.
            let Some(rest) = skip_line(&mut reader)? else { break };
            entry.off += n + rest;
            done.0 += n + rest;
            budget.used += n + rest;
            done.1 += 1;
            continue;
        }
        take(n, &buf, &mut entry, budget, &mut done);
    }
    let (bytes, lines_skipped) = done;
    Ok(FileRead { entry, bytes, lines_skipped, opened: true, rest })
}

/// The longest line read whole (16 MiB); a longer one is skipped, so one
/// corrupt or hostile file cannot exhaust the worker's memory.
pub const MAX_LINE: u64 = 16 << 20;

/// Consumes the rest of an over-long line: the bytes up to and including its
/// newline, or `None` when the file ends first (the line is left for later).
fn skip_line(reader: &mut BufReader<File>) -> io::Result<Option<u64>> {
    let mut skipped = 0u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(None);
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(Some(skipped + i as u64 + 1));
            }
            None => {
                let len = chunk.len();
                reader.consume(len);
                skipped += len as u64;
            }
        }
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_of(path: &Path, prev: Option<&Entry<u32>>, max: u64) -> (Vec<String>, FileRead<u32>) {
        let mut seen = Vec::new();
        let mut budget = Budget::new(max);
        let read = read_file(path, prev, &mut budget, &mut |count: &mut u32, line: &[u8]| {
            *count += 1;
            seen.push(String::from_utf8_lossy(line).into_owned());
            if line.starts_with(b"bad") {
                Line::Skipped
            } else {
                Line::Used
            }
        })
        .unwrap();
        (seen, read)
    }

    fn append(path: &Path, text: &str) {
        let mut f = fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn an_overlong_line_is_skipped_without_being_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let long = "x".repeat(MAX_LINE as usize + 10);
        append(&path, &format!("one\n{long}\ntwo\n{long}"));
        let (seen, read) = lines_of(&path, None, u64::MAX);
        assert_eq!(seen, ["one", "two"], "the long lines never reach the parser");
        assert_eq!(read.lines_skipped, 1, "the first is skipped; the unfinished last waits");
        assert_eq!(read.entry.off, 4 + long.len() as u64 + 1 + 4);
    }

    #[test]
    fn leaves_a_partial_last_line_for_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        append(&path, "one\r\n\nbad\ntw");
        let (seen, read) = lines_of(&path, None, 1000);
        assert_eq!(seen, ["one", "bad"]);
        assert_eq!((read.entry.off, read.bytes, read.lines_skipped), (10, 10, 1));
        assert_eq!(read.entry.ctx, 2);
        append(&path, "o\n");
        let (seen, read) = lines_of(&path, Some(&read.entry), 1000);
        assert_eq!(seen, ["two"]);
        assert_eq!((read.entry.off, read.entry.ctx), (14, 3));
        let (seen, again) = lines_of(&path, Some(&read.entry), 1000);
        assert!(seen.is_empty() && !again.opened);
    }

    #[test]
    fn rereads_a_shorter_or_replaced_file_with_a_fresh_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        append(&path, "one\ntwo\n");
        let (_, first) = lines_of(&path, None, 1000);
        fs::write(&path, "x\n").unwrap();
        let (seen, read) = lines_of(&path, Some(&first.entry), 1000);
        assert_eq!((seen, read.entry.ctx), (vec!["x".to_string()], 1));
        let other = dir.path().join("b.jsonl");
        fs::write(&other, "one\ntwo\nthree\n").unwrap();
        fs::rename(&other, &path).unwrap();
        let (seen, read) = lines_of(&path, Some(&first.entry), 1000);
        assert_eq!(seen, ["one", "two", "three"]);
        assert_eq!(read.entry.ctx, 3);
    }

    #[test]
    fn stops_after_the_line_that_spends_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        append(&path, "aaaa\nbbbb\ncccc\n");
        let (seen, read) = lines_of(&path, None, 5);
        assert_eq!(seen, ["aaaa", "bbbb"]);
        assert!(read.rest);
        let (seen, read) = lines_of(&path, Some(&read.entry), 5);
        assert_eq!(seen, ["cccc"]);
        assert!(!read.rest);
    }
}
