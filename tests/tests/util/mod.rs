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
        let home = Home { dir, env };
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
        c.env_clear()
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

    /// The database, read-only.
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
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// One text value from a query.
    pub fn text(&self, sql: &str) -> String {
        self.db().query_row(sql, [], |r| r.get::<_, Option<String>>(0)).unwrap().unwrap_or_default()
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
