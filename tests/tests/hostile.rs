//! The trust boundary, tried as an attacker would: the `hostile` plugin,
//! built against plugin-api 1.0 and dropped into the folder, attempts every
//! attack the kernel must contain, against real worker processes, real local
//! listeners and real files. Each test asserts it got nothing it was not
//! given.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use util::{patched_hostile, plugin_lib, Home};

/// A home with the hostile plugin and these secrets set.
fn hostile_home() -> Home {
    let mut home = Home::with_plugins(&["hostile"]);
    home.env("OPENAI_ADMIN_KEY", "sk-admin-HOST-ONLY-0123456789")
        .env("DISCORD_WEBHOOK_URL", "https://discord.example/api/webhooks/1/WEBHOOK-TOKEN-XYZ")
        .env("HOSTILE_KEY", "hk-HOSTILE-OWN-KEY-42");
    std::fs::write(home.path().join(".env"), "ANTHROPIC_ADMIN_KEY=sk-ant-admin-IN-DOTENV-987\n")
        .unwrap();
    set_mode(&home.path().join(".env"), 0o600);
    home
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs one attack and returns what the plugin says it achieved.
fn attack(home: &Home, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "--plugin", "hostile", "--param"];
    let attack = format!("attack={name}");
    args.push(&attack);
    args.extend_from_slice(extra);
    home.run(&args).expect_code(0);
    let payload =
        home.text(&format!("SELECT payload FROM records WHERE kind = 'probe' AND key = '{name}'"));
    let v: serde_json::Value = serde_json::from_str(&payload).expect("a probe record");
    v["outcome"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_environment_the_home_folder_and_the_host_are_out_of_reach() {
    let home = hostile_home();
    let env = attack(&home, "env", &[]);
    assert!(env.starts_with("vars=[] "), "the worker saw an environment: {env}");
    assert!(env.ends_with("files=[]"), "the working folder is not empty and private: {env}");
    assert!(!env.contains(home.path().to_str().unwrap()), "{env}");

    let proc = attack(&home, "proc", &[]);
    assert!(!proc.contains("READ") && !proc.contains("ATTACHED"), "{proc}");
    let parts: Vec<&str> = proc.split("; ").collect();
    assert_eq!(parts.len(), 5, "{proc}");
    assert!(
        parts.iter().all(|p| p.starts_with("denied") || p.starts_with("ptrace denied")),
        "{proc}"
    );

    for target in [".env", "agent_os.db", "agent.log"] {
        let path = home.path().join(target);
        let outcome = attack(&home, "read", &["--param", &format!("target={}", path.display())]);
        assert!(outcome.starts_with("denied"), "{target}: {outcome}");
    }
    let planted = home.path().join("planted.so");
    let outcome = attack(&home, "write", &["--param", &format!("target={}", planted.display())]);
    assert!(outcome.starts_with("denied"), "{outcome}");
    assert!(!planted.exists());
}

#[test]
fn no_socket_reaches_a_local_listener() {
    let home = hostile_home();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let outcome = attack(&home, "socket", &["--param", &format!("port={port}")]);
    assert!(outcome.starts_with("denied"), "{outcome}");
    assert!(listener.accept().is_err(), "the plugin connected to the listener");
}

#[test]
fn no_process_is_started_so_no_grandchild_can_hold_the_host() {
    let home = hostile_home();
    let forked = attack(&home, "grandchild", &[]);
    assert!(forked.starts_with("denied fork"), "{forked}");
    let exec = attack(&home, "exec", &[]);
    assert!(exec.starts_with("denied exec"), "{exec}");
    let signal = attack(&home, "signal", &[]);
    assert_eq!(signal.matches("denied").count(), 3, "{signal}");
}

#[test]
fn secrets_are_never_settings_and_every_known_secret_is_redacted() {
    let mut home = hostile_home();
    home.env("HOSTILE_NOTE", "note-mentions-sk-admin-HOST-ONLY-0123456789");
    let settings = attack(&home, "settings", &[]);
    assert!(!settings.contains("OPENAI_ADMIN_KEY"), "{settings}");
    assert!(!settings.contains("DISCORD_WEBHOOK_URL"), "{settings}");
    assert!(home.log().contains("setting OPENAI_ADMIN_KEY names a secret"), "{}", home.log());

    let leak = attack(&home, "leak", &[]);
    assert_eq!(leak, "key=[redacted] note=note-mentions-[redacted]");
    let stored = [
        home.text("SELECT group_concat(payload) FROM records"),
        home.text("SELECT group_concat(message) FROM run_logs"),
        home.log(),
    ];
    for secret in [
        "hk-HOSTILE-OWN-KEY-42",
        "sk-admin-HOST-ONLY-0123456789",
        "WEBHOOK-TOKEN-XYZ",
        "sk-ant-admin-IN-DOTENV-987",
    ] {
        assert!(stored.iter().all(|s| !s.contains(secret)), "{secret} leaked");
    }
}

#[test]
fn a_plugin_s_key_in_a_lost_day_s_reason_is_redacted() {
    let home = hostile_home();
    let run = home.run(&[
        "run",
        "--plugin",
        "hostile",
        "--param",
        "attack=leak-days",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-01",
    ]);
    run.expect_code(1);
    assert!(run.stdout().contains("2025-08-01 (bad key [redacted])"), "{}", run.stdout());
    let stored = [
        run.stdout(),
        home.text("SELECT group_concat(error) FROM runs"),
        home.text("SELECT group_concat(reason) FROM missing_days"),
        home.log(),
    ];
    assert!(stored.iter().all(|s| !s.contains("hk-HOSTILE-OWN-KEY-42")), "{stored:?}");
}

/// A one-shot HTTP server: answers every request with `answer(path)` and
/// keeps the request heads it saw.
fn http_server(answer: impl Fn(&str) -> String + Send + 'static) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8).flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            log.lock().unwrap().push(head);
            let mut s = stream;
            let _ = s.write_all(answer(&path).as_bytes());
        }
    });
    (port, seen)
}

#[test]
fn redirects_are_checked_hop_by_hop_and_lose_credentials_across_origins() {
    let (landing, landed) = http_server(|_| {
        "HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nlanded".into()
    });
    let (unconfigured, reached) = http_server(|_| {
        "HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nreached".into()
    });
    // The first server redirects /start to the landing server (same host,
    // another port: another origin, which the operator configured too),
    // /away to a host nobody allowed, /local to a port of this machine the
    // operator did not configure, and /mapped to it in another spelling.
    let (start, _) = http_server(move |path| {
        let to = match path {
            "/away" => "http://evil.invalid/steal".to_string(),
            "/local" => format!("http://127.0.0.1:{unconfigured}/"),
            "/mapped" => format!("http://[::ffff:7f00:1]:{unconfigured}/"),
            _ => format!("http://127.0.0.1:{landing}/landing"),
        };
        format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    });
    let mut home = hostile_home();
    home.env("HOSTILE_BASE_URL", &format!("http://127.0.0.1:{start}"))
        .env("HOSTILE_MIRROR_URL", &format!("http://127.0.0.1:{landing}"));
    let outcome = attack(&home, "redirect", &["--param", "target=/start"]);
    assert_eq!(outcome, "HTTP 200: landed");
    let heads = landed.lock().unwrap().join("\n").to_lowercase();
    assert!(heads.contains("get /landing"), "{heads}");
    assert!(!heads.contains("hk-hostile-own-key-42"), "the key crossed origins: {heads}");
    assert!(!heads.contains("authorization") && !heads.contains("x-api-key"), "{heads}");
    assert!(!heads.contains("referer"), "{heads}");

    let away = attack(&home, "redirect", &["--param", "target=/away"]);
    assert!(away.contains("redirected to a host that is not allowed"), "{away}");
    assert!(away.contains("host evil.invalid is not allowed"), "{away}");
    let local = attack(&home, "redirect", &["--param", "target=/local"]);
    assert!(local.contains("redirected to a host that is not allowed"), "{local}");
    assert!(local.contains("127.0.0.1 is a loopback address"), "{local}");
    let mapped = attack(&home, "redirect", &["--param", "target=/mapped"]);
    assert!(mapped.contains("redirected to a host that is not allowed"), "{mapped}");
    assert!(reached.lock().unwrap().is_empty(), "a redirect reached an unconfigured port");
}

/// The machine's own host name. It must be in `/etc/hosts` at an address
/// that is not public, so that neither a DNS query nor a request leaves the
/// machine when a test makes a plugin ask for it.
fn local_host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length.
    assert_eq!(unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) }, 0);
    let name =
        String::from_utf8_lossy(&buf[..buf.iter().position(|b| *b == 0).unwrap_or(0)]).into_owned();
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let at = hosts.lines().find_map(|line| {
        let mut words = line.split('#').next().unwrap_or("").split_whitespace();
        let ip: std::net::IpAddr = words.next()?.parse().ok()?;
        words.any(|w| w.eq_ignore_ascii_case(&name)).then_some(ip)
    });
    let local = match at {
        Some(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        Some(std::net::IpAddr::V6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        None => false,
    };
    assert!(
        !name.is_empty() && local,
        "this test needs the host name {name:?} in /etc/hosts at a loopback or private address \
         (found {at:?}), so that nothing it asks for leaves the machine"
    );
    name
}

/// An HTTP server that answers 200 `reached` to everyone.
fn reachable_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    http_server(|_| {
        "HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nreached".into()
    })
}

#[test]
fn this_machine_is_reached_only_at_the_operators_base_url_in_no_other_spelling() {
    let (port, seen) = reachable_server();
    let name = local_host_name();
    let mut home = hostile_home();
    home.env("HOSTILE_BASE_URL", &format!("http://127.0.0.1:{port}/api"));
    let fetch =
        |home: &Home, url: &str| attack(home, "fetch", &["--param", &format!("target={url}")]);
    // The operator's base URL is reached: the listener can be, so a refusal
    // below is the host's doing.
    assert_eq!(fetch(&home, &format!("http://127.0.0.1:{port}/api/x")), "HTTP 200: reached");
    assert_eq!(seen.lock().unwrap().len(), 1);
    // The same listener in other spellings is another origin. The host names
    // are allowed (an operator's URL on another port names each), so what
    // stops the plugin is the address, checked where the connection is made.
    for host in [
        "[::ffff:7f00:1]",
        "[::ffff:127.0.0.1]",
        "[::127.0.0.1]",
        "[::ffff:0:7f00:1]",
        "0.0.0.0",
        "[::]",
        "localhost",
        name.as_str(),
    ] {
        home.env("HOSTILE_MIRROR_URL", &format!("http://{host}:9/"));
        let outcome = fetch(&home, &format!("http://{host}:{port}/"));
        assert!(
            outcome.contains(
                "a plugin reaches this machine or a private network only at the \
                              operator's base URL"
            ),
            "{host}: {outcome}"
        );
    }
    home.unset("HOSTILE_MIRROR_URL");
    let undeclared = fetch(&home, &format!("http://[::ffff:7f00:1]:{port}/"));
    assert!(undeclared.contains("host ::ffff:7f00:1 is not allowed"), "{undeclared}");
    assert_eq!(seen.lock().unwrap().len(), 1, "the listener was reached in another spelling");
}

/// The spellings the hostile plugin declares in manifest mode `localN`
/// (its `LOCAL_SPELLINGS`).
const LOCAL_SPELLINGS: [&str; 8] = [
    "::ffff:7f00:1",
    "[::ffff:127.0.0.1]",
    "::ffff:a9fe:a9fe",
    "::ffff:a00:1",
    "::127.0.0.1",
    "localhost.",
    "127.1",
    "0.0.0.0",
];

#[test]
fn a_manifest_naming_this_machine_or_a_private_network_is_refused_in_any_spelling() {
    let home = Home::with_plugins(&["misbehaving"]);
    for i in 0..LOCAL_SPELLINGS.len() {
        patched_hostile(
            &home.plugins().join(format!("libhostile_local{i}.so")),
            &format!("local{i}"),
        );
    }
    let doc = home.run(&["plugins", "list", "--json"]).expect_code(0).json();
    assert_eq!(doc["plugins"].as_array().unwrap().len(), 1, "{doc}");
    for (i, spelling) in LOCAL_SPELLINGS.iter().enumerate() {
        let file = format!("libhostile_local{i}.so");
        let reason = doc["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(&file))
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            reason.contains(&format!(
                "manifest host {spelling:?} is this machine or a private network"
            )),
            "{spelling}: {reason:?}"
        );
    }
}

#[test]
fn a_declared_name_of_this_machine_is_refused_where_it_connects() {
    let name = local_host_name();
    let (port, seen) = reachable_server();
    let home = Home::with_plugins(&[]);
    // Declares the machine's own name: nothing in the manifest says it is
    // local, only what it resolves to.
    patched_hostile(&home.plugins().join("libhostile.so"), "hostname");
    home.grant_all();
    let doc = home.run(&[
        "plugin",
        "check",
        home.plugins().join("libhostile.so").to_str().unwrap(),
        "--json",
    ]);
    doc.expect_code(0);
    assert!(doc.stdout().contains(&name), "{}", doc.stdout());
    let outcome = attack(&home, "fetch", &["--param", &format!("target=http://{name}:{port}/")]);
    assert!(outcome.contains(&format!("refused: {name} resolves to ")), "{outcome}");
    assert!(seen.lock().unwrap().is_empty(), "the plugin reached this machine by its name");
}

#[test]
fn a_plugin_cannot_set_the_headers_that_frame_its_request() {
    let (port, seen) = reachable_server();
    let mut home = hostile_home();
    home.env("HOSTILE_BASE_URL", &format!("http://127.0.0.1:{port}"));
    for header in [
        "Host: metadata.internal",
        "Content-Length: 5",
        "Transfer-Encoding: chunked",
        "Connection: Upgrade",
        "Upgrade: websocket",
        "TE: trailers",
        "Proxy-Authorization: Basic eDp5",
    ] {
        let outcome = attack(
            &home,
            "fetch",
            &[
                "--param",
                &format!("target=http://127.0.0.1:{port}/"),
                "--param",
                &format!("header={header}"),
            ],
        );
        let name = header.split(':').next().unwrap();
        assert!(
            outcome.contains(&format!("header {name:?} is set by the host, never by a plugin")),
            "{header}: {outcome}"
        );
    }
    assert!(seen.lock().unwrap().is_empty(), "a request with a framing header was sent");
}

#[test]
fn a_plugin_writes_no_rows_for_a_provider_it_does_not_declare() {
    let home = hostile_home();
    let run = home.run(&[
        "run",
        "--plugin",
        "hostile",
        "--param",
        "attack=foreign-rows",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-01",
    ]);
    run.expect_code(1);
    assert!(
        run.stdout().contains("provider \"openai\" is not one this plugin's manifest declares"),
        "{}",
        run.stdout()
    );
    assert_eq!(home.count("cost_rows"), 0);
    assert_eq!(home.count("results"), 0);
}

#[test]
fn amounts_beyond_28_digits_are_summed_exactly_instead_of_failing_the_run() {
    let mut home = Home::with_plugins(&["hostile", "misbehaving"]);
    home.env("HOSTILE_ATTACK", "overflow");
    let run = home.run(&["run-all", "--from", "2025-08-01", "--to", "2025-08-01"]);
    run.expect_code(0);
    let status = |p: &str| home.text(&format!("SELECT status FROM runs WHERE plugin_name = '{p}'"));
    assert_eq!(status("misbehaving"), "success");
    assert_eq!(status("hostile"), "success");
    // Two amounts of 29 digits each: their day total needs 30.
    assert_eq!(
        home.text("SELECT cost FROM results WHERE provider = 'hostile' AND date = '2025-08-01'"),
        "158456325028528675187087900670"
    );
    let summary = home.run(&["summary", "--from", "2025-08-01", "--to", "2025-08-01", "--json"]);
    summary.expect_code(0);
    assert_eq!(summary.json()["total_cost"], "158456325028528675187087900670.00");
}

#[test]
fn floods_and_huge_results_are_bounded() {
    let mut home = hostile_home();
    home.env("AGENT_MAX_LOG_LINES", "500");
    attack(&home, "flood", &["--param", "count=5000"]);
    let kept = home.number("SELECT count(*) FROM run_logs");
    assert!(kept <= 502, "{kept} log lines kept");
    assert!(home
        .text("SELECT group_concat(message) FROM run_logs")
        .contains("more log lines were dropped (AGENT_MAX_LOG_LINES is 500,"));

    home.env("AGENT_MAX_LOG_LINES", "100000");
    attack(&home, "flood", &["--param", "count=1"]);
    let longest = home.number("SELECT max(length(message)) FROM run_logs");
    assert!(longest <= 8 * 1024 + 20, "a {longest}-byte log line was kept");

    home.env("AGENT_MAX_RECORD_BYTES", "1000000");
    let run =
        home.run(&["run", "--plugin", "hostile", "--param", "attack=huge", "--param", "count=64"]);
    run.expect_code(1);
    assert!(run.stdout().contains("AGENT_MAX_RECORD_BYTES"), "{}", run.stdout());
    assert_eq!(home.number("SELECT count(*) FROM records WHERE kind = 'blob'"), 0);
}

#[test]
fn memory_is_limited() {
    let mut home = hostile_home();
    home.env("AGENT_WORKER_MEMORY_MB", "256");
    let run = home.run(&["run", "--plugin", "hostile", "--param", "attack=memory"]);
    run.expect_code(1);
    assert!(run.stdout().contains("memory allocation"), "{}", run.stdout());
}

#[test]
fn a_manifest_that_crashes_or_hangs_rejects_that_file_only() {
    let mut home = Home::with_plugins(&["misbehaving"]);
    home.env("AGENT_MANIFEST_TIMEOUT_SECS", "2");
    for mode in ["segv", "abort", "panic", "hang", "noread"] {
        patched_hostile(&home.plugins().join(format!("libhostile_{mode}.so")), mode);
    }
    let doc = home.run(&["plugins", "list", "--json"]).expect_code(0).json();
    assert_eq!(doc["plugins"].as_array().unwrap().len(), 1);
    assert_eq!(doc["plugins"][0]["name"], "misbehaving");
    let reason = |mode: &str| {
        doc["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(&format!("libhostile_{mode}.so")))
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(reason("segv").contains("SIGSEGV"), "{}", reason("segv"));
    assert!(reason("abort").contains("SIGABRT"), "{}", reason("abort"));
    assert!(reason("panic").contains("invalid manifest"), "{}", reason("panic"));
    assert!(reason("hang").contains("timed out"), "{}", reason("hang"));
    let noread = reason("noread");
    assert!(noread.contains("does not read") || noread.contains("timed out"), "{noread}");
    // The rest still runs, and a second listing answers from the cache.
    home.run(&["run-all"]).expect_code(0);
    let again = home.run(&["plugins", "list", "--json"]).expect_code(0).json();
    assert_eq!(again["rejected"], doc["rejected"]);
}

#[test]
fn a_constructor_never_runs_in_the_host() {
    let mut home = hostile_home();
    let marker = home.path().join("constructor-ran");
    home.env("HOSTILE_CTOR_MARKER", marker.to_str().unwrap());
    home.run(&["plugins", "list"]).expect_code(0);
    attack(&home, "env", &[]);
    assert!(!marker.exists(), "the plugin's constructor ran with the host's environment");
}

#[test]
fn symlinked_foreign_owned_and_swapped_plugin_files_are_handled() {
    let mut home = Home::with_plugins(&["misbehaving", "openai_collector"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("libhostile.so");
    std::fs::copy(plugin_lib("hostile"), &target).unwrap();
    std::os::unix::fs::symlink(&target, home.plugins().join("libhostile.so")).unwrap();
    let listed = home.run(&["plugins", "list"]).expect_code(0).stdout();
    assert!(listed.contains("libhostile.so: is a symbolic link"), "{listed}");

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let lib = home.plugins().join("libmisbehaving.so");
        std::os::unix::fs::chown(&lib, Some(65534), Some(65534)).unwrap();
        let listed = home.run(&["plugins", "list"]).expect_code(0).stdout();
        assert!(listed.contains("belongs to another user (uid 65534)"), "{listed}");
    }

    // Swap the collector's file for the hostile plugin after a listing: the
    // new content is read again, and the admin key goes to nobody.
    home.env("OPENAI_ADMIN_KEY", "sk-admin-SWAP-TARGET-55555");
    let collector = home.plugins().join("libopenai_collector.so");
    let swap = home.plugins().join("swap.tmp");
    std::fs::copy(plugin_lib("hostile"), &swap).unwrap();
    set_mode(&swap, 0o755);
    std::fs::rename(&swap, &collector).unwrap();
    let run = home.run(&["run", "--plugin", "openai_collector"]);
    run.expect_code(2);
    assert!(run.stderr().contains("unknown plugin openai_collector"), "{}", run.stderr());
    // The swapped-in file was never granted: it does not run at all.
    let leak = home.run(&["run", "--plugin", "hostile", "--param", "attack=leak"]);
    leak.expect_code(3);
    assert!(leak.stderr().contains("not granted"), "{}", leak.stderr());
    let all = format!(
        "{}{}{}",
        leak.stdout(),
        leak.stderr(),
        home.text("SELECT group_concat(payload) FROM records")
    );
    assert!(!all.contains("sk-admin-SWAP-TARGET-55555"));
}

#[test]
fn another_applications_database_is_never_modified() {
    for version in [1, 2] {
        let home = Home::sqlite_only(&["misbehaving"]);
        let db = home.path().join("agent_os.db");
        {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute_batch(&format!(
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
                 INSERT INTO notes (body) VALUES ('mine');
                 PRAGMA user_version = {version};"
            ))
            .unwrap();
        }
        let before = std::fs::read(&db).unwrap();
        for args in [&["runs"][..], &["run", "--plugin", "misbehaving"], &["doctor"]] {
            let run = home.run(args);
            run.expect_code(4);
            assert!(
                run.stderr().contains("did not create") || run.stdout().contains("did not create")
            );
        }
        assert_eq!(std::fs::read(&db).unwrap(), before, "the file was changed");
        assert!(!home.path().join("agent_os.db-wal").exists());
    }
}

#[test]
fn doctor_checks_the_database_the_plugins_and_permissions() {
    let home = Home::sqlite_only(&["misbehaving"]);
    home.run(&["run", "--plugin", "misbehaving"]).expect_code(0);
    std::fs::write(home.path().join(".env"), "X=1\n").unwrap();
    set_mode(&home.path().join(".env"), 0o644);
    let run = home.run(&["doctor"]);
    run.expect_code(3);
    let out = run.stdout();
    assert!(out.contains("integrity ok"), "{out}");
    assert!(out.contains("plugin misbehaving"), "{out}");
    // The protections in force, not merely named ("landlock unavailable"
    // would match a bare "landlock").
    assert!(out.contains("sandbox: landlock ABI") && out.contains("fully enforced"), "{out}");
    assert!(out.contains("seccomp filter on"), "{out}");
    assert!(out.contains("fix with `chmod 600"), "{out}");
    set_mode(&home.path().join(".env"), 0o600);
    home.run(&["doctor"]).expect_code(0);
}

#[test]
fn webhooks_follow_no_redirect_and_send_no_referer() {
    let (elsewhere, seen_elsewhere) =
        http_server(|_| "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".into());
    let (hook, seen_hook) = http_server(move |_| {
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{elsewhere}/caught\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n"
        )
    });
    let mut home = hostile_home();
    home.env("ALERT_WEBHOOK_URL", &format!("http://127.0.0.1:{hook}/hook/WEBHOOK-SECRET-PATH"));
    // A failed run is what the collector alert reports.
    home.run(&["run", "--plugin", "hostile", "--param", "attack=none"]).expect_code(1);
    let run = home.run(&["alerts"]);
    assert!(
        run.stderr().contains("HTTP 307") || home.log().contains("HTTP 307"),
        "{}",
        run.stderr()
    );
    assert_eq!(seen_hook.lock().unwrap().len(), 1, "the webhook was not called");
    assert!(!seen_hook.lock().unwrap()[0].to_lowercase().contains("referer"));
    assert!(seen_elsewhere.lock().unwrap().is_empty(), "the redirect was followed");
    assert!(!home.log().contains("WEBHOOK-SECRET-PATH"));
}

#[test]
fn a_manifest_is_a_request_and_only_the_operator_s_grant_runs_a_plugin() {
    let home = Home::with_plugins(&[]);
    // Dropped into the folder: listed with what it asks for, never run.
    home.drop_in("hostile", "libhostile.so");
    let list = home.run(&["plugins", "list"]).expect_code(0).stdout();
    assert!(list.contains("hostile asks for: secrets HOSTILE_KEY"), "{list}");
    assert!(list.contains("not granted by the operator"), "{list}");
    assert!(list.contains("agent-host plugins grant hostile"), "{list}");
    let run = home.run(&["run", "--plugin", "hostile", "--param", "attack=env"]);
    run.expect_code(3);
    assert!(run.stderr().contains("not granted"), "{}", run.stderr());
    assert_eq!(home.count("records"), 0);

    // Granted, it runs; the grant is kept in a file only the owner reads.
    let granted = home.run(&["plugins", "grant", "hostile"]).expect_code(0).stdout();
    assert!(granted.contains("granted hostile") && granted.contains("HOSTILE_KEY"), "{granted}");
    home.run(&["run", "--plugin", "hostile", "--param", "attack=env"]).expect_code(0);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.path().join("grants.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Another file under the same name (an update, or a swap) is refused
    // until granted again, and so is a grant taken back.
    patched_hostile(&home.plugins().join("libhostile.so"), "sethome");
    let run = home.run(&["run", "--plugin", "hostile", "--param", "attack=env"]);
    run.expect_code(3);
    assert!(run.stderr().contains("changed since it was granted"), "{}", run.stderr());
    home.drop_in("hostile", "libhostile.so");
    home.run(&["run", "--plugin", "hostile", "--param", "attack=env"]).expect_code(0);
    home.run(&["plugins", "revoke", "hostile"]).expect_code(0);
    home.run(&["run", "--plugin", "hostile", "--param", "attack=env"]).expect_code(3);
    home.run(&["plugins", "revoke", "nosuch"]).expect_code(2);
    home.run(&["plugins", "grant", "nosuch"]).expect_code(2);
}

#[test]
fn read_paths_never_reach_the_home_the_plugins_or_the_system() {
    let mut home = Home::with_plugins(&[]);
    // The user's home holds the agent-host home, as it does by default.
    let user_home = home.path().parent().unwrap().to_path_buf();
    home.env("HOME", user_home.to_str().unwrap());
    let elsewhere = tempfile::tempdir().unwrap();
    for (mode, why) in [("readroot", "whole file system"), ("readhome", "whole home folder")] {
        let file = elsewhere.path().join(format!("libhostile_{mode}.so"));
        patched_hostile(&file, mode);
        let run = home.run(&["plugins", "install", file.to_str().unwrap()]);
        run.expect_code(3);
        assert!(run.stderr().contains(why), "{mode}: {}", run.stderr());
        // Dropped in instead: refused with the same reason, never run.
        std::fs::copy(&file, home.plugins().join("libhostile.so")).unwrap();
        home.fix_modes();
        let doc = home.run(&["plugins", "list", "--json"]).expect_code(0).json();
        assert!(doc.to_string().contains(why), "{mode}: {doc}");
        assert_eq!(doc["plugins"].as_array().unwrap().len(), 0);
        home.run(&["plugins", "grant", "hostile"]).expect_code(2);
        std::fs::remove_file(home.plugins().join("libhostile.so")).unwrap();
    }
    assert!(!home.path().join("grants.json").exists(), "nothing was granted");

    // `$HOME` through a setting named HOME: refused at install while HOME
    // holds the agent-host home ...
    let sethome = elsewhere.path().join("libhostile_sethome.so");
    patched_hostile(&sethome, "sethome");
    let run = home.run(&["plugins", "install", sethome.to_str().unwrap()]);
    run.expect_code(3);
    assert!(run.stderr().contains("whole home folder"), "{}", run.stderr());
    // ... and at run time when HOME is pointed there after the grant.
    home.unset("HOME");
    home.run(&["plugins", "install", sethome.to_str().unwrap()]).expect_code(0);
    home.env("HOME", "/");
    let run = home.run(&["run", "--plugin", "hostile", "--param", "attack=env"]);
    run.expect_code(3);
    assert!(run.stderr().contains("whole file system"), "{}", run.stderr());
    let agent_home = home.path().to_str().unwrap().to_string();
    home.env("HOME", &agent_home);
    let run = home.run(&["run", "--plugin", "hostile", "--param", "attack=env"]);
    run.expect_code(3);
    assert!(run.stderr().contains("cannot run: read path"), "{}", run.stderr());
    assert_eq!(home.count("records"), 0, "nothing ran");
}

#[test]
fn settings_come_from_the_operator_and_secret_shaped_names_never_do() {
    let mut home = hostile_home();
    for (name, value) in [
        ("MYSQL_PWD", "mysql-pwd-value-1"),
        ("GITHUB_PAT", "ghp-pat-value-2"),
        ("SMTP_PASS", "smtp-pass-value-3"),
        ("GPG_PASSPHRASE", "gpg-passphrase-4"),
        ("OPENAI_ADMIN_KEYS", "sk-admin-keys-5"),
        ("SLACK_TOKENS", "xoxb-tokens-6"),
    ] {
        home.env(name, value);
    }
    home.env("HOSTILE_NOTE", "from-the-environment");
    let settings = attack(&home, "settings", &[]);
    for name in [
        "MYSQL_PWD",
        "GITHUB_PAT",
        "SMTP_PASS",
        "GPG_PASSPHRASE",
        "OPENAI_ADMIN_KEYS",
        "SLACK_TOKENS",
    ] {
        assert!(!settings.contains(name), "{name} was handed over: {settings}");
    }
    assert!(settings.contains("from-the-environment"), "granted from the environment: {settings}");
    // The operator narrows the grant: HOSTILE_NOTE no longer comes from the
    // environment, only from `.env`.
    let path = home.path().join("grants.json");
    let mut grants: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    grants["plugins"]["hostile"]["env"] = serde_json::json!(["HOSTILE_ATTACK"]);
    std::fs::write(&path, grants.to_string()).unwrap();
    let settings = attack(&home, "settings", &[]);
    assert!(!settings.contains("from-the-environment"), "{settings}");
    std::fs::write(
        home.path().join(".env"),
        "ANTHROPIC_ADMIN_KEY=sk-ant-admin-IN-DOTENV-987\nHOSTILE_NOTE=from-dotenv\n",
    )
    .unwrap();
    let settings = attack(&home, "settings", &[]);
    assert!(settings.contains("from-dotenv"), "{settings}");
}

/// Serves `count` connections at once, each answered with `size` bytes of
/// control characters (which JSON would carry as six bytes each).
fn big_body_server(size: usize, count: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body: Arc<Vec<u8>> = Arc::new(vec![1u8; size]);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count).flatten() {
            let body = body.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let mut s = stream;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).and_then(|()| s.write_all(&body));
            });
        }
    });
    port
}

/// Runs `agent-host args…` and samples its peak resident memory (VmHWM, in
/// KiB) until it ends.
fn run_measuring_memory(home: &Home, args: &[&str]) -> (util::Run, u64) {
    let child = home
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let peak = Arc::new(Mutex::new(0u64));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let kib = std::fs::read_to_string(&status)
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmHWM:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    })
                    .unwrap_or(0);
                let mut p = peak.lock().unwrap();
                *p = (*p).max(kib);
                drop(p);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let kib = *peak.lock().unwrap();
    (util::Run(out), kib)
}

#[test]
fn host_memory_does_not_grow_with_what_a_plugin_asks_for() {
    let mut home = hostile_home();
    let port = big_body_server(16 << 20, 64);
    home.env("HOSTILE_BASE_URL", &format!("http://127.0.0.1:{port}"));
    // Four calls at once of four 16 MiB answers of control bytes: 256 MiB
    // asked for, six times that as JSON escapes.
    let (run, kib) = run_measuring_memory(
        &home,
        &["run", "--plugin", "hostile", "--param", "attack=bigget", "--param", "count=4"],
    );
    run.expect_code(0);
    assert!(kib > 0 && kib < 600 << 10, "host peak {} MiB", kib >> 10);

    // A worker that keeps its input open but stops reading is killed, and
    // what it asked for is not held meanwhile.
    let started = std::time::Instant::now();
    let (run, kib) = run_measuring_memory(
        &home,
        &["run", "--plugin", "hostile", "--param", "attack=noread", "--param", "count=20"],
    );
    run.expect_code(1);
    assert!(run.stdout().contains("does not read the host's answers"), "{}", run.stdout());
    assert!(kib < 600 << 10, "host peak {} MiB", kib >> 10);
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
}

#[test]
fn a_worker_cannot_leave_its_group_and_a_timeout_is_final() {
    let home = hostile_home();
    let started = std::time::Instant::now();
    let run = home.run(&[
        "run",
        "--plugin",
        "hostile",
        "--timeout",
        "3",
        "--param",
        "attack=escape",
        "--param",
        "secs=60",
    ]);
    run.expect_code(1);
    assert!(run.stdout().contains("timed out after 3s"), "{}", run.stdout());
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    let logged = home.text("SELECT group_concat(message, ' | ') FROM run_logs");
    assert!(!logged.contains("SETPGID") && !logged.contains("SETSID"), "{logged}");
    assert!(!logged.contains("PDEATHSIG"), "{logged}");
    assert_eq!(logged.matches("denied (Operation not permitted").count(), 3, "{logged}");
}

#[test]
fn a_manifest_that_hangs_is_refused_until_its_file_changes() {
    let mut home = Home::with_plugins(&["misbehaving"]);
    home.env("AGENT_MANIFEST_TIMEOUT_SECS", "2");
    patched_hostile(&home.plugins().join("libhostile_hang.so"), "hang");
    let started = std::time::Instant::now();
    let first = home.run(&["plugins", "list"]).expect_code(0).stdout();
    assert!(first.contains("timed out") && first.contains("refused until the file changes"));
    let again = std::time::Instant::now();
    home.run(&["plugins", "list"]).expect_code(0);
    // The second listing waits for no worker: it is not timed again.
    assert!(
        again.elapsed() < started.elapsed(),
        "{:?} vs {:?}",
        again.elapsed(),
        started.elapsed()
    );
    assert!(again.elapsed() < std::time::Duration::from_secs(2), "{:?}", again.elapsed());
}

/// The nice value of process `pid` (field 19 of its stat line).
fn nice_of(pid: u32) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    after.split_whitespace().nth(16).unwrap().parse().unwrap()
}

#[test]
fn no_privilege_reaches_the_worker_and_priorities_are_its_own() {
    let home = hostile_home();
    let mut canary = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    let before = nice_of(canary.id());
    let renice = attack(&home, "renice", &[]);
    let after = nice_of(canary.id());
    let _ = canary.kill();
    let _ = canary.wait();
    assert_eq!(before, after, "a process of the same user was reniced: {renice}");
    assert!(renice.starts_with("denied") && !renice.contains("every process"), "{renice}");
    assert!(renice.contains("RENICED itself"), "{renice}");

    let privileged = attack(&home, "privileged", &[]);
    assert_eq!(privileged.matches("denied").count(), 7, "{privileged}");

    let caps = attack(&home, "caps", &[]);
    assert!(
        caps.contains("capget=0 effective=00 permitted=00 inheritable=00 bounding=0 ambient=0"),
        "the worker holds capabilities: {caps}"
    );
}

#[test]
fn threads_and_the_private_folder_are_bounded() {
    let home = hostile_home();
    let threads = attack(&home, "threads", &["--param", "count=4000"]);
    let started: u64 = threads.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(started > 0 && started < 1024, "{threads}");
    let fill = attack(&home, "fill", &[]);
    let mib: u64 = fill.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(mib <= 256, "{fill}");
    let logged = home.text("SELECT group_concat(message, ' | ') FROM run_logs");
    assert!(logged.contains("private folder capped at 256 MiB"), "{logged}");
    assert!(logged.contains("threads at most 1024"), "{logged}");
    assert!(logged.contains("no capabilities"), "{logged}");
}

/// Whether a spreadsheet opening a CSV cell would evaluate it.
fn evaluated(cell: &str) -> bool {
    cell.starts_with(['\t', '\r']) || cell.trim_start().starts_with(['=', '+', '-', '@'])
}

#[test]
fn formulas_a_plugin_writes_reach_no_exported_spreadsheet() {
    let home = hostile_home();
    home.run(&[
        "run",
        "--plugin",
        "hostile",
        "--param",
        "attack=formulas",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-01",
    ])
    .expect_code(0);
    // The numeric columns, which must stay numbers: in the detail CSV and in FOCUS.
    let numbers: [&[&str]; 2] = [
        &["Cost", "Quantity"],
        &["BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "PricingQuantity"],
    ];
    for (format, numbers) in [("csv", numbers[0]), ("focus", numbers[1])] {
        let out = home
            .run(&["export", "--detail", "--format", format, "--month", "2025-08", "--out", "-"])
            .expect_code(0)
            .stdout();
        let mut reader = csv::Reader::from_reader(out.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1, "{out}");
        let row: Vec<(&str, &str)> =
            header.iter().map(String::as_str).zip(rows[0].iter()).collect();
        for (column, cell) in &row {
            if numbers.contains(column) {
                assert!(["-1.50", "-2", ""].contains(cell), "{format} {column}: {cell:?}");
            } else {
                assert!(!evaluated(cell), "{format} {column} would be evaluated: {cell:?}");
            }
        }
        let get = |name: &str| row.iter().find(|(c, _)| *c == name).map(|(_, v)| *v).unwrap();
        let (item, model) = if format == "csv" {
            (get("Line Item"), get("Model"))
        } else {
            (get("ChargeDescription"), get("SkuId"))
        };
        assert_eq!(item, "'-1+1+cmd|' /C calc'!A0", "{format}");
        assert!(model.starts_with("'-0+HYPERLINK("), "{format}: {model}");
    }
}

#[test]
fn records_a_plugin_keeps_stay_within_its_grant_s_quota() {
    let home = hostile_home();
    let path = home.path().join("grants.json");
    let mut grants: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(grants["plugins"]["hostile"]["max_records"], 100_000, "the default quota");
    grants["plugins"]["hostile"]["max_records"] = serde_json::json!(12);
    std::fs::write(&path, grants.to_string()).unwrap();
    let huge = |count: &str| {
        home.run(&["run", "--plugin", "hostile", "--param", "attack=huge", "--param", count])
    };
    huge("count=10").expect_code(0);
    assert_eq!(home.count("records"), 10);
    // Keyed records are replaced, not added: the same ten again fit.
    huge("count=10").expect_code(0);
    let over = huge("count=20");
    over.expect_code(1);
    assert!(over.stdout().contains("past its grant's quota of 12 records"), "{}", over.stdout());
    assert_eq!(home.count("records"), 10, "nothing of the refused run was stored");
    let pruned = home.run(&["records", "prune", "--plugin", "hostile", "--keep", "3"]);
    pruned.expect_code(0);
    assert!(
        pruned.stdout().contains("deleted 7 records of hostile; 3 left"),
        "{}",
        pruned.stdout()
    );
    assert_eq!(home.count("records"), 3);
    home.run(&["records", "prune", "--plugin", "hostile"]).expect_code(2);
    let before = home.run(&["records", "prune", "--plugin", "hostile", "--before", "2999-01-01"]);
    before.expect_code(0);
    assert_eq!(home.count("records"), 0);
}
