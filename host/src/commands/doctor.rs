//! `agent-host doctor`: checks what agent-host depends on and says what is
//! wrong, one line each: the home folder and `.env` permissions, the
//! database (ours, intact), the plugins, and the sandbox protections. And
//! `agent-host home`, which says where all of it is.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::write_err;
use crate::context::Context;
use crate::error::{ExitCode, Result};
use crate::kernel::sandbox;
use crate::store::Store;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    /// Nothing to do.
    Ok,
    /// Works, but worth a look.
    Warn,
    /// Broken: the exit code says so.
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One finding.
#[derive(Debug, Serialize)]
struct Check {
    /// `ok`, `warn` or `fail`.
    status: Status,
    /// What was checked.
    what: String,
    /// What was found.
    detail: String,
}

fn check(ok: bool, what: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        status: if ok { Status::Ok } else { Status::Fail },
        what: what.into(),
        detail: detail.into(),
    }
}

/// Runs every check; exit 0 when nothing failed, 4 when the database
/// failed, else 3.
pub fn run(ctx: &Context, json: bool) -> Result<u8> {
    let mut checks = vec![home_check(ctx.home.path()), env_check(&ctx.home.env_path())];
    let db = db_check(&ctx.store_location()?);
    let db_failed = db.status == Status::Fail;
    checks.push(db);
    match ctx.catalog() {
        Ok(catalog) => {
            for p in &catalog.plugins {
                let detail = format!("{} sha256:{}", p.path.display(), p.sha256);
                checks.push(check(true, format!("plugin {}", p.manifest.name), detail));
            }
            // A file that declares a plugin name is one the operator meant
            // to run: its refusal stops collection. Other files are noise.
            for r in &catalog.rejected {
                let what = format!("plugin file {}", r.path.display());
                let status = if r.plugin.is_some() { Status::Fail } else { Status::Warn };
                checks.push(Check { status, what, detail: r.reason.clone() });
            }
            checks.extend(jobs_check(ctx, &catalog));
        }
        Err(e) => checks.push(check(false, "plugins folder", e.to_string())),
    }
    checks.push(alerts_check(ctx));
    let p = sandbox::probe();
    let status = if p.complete { Status::Ok } else { Status::Warn };
    checks.push(Check { status, what: "sandbox".into(), detail: p.describe() });

    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&checks).unwrap_or_default())
            .map_err(write_err)?;
    } else {
        for c in &checks {
            writeln!(out, "{:<5} {}: {}", c.status.as_str(), c.what, c.detail)
                .map_err(write_err)?;
        }
    }
    Ok(if db_failed {
        ExitCode::STORE
    } else if checks.iter().any(|c| c.status == Status::Fail) {
        ExitCode::CONFIG
    } else {
        ExitCode::OK
    })
}

/// `agent-host home`: where everything is.
pub fn paths(ctx: &Context, json: bool) -> Result<u8> {
    let h = &ctx.home;
    // (text label, JSON key, absolute path)
    let rows = [
        ("home", "home", h.path().to_path_buf()),
        ("settings (.env)", "env", h.env_path()),
        ("database", "database", h.db_path()),
        ("log", "log", h.log_path()),
        ("plugins", "plugins", ctx.plugins_dir.clone()),
        ("grants", "grants", h.grants_path()),
        ("exports", "exports", h.exports_dir()),
        ("manifest cache", "manifest_cache", h.manifest_cache_path()),
    ];
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = std::io::stdout().lock();
    if json {
        let doc: serde_json::Map<String, serde_json::Value> =
            rows.iter().map(|(_, k, p)| (k.to_string(), serde_json::json!(absolute(p)))).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default())
            .map_err(write_err)?;
    } else {
        for (what, _, p) in rows {
            writeln!(out, "{what:<16} {}", absolute(&p).display()).map_err(write_err)?;
        }
    }
    Ok(ExitCode::OK)
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

fn home_check(home: &Path) -> Check {
    let what = format!("home folder {}", home.display());
    let fix = format!("others can write to it; fix with `chmod 700 {}`", home.display());
    let found = mode_check(home, what, 0o022, &fix)
        .unwrap_or_else(|what| check(false, what, "cannot be read"));
    match mode_of(home) {
        // Others may not write; reading is a warning (it holds spend, logs
        // and the database).
        Some(mode) if found.status == Status::Ok && mode & 0o077 != 0 => Check {
            status: Status::Warn,
            detail: format!(
                "mode {mode:o}: others can read what it holds; fix with `chmod 700 {}`",
                home.display()
            ),
            ..found
        },
        _ => found,
    }
}

fn env_check(env: &Path) -> Check {
    let what = format!(".env {}", env.display());
    let fix = format!("others can read your keys; fix with `chmod 600 {}`", env.display());
    mode_check(env, what, 0o077, &fix).unwrap_or_else(|what| Check {
        status: Status::Ok,
        what,
        detail: "absent (settings come from the environment)".into(),
    })
}

/// Fails when any bit of `forbidden` is set in the file's mode; `Err(what)`
/// when the file cannot be read.
fn mode_check(path: &Path, what: String, forbidden: u32, fix: &str) -> Result<Check, String> {
    let Some(mode) = mode_of(path) else { return Err(what) };
    Ok(if mode & forbidden != 0 {
        check(false, what, format!("mode {mode:o}: {fix}"))
    } else {
        check(true, what, format!("mode {mode:o}"))
    })
}

/// `agent-host.toml`, checked as `run-all` checks it: a file `run-all`
/// would refuse fails, and plugins no job names are a warning.
fn jobs_check(ctx: &Context, catalog: &crate::kernel::loader::Catalog) -> Vec<Check> {
    let path = ctx.home.path().join(crate::jobfile::FILE);
    if !path.exists() {
        return Vec::new();
    }
    let what = format!("jobs {}", path.display());
    match crate::jobfile::load(ctx, catalog) {
        Err(e) => vec![check(false, what, e.to_string())],
        Ok(jobs) => {
            let enabled = jobs.jobs.iter().filter(|j| j.enabled).count();
            let mut out = vec![if enabled == 0 {
                check(false, what.clone(), "no enabled job: run-all would collect nothing")
            } else {
                check(true, what.clone(), format!("{} job(s), {enabled} enabled", jobs.jobs.len()))
            }];
            let unnamed = super::collect::unnamed_plugins(catalog, &jobs);
            if !unnamed.is_empty() {
                out.push(Check {
                    status: Status::Warn,
                    what,
                    detail: format!(
                        "no job for {}: run-all does not run them (add a [[job]] for each)",
                        unnamed.join(", ")
                    ),
                });
            }
            out
        }
    }
}

/// The alert channels read as `alerts` reads them (a bad URL or address
/// fails here, not on the night a budget is crossed).
fn alerts_check(ctx: &Context) -> Check {
    use crate::billing::{email, notify};
    let what = "alert channels";
    let webhooks = match notify::channels(&ctx.settings) {
        Ok(c) => c,
        Err(e) => return check(false, what, e.to_string()),
    };
    let mut names: Vec<String> = webhooks.iter().map(|c| c.name.to_string()).collect();
    match email::email_channel(&ctx.settings) {
        Ok(Some(e)) => names.push(format!("email to {}", e.recipients())),
        Ok(None) => {}
        Err(e) => return check(false, what, e.to_string()),
    }
    if names.is_empty() {
        return Check {
            status: Status::Warn,
            what: what.into(),
            detail: "none configured: alerts are not sent".into(),
        };
    }
    check(true, what, names.join(", "))
}

fn db_check(at: &crate::store::Location) -> Check {
    let what = format!("database {at}");
    if let crate::store::Location::Sqlite(path) = at {
        if !path.exists() {
            return Check { status: Status::Ok, what, detail: "not created yet".into() };
        }
    }
    match Store::check(at) {
        Ok(detail) => check(true, what, detail),
        Err(e) => check(false, what, e.to_string()),
    }
}
