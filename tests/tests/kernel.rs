//! The kernel, end to end: loading and rejecting plugins, containing plugins
//! that crash or hang, scoping secrets, crash safety of the store, locking,
//! and one-line errors for bad input.

mod util;

use std::time::{Duration, Instant};

use util::{children_of, simulator, Home};

#[test]
fn plugins_list_loads_good_plugins_and_explains_every_rejection() {
    let home = Home::with_plugins(&["openai_collector", "anthropic_collector", "misbehaving"]);
    // `plugins install` would refuse it: dropped in by hand instead.
    home.drop_in("incompatible", "libincompatible.so");
    std::fs::write(home.plugins().join("x.so"), "not a library").unwrap();
    std::fs::write(
        home.plugins().join("random.so"),
        [0x7fu8, 0x45, 0x4c, 0x46, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18],
    )
    .unwrap();
    std::fs::write(home.plugins().join("notes.txt"), "ignored: not a library name").unwrap();
    home.fix_modes();

    let run = home.run(&["plugins", "list", "--json"]);
    run.expect_code(0);
    let doc = run.json();
    let mut names: Vec<&str> =
        doc["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["anthropic_collector", "misbehaving", "openai_collector"]);
    let rejected = doc["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    let reason = |file: &str| {
        rejected.iter().find(|r| r["path"].as_str().unwrap().ends_with(file)).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        reason("libincompatible.so").starts_with("incompatible plugin-api: Error: "),
        "{}",
        reason("libincompatible.so")
    );
    assert!(reason("x.so").contains("file too short"), "{}", reason("x.so"));
    assert!(reason("random.so").contains("not a loadable library"), "{}", reason("random.so"));
    for r in rejected {
        assert!(!r["reason"].as_str().unwrap().contains('\n'), "one line per rejection");
    }

    let text = home.run(&["plugins", "list"]);
    text.expect_code(0);
    assert!(text.stdout().contains("rejected "), "{}", text.stdout());
}

#[test]
fn every_kind_of_plugin_crash_becomes_a_failed_run() {
    let home = Home::with_plugins(&["misbehaving"]);
    let cases = [
        ("panic", "plugin panicked: boom: deliberate panic"),
        ("segv", "killed by signal 11 (SIGSEGV"),
        ("exit", "exited with status 3 before returning a result"),
        ("abort", "killed by signal 6 (SIGABRT"),
        ("garbage", "unknown status value 77"),
        ("bad-records", "rejected the plugin's records, nothing was stored"),
    ];
    for (mode, reason) in cases {
        let run = home.run(&["run", "--plugin", "misbehaving", "--param", &format!("mode={mode}")]);
        run.expect_code(1);
        let error = home.text("SELECT error FROM runs ORDER BY rowid DESC LIMIT 1");
        assert!(error.contains(reason), "{mode}: {error}");
        assert_eq!(home.text("SELECT status FROM runs ORDER BY rowid DESC LIMIT 1"), "failed");
    }
    assert_eq!(home.count("records"), 0, "nothing of a failed run is stored");

    // A plugin that prints on stdout cannot forge the worker protocol.
    home.run(&["run", "--plugin", "misbehaving", "--param", "mode=print"]).expect_code(0);
    assert!(home.text("SELECT payload FROM records").contains("printed"));
}

#[test]
fn a_hanging_plugin_is_killed_at_the_timeout() {
    let home = Home::with_plugins(&["misbehaving"]);
    let started = Instant::now();
    let run =
        home.run(&["run", "--plugin", "misbehaving", "--param", "mode=hang", "--timeout", "2"]);
    run.expect_code(1);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(home
        .text("SELECT error FROM runs")
        .contains("timed out after 2s; the worker was killed"));
}

#[test]
fn a_crashing_plugin_does_not_stop_the_others() {
    let sim = simulator();
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector", "misbehaving"]);
    home.use_simulator(&sim).env("MISBEHAVE_MODE", "segv");
    let run = home.run(&["run-all", "--json"]);
    run.expect_code(1);
    let reports = run.json();
    let status = |name: &str| {
        reports.as_array().unwrap().iter().find(|r| r["plugin"] == name).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("misbehaving"), "failed");
    assert_eq!(status("openai_collector"), "success");
    assert_eq!(status("anthropic_collector"), "success");
    assert!(home.count("cost_rows") > 0);
}

#[test]
fn every_run_records_the_sha256_of_the_plugin_file_that_ran() {
    let home = Home::with_plugins(&["misbehaving"]);
    home.run(&["run", "--plugin", "misbehaving"]).expect_code(0);
    let listed = home.run(&["plugins", "list", "--json"]).json();
    let sha = listed["plugins"][0]["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    assert_eq!(home.text("SELECT plugin_sha256 FROM runs"), sha);
    let runs = home.run(&["runs"]);
    assert!(runs.stdout().contains(&format!("sha256:{}", &sha[..12])), "{}", runs.stdout());
}

#[test]
fn a_plugin_gets_only_its_declared_secrets_and_they_never_leak() {
    let mut home = Home::with_plugins(&["misbehaving"]);
    home.env("OPENAI_ADMIN_KEY", "sk-admin-NOT-FOR-THIS-PLUGIN-123")
        .env("MISBEHAVE_TOKEN", "tok-VERY-SECRET-4567");
    let run = home.run(&["run", "--plugin", "misbehaving", "--param", "mode=secrets"]);
    run.expect_code(0);
    assert!(home.text("SELECT payload FROM records").contains("undeclared secret given: false"));
    let log = home.log();
    assert!(log.contains("refused secret OPENAI_ADMIN_KEY: not declared"), "{log}");
    assert!(log.contains("my token is [redacted]"), "{log}");
    let logs = home.text("SELECT group_concat(message, ' | ') FROM run_logs");
    for secret in ["tok-VERY-SECRET-4567", "sk-admin-NOT-FOR-THIS-PLUGIN-123"] {
        assert!(
            !log.contains(secret)
                && !logs.contains(secret)
                && !run.stdout().contains(secret)
                && !run.stderr().contains(secret)
        );
    }
}

#[test]
fn secrets_come_from_dot_env_and_the_environment_wins() {
    let mut home = Home::with_plugins(&["misbehaving"]);
    let env_file = home.path().join(".env");
    std::fs::write(&env_file, "MISBEHAVE_MODE=panic\nMISBEHAVE_TOKEN=from-dotenv-999\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    home.run(&["run", "--plugin", "misbehaving"]).expect_code(1);
    home.env("MISBEHAVE_MODE", "ok");
    home.run(&["run", "--plugin", "misbehaving"]).expect_code(0);
    assert!(
        home.log().contains("readable by other users"),
        "a world-readable .env is warned about"
    );
}

#[test]
fn a_worker_killed_mid_run_leaves_nothing_half_written() {
    let sim = simulator();
    sim.set_faults(agent_host_tests::Faults { latency_ms: 400, ..Default::default() });
    let mut home = Home::with_plugins(&["openai_collector"]);
    home.use_simulator(&sim);
    let mut child = home
        .command(&[
            "run",
            "--plugin",
            "openai_collector",
            "--from",
            "2025-01-01",
            "--to",
            "2025-03-31",
        ])
        .spawn()
        .unwrap();
    // Wait until the worker is busy with HTTP, then kill it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.requests() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let worker = children_of(child.id());
    assert!(!worker.is_empty(), "a worker process runs the plugin");
    for pid in worker {
        // SAFETY: sending a signal to a process id we just read from /proc.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(home.text("SELECT error FROM runs").contains("SIGKILL"));
    assert_eq!(home.count("cost_rows") + home.count("usage_rows") + home.count("coverage"), 0);
}

#[test]
fn a_host_killed_mid_run_leaves_nothing_and_the_next_run_starts_cleanly() {
    let sim = simulator();
    sim.set_faults(agent_host_tests::Faults { latency_ms: 400, ..Default::default() });
    let mut home = Home::with_plugins(&["openai_collector"]);
    home.use_simulator(&sim);
    let mut child = home.command(&["run", "--plugin", "openai_collector"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.requests() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(home.text("SELECT status FROM runs"), "running");
    assert_eq!(home.count("cost_rows"), 0);

    sim.set_faults(Default::default());
    // The orphaned worker may still be finishing; the lock is per host process.
    home.run(&["run", "--plugin", "openai_collector"]).expect_code(0);
    assert!(home.text("SELECT error FROM runs ORDER BY rowid LIMIT 1").starts_with("interrupted"));
    assert!(home.count("cost_rows") > 0);
}

#[test]
fn two_runs_at_once_do_not_collide() {
    let sim = simulator();
    sim.set_faults(agent_host_tests::Faults { latency_ms: 500, ..Default::default() });
    let mut home = Home::with_plugins(&["openai_collector", "anthropic_collector"]);
    home.use_simulator(&sim);
    let mut first = home.command(&["run-all"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.requests() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = home.run(&["run-all"]);
    second.expect_code(5);
    assert!(second.stderr().contains("another run is in progress"), "{}", second.stderr());
    assert_eq!(first.wait().unwrap().code(), Some(0));
    let rows = home.count("cost_rows");
    home.run(&["run-all"]).expect_code(0);
    assert_eq!(home.count("cost_rows"), rows, "no duplicates");
}

#[test]
fn duplicate_plugin_names_are_an_error_not_a_silent_pick() {
    let home = Home::with_plugins(&["misbehaving"]);
    std::fs::copy(
        home.plugins().join("libmisbehaving.so"),
        home.plugins().join("libmisbehaving_copy.so"),
    )
    .unwrap();
    home.fix_modes();
    let doc = home.run(&["plugins", "list", "--json"]).json();
    assert_eq!(doc["plugins"].as_array().unwrap().len(), 0);
    assert!(doc["rejected"][0]["reason"].as_str().unwrap().contains("is also provided by"));
    let run = home.run(&["run", "--plugin", "misbehaving"]);
    run.expect_code(2);
    assert!(run.stderr().contains("cannot be used"), "{}", run.stderr());
}

#[test]
fn plugins_writable_by_others_are_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::with_plugins(&["misbehaving"]);
    let lib = home.plugins().join("libmisbehaving.so");
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o757)).unwrap();
    let doc = home.run(&["plugins", "list", "--json"]).json();
    assert!(doc["rejected"][0]["reason"].as_str().unwrap().contains("chmod go-w"));

    std::fs::set_permissions(home.plugins(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = home.run(&["plugins", "list"]);
    run.expect_code(3);
    assert!(run.stderr().contains("hint: fix with `chmod go-w"), "{}", run.stderr());
}

#[test]
fn bad_input_gets_one_line_and_a_documented_exit_code() {
    let home = Home::with_plugins(&["misbehaving"]);
    let cases: &[(&[&str], i32, &str)] = &[
        (&["run", "--plugin", "nope"], 2, "unknown plugin nope"),
        (
            &["run", "--plugin", "misbehaving", "--from", "2025-02-30"],
            2,
            "\"2025-02-30\" is not a valid date",
        ),
        (
            &["run-all", "--from", "2025-03-02", "--to", "2025-03-01"],
            2,
            "--from 2025-03-02 is after --to 2025-03-01",
        ),
        (&["run-all", "--to", "2099-01-01"], 2, "is not a finished UTC day"),
        (
            &["run", "--plugin", "misbehaving", "--param", "colour=red"],
            2,
            "has no parameter colour",
        ),
        (&["runs", "--limit", "zero"], 2, "invalid value"),
        (&["--home", "/nonexistent/agent-home", "runs"], 3, "does not exist"),
        (&["frobnicate"], 2, "unrecognized subcommand"),
    ];
    for (args, code, text) in cases {
        let run = home.run(args);
        run.expect_code(*code);
        let err = run.stderr();
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].contains(text), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    }
}

#[test]
fn a_foreign_or_corrupt_database_is_refused_and_left_untouched() {
    let home = Home::sqlite_only(&["misbehaving"]);
    let db = home.path().join("agent_os.db");
    std::fs::write(&db, "this is not sqlite at all, just text").unwrap();
    let run = home.run(&["runs"]);
    run.expect_code(4);
    assert!(run.stderr().contains("is not an SQLite database"), "{}", run.stderr());
    assert_eq!(std::fs::read_to_string(&db).unwrap(), "this is not sqlite at all, just text");

    std::fs::remove_file(&db).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT);").unwrap();
    drop(conn);
    let run = home.run(&["run", "--plugin", "misbehaving"]);
    run.expect_code(4);
    assert!(run.stderr().contains("did not create"), "{}", run.stderr());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn runs_lists_what_happened() {
    let home = Home::with_plugins(&["misbehaving"]);
    home.run(&["run", "--plugin", "misbehaving"]).expect_code(0);
    home.run(&["run", "--plugin", "misbehaving", "--param", "mode=exit"]).expect_code(1);
    let runs = home.run(&["runs", "--json", "--limit", "1"]).json();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["status"], "failed");
    let text = home.run(&["runs"]).stdout();
    assert!(text.contains("success") && text.contains("failed"), "{text}");
}

#[test]
fn a_malformed_dot_env_is_one_line_with_a_hint() {
    let home = Home::with_plugins(&["misbehaving"]);
    std::fs::write(home.path().join(".env"), "GOOD=1\nthis line has no equals sign\n").unwrap();
    let run = home.run(&["run", "--plugin", "misbehaving"]);
    run.expect_code(3);
    let err = run.stderr();
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(".env: line 2: not a NAME=value setting"), "{err}");
    assert!(err.contains("hint: each line is NAME=value, taken literally"), "{err}");
    assert_eq!(err.lines().count(), 2, "{err}");
}

#[test]
fn hand_edited_runs_print_without_panicking() {
    let home = Home::sqlite_only(&["misbehaving"]);
    home.run(&["run", "--plugin", "misbehaving"]).expect_code(0);
    let conn = rusqlite::Connection::open(home.path().join("agent_os.db")).unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         UPDATE runs SET id = 'é', started_at = 'ü-2025', plugin_sha256 = 'x';",
    )
    .unwrap();
    drop(conn);
    let run = home.run(&["runs"]);
    run.expect_code(0);
    assert!(run.stdout().contains("ü-2025") && run.stdout().contains(" é "), "{}", run.stdout());
}

#[test]
fn completions_and_the_man_page_come_from_the_parser() {
    let home = Home::with_plugins(&[]);
    for shell in ["bash", "zsh", "fish"] {
        let run = home.run(&["completions", shell]);
        run.expect_code(0);
        assert!(run.stdout().contains("run-all") && run.stdout().contains("doctor"), "{shell}");
    }
    let man = home.run(&["man"]);
    man.expect_code(0);
    assert!(man.stdout().starts_with(".ie") || man.stdout().contains(".TH agent-host 1"));
    home.run(&["completions", "tcsh"]).expect_code(2);
}

#[test]
fn absurd_numeric_settings_are_refused_not_panicked_on() {
    for (name, value) in [
        ("AGENT_TRAILING_DAYS", "99999999999"),
        ("AGENT_RUN_TIMEOUT_SECS", "18446744073709551615"),
        ("AGENT_HTTP_TIMEOUT_SECS", "18446744073709551615"),
        ("AGENT_HTTP_MAX_RPS", "1e-30"),
        ("AGENT_WORKER_MEMORY_MB", "18446744073709551615"),
    ] {
        let mut home = Home::with_plugins(&["misbehaving"]);
        home.env(name, value);
        let run = home.run(&["run-all"]);
        run.expect_code(3);
        assert!(run.stderr().starts_with(&format!("error: {name}=")), "{}", run.stderr());
    }
}

#[test]
fn without_a_home_the_data_folder_is_used_and_a_stray_database_is_named() {
    let user = tempfile::tempdir().unwrap();
    let here = tempfile::tempdir().unwrap();
    std::fs::write(here.path().join("agent_os.db"), b"").unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(util::agent_host())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", user.path())
            .current_dir(here.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["home", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let home = user.path().join(".local/share/agent-host");
    assert_eq!(doc["home"], home.display().to_string());
    assert!(home.is_dir());
    let runs = run(&["runs"]);
    assert!(runs.status.success());
    assert!(String::from_utf8_lossy(&runs.stderr).contains("is not this home's database"));
    assert_eq!(std::fs::read(here.path().join("agent_os.db")).unwrap(), b"", "left untouched");
}

#[test]
fn plugins_install_checks_then_copies_with_safe_modes() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::with_plugins(&[]);
    let lib = util::plugin_lib("misbehaving");
    home.run(&["plugins", "install", lib.to_str().unwrap()]).expect_code(0);
    let installed = home.plugins().join("libmisbehaving.so");
    assert_eq!(std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777, 0o755);
    home.run(&["run", "--plugin", "misbehaving"]).expect_code(0);
    let junk = home.path().join("junk.so");
    std::fs::write(&junk, b"not a library").unwrap();
    // Exit 3, as `plugin check` says of the same file (issue 24).
    let run = home.run(&["plugins", "install", junk.to_str().unwrap()]);
    run.expect_code(3);
    let check = home.run(&["plugin", "check", junk.to_str().unwrap()]);
    check.expect_code(3);
    assert_eq!(check.stderr(), run.stderr());
    assert!(run.stderr().contains("junk.so: "), "{}", run.stderr());
    assert!(!home.plugins().join("libjunk.so").exists());
}

#[test]
fn an_upgrade_from_before_grants_keeps_collecting_what_ran_and_nothing_else() {
    let sim = util::simulator();
    let mut home = Home::sqlite_only(&["openai_collector"]);
    home.use_simulator(&sim);
    home.run(&["run-all"]).expect_code(0);
    let rows = home.count("cost_rows");
    assert!(rows > 0);
    // The previous release kept no grants; a plugin dropped in meanwhile
    // never ran here.
    std::fs::remove_file(home.path().join("grants.json")).unwrap();
    home.drop_in("misbehaving", "libmisbehaving.so");
    let run = home.run(&["run-all"]);
    run.expect_code(0);
    assert!(
        run.stderr().contains("granted openai_collector what they ask for"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("granted misbehaving"), "{}", run.stderr());
    assert!(run.stdout().contains("openai_collector"), "{}", run.stdout());
    let list = home.run(&["plugins", "list"]).expect_code(0).stdout();
    assert!(list.contains("libmisbehaving.so: not granted"), "{list}");
    // Said once: the grants file now exists.
    let again = home.run(&["run-all"]);
    assert!(!again.stderr().contains("what they ask for"), "{}", again.stderr());

    // Installing a plugin first, in a home from before grants, keeps what
    // already ran there granted too.
    std::fs::remove_file(home.path().join("grants.json")).unwrap();
    std::fs::remove_file(home.plugins().join("libmisbehaving.so")).unwrap();
    home.install("anthropic_collector");
    let list = home.run(&["plugins", "list", "--json"]).expect_code(0).json();
    let names: Vec<&str> =
        list["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["anthropic_collector", "openai_collector"], "{list}");
}

#[test]
fn a_plugin_built_for_an_older_contract_is_refused_up_front_with_the_fix() {
    let home = Home::with_plugins(&["misbehaving"]);
    let old = home.path().join("old-build.so");
    util::patched_hostile(&old, "pre12");
    let install = home.run(&["plugins", "install", old.to_str().unwrap()]);
    install.expect_code(3);
    assert!(install.stderr().contains("before 1.2"), "{}", install.stderr());
    // Left in the folder by an upgrade: listed, failed by doctor, and the
    // run names the file and the fix instead of failing on every record.
    std::fs::copy(&old, home.plugins().join("libhostile.so")).unwrap();
    home.fix_modes();
    let list = home.run(&["plugins", "list"]).expect_code(0).stdout();
    assert!(list.contains("libhostile.so: built for a plugin contract before 1.2"), "{list}");
    let doctor = home.run(&["doctor"]);
    doctor.expect_code(3);
    assert!(doctor.stdout().contains("plugins install FILE"), "{}", doctor.stdout());
    let run = home.run(&["run", "--plugin", "hostile"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("libhostile.so: built for a plugin contract"),
        "{}",
        run.stderr()
    );
}
