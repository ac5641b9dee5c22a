//! Helpers for the end-to-end tests: a throwaway home folder with chosen
//! plugins installed, the real `agent-host` binary run against it with a
//! clean environment, and read-only access to its database.
//!
//! The binary and plugins come from the workspace's `target/debug`, so the
//! suite runs after `cargo build --workspace` (the README's test command).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agent_host_tests::{Simulator, ANTHROPIC_KEY, OPENAI_KEY};

/// The workspace's build output folder.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("debug");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug")
}

/// The `agent-host` binary under test.
pub fn agent_host() -> PathBuf {
    let p = target_dir().join("agent-host");
    assert!(p.exists(), "{} is missing: run `cargo build --workspace` first", p.display());
    p
}

/// The built library of plugin crate `name`.
pub fn plugin_lib(name: &str) -> PathBuf {
    let p = target_dir().join(format!("lib{name}.so"));
    assert!(p.exists(), "{} is missing: run `cargo build --workspace` first", p.display());
    p
}

/// A home folder with a plugins folder.
pub struct Home {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// Its own PostgreSQL database, when the suite runs on PostgreSQL.
    pg: Option<PgDatabase>,
}

/// The server the suite runs against when `AGENT_TEST_STORE=postgres`:
/// `AGENT_TEST_PG_URL` (a superuser's URL; `.ci/run` starts a throw-away
/// cluster and sets both).
pub fn pg_server() -> Option<String> {
    match std::env::var("AGENT_TEST_STORE").as_deref() {
        Ok("postgres") => Some(std::env::var("AGENT_TEST_PG_URL").expect(
            "AGENT_TEST_STORE=postgres needs AGENT_TEST_PG_URL=postgres://user@127.0.0.1:port/postgres",
        )),
        _ => None,
    }
}

/// A PostgreSQL server for the tests that need one whatever the suite's
/// backend: `AGENT_TEST_PG_URL`. Under `CI=true` its absence fails the
/// test; elsewhere the test says so and passes without running.
pub fn pg_required(test: &str) -> Option<String> {
    match std::env::var("AGENT_TEST_PG_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test} needs AGENT_TEST_PG_URL under CI=true (.ci/run starts PostgreSQL)")
        }
        Err(_) => {
            eprintln!("{test}: AGENT_TEST_PG_URL is not set; not run");
            None
        }
    }
}

/// The tests' SQLite spelling of a read in PostgreSQL's: `group_concat(x)`
/// and `group_concat(x, sep)` are `string_agg`.
fn pg_spelling(sql: &str) -> String {
    let mut out = String::new();
    let mut rest = sql;
    while let Some(i) = rest.find("group_concat(") {
        out.push_str(&rest[..i]);
        let body = &rest[i + "group_concat(".len()..];
        let (mut depth, mut end, mut comma) = (1, 0, None);
        for (j, c) in body.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                ',' if depth == 1 => comma = Some(j),
                _ => {}
            }
        }
        let (arg, sep) = match comma {
            Some(c) => (&body[..c], body[c + 1..end].trim()),
            None => (&body[..end], "','"),
        };
        out.push_str(&format!("string_agg(CAST({arg} AS TEXT), {sep})"));
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A throw-away database on the test server, dropped with its home.
pub struct PgDatabase {
    server: String,
    name: String,
}

impl PgDatabase {
    /// A fresh, empty database.
    pub fn create(server: &str) -> PgDatabase {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("t_{}_{n}", std::process::id());
        let mut c = postgres::Client::connect(server, postgres::NoTls).expect("the test server");
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).expect("a clean slate");
        c.batch_execute(&format!("CREATE DATABASE {name}")).expect("a test database");
        PgDatabase { server: server.to_string(), name }
    }

    /// The server, as its superuser (`AGENT_TEST_PG_URL`).
    pub fn admin(server: &str) -> PgAdmin {
        PgAdmin { server: server.to_string() }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its URL.
    pub fn url(&self) -> String {
        match self.server.rfind('/') {
            Some(i) => format!("{}/{}", &self.server[..i], self.name),
            None => panic!("AGENT_TEST_PG_URL has no database part: {}", self.server),
        }
    }

    /// Every row of `sql`, each value as text (`None` for NULL).
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.try_rows(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// [`PgDatabase::rows`], or the server's error.
    pub fn try_rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, postgres::Error> {
        let mut c = postgres::Client::connect(&self.url(), postgres::NoTls)?;
        let mut out = Vec::new();
        for m in c.simple_query(sql)? {
            if let postgres::SimpleQueryMessage::Row(r) = m {
                out.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
            }
        }
        Ok(out)
    }
}

/// Statements run as the test server's superuser.
pub struct PgAdmin {
    server: String,
}

impl PgAdmin {
    /// Runs `sql` (statements separated by `;`).
    pub fn exec(&self, sql: &str) {
        let mut c = postgres::Client::connect(&self.server, postgres::NoTls).expect("the server");
        c.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.server, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

impl Home {
    /// A home with these plugin crates installed.
    pub fn with_plugins(plugins: &[&str]) -> Home {
        let dir = tempfile::tempdir().expect("a temp dir");
        // A user's home outside the agent-host home, as on a real machine
        // (a plugin's `~/…` read paths resolve under it).
        let env = vec![
            ("AGENT_TODAY".into(), "2025-09-01".into()),
            ("HOME".into(), "/nonexistent-user-home".into()),
        ];
        let mut home = Home { dir, env, pg: None };
        if let Some(server) = pg_server() {
            let db = PgDatabase::create(&server);
            home.env("AGENT_STORE_URL", &db.url());
            home.pg = Some(db);
        }
        std::fs::create_dir(home.plugins()).expect("plugins folder");
        for p in plugins {
            home.install(p);
        }
        home.fix_modes();
        home
    }

    /// Installs plugin crate `name`'s library as an operator does
    /// (`plugins install`): copied into the plugins folder, and what it
    /// asks for granted.
    pub fn install(&self, name: &str) {
        let lib = plugin_lib(name);
        let run = self.run(&["plugins", "install", lib.to_str().expect("a UTF-8 path")]);
        run.expect_code(0);
        self.fix_modes();
    }

    /// Copies plugin crate `name`'s library into the plugins folder as
    /// `file`, as someone dropping it there would: not granted.
    pub fn drop_in(&self, name: &str, file: &str) -> PathBuf {
        let dest = self.plugins().join(file);
        std::fs::copy(plugin_lib(name), &dest).expect("copy plugin");
        self.fix_modes();
        dest
    }

    /// `plugins grant --all`: grants every usable plugin in the folder.
    pub fn grant_all(&self) {
        self.run(&["plugins", "grant", "--all"]).expect_code(0);
    }

    /// Ensures nothing is group- or world-writable, whatever the umask.
    pub fn fix_modes(&self) {
        use std::os::unix::fs::PermissionsExt;
        let set = |p: &Path, mode: u32| {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
        };
        set(self.plugins().as_path(), 0o755);
        if let Ok(entries) = std::fs::read_dir(self.plugins()) {
            for e in entries.flatten() {
                set(&e.path(), 0o755);
            }
        }
    }

    /// The home folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Its plugins folder.
    pub fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// Sets an environment variable for every command.
    pub fn env(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.retain(|(name, _)| name != k);
        self.env.push((k.into(), v.into()));
        self
    }

    /// Removes an environment variable.
    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.env.retain(|(name, _)| name != k);
        self
    }

    /// Points every collector at `sim` with its keys.
    pub fn use_simulator(&mut self, sim: &Simulator) -> &mut Self {
        self.env("OPENAI_BASE_URL", &sim.openai_url())
            .env("ANTHROPIC_BASE_URL", &sim.anthropic_url())
            .env("OPENROUTER_BASE_URL", &sim.openrouter_url())
            .env("OPENAI_ADMIN_KEY", OPENAI_KEY)
            .env("ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
            .env("OPENROUTER_MANAGEMENT_KEY", agent_host_tests::OPENROUTER_KEY)
            .env("AGENT_HTTP_BACKOFF_MS", "50")
    }

    /// The command, with a clean environment (no real keys leak in).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(agent_host());
        // In the home, so what a command writes beside it (an export's
        // default file) lands there, never in the source tree.
        c.current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AGENT_HOME", self.path())
            .args(args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs `agent-host args…` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("agent-host runs");
        Run(out)
    }

    /// A home on the embedded SQLite file whatever the suite's backend: for
    /// the tests of the file itself (a full or read-only disk, a foreign or
    /// corrupt file, its mode, an upgrade of an old file).
    pub fn sqlite_only(plugins: &[&str]) -> Home {
        let mut home = Home::with_plugins(plugins);
        home.unset("AGENT_STORE_URL");
        home.pg = None;
        home
    }

    /// Whether this home's store is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// Every row of `sql` with `args` bound to `?1`, `?2`… (text), each
    /// value as text, on whichever store the home uses.
    pub fn rows(&self, sql: &str, args: &[&str]) -> Vec<Vec<Option<String>>> {
        match &self.pg {
            Some(db) => {
                let mut sql = pg_spelling(sql);
                for (i, a) in args.iter().enumerate().rev() {
                    sql = sql
                        .replace(&format!("?{}", i + 1), &format!("'{}'", a.replace('\'', "''")));
                }
                db.rows(&sql)
            }
            None => {
                let db = self.db();
                let mut stmt = db.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                let n = stmt.column_count();
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => None,
                                    rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                                    rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                                    rusqlite::types::ValueRef::Text(t)
                                    | rusqlite::types::ValueRef::Blob(t) => {
                                        Some(String::from_utf8_lossy(t).into_owned())
                                    }
                                })
                            })
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.map(Result::unwrap).collect()
            }
        }
    }

    /// One integer from a query, or `None` while the store cannot answer
    /// it (not created or not migrated yet).
    pub fn try_number(&self, sql: &str) -> Option<i64> {
        let first = match &self.pg {
            Some(db) => db.try_rows(&pg_spelling(sql)).ok()?.into_iter().next()?.remove(0),
            None => rusqlite::Connection::open_with_flags(
                self.path().join("agent_os.db"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .and_then(|db| db.query_row(sql, [], |r| r.get::<_, i64>(0)))
            .ok()
            .map(|n| n.to_string()),
        };
        first?.parse().ok()
    }

    /// The first column of every row, as text.
    pub fn column(&self, sql: &str, args: &[&str]) -> Vec<String> {
        self.rows(sql, args).into_iter().map(|r| r[0].clone().unwrap_or_default()).collect()
    }

    /// The home's SQLite database, read-only (tests of the file itself).
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.path().join("agent_os.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("the database opens")
    }

    /// `SELECT count(*) FROM table`.
    pub fn count(&self, table: &str) -> i64 {
        self.number(&format!("SELECT count(*) FROM {table}"))
    }

    /// One integer from a query.
    pub fn number(&self, sql: &str) -> i64 {
        let text = self.text(sql);
        text.parse().unwrap_or_else(|_| panic!("{sql}: {text:?} is not an integer"))
    }

    /// One text value from a query (empty for NULL).
    pub fn text(&self, sql: &str) -> String {
        let rows = self.rows(sql, &[]);
        let row = rows.first().unwrap_or_else(|| panic!("{sql}: no row"));
        row[0].clone().unwrap_or_default()
    }

    /// `agent.log`.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("agent.log")).unwrap_or_default()
    }
}

/// A finished command.
pub struct Run(pub Output);

impl Run {
    /// Exit code (signals count as -1).
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    /// Stdout.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    /// Stderr.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// The JSON printed on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout()))
    }
}

/// A simulator on a free port.
pub fn simulator() -> Simulator {
    Simulator::start(0).expect("the simulator starts")
}

/// Child processes of `parent` (the workers), from /proc.
pub fn children_of(parent: u32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // Field 4 is the parent pid; the name (field 2) may hold spaces.
        let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
        if after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// The fixture log trees.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/logs")
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A home with both local-log plugins, reading copies of the fixture trees
/// (`tests/fixtures/logs`), on 2026-11-03; keep the folder while the home
/// is used.
pub fn home_with_logs() -> (Home, tempfile::TempDir) {
    let logs = tempfile::tempdir().unwrap();
    copy_tree(&fixtures(), logs.path());
    let mut home = Home::with_plugins(&["claude_code_logs", "codex_logs"]);
    let claude = logs.path().join("claude");
    let roots = format!("{},{}", claude.join("root-a").display(), claude.join("root-b").display());
    home.env("AGENT_TODAY", "2026-11-03")
        .env("HOME", &logs.path().join("nobody").display().to_string())
        .env("CLAUDE_CONFIG_DIR", &roots)
        .env("CODEX_HOME", &logs.path().join("codex/home").display().to_string());
    (home, logs)
}

/// A copy of the hostile plugin at `dest` (mode 0755) whose `manifest()`
/// behaves as `mode` says (see `plugins/hostile`): the bytes after its
/// marker are patched, so the file's hash differs too.
pub fn patched_hostile(dest: &Path, mode: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = std::fs::read(plugin_lib("hostile")).unwrap();
    let marker = b"HOSTILE-MANIFEST-MODE:normal____";
    let at = bytes.windows(marker.len()).position(|w| w == marker).expect("the marker");
    let patched = format!("HOSTILE-MANIFEST-MODE:{mode:_<10}");
    bytes[at..at + marker.len()].copy_from_slice(patched.as_bytes());
    std::fs::write(dest, bytes).unwrap();
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755)).unwrap();
}
