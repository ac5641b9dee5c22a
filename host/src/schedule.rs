//! `agent-host schedule`: installs, shows and removes the nightly
//! `report daily` job as a crontab line, a systemd user timer + service, or a
//! launchd agent, from the templates in `scripts/schedule/`. Installing is
//! idempotent: an existing entry for the same home folder is replaced.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{HostError, Result};

const CRON_LINE: &str = include_str!("../../scripts/schedule/crontab.line");
const SYSTEMD_SERVICE: &str = include_str!("../../scripts/schedule/agent-host-report.service");
const SYSTEMD_TIMER: &str = include_str!("../../scripts/schedule/agent-host-report.timer");
const LAUNCHD_PLIST: &str = include_str!("../../scripts/schedule/com.agent-host.report.plist");

/// Scheduler backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// A line in the user's crontab.
    Cron,
    /// A systemd user timer and service.
    Systemd,
    /// A launchd user agent (macOS).
    Launchd,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Cron => "cron",
            Backend::Systemd => "systemd",
            Backend::Launchd => "launchd",
        })
    }
}

impl Backend {
    /// Refuses, before anything is written, a backend this system lacks.
    pub fn check_available(self) -> Result<()> {
        let missing = match self {
            Backend::Launchd if !cfg!(target_os = "macos") => Some("launchd exists only on macOS"),
            Backend::Systemd if !cfg!(target_os = "linux") => Some("systemd exists only on Linux"),
            Backend::Cron if !which("crontab") => Some("no `crontab` program is on PATH"),
            _ => None,
        };
        match missing {
            Some(why) => Err(HostError::config(format!("cannot use the {self} backend: {why}"))
                .with_hint(format!(
                    "leave out --backend to use this system's own ({})",
                    Backend::default_for_platform()
                ))),
            None => Ok(()),
        }
    }

    /// The platform's own: launchd on macOS, cron where `crontab` exists,
    /// else systemd.
    pub fn default_for_platform() -> Backend {
        if cfg!(target_os = "macos") {
            Backend::Launchd
        } else if which("crontab") {
            Backend::Cron
        } else {
            Backend::Systemd
        }
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// What the job runs, and when.
#[derive(Debug, Clone)]
pub struct Job {
    /// Absolute path of agent-host.
    pub bin: PathBuf,
    /// Absolute home folder.
    pub home: PathBuf,
    /// Where output is appended.
    pub log: PathBuf,
    /// Local hour.
    pub hour: u32,
    /// Local minute.
    pub minute: u32,
}

impl Job {
    fn fill(&self, template: &str) -> String {
        template
            .replace("{{LABEL}}", &launchd_label(&self.home))
            .replace("{{BIN}}", &self.bin.display().to_string())
            .replace("{{HOME}}", &self.home.display().to_string())
            .replace("{{LOG}}", &self.log.display().to_string())
            .replace("{{HOUR}}", &format!("{:02}", self.hour))
            .replace("{{MINUTE}}", &format!("{:02}", self.minute))
    }

    fn cron_marker(&self) -> String {
        format!("# agent-host report daily: {}", self.home.display())
    }
}

/// Parses `HH:MM`.
pub fn parse_at(s: &str) -> std::result::Result<(u32, u32), String> {
    let bad = || format!("{s:?} is not a time of day (expected HH:MM, 24-hour)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 || s.len() != 5 {
        return Err(bad());
    }
    Ok((h, m))
}

fn fail(what: &str, e: impl std::fmt::Display) -> HostError {
    HostError::output(format!("failed to {what}: {e}"))
}

/// Runs a command, feeding `input`; returns its stdout.
fn run(
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> std::result::Result<(bool, String, String), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).map_err(|e| format!("cannot write to {program}: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("{program}: {e}"))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    ))
}

fn read_crontab() -> Result<String> {
    let (ok, out, err) = run("crontab", &["-l"], None).map_err(|e| fail("read the crontab", e))?;
    // "no crontab for USER" is an empty crontab.
    if ok || err.contains("no crontab") {
        Ok(if ok { out } else { String::new() })
    } else {
        Err(fail("read the crontab", err))
    }
}

fn write_crontab(text: &str) -> Result<()> {
    let (ok, _, err) =
        run("crontab", &["-"], Some(text)).map_err(|e| fail("write the crontab", e))?;
    if ok {
        Ok(())
    } else {
        Err(fail("write the crontab", err))
    }
}

/// Whether a crontab line is the entry `marker` names: the marker ends the
/// line (so the entry of `/home/u/a` is not the one of `/home/u/ab`).
fn is_entry(line: &str, marker: &str) -> bool {
    line.trim_end().ends_with(marker)
}

fn without_entry(crontab: &str, marker: &str) -> String {
    crontab.lines().filter(|l| !is_entry(l, marker)).map(|l| format!("{l}\n")).collect()
}

/// Units and agents from before names carried the home's hash, when they
/// run this home: replaced by the new ones, so the job never runs twice.
fn remove_legacy(backend: Backend, home: &Path) {
    let mentions_home = |p: &Path| {
        std::fs::read_to_string(p).is_ok_and(|t| t.contains(&format!("--home {}", home.display())))
            || std::fs::read_to_string(p)
                .is_ok_and(|t| t.contains(&format!("<string>{}</string>", home.display())))
    };
    match backend {
        Backend::Systemd => {
            let Ok(dir) = systemd_dir() else { return };
            if mentions_home(&dir.join("agent-host-report.service")) {
                let _ = run(
                    "systemctl",
                    &["--user", "disable", "--now", "agent-host-report.timer"],
                    None,
                );
                for f in ["agent-host-report.timer", "agent-host-report.service"] {
                    let _ = std::fs::remove_file(dir.join(f));
                }
            }
        }
        Backend::Launchd => {
            let Some(user) = std::env::var_os("HOME") else { return };
            let p = PathBuf::from(user).join("Library/LaunchAgents/com.agent-host.report.plist");
            if mentions_home(&p) {
                let _ = run("launchctl", &["unload", &p.display().to_string()], None);
                let _ = std::fs::remove_file(&p);
            }
        }
        Backend::Cron => {}
    }
}

/// A short name for a home folder, so two homes get two schedules: the
/// first 8 hex digits of the sha256 of its absolute path.
fn home_id(home: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(home.as_os_str().as_encoded_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The systemd unit base name for `home` (`.service` and `.timer`).
fn systemd_unit(home: &Path) -> String {
    format!("agent-host-report-{}", home_id(home))
}

/// The launchd label for `home`.
fn launchd_label(home: &Path) -> String {
    format!("com.agent-host.report.{}", home_id(home))
}

fn systemd_dir() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(
            std::env::var_os("HOME").ok_or_else(|| HostError::config("HOME is not set"))?,
        )
        .join(".config"),
    };
    Ok(base.join("systemd/user"))
}

fn launchd_path(agent_home: &Path) -> Result<PathBuf> {
    let home = std::env::var_os("HOME").ok_or_else(|| HostError::config("HOME is not set"))?;
    Ok(PathBuf::from(home)
        .join("Library/LaunchAgents")
        .join(format!("{}.plist", launchd_label(agent_home))))
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(&format!("create {}", dir.display()), e))?;
    }
    std::fs::write(path, text).map_err(|e| fail(&format!("write {}", path.display()), e))
}

/// Installs (or, with `dry_run`, prints) the job. Returns what was done.
pub fn install(backend: Backend, job: &Job, dry_run: bool) -> Result<String> {
    if !dry_run {
        backend.check_available()?;
        remove_legacy(backend, &job.home);
    }
    match backend {
        Backend::Cron => {
            let line = job.fill(CRON_LINE);
            if dry_run {
                return Ok(format!("would add to the crontab:\n{line}"));
            }
            let current = read_crontab()?;
            let mut next = without_entry(&current, &job.cron_marker());
            next.push_str(&line);
            write_crontab(&next)?;
            Ok(format!("crontab: {}", line.trim_end()))
        }
        Backend::Systemd => {
            let dir = systemd_dir()?;
            let (service, timer) = (job.fill(SYSTEMD_SERVICE), job.fill(SYSTEMD_TIMER));
            let unit = systemd_unit(&job.home);
            let (sp, tp) = (dir.join(format!("{unit}.service")), dir.join(format!("{unit}.timer")));
            let timer_name = format!("{unit}.timer");
            if dry_run {
                return Ok(format!(
                    "would write {}:\n{service}\nwould write {}:\n{timer}",
                    sp.display(),
                    tp.display()
                ));
            }
            write_file(&sp, &service)?;
            write_file(&tp, &timer)?;
            for args in [
                &["--user", "daemon-reload"][..],
                &["--user", "enable", "--now", timer_name.as_str()],
            ] {
                match run("systemctl", args, None) {
                    Ok((true, ..)) => {}
                    Ok((false, _, err)) | Err(err) => {
                        return Err(fail("activate the timer", err).with_hint(format!(
                            "the unit files are written; in a login session run \
                             `systemctl --user enable --now {timer_name}`"
                        )))
                    }
                }
            }
            Ok(format!("systemd: {} and {} (enabled)", sp.display(), tp.display()))
        }
        Backend::Launchd => {
            let path = launchd_path(&job.home)?;
            let plist = job.fill(LAUNCHD_PLIST);
            if dry_run {
                return Ok(format!("would write {}:\n{plist}", path.display()));
            }
            let p = path.display().to_string();
            let _ = run("launchctl", &["unload", &p], None);
            write_file(&path, &plist)?;
            match run("launchctl", &["load", "-w", &p], None) {
                Ok((true, ..)) => Ok(format!("launchd: {p} (loaded)")),
                Ok((false, _, e)) | Err(e) => Err(fail("load the launchd agent", e)),
            }
        }
    }
}

/// Describes the installed job for `home`, if any.
pub fn status(backend: Backend, home: &Path) -> Result<Option<String>> {
    match backend {
        Backend::Cron => {
            let marker = format!("# agent-host report daily: {}", home.display());
            Ok(read_crontab()?.lines().find(|l| is_entry(l, &marker)).map(str::to_string))
        }
        Backend::Systemd => {
            let t = systemd_dir()?.join(format!("{}.timer", systemd_unit(home)));
            Ok(std::fs::read_to_string(&t).ok().and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("OnCalendar="))
                    .map(|l| format!("{} ({})", t.display(), l))
            }))
        }
        Backend::Launchd => {
            let p = launchd_path(home)?;
            Ok(p.exists().then(|| p.display().to_string()))
        }
    }
}

/// Removes the job for `home`; returns whether there was one.
pub fn remove(backend: Backend, home: &Path) -> Result<bool> {
    remove_legacy(backend, home);
    match backend {
        Backend::Cron => {
            let marker = format!("# agent-host report daily: {}", home.display());
            let current = read_crontab()?;
            let next = without_entry(&current, &marker);
            if next.lines().count() == current.lines().count() {
                return Ok(false);
            }
            write_crontab(&next)?;
            Ok(true)
        }
        Backend::Systemd => {
            let dir = systemd_dir()?;
            let unit = systemd_unit(home);
            let timer = format!("{unit}.timer");
            let _ = run("systemctl", &["--user", "disable", "--now", &timer], None);
            let mut any = false;
            for f in [timer, format!("{unit}.service")] {
                any |= std::fs::remove_file(dir.join(f)).is_ok();
            }
            Ok(any)
        }
        Backend::Launchd => {
            let p = launchd_path(home)?;
            let _ = run("launchctl", &["unload", &p.display().to_string()], None);
            Ok(std::fs::remove_file(&p).is_ok())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            bin: "/opt/agent-host".into(),
            home: "/srv/ai".into(),
            log: "/srv/ai/report.log".into(),
            hour: 6,
            minute: 5,
        }
    }

    #[test]
    fn templates_fill_with_absolute_paths() {
        let line = job().fill(CRON_LINE);
        assert_eq!(
            line,
            "05 06 * * * cd '/srv/ai' && umask 077 && '/opt/agent-host' --home '/srv/ai' report daily >> '/srv/ai/report.log' 2>&1 # agent-host report daily: /srv/ai\n"
        );
        assert!(job().fill(SYSTEMD_TIMER).contains("OnCalendar=*-*-* 06:05:00"));
        assert!(job().fill(LAUNCHD_PLIST).contains("<integer>06</integer>"));
    }

    #[test]
    fn an_old_entry_is_replaced_not_duplicated() {
        let j = job();
        let crontab = format!("MAILTO=me\n{}0 1 * * * other\n", j.fill(CRON_LINE));
        assert_eq!(without_entry(&crontab, &j.cron_marker()), "MAILTO=me\n0 1 * * * other\n");
    }

    #[test]
    fn an_entry_is_its_own_home_only() {
        let marker = "# agent-host report daily: /home/u/a";
        assert!(is_entry("0 1 * * * x # agent-host report daily: /home/u/a", marker));
        assert!(!is_entry("0 1 * * * x # agent-host report daily: /home/u/ab", marker));
    }

    #[test]
    fn times_are_strict() {
        assert_eq!(parse_at("06:05").unwrap(), (6, 5));
        assert!(parse_at("24:00").is_err());
        assert!(parse_at("6:5").is_err());
    }
}
