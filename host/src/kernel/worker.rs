//! The worker process (`agent-host __worker`): reads one [`Job`] from stdin,
//! loads the plugin, runs it, and writes JSON lines on a private copy of
//! stdout. The plugin's own stdout is pointed at stderr, so nothing it prints
//! can forge a protocol line. It never touches the database.

use std::fs::File;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use plugin_api::LogLevel;

use super::invoke::invoke;
use super::loader;
use super::protocol::{Job, Message, WireResult};

/// The worker's `main`; returns the process exit code.
pub fn main() -> u8 {
    let Some(proto) = take_stdout() else {
        eprintln!("agent-host worker: cannot set up the protocol pipe");
        return 70;
    };
    let proto = Arc::new(Mutex::new(proto));
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("agent-host worker: cannot read the job: {e}");
        return 70;
    }
    let job: Job = match serde_json::from_str(&input) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("agent-host worker: invalid job: {e}");
            return 70;
        }
    };
    let result = run_job(&job, proto.clone());
    send(&proto, &Message::Result(result));
    0
}

fn run_job(job: &Job, proto: Arc<Mutex<File>>) -> WireResult {
    let failed = |error: String| WireResult {
        status: plugin_api::RunStatus::FAILED.0,
        error: Some(error),
        records: Vec::new(),
        metadata: "{}".into(),
    };
    let module = match loader::load_module(&job.library) {
        Ok(m) => m,
        Err(e) => return failed(format!("cannot load {}: {e}", job.library.display())),
    };
    let declared = plugin_api::Manifest::from_json((module.manifest())().as_str())
        .map(|m| m.name)
        .unwrap_or_default();
    if declared != job.plugin {
        return failed(format!(
            "{} now declares plugin {declared:?}, not {:?}; was it replaced?",
            job.library.display(),
            job.plugin
        ));
    }
    let log = Arc::new(move |level: LogLevel, message: &str| {
        send(&proto, &Message::Log { level: level.0, message: message.to_string() });
    });
    invoke(module, job, log)
}

fn send(proto: &Mutex<File>, msg: &Message) {
    let mut line = serde_json::to_string(msg).unwrap_or_else(|_| "{}".into());
    line.push('\n');
    // A poisoned lock only means another thread panicked mid-write; keep going.
    let mut f = proto.lock().unwrap_or_else(|p| p.into_inner());
    // The parent may be gone; there is no one left to tell.
    let _ = f.write_all(line.as_bytes()).and_then(|_| f.flush());
}

/// Duplicates fd 1 into a private file for the protocol and points fd 1 at
/// stderr.
#[cfg(unix)]
fn take_stdout() -> Option<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain fd syscalls on descriptors this process owns; the new
    // descriptor from dup() is owned by the returned File alone.
    unsafe {
        let fd = libc::dup(1);
        if fd < 0 {
            return None;
        }
        if libc::dup2(2, 1) < 0 {
            libc::close(fd);
            return None;
        }
        Some(File::from_raw_fd(fd))
    }
}

#[cfg(not(unix))]
fn take_stdout() -> Option<File> {
    None
}
