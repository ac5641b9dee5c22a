//! The worker process (`agent-host __worker`): the only place plugin code
//! runs. It takes its protocol pipes out of reach (close-on-exec, stdout
//! pointed at stderr), locks itself into the sandbox, loads the plugin file
//! the host opened and checked (descriptor 3), then reads its manifest or
//! runs it. Its `Host` forwards logs and HTTP to the host over the pipes; it
//! has no network, no database and no environment of its own.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use abi_stable::std_types::{
    RErr, RNone, ROk, ROption, RResult, RSlice, RSome, RStr, RString, RVec,
};
use plugin_api::{Host, HttpRequest, HttpResponse, LogLevel, PluginCtx, PluginMod_Ref, TD_Opaque};

use super::loader;
use super::protocol::{
    Job, Message, ProtocolInfo, Reply, RunJob, WireRecord, WireRequest, WireResult,
    PROTOCOL_VERSION,
};
use super::sandbox;

/// The descriptor on which the host passes the plugin file.
pub const PLUGIN_FD: i32 = 3;

/// Exit code of a worker that could not set itself up.
const SETUP_FAILED: u8 = 70;

/// The path the worker loads the plugin through: its own descriptor.
const PLUGIN_PATH: &str = "/proc/self/fd/3";

type Proto = Arc<Mutex<File>>;

/// The worker's `main`; returns the process exit code.
pub fn main() -> u8 {
    let Some((input, output)) = take_protocol_pipes() else {
        eprintln!("agent-host worker: cannot set up the protocol pipes");
        return SETUP_FAILED;
    };
    let proto: Proto = Arc::new(Mutex::new(output));
    let mut input = BufReader::new(input);
    let mut line = String::new();
    let job: Job = match input.read_line(&mut line).map(|_| serde_json::from_str(&line)) {
        Ok(Ok(j)) => j,
        _ => {
            eprintln!("agent-host worker: no valid job on stdin");
            return SETUP_FAILED;
        }
    };
    let Some(plugin) = plugin_file() else {
        send(&proto, &Message::Fatal { error: "no plugin file was passed to the worker".into() });
        return SETUP_FAILED;
    };
    let spec = match &job {
        Job::Manifest { sandbox } => sandbox,
        Job::Run(run) => &run.sandbox,
    };
    let workdir = std::env::current_dir().ok();
    let protections = sandbox::apply(spec, &plugin, workdir.as_deref());
    let (level, note) = if protections.complete {
        (LogLevel::DEBUG, "sandbox")
    } else {
        (LogLevel::WARN, "sandbox incomplete")
    };
    send(
        &proto,
        &Message::Log { level: level.0, message: format!("{note}: {}", protections.describe()) },
    );

    let module = match loader::load_module(std::path::Path::new(PLUGIN_PATH)) {
        Ok(m) => m,
        Err(e) => {
            send(&proto, &Message::Fatal { error: e.replace(PLUGIN_PATH, "the plugin file") });
            return 0;
        }
    };
    match job {
        Job::Manifest { .. } => {
            let json = (module.manifest())().to_string();
            send(&proto, &Message::Manifest { json });
        }
        Job::Run(run) => run_plugin(module, &run, proto, input),
    }
    0
}

/// Runs the plugin and streams its records, then its result.
fn run_plugin(module: PluginMod_Ref, job: &RunJob, proto: Proto, input: BufReader<File>) {
    if job.protocol.version != PROTOCOL_VERSION {
        let error = format!(
            "the host speaks worker protocol {}, this worker {PROTOCOL_VERSION}",
            job.protocol.version
        );
        send(&proto, &Message::Fatal { error });
        return;
    }
    let declared = plugin_api::Manifest::from_json((module.manifest())().as_str())
        .map(|m| m.name)
        .unwrap_or_default();
    if declared != job.plugin {
        let error = format!("the file now declares plugin {declared:?}, not {:?}", job.plugin);
        send(&proto, &Message::Fatal { error });
        return;
    }
    let host = RemoteHost::start(
        proto.clone(),
        input,
        job.secrets.clone(),
        job.declared.clone(),
        job.protocol.clone(),
    );
    let ctx = PluginCtx {
        host: plugin_api::Host_TO::from_ptr(&host, TD_Opaque),
        run_id: RStr::from(job.run_id.as_str()),
    };
    let result = (module.run())(&ctx, RStr::from(job.request_json.as_str()));
    for r in result.records.iter() {
        let record = WireRecord {
            kind: r.kind.to_string(),
            key: r.key.to_string(),
            payload: r.payload_json.to_string(),
        };
        send(&proto, &Message::Record(record));
    }
    let wire = WireResult {
        status: result.status.0,
        error: result.error.as_ref().map(|e| e.to_string()).into_option(),
        records: Vec::new(),
        metadata: result.metadata_json.to_string(),
    };
    send(&proto, &Message::Result(wire));
}

fn send(proto: &Mutex<File>, msg: &Message) {
    let mut line = serde_json::to_string(msg).unwrap_or_else(|_| "{}".into());
    line.push('\n');
    // A poisoned lock only means another thread panicked mid-write; keep going.
    let mut f = proto.lock().unwrap_or_else(|p| p.into_inner());
    // The host may be gone; there is no one left to tell.
    let _ = f.write_all(line.as_bytes()).and_then(|_| f.flush());
}

type Answers = Vec<Result<super::protocol::WireResponse, String>>;

/// The `Host` a plugin sees inside the worker: logs and HTTP go to the
/// host process, which applies every policy; secrets are the declared ones
/// the host chose to send.
struct RemoteHost {
    proto: Proto,
    secrets: BTreeMap<String, String>,
    declared: Vec<String>,
    /// What the host offers, for `call("host.features")`.
    protocol: ProtocolInfo,
    next_id: AtomicU64,
    waiting: Arc<Mutex<HashMap<u64, mpsc::Sender<Answers>>>>,
    /// How often progress goes on to the host.
    progress: Throttle,
}

/// The least time between two progress lines a worker passes on.
const PROGRESS_EVERY_MS: u64 = 100;

/// Lets a report through at most every [`PROGRESS_EVERY_MS`] (the first at
/// once), whatever it says: a plugin that reports every line, or a hostile
/// one that reports in a loop, sends the host ten lines a second at most.
struct Throttle {
    started: std::time::Instant,
    /// When a report last went through (ms since `started`); `u64::MAX`
    /// before the first.
    last: AtomicU64,
}

impl Throttle {
    fn new() -> Self {
        Throttle { started: std::time::Instant::now(), last: AtomicU64::new(u64::MAX) }
    }

    /// Whether a report now may go through (and, if so, it counts as sent).
    fn pass(&self) -> bool {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.pass_at(now)
    }

    fn pass_at(&self, now: u64) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        if last != u64::MAX && now.saturating_sub(last) < PROGRESS_EVERY_MS {
            return false;
        }
        // Two threads at once: one of them goes through.
        self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

impl RemoteHost {
    /// Starts the thread that routes the host's replies to waiting calls.
    fn start(
        proto: Proto,
        input: BufReader<File>,
        secrets: BTreeMap<String, String>,
        declared: Vec<String>,
        protocol: ProtocolInfo,
    ) -> Self {
        let waiting: Arc<Mutex<HashMap<u64, mpsc::Sender<Answers>>>> = Arc::default();
        let routes = waiting.clone();
        std::thread::spawn(move || {
            for line in input.lines() {
                let Ok(line) = line else { break };
                let Ok(Reply::Http { id, results }) = serde_json::from_str(&line) else { continue };
                let tx = routes.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                if let Some(tx) = tx {
                    let _ = tx.send(results);
                }
            }
            // The host is gone: wake every waiting call with nothing.
            routes.lock().unwrap_or_else(|p| p.into_inner()).clear();
        });
        RemoteHost {
            proto,
            secrets,
            declared,
            protocol,
            next_id: AtomicU64::new(1),
            waiting,
            progress: Throttle::new(),
        }
    }

    /// Sends progress on, as often as [`Throttle`] lets it.
    fn pass_on_progress(&self, p: plugin_api::Progress) {
        if self.progress.pass() {
            send(&self.proto, &Message::Progress { done: p.done, total: p.total });
        }
    }

    fn exchange(&self, requests: &[HttpRequest]) -> Vec<Result<HttpResponse, String>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
        let wire: Vec<WireRequest> = requests.iter().map(WireRequest::from).collect();
        send(&self.proto, &Message::Http { id, requests: wire });
        match rx.recv() {
            Ok(answers) if answers.len() == requests.len() => answers
                .into_iter()
                .map(|a| a.and_then(super::protocol::WireResponse::into_api))
                .collect(),
            _ => requests.iter().map(|_| Err("the host did not answer".to_string())).collect(),
        }
    }
}

fn guarded<T>(f: impl FnOnce() -> T, on_panic: impl FnOnce(String) -> T) -> T {
    plugin_api::catch_panic(f).unwrap_or_else(on_panic)
}

impl Host for RemoteHost {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        guarded(
            || send(&self.proto, &Message::Log { level: level.0, message: message.to_string() }),
            |_| (),
        );
    }

    fn secret(&self, name: RStr<'_>) -> ROption<RString> {
        guarded(
            || match self.secrets.get(name.as_str()) {
                Some(v) => RSome(RString::from(v.as_str())),
                None => {
                    // A declared secret that is unset is the plugin's to
                    // handle (it may have a fallback); an undeclared one is a
                    // refusal worth a warning.
                    if !self.declared.iter().any(|d| d == name.as_str()) {
                        let message = format!(
                            "refused secret {}: not declared by this plugin's manifest",
                            name.as_str()
                        );
                        send(&self.proto, &Message::Log { level: LogLevel::WARN.0, message });
                    }
                    RNone
                }
            },
            |_| RNone,
        )
    }

    fn http(&self, request: &HttpRequest) -> RResult<HttpResponse, RString> {
        guarded(
            || match self.exchange(std::slice::from_ref(request)).pop() {
                Some(Ok(r)) => ROk(r),
                Some(Err(e)) => RErr(e.into()),
                None => RErr("the host did not answer".into()),
            },
            |p| RErr(format!("host HTTP capability panicked: {p}").into()),
        )
    }

    fn http_all(&self, requests: RSlice<'_, HttpRequest>) -> RVec<RResult<HttpResponse, RString>> {
        guarded(
            || {
                self.exchange(requests.as_slice())
                    .into_iter()
                    .map(|r| match r {
                        Ok(r) => ROk(r),
                        Err(e) => RErr(RString::from(e)),
                    })
                    .collect()
            },
            |p| {
                requests
                    .iter()
                    .map(|_| RErr(format!("host HTTP capability panicked: {p}").into()))
                    .collect()
            },
        )
    }

    fn call(&self, method: RStr<'_>, json: RStr<'_>) -> RResult<RString, RString> {
        guarded(
            || match method.as_str() {
                // Answered here, from what the host sent with the job.
                "host.features" => ROk(self.protocol.features_json().into()),
                "host.progress" => match serde_json::from_str::<plugin_api::Progress>(&json) {
                    Ok(p) => {
                        self.pass_on_progress(p);
                        ROk("{}".into())
                    }
                    Err(e) => RErr(format!("host.progress: {e}").into()),
                },
                other => RErr(format!("unknown host method {other:?}").into()),
            },
            |p| RErr(format!("host call panicked: {p}").into()),
        )
    }
}

/// Moves the protocol pipes (stdin, stdout) to close-on-exec descriptors,
/// points stdin at nothing and stdout at stderr: nothing the plugin prints
/// can forge a protocol line, and nothing it starts inherits the pipes.
#[cfg(unix)]
fn take_protocol_pipes() -> Option<(File, File)> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain descriptor syscalls on descriptors this process owns;
    // each new descriptor is owned by the File it is wrapped in, alone.
    unsafe {
        let input = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 10);
        let output = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 10);
        if input < 0 || output < 0 {
            return None;
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null < 0 || libc::dup2(null, 0) < 0 || libc::dup2(2, 1) < 0 {
            return None;
        }
        libc::close(null);
        Some((File::from_raw_fd(input), File::from_raw_fd(output)))
    }
}

#[cfg(not(unix))]
fn take_protocol_pipes() -> Option<(File, File)> {
    None
}

/// The plugin file the host passed on descriptor 3, made close-on-exec.
#[cfg(unix)]
fn plugin_file() -> Option<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: descriptor 3 is the host's plugin file, owned by this process
    // from here on; fcntl fails harmlessly if it is not open.
    unsafe {
        if libc::fcntl(PLUGIN_FD, libc::F_SETFD, libc::FD_CLOEXEC) < 0 {
            return None;
        }
        Some(File::from_raw_fd(PLUGIN_FD))
    }
}

#[cfg(not(unix))]
fn plugin_file() -> Option<File> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However often and whatever a plugin reports, ten reports a second
    /// at most reach the host; the first goes at once.
    #[test]
    fn progress_reaches_the_host_ten_times_a_second_at_most() {
        let t = Throttle::new();
        let passed: Vec<u64> = (0..=1_000).filter(|&ms| t.pass_at(ms)).collect();
        assert_eq!(passed, (0..=10).map(|i| i * 100).collect::<Vec<_>>());
        // A burst in one instant: one report.
        let t = Throttle::new();
        assert_eq!((0..100_000).filter(|_| t.pass_at(5)).count(), 1);
    }
}
