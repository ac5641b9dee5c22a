//! Signed webhook triggers end to end: real HTTP requests, signed with
//! HMAC-SHA256 as a sender computes it, against `agent-host serve` on
//! 127.0.0.1. A valid request runs its jobs once, in the background, and the
//! runs say which trigger started them; a bad or missing signature, a stale
//! timestamp, a replay, another method and an oversized body run nothing; a
//! trigger while a run holds the lock answers 409; the key is in no log.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use agent_host_tests::Faults;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use util::{simulator, Home};

const KEY: &str = "hook-key-0123456789abcdef";
const GH_KEY: &str = "github-hook-key-fedcba9876543210";

const FILE: &str = r#"
[[job]]
name = "openai-acme"
plugin = "openai_collector"
account = "acme"

[[trigger]]
name = "collect-now"
jobs = ["openai-acme"]
secret = "HOOK_KEY"

[[trigger]]
name = "from-github"
secret = "GH_HOOK_KEY"
style = "github"
"#;

/// A running `serve`; killed when dropped.
struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Stops it and returns what it wrote on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err
    }
}

fn serve(home: &Home) -> Served {
    let mut child = home
        .command(&["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    // The trigger lines follow; keep draining so the pipe never fills.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Served { child, addr }
}

fn home() -> Home {
    let sim = Box::leak(Box::new(simulator()));
    let mut home = Home::with_plugins(&["openai_collector"]);
    home.use_simulator(sim).env("HOOK_KEY", KEY).env("GH_HOOK_KEY", GH_KEY);
    std::fs::write(home.path().join("agent-host.toml"), FILE).unwrap();
    home
}

/// `sha256=HEX` of `parts` under `key`.
fn hmac(key: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    for p in parts {
        mac.update(p);
    }
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The agent-style headers for `body` at `ts`.
fn signed(key: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    let ts_text = ts.to_string();
    vec![
        ("X-Agent-Timestamp".into(), ts_text.clone()),
        ("X-Agent-Signature".into(), hmac(key, &[ts_text.as_bytes(), b".", body])),
    ]
}

/// One request: (status, body).
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // A server that refuses early may close before the whole body is sent.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

fn post(addr: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> (u16, String) {
    request(addr, "POST", path, headers, body)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn runs(home: &Home) -> i64 {
    home.count("runs")
}

/// Waits (generously) until run `id` has finished, and its status.
fn finished(home: &Home, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status: Option<String> =
            home.column("SELECT status FROM runs WHERE id = ?1", &[id]).into_iter().next();
        match status.as_deref() {
            Some("running") | None if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Some(s) => return s.to_string(),
            None => panic!("run {id} never started"),
        }
    }
}

/// The run ids of a 202's body.
fn run_ids(body: &str) -> Vec<String> {
    let doc = json(body);
    doc["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap().into()).collect()
}

#[test]
fn a_signed_request_runs_its_jobs_once_and_nothing_else_does() {
    let home = home();
    home.run(&["runs"]).expect_code(0); // creates the database
    let server = serve(&home);
    let addr = server.addr.clone();
    let path = "/hooks/collect-now";
    let body = br#"{"reason":"collect now"}"#;
    let ts = now();

    // Nothing of these runs anything.
    assert_eq!(request(&addr, "GET", path, &[], b"").0, 405);
    assert_eq!(request(&addr, "PUT", path, &signed(KEY, ts, body), body).0, 405);
    assert_eq!(post(&addr, "/hooks/nope", &signed(KEY, ts, body), body).0, 404);
    let (status, why) = post(&addr, path, &[], body);
    assert_eq!(status, 401, "{why}");
    let wrong = signed("another-key-0123456789abcdef", ts, body);
    let (status, why) = post(&addr, path, &wrong, body);
    assert_eq!((status, json(&why)["error"].as_str()), (401, Some("the signature does not match")));
    let tampered = signed(KEY, ts, body);
    assert_eq!(post(&addr, path, &tampered, br#"{"reason":"collect all"}"#).0, 401);
    let stale = signed(KEY, ts - 301, body);
    let (status, why) = post(&addr, path, &stale, body);
    assert_eq!(status, 401);
    assert!(why.contains("X-Agent-Timestamp"), "{why}");
    assert_eq!(post(&addr, path, &signed(KEY, ts + 301, body), body).0, 401);
    let big = vec![b'x'; 64 * 1024 + 1];
    assert_eq!(post(&addr, path, &signed(KEY, ts, &big), &big).0, 413);
    // The dashboard still wants a loopback Host and a GET: unchanged.
    assert_eq!(request(&addr, "POST", "/api/summary", &[], b"").0, 405);
    assert_eq!(runs(&home), 0, "no refused request ran anything");

    // The signed request: 202 with the run id, run once in the background.
    let good = signed(KEY, ts, body);
    let (status, answer) = post(&addr, path, &good, body);
    assert_eq!(status, 202, "{answer}");
    let doc = json(&answer);
    assert_eq!(doc["trigger"], "collect-now");
    assert_eq!(doc["runs"][0]["job"], "openai-acme");
    let ids = run_ids(&answer);
    assert_eq!(ids.len(), 1);
    assert_eq!(finished(&home, &ids[0]), "success");
    assert_eq!(runs(&home), 1);
    let trigger = home.text(&format!("SELECT trigger FROM runs WHERE id = '{}'", ids[0]));
    assert_eq!(trigger, "collect-now");
    assert!(home.count("cost_rows") > 0, "the job collected");

    // The same request again is a replay, however soon.
    let (status, why) = post(&addr, path, &good, body);
    assert_eq!(
        (status, json(&why)["error"].as_str()),
        (401, Some("this signature was already used"))
    );

    // GitHub's header, for the trigger that takes it: every enabled job.
    let gh = vec![("X-Hub-Signature-256".to_string(), hmac(GH_KEY, &[body]))];
    assert_eq!(post(&addr, path, &gh, body).0, 401, "collect-now takes agent signatures only");
    let (status, answer) = post(&addr, "/hooks/from-github", &gh, body);
    assert_eq!(status, 202, "{answer}");
    let gh_ids = run_ids(&answer);
    assert_eq!(finished(&home, &gh_ids[0]), "success");
    assert_eq!(post(&addr, "/hooks/from-github", &gh, body).0, 401, "replayed");
    assert_eq!(runs(&home), 2, "each accepted request ran its job once");

    let listed = home.run(&["runs"]).expect_code(0).stdout();
    assert!(listed.contains("trigger collect-now"), "{listed}");
    assert!(listed.contains("trigger from-github"), "{listed}");
    let api = request(&addr, "GET", "/api/runs", &[], b"").1;
    assert!(api.contains(r#""trigger":"collect-now""#), "{api}");

    // The keys are in no log, row or answer.
    let stderr = server.stop();
    let logs = home.column("SELECT message FROM run_logs", &[]);
    let runs_json = home.run(&["runs", "--json"]).stdout();
    for text in [home.log(), stderr, logs.join("\n"), runs_json, listed] {
        assert!(!text.contains(KEY) && !text.contains(GH_KEY), "a key leaked:\n{text}");
    }
}

#[test]
fn a_trigger_while_a_run_holds_the_lock_answers_409() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector"]);
    home.use_simulator(&sim).env("HOOK_KEY", KEY).env("GH_HOOK_KEY", GH_KEY);
    std::fs::write(home.path().join("agent-host.toml"), FILE).unwrap();
    home.run(&["runs"]).expect_code(0);
    // Slow answers keep the triggered run going while the others arrive.
    sim.set_faults(Faults { latency_ms: 3000, ..Default::default() });
    let server = serve(&home);
    let path = "/hooks/collect-now";
    let first = br#"{"n":1}"#;
    let (status, answer) = post(&server.addr, path, &signed(KEY, now(), first), first);
    assert_eq!(status, 202, "{answer}");
    let id = run_ids(&answer).remove(0);

    let second = br#"{"n":2}"#;
    let (status, why) = post(&server.addr, path, &signed(KEY, now(), second), second);
    assert_eq!(status, 409, "{why}");
    // The command line waits its turn too.
    home.run(&["run", "--job", "openai-acme"]).expect_code(5);
    assert_eq!(finished(&home, &id), "success");
    sim.set_faults(Faults::default());

    // A command-line run holding the lock refuses a trigger as well.
    sim.set_faults(Faults { latency_ms: 3000, ..Default::default() });
    let mut cli = home
        .command(&["run", "--job", "openai-acme", "--from", "2025-07-01", "--to", "2025-07-02"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while home.number("SELECT count(*) FROM runs WHERE status = 'running'") == 0 {
        assert!(Instant::now() < deadline, "the command-line run never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let third = br#"{"n":3}"#;
    assert_eq!(post(&server.addr, path, &signed(KEY, now(), third), third).0, 409);
    assert!(cli.wait().unwrap().success());
    sim.set_faults(Faults::default());

    // The refused requests started nothing; the refused one may be sent again.
    assert_eq!(home.number("SELECT count(*) FROM runs WHERE trigger IS NOT NULL"), 1);
    let (status, answer) = post(&server.addr, path, &signed(KEY, now(), second), second);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(finished(&home, &run_ids(&answer)[0]), "success");
}

#[test]
fn triggers_are_checked_with_the_file() {
    let mut home = home();
    let listed = home.run(&["jobs", "list"]).expect_code(0).stdout();
    let line = "trigger collect-now: POST /hooks/collect-now (agent-host serve) runs openai-acme; \
                key in HOOK_KEY, agent signatures";
    assert!(listed.lines().any(|l| l == line), "{listed}");
    let doc = home.run(&["jobs", "list", "--json"]).expect_code(0).json();
    assert_eq!(doc["triggers"][1]["jobs"][0], "openai-acme", "every enabled job");
    assert_eq!(doc["triggers"][1]["style"], "github");
    let all = format!("{listed}{doc}");
    assert!(!all.contains(KEY) && !all.contains(GH_KEY));
    let bad = [
        (
            "[[trigger]]\nname = \"x\"\nsecret = \"UNSET_HOOK_KEY\"\n",
            "agent-host.toml:9: trigger \"x\": secret names \"UNSET_HOOK_KEY\", which is not set",
        ),
        (
            "[[trigger]]\nname = \"x\"\njobs = [\"nope\"]\nsecret = \"HOOK_KEY\"\n",
            "agent-host.toml:9: trigger \"x\": no job named \"nope\"",
        ),
        (
            "[[trigger]]\nname = \"x\"\nsecret = \"HOOK_KEY\"\nstyle = \"gitlab\"\n",
            "style \"gitlab\" is not",
        ),
        ("[[trigger]]\nname = \"x\"\nsecret = \"SHORT_HOOK_KEY\"\n", "shorter than 16 bytes"),
    ];
    home.env("SHORT_HOOK_KEY", "short");
    for (extra, want) in bad {
        let text = format!("{}{extra}", FILE.split("[[trigger]]").next().unwrap());
        std::fs::write(home.path().join("agent-host.toml"), text).unwrap();
        let r = home.run(&["serve", "--bind", "127.0.0.1:0"]);
        r.expect_code(3);
        assert!(r.stderr().contains(want), "{want}: {}", r.stderr());
        assert!(!r.stderr().contains("short\n") && !r.stderr().contains(KEY));
    }
}

#[test]
fn triggers_answer_off_loopback_without_the_token_and_are_rate_limited() {
    let home = home();
    home.run(&["runs"]).expect_code(0);
    let token = "dashboard-token-0123456789";
    let mut child = home
        .command(&["serve", "--bind", "0.0.0.0:0", "--token", token])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let port = line.split("0.0.0.0:").nth(1).and_then(|r| r.split('/').next()).unwrap();
    // Only 127.0.0.1 is reached; the Host a remote sender would name.
    let server = Served { child, addr: format!("127.0.0.1:{port}") };
    let remote = [("Host".to_string(), "agent.example.com".to_string())];
    let with = |extra: &[(String, String)]| [&remote[..], extra].concat();

    let body = b"{}";
    let (status, answer) =
        post(&server.addr, "/hooks/collect-now", &with(&signed(KEY, now(), body)), body);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(finished(&home, &run_ids(&answer)[0]), "success");
    // Everything else keeps the token rule.
    assert_eq!(request(&server.addr, "GET", "/api/summary", &remote, b"").0, 401);
    let bearer = [("Authorization".to_string(), format!("Bearer {token}"))];
    assert_eq!(request(&server.addr, "GET", "/api/summary", &with(&bearer), b"").0, 200);

    // A flood of bad requests is cut off: 60 a minute reach the check.
    let bad = signed("not-the-key-0123456789abcdef", now(), body);
    let statuses: Vec<u16> =
        (0..61).map(|_| post(&server.addr, "/hooks/collect-now", &with(&bad), body).0).collect();
    assert!(statuses[..59].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[60], 429, "{statuses:?}");
    assert_eq!(runs(&home), 1);
}
