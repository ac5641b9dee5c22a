//! A full or read-only disk: a clear error, a documented exit code, and
//! nothing already stored is lost. These tests mount a tiny tmpfs as the home
//! folder, which needs root (as in CI): under `CI=true` a machine that cannot
//! mount one fails them, saying why; elsewhere they say so and skip.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use util::{simulator, Home};

/// A tmpfs of a few hundred KiB, unmounted on drop.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(kib: u32) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // A guarantee CI cannot check is a failure there, never a pass.
            assert!(
                std::env::var("CI").is_err(),
                "CI must be able to mount a tmpfs (root or CAP_SYS_ADMIN) to test full and \
                 read-only disks"
            );
            eprintln!("skipping: mounting a tmpfs needs root (CI runs as root)");
            return None;
        }
        Some(TinyDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, opts: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Fills the disk with a file, leaving about `leave` bytes free.
    fn fill(&self, leave: u64) -> PathBuf {
        let filler = self.path().join("filler");
        let stat = free_bytes(self.path());
        let size = stat.saturating_sub(leave);
        std::fs::write(&filler, vec![0u8; size as usize]).ok();
        filler
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Free bytes on the filesystem holding `p`.
fn free_bytes(p: &Path) -> u64 {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// A home on `disk`, with the plugins on the ordinary disk (the second
/// value owns their folder; keep it alive as long as the home).
fn home_on(disk: &TinyDisk, sim: &agent_host_tests::Simulator) -> (Home, Home) {
    let plugins = Home::with_plugins(&["openai_collector"]);
    let mut home = Home::sqlite_only(&[]);
    home.use_simulator(sim)
        .env("AGENT_HOME", disk.path().to_str().unwrap())
        .env("AGENT_PLUGINS_DIR", plugins.plugins().to_str().unwrap());
    // The grants are the disk home's own.
    home.grant_all();
    (home, plugins)
}

fn count(disk: &TinyDisk, table: &str) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        disk.path().join("agent_os.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

#[test]
fn a_full_disk_is_a_clear_error_and_loses_nothing() {
    let Some(disk) = TinyDisk::mount(2048) else { return };
    let sim = simulator();
    let (home, _keep) = home_on(&disk, &sim);
    home.run(&[
        "run",
        "--plugin",
        "openai_collector",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-03",
    ])
    .expect_code(0);
    let before = (count(&disk, "cost_rows"), count(&disk, "results"), count(&disk, "coverage"));
    assert!(before.0 > 0);

    let filler = disk.fill(4096);
    let run = home.run(&[
        "run",
        "--plugin",
        "openai_collector",
        "--from",
        "2025-01-01",
        "--to",
        "2025-07-31",
    ]);
    assert_eq!(run.code(), 4, "stdout: {}\nstderr: {}", run.stdout(), run.stderr());
    let err = run.stderr();
    assert!(err.contains("disk is full") || err.contains("is the disk full?"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!err.contains("panicked"));
    assert_eq!(
        (count(&disk, "cost_rows"), count(&disk, "results"), count(&disk, "coverage")),
        before
    );

    // Space freed: the next run completes and closes the interrupted one.
    std::fs::remove_file(filler).unwrap();
    home.run(&[
        "run",
        "--plugin",
        "openai_collector",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-05",
    ])
    .expect_code(0);
    assert_eq!(count(&disk, "coverage"), 5);
}

#[test]
fn a_read_only_disk_is_a_clear_error_and_loses_nothing() {
    let Some(disk) = TinyDisk::mount(4096) else { return };
    let sim = simulator();
    let (home, _keep) = home_on(&disk, &sim);
    home.run(&[
        "run",
        "--plugin",
        "openai_collector",
        "--from",
        "2025-08-01",
        "--to",
        "2025-08-03",
    ])
    .expect_code(0);
    let before = count(&disk, "cost_rows");
    disk.remount("ro");
    for args in [&["run-all"][..], &["run", "--plugin", "openai_collector"]] {
        let run = home.run(args);
        assert_eq!(run.code(), 4, "{args:?}\nstdout: {}\nstderr: {}", run.stdout(), run.stderr());
        let err = run.stderr();
        assert!(err.lines().filter(|l| l.starts_with("error:")).count() == 1, "{err}");
        let lower = err.to_lowercase();
        assert!(lower.contains("read-only") || lower.contains("readonly"), "{err}");
    }
    // Reading what is stored still works.
    let runs = home.run(&["runs"]);
    runs.expect_code(0);
    assert!(runs.stdout().contains("success"), "{}", runs.stdout());
    disk.remount("rw");
    assert_eq!(count(&disk, "cost_rows"), before);
}

#[test]
fn a_disk_that_fills_mid_run_costs_time_never_days() {
    let Some(disk) = TinyDisk::mount(32 * 1024) else { return };
    let sim = simulator();
    // Slow enough that both windows are still fetching when the disk fills.
    sim.set_faults(agent_host_tests::Faults { latency_ms: 1500, ..Default::default() });
    let (home, _keep) = home_on(&disk, &sim);
    let mut host = home
        .command(&["run-all", "--from", "2025-04-01", "--to", "2025-08-31"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // The database may not exist yet, or not be migrated yet.
    let started = || {
        rusqlite::Connection::open_with_flags(
            disk.path().join("agent_os.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|db| db.query_row("SELECT count(*) FROM runs", [], |r| r.get(0)))
        .is_ok_and(|n: i64| n == 2)
    };
    while !started() {
        assert!(std::time::Instant::now() < deadline, "the windows never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let filler = disk.fill(0);
    let status = host.wait().unwrap();
    assert!(!status.success(), "no window could be stored");
    assert_eq!(count(&disk, "coverage"), 0);

    // Every day asked for is missing, with why, though nothing recorded it.
    let missing = home.run(&["runs", "--missing", "--json"]);
    assert_eq!(missing.json().as_array().unwrap().len(), 153, "{}", missing.stdout());

    std::fs::remove_file(filler).unwrap();
    sim.set_faults(Default::default());
    home.run(&["run-all"]).expect_code(0);
    home.run(&["run-all"]).expect_code(0);
    let db = rusqlite::Connection::open_with_flags(
        disk.path().join("agent_os.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let first: chrono::NaiveDate = "2025-04-01".parse().unwrap();
    for d in first.iter_days().take(153) {
        let (tokens, cost) = sim.expected_day("openai", d);
        let stored: String = db
            .query_row(
                "SELECT tokens || ' ' || cost FROM results WHERE provider = 'OpenAI' AND date = ?1",
                [d.to_string()],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{d}: {e}"));
        assert_eq!(stored, format!("{tokens} {cost}"), "{d}");
    }
}
