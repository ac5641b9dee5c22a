//! Runs a worker process (`agent-host __worker`) for one job and reads what it
//! sends as a bounded stream. The worker starts with a cleared environment,
//! in an empty private folder, in its own process group, with the checked
//! plugin file on descriptor 3. A crash, hang, flood or stray grandchild
//! becomes a failed job with a reason; the host never waits on a pipe the
//! worker no longer owns.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use plugin_api::LogLevel;

use super::capabilities::Broker;
use super::http::AnswerBudget;
use super::protocol::{Job, Message, Reply, WireRecord, WireRequest, WireResponse, WireResult};
use crate::logging::printable;

/// Most of a worker's stderr kept for the failure reason.
const STDERR_KEEP: usize = 16 * 1024;

/// How long the host waits for the worker's stderr once it is gone.
const DRAIN_GRACE: Duration = Duration::from_millis(300);

/// How long one answer may wait for the worker to read it: a worker's own
/// reader thread takes answers as they come, so a longer wait means it
/// stopped reading on purpose.
const WRITE_STALL: Duration = Duration::from_secs(10);

/// HTTP exchanges of one worker answered at once; more are refused.
const MAX_HTTP_EXCHANGES: usize = 4;

/// Requests one HTTP exchange may carry.
const MAX_EXCHANGE_REQUESTS: usize = 2_000;

/// Answers waiting to be written to a worker before it counts as not
/// reading them.
const REPLY_QUEUE: usize = 16;

/// What a record costs against the byte cap beyond its text (so a flood of
/// empty records is bounded too).
const RECORD_OVERHEAD: u64 = 128;

/// What a run may send back before it is cut off.
#[derive(Debug, Clone, Copy)]
pub struct OutputLimits {
    /// Total bytes of record payloads.
    pub record_bytes: u64,
    /// Log lines kept; later ones are counted and dropped.
    pub log_lines: usize,
    /// Longest log line kept; longer ones are truncated.
    pub log_line_bytes: usize,
    /// Total bytes of log lines kept; later lines are counted and dropped.
    pub log_bytes: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            record_bytes: 256 << 20,
            log_lines: 100_000,
            log_line_bytes: 8 * 1024,
            log_bytes: 16 << 20,
        }
    }
}

/// Everything a worker sent back.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The run's result, with its records (when it got that far).
    pub result: Option<WireResult>,
    /// The manifest JSON, for a manifest job.
    pub manifest: Option<String>,
    /// Why the job failed, if it did.
    pub failure: Option<String>,
    /// Whether the failure is the plugin file's own (it did not load): the
    /// same file fails the same way again, unlike a crash.
    pub refused: bool,
    /// Whether it was killed at its deadline.
    pub timed_out: bool,
}

impl Outcome {
    /// The run's result, or a failed one saying why there is none.
    pub fn into_result(self) -> WireResult {
        match (self.failure, self.result) {
            (Some(f), _) => WireResult::failed(f),
            (None, Some(r)) => r,
            (None, None) => WireResult::failed("the worker ended without a result"),
        }
    }
}

/// One line read from the worker, or why reading stopped.
enum Event {
    Message(Message, usize),
    TooLong,
    End,
}

/// Runs `job` in a worker and reads its answer. `broker` performs HTTP and
/// redaction for run jobs; `on_log` receives the (redacted, bounded) log
/// lines.
pub fn run_worker(
    exe: &Path,
    plugin: &File,
    mut job: Job,
    timeout: Duration,
    limits: &OutputLimits,
    broker: Option<Arc<Broker>>,
    on_log: &mut dyn FnMut(LogLevel, String),
) -> Outcome {
    let workdir = match tempfile::Builder::new().prefix("agent-worker-").tempdir() {
        Ok(d) => d,
        Err(e) => return failed(format!("cannot create the worker's private folder: {e}")),
    };
    // Claimed before the worker starts, held until it is gone.
    let slot = super::sandbox::CgroupSlot::claim();
    let mut child = match spawn(exe, plugin, workdir.path()) {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start a worker process ({}): {e}", exe.display())),
    };
    let held = broker.as_ref().map(|b| b.held());
    let (replies, stall) = start_writer(child.stdin.take(), held);
    job.sandbox_mut().cgroup = slot.as_ref().map(|s| s.path().display().to_string());
    let mut job_line = serde_json::to_vec(&job).unwrap_or_default();
    job_line.push(b'\n');
    // A worker that dies at once closes the pipe; its exit status says why.
    let _ = replies.try_send(Outgoing { line: job_line, release: 0 });
    let max_line = (super::run::MAX_PAYLOAD * 6 + (64 << 10)).max(limits.log_line_bytes * 6);
    let backlog = Arc::new(Backlog::default());
    let events = read_messages(child.stdout.take(), max_line, backlog.clone());
    let stderr = keep_tail(child.stderr.take());

    let mut reader = Reader {
        limits: *limits,
        broker,
        replies,
        on_log,
        outcome: Outcome::default(),
        records: Vec::new(),
        record_bytes: 0,
        log_lines: 0,
        log_bytes: 0,
        dropped_lines: 0,
        exchanges: Arc::new(AtomicUsize::new(0)),
        stall,
    };
    let deadline = Instant::now() + timeout;
    let ended = reader.read(&events, &backlog, &mut child, deadline);
    // Wake a reading thread that waits for room, so it sees the end.
    backlog.close();
    kill_group(&child);
    let status = child.wait();
    drop(slot);
    let stderr = stderr.recv_timeout(DRAIN_GRACE).unwrap_or_default();
    // Who crashed the worker, as the reason says it.
    let culprit = match &job {
        Job::Manifest { .. } => "reading its manifest",
        Job::Run(_) => "the plugin",
    };
    let timed_out = matches!(ended, Ended::TimedOut);
    let reason = match ended {
        Ended::TimedOut => {
            Some(format!("timed out after {}s; the worker was killed", timeout.as_secs()))
        }
        Ended::Cut(why) => Some(why),
        Ended::Done => match status {
            Ok(s) if s.success() => None,
            Ok(s) => Some(death_reason(culprit, &describe_status(s), &stderr)),
            Err(e) => Some(format!("lost the worker process: {e}")),
        },
    };
    let mut outcome =
        reader.finish(reason, || death_reason(culprit, "ended without a result", &stderr));
    outcome.timed_out = timed_out;
    drop(workdir);
    outcome
}

fn failed(why: String) -> Outcome {
    Outcome { failure: Some(why), ..Outcome::default() }
}

/// Starts the worker: cleared environment, private folder, own process
/// group, the plugin file on descriptor 3 and nothing else inherited.
fn spawn(exe: &Path, plugin: &File, workdir: &Path) -> std::io::Result<Child> {
    let mut cmd = Command::new(exe);
    cmd.arg("__worker")
        .env_clear()
        .current_dir(workdir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        let fd = plugin.as_raw_fd();
        // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let target = super::worker::PLUGIN_FD;
                let ok = if fd == target {
                    libc::fcntl(fd, libc::F_SETFD, 0) == 0
                } else {
                    libc::dup2(fd, target) == target
                };
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    cmd.spawn()
}

/// One line for the worker, and the answer bytes it carries: they count
/// against the worker's budget of held answers until the worker has read
/// them.
struct Outgoing {
    line: Vec<u8>,
    release: u64,
}

/// When the line being written to the worker started waiting (ms since
/// `epoch`), or 0 when none waits.
struct Stall {
    epoch: Instant,
    since_ms: AtomicU64,
}

impl Stall {
    /// Whether one line has waited longer than [`WRITE_STALL`].
    fn stuck(&self) -> bool {
        let since = self.since_ms.load(Ordering::SeqCst);
        since != 0
            && self.epoch.elapsed().as_millis() as u64 > since + WRITE_STALL.as_millis() as u64
    }
}

/// Lines for the worker's stdin go through this thread alone, so nothing
/// that reads the worker's output ever blocks on a worker that stopped
/// reading: the queue is small, a full queue cuts the worker off, and so
/// does a line it leaves unread (see [`Stall`]). Each line written gives
/// its answer bytes back to `held`.
fn start_writer(
    stdin: Option<ChildStdin>,
    held: Option<Arc<AnswerBudget>>,
) -> (mpsc::SyncSender<Outgoing>, Arc<Stall>) {
    let (tx, rx) = mpsc::sync_channel::<Outgoing>(REPLY_QUEUE);
    let stall = Arc::new(Stall { epoch: Instant::now(), since_ms: AtomicU64::new(0) });
    let watch = stall.clone();
    std::thread::spawn(move || {
        let mut stdin = stdin;
        for out in rx {
            let written = stdin.as_mut().is_some_and(|s| {
                watch
                    .since_ms
                    .store(watch.epoch.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
                let ok = s.write_all(&out.line).and_then(|_| s.flush()).is_ok();
                watch.since_ms.store(0, Ordering::SeqCst);
                ok
            });
            if let Some(h) = &held {
                h.give(out.release);
            }
            // The worker is gone or closed its input: nobody to answer, but
            // what is still queued is given back.
            if !written {
                stdin = None;
            }
        }
    });
    (tx, stall)
}

/// Kills the worker and whatever is left of its process group (it cannot
/// leave the group: the filter denies `setpgid` and `setsid`).
fn kill_group(child: &Child) {
    #[cfg(unix)]
    // SAFETY: signals to the worker itself and to its own process group.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// Bytes of parsed lines that may wait between the reading thread and the
/// host: the reader stops reading past this, so memory stays bounded.
const QUEUED_BYTES: usize = 32 << 20;

/// How many bytes of read lines wait to be handled; the reading thread
/// waits while it is over [`QUEUED_BYTES`], until the host stops reading.
#[derive(Default)]
struct Backlog {
    /// Bytes waiting, and whether the host has stopped reading.
    state: std::sync::Mutex<(usize, bool)>,
    drained: std::sync::Condvar,
}

impl Backlog {
    fn add(&self, n: usize) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while s.0 > QUEUED_BYTES && !s.1 {
            s = self.drained.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.0 += n;
    }

    fn done(&self, n: usize) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 = s.0.saturating_sub(n);
        self.drained.notify_all();
    }

    /// The host reads no more: the reading thread never waits again.
    fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.drained.notify_all();
    }
}

/// Reads the worker's stdout as lines of at most `max` bytes and parses
/// them, on a thread; each message travels with its size, which the host
/// hands back to `backlog` once handled.
fn read_messages(
    out: Option<std::process::ChildStdout>,
    max: usize,
    backlog: Arc<Backlog>,
) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Some(out) = out else {
            let _ = tx.send(Event::End);
            return;
        };
        let mut r = BufReader::with_capacity(64 << 10, out);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut r).take(max as u64 + 1).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line.len() > max => {
                    let _ = tx.send(Event::TooLong);
                    return;
                }
                Ok(n) => {
                    // The pipe is the worker's own (plugin output goes to
                    // stderr), so an unreadable line is a worker bug, not
                    // plugin noise.
                    let Ok(msg) = serde_json::from_slice::<Message>(&line) else { continue };
                    backlog.add(n);
                    if tx.send(Event::Message(msg, n)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Event::End);
    });
    rx
}

/// Keeps the last [`STDERR_KEEP`] bytes of the worker's stderr.
fn keep_tail(err: Option<std::process::ChildStderr>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut err) = err {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * STDERR_KEEP {
                    kept.drain(..kept.len() - STDERR_KEEP);
                }
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&kept).into_owned());
    });
    rx
}

enum Ended {
    Done,
    TimedOut,
    Cut(String),
}

/// The host's side of one worker's stream.
struct Reader<'a> {
    limits: OutputLimits,
    broker: Option<Arc<Broker>>,
    replies: mpsc::SyncSender<Outgoing>,
    stall: Arc<Stall>,
    on_log: &'a mut dyn FnMut(LogLevel, String),
    outcome: Outcome,
    records: Vec<WireRecord>,
    record_bytes: u64,
    log_lines: usize,
    log_bytes: usize,
    dropped_lines: usize,
    exchanges: Arc<AtomicUsize>,
}

impl Reader<'_> {
    /// Reads until the stream ends, the worker exits and its pipe stays
    /// quiet, a limit is crossed, or the deadline passes.
    fn read(
        &mut self,
        events: &mpsc::Receiver<Event>,
        backlog: &Backlog,
        child: &mut Child,
        deadline: Instant,
    ) -> Ended {
        let mut exited = false;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ended::TimedOut;
            }
            if self.stall.stuck() {
                return Ended::Cut(
                    "the worker does not read the host's answers; it was killed".into(),
                );
            }
            let tick = deadline.saturating_duration_since(now).min(Duration::from_millis(100));
            match events.recv_timeout(tick) {
                Ok(Event::Message(msg, size)) => {
                    let cut = self.handle(msg);
                    backlog.done(size);
                    if let Some(why) = cut {
                        return Ended::Cut(why);
                    }
                }
                Ok(Event::TooLong) => {
                    return Ended::Cut(
                        "the worker sent a line longer than the protocol allows; it was killed"
                            .into(),
                    )
                }
                Ok(Event::End) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // The pipe closed: the worker is exiting (or closed it
                    // itself); give it until the deadline to be gone.
                    return match wait_until(child, deadline) {
                        Some(_) => Ended::Done,
                        None => Ended::TimedOut,
                    };
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // Once the worker is gone, what it wrote is still read to
                    // the pipe's end (nothing else can hold the pipe once its
                    // group is killed: a worker cannot fork or leave it).
                    if !exited && matches!(child.try_wait(), Ok(Some(_))) {
                        exited = true;
                        kill_group(child);
                    }
                }
            }
        }
    }

    /// Handles one message; `Some` cuts the run off with that reason.
    fn handle(&mut self, msg: Message) -> Option<String> {
        match msg {
            Message::Log { level, message } => self.log(LogLevel(level), message),
            Message::Record(r) => {
                self.record_bytes +=
                    (r.payload.len() + r.kind.len() + r.key.len()) as u64 + RECORD_OVERHEAD;
                if self.record_bytes > self.limits.record_bytes {
                    return Some(format!(
                        "the plugin's records exceed {} bytes (AGENT_MAX_RECORD_BYTES); nothing was stored",
                        self.limits.record_bytes
                    ));
                }
                self.records.push(self.redacted(r));
            }
            Message::Http { id, requests } => return self.serve_http(id, requests),
            Message::Progress { done, total } => {
                if let Some(b) = &self.broker {
                    b.progress(done, total);
                }
            }
            Message::Result(mut r) => {
                r.error = r.error.map(|e| printable(&self.redact(&e), false));
                // Metadata carries plugin text too (the reasons of lost days).
                r.metadata = self.redact(&r.metadata);
                r.records = std::mem::take(&mut self.records);
                self.outcome.result = Some(r);
            }
            Message::Manifest { json } => self.outcome.manifest = Some(json),
            Message::Fatal { error } => {
                self.outcome.failure = Some(self.redact(&error));
                self.outcome.refused = true;
            }
        }
        None
    }

    fn redact(&self, text: &str) -> String {
        match &self.broker {
            Some(b) => b.redact(text),
            None => text.to_string(),
        }
    }

    fn redacted(&self, r: WireRecord) -> WireRecord {
        WireRecord {
            kind: self.redact(&r.kind),
            key: self.redact(&r.key),
            payload: self.redact(&r.payload),
        }
    }

    fn log(&mut self, level: LogLevel, message: String) {
        if self.log_lines >= self.limits.log_lines || self.log_bytes >= self.limits.log_bytes {
            self.dropped_lines += 1;
            return;
        }
        self.log_lines += 1;
        self.log_bytes += message.len().min(self.limits.log_line_bytes);
        // Redacted whole, then cut: a cut never leaves part of a secret.
        let mut message = printable(&self.redact(&message), false);
        if message.len() > self.limits.log_line_bytes {
            let mut end = self.limits.log_line_bytes;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("… [truncated]");
        }
        (self.on_log)(level, message);
    }

    /// Performs the worker's HTTP requests on a thread of their own and
    /// writes the answers back on its stdin. `Some` cuts the worker off: it
    /// asks without reading the answers.
    fn serve_http(&mut self, id: u64, requests: Vec<WireRequest>) -> Option<String> {
        let reply_line = move |results: Vec<Result<WireResponse, String>>| {
            let release = results.iter().flatten().map(|r| r.body.raw_len() as u64).sum();
            let mut line = serde_json::to_vec(&Reply::Http { id, results }).unwrap_or_default();
            line.push(b'\n');
            Outgoing { line, release }
        };
        let refuse =
            |why: &str| reply_line(requests.iter().map(|_| Err(why.to_string())).collect());
        let refusal = match &self.broker {
            None => Some(refuse("HTTP is not available here")),
            Some(_) if requests.len() > MAX_EXCHANGE_REQUESTS => Some(refuse(&format!(
                "more than {MAX_EXCHANGE_REQUESTS} requests in one call; refused"
            ))),
            Some(_) if self.exchanges.load(Ordering::SeqCst) >= MAX_HTTP_EXCHANGES => {
                Some(refuse(&format!("more than {MAX_HTTP_EXCHANGES} HTTP calls at once; refused")))
            }
            Some(_) => None,
        };
        if let Some(line) = refusal {
            return self
                .replies
                .try_send(line)
                .err()
                .map(|_| "the worker does not read the host's answers; it was killed".to_string());
        }
        let broker = self.broker.clone()?;
        let replies = self.replies.clone();
        let exchanges = self.exchanges.clone();
        exchanges.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            let line = reply_line(broker.http_all(requests));
            // Blocks only this thread; the worker's end closes the queue.
            let _ = replies.send(line);
            exchanges.fetch_sub(1, Ordering::SeqCst);
        });
        None
    }

    /// The outcome: what the worker sent, else `reason` (how it ended), else
    /// `silent` (it ended cleanly without an answer). The reason may quote
    /// what the plugin printed, so it is redacted and made printable.
    fn finish(mut self, reason: Option<String>, silent: impl FnOnce() -> String) -> Outcome {
        if self.dropped_lines > 0 {
            let note = format!(
                "{} more log lines were dropped (AGENT_MAX_LOG_LINES is {}, AGENT_MAX_LOG_BYTES {})",
                self.dropped_lines, self.limits.log_lines, self.limits.log_bytes
            );
            (self.on_log)(LogLevel::WARN, note);
        }
        let o = &self.outcome;
        let failure = o
            .failure
            .clone()
            .or(reason)
            .or_else(|| (o.result.is_none() && o.manifest.is_none()).then(silent));
        self.outcome.failure = failure.map(|f| printable(&self.redact(&f), false));
        self.outcome
    }
}

/// Waits for the child to exit, until `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Why a worker died, in one line: who crashed it, how (the signal or exit
/// code), and the last thing it printed (a panic message, usually).
fn death_reason(culprit: &str, how: &str, stderr: &str) -> String {
    let last = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("note:") && !l.starts_with("stack backtrace"));
    match last {
        Some(l) => {
            let l: String = l.chars().take(300).collect();
            format!("{culprit} crashed the worker: {how}; last output: {l}")
        }
        None => format!("{culprit} crashed the worker: {how}"),
    }
}

#[cfg(unix)]
fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        let name = match sig {
            libc::SIGSEGV => "SIGSEGV, segmentation fault",
            libc::SIGABRT => "SIGABRT, aborted",
            libc::SIGKILL => "SIGKILL, killed",
            libc::SIGBUS => "SIGBUS, bus error",
            libc::SIGILL => "SIGILL, illegal instruction",
            libc::SIGFPE => "SIGFPE, arithmetic error",
            libc::SIGXCPU => "SIGXCPU, CPU time limit",
            libc::SIGSYS => "SIGSYS, forbidden system call",
            _ => "signal",
        };
        format!("killed by signal {sig} ({name})")
    } else {
        match status.code() {
            Some(c) => format!("exited with status {c} before returning a result"),
            None => "ended without a status".to_string(),
        }
    }
}

#[cfg(not(unix))]
fn describe_status(status: ExitStatus) -> String {
    format!("{status}")
}
