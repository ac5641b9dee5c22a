//! Runs a plugin in a worker child process with a timeout, so a panic,
//! segfault, `exit()`, abort or hang in a plugin becomes a failed run with a
//! reason instead of taking the host down.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use plugin_api::{LogLevel, RunStatus};

use super::protocol::{Job, Message, WireResult};

/// Most of a worker's stderr kept for the failure reason.
const STDERR_KEEP: usize = 16 * 1024;

/// Runs `job` in `exe __worker`, passing log lines to `on_log` as they come.
pub fn run_isolated(
    exe: &Path,
    job: &Job,
    timeout: Duration,
    on_log: &mut dyn FnMut(LogLevel, String),
) -> WireResult {
    let failed = |error: String| WireResult {
        status: RunStatus::FAILED.0,
        error: Some(error),
        records: Vec::new(),
        metadata: "{}".into(),
    };
    let mut child = match Command::new(exe)
        .arg("__worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("AGENT_LOG")
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start a worker process ({}): {e}", exe.display())),
    };
    let job_json = serde_json::to_vec(job).unwrap_or_default();
    if let Some(mut stdin) = child.stdin.take() {
        // A worker that dies at once closes the pipe; its exit status tells why.
        let _ = stdin.write_all(&job_json);
    }

    let (tx, rx) = mpsc::channel::<Option<String>>();
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        if let Some(out) = stdout {
            for line in BufReader::new(out).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(Some(l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        let _ = tx.send(None);
    });
    let stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut err) = stderr {
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
        String::from_utf8_lossy(&kept).into_owned()
    });

    let deadline = Instant::now() + timeout;
    let mut result: Option<WireResult> = None;
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Some(line)) => match serde_json::from_str::<Message>(&line) {
                Ok(Message::Log { level, message }) => on_log(LogLevel(level), message),
                Ok(Message::Result(r)) => result = Some(r),
                // The pipe is the worker's own (plugin output goes to stderr).
                Err(_) => tracing::debug!("ignored an unreadable line from the worker"),
            },
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
        }
    }
    if timed_out {
        // Killing an already-exited child fails harmlessly.
        let _ = child.kill();
    }
    let status = child.wait();
    let _ = reader.join();
    let stderr = err_reader.join().unwrap_or_default();
    if timed_out {
        return failed(format!("timed out after {}s; the worker was killed", timeout.as_secs()));
    }
    match (result, status) {
        (Some(r), Ok(s)) if s.success() => r,
        (_, Ok(s)) => failed(death_reason(s, &stderr)),
        (_, Err(e)) => failed(format!("lost the worker process: {e}")),
    }
}

/// Why a worker died, in one line: the signal or exit code, and the last
/// thing it printed (a panic message, usually).
fn death_reason(status: ExitStatus, stderr: &str) -> String {
    let how = describe_status(status);
    let last = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("note:") && !l.starts_with("stack backtrace"));
    match last {
        Some(l) => {
            let l: String = l.chars().take(300).collect();
            format!("the plugin crashed the worker: {how}; last output: {l}")
        }
        None => format!("the plugin crashed the worker: {how}"),
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
