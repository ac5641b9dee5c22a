//! `agent-host jobs list`: the jobs `run-all` runs.

use std::io::Write;

use super::write_err;
use crate::context::Context;
use crate::error::{ExitCode, Result};

/// Lists the jobs (never a secret's value: only which variable holds it).
pub fn list(ctx: &Context, json: bool) -> Result<u8> {
    let catalog = ctx.catalog()?;
    let crate::jobfile::Jobs { file, jobs, triggers, .. } = crate::jobfile::load(ctx, &catalog)?;
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<_> = jobs
            .iter()
            .map(|j| {
                serde_json::json!({
                    "name": j.name,
                    "plugin": j.plugin.manifest.name,
                    "account": j.account,
                    "enabled": j.enabled,
                    "timeout_secs": j.timeout.map(|t| t.as_secs()),
                    "params": j.params,
                    "secrets_set": secrets_set(j),
                    // Who it collects for: a fingerprint of its key, never the key.
                    "identity": j.identity(),
                })
            })
            .collect();
        // The variable that holds each trigger's key, never the key.
        let hooks: Vec<_> = triggers
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name, "path": format!("/hooks/{}", t.name), "jobs": t.jobs,
                    "secret": t.secret, "style": t.style.name(),
                })
            })
            .collect();
        let doc = serde_json::json!({ "file": file, "jobs": list, "triggers": hooks });
        writeln!(out, "{doc:#}").map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    match &file {
        Some(f) => writeln!(out, "jobs of {}:", f.display()),
        None => writeln!(
            out,
            "no {} in {}: run-all runs every loaded plugin once",
            crate::jobfile::FILE,
            ctx.home.path().display()
        ),
    }
    .map_err(write_err)?;
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            let set = secrets_set(j);
            vec![
                j.name.clone(),
                j.plugin.manifest.name.clone(),
                j.account.clone().unwrap_or_else(|| "(plugin default)".into()),
                if j.enabled { "yes".into() } else { "no".into() },
                if set.is_empty() { "none".into() } else { set.join(", ") },
            ]
        })
        .collect();
    use crate::table::{render, Align};
    let header = [
        ("Job", Align::Left),
        ("Plugin", Align::Left),
        ("Account", Align::Left),
        ("Enabled", Align::Left),
        ("Secrets set", Align::Left),
    ];
    write!(out, "{}", render(2, &header, &rows)).map_err(write_err)?;
    for t in &triggers {
        writeln!(
            out,
            "trigger {}: POST /hooks/{} (agent-host serve) runs {}; key in {}, {} signatures",
            t.name,
            t.name,
            t.jobs.join(", "),
            t.secret,
            t.style.name()
        )
        .map_err(write_err)?;
    }
    Ok(ExitCode::OK)
}

/// The job's secrets that are set (their names only).
fn secrets_set(j: &crate::kernel::job::Job) -> Vec<&str> {
    let declared = &j.plugin.manifest.secrets;
    declared.iter().filter(|s| j.settings.get(s).is_some()).map(String::as_str).collect()
}
