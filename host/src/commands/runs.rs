//! `agent-host runs`.

use std::io::Write;

use super::write_err;
use crate::app::Context;
use crate::cli::RunsArgs;
use crate::error::{ExitCode, Result};

/// Prints the newest runs.
pub fn list(ctx: &Context, args: &RunsArgs) -> Result<u8> {
    let store = ctx.store()?;
    let rows = store.list_runs(args.limit as usize)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows).unwrap_or_default())
            .map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    if rows.is_empty() {
        writeln!(out, "no runs yet").map_err(write_err)?;
    }
    for r in rows {
        let window = match (&r.window_from, &r.window_to) {
            (Some(f), Some(t)) => format!("{f}..{t}"),
            _ => "-".into(),
        };
        writeln!(
            out,
            "{}  {:<24} {:<8} {:<24} {:>6} rows  {}  sha256:{:<12}  {}",
            r.started_at.get(..19).unwrap_or(&r.started_at),
            r.plugin_name,
            r.status,
            window,
            r.records_written,
            r.id.get(..8).unwrap_or(&r.id),
            r.plugin_sha256.as_deref().map_or("-", |h| h.get(..12).unwrap_or(h)),
            r.error.as_deref().unwrap_or("")
        )
        .map_err(write_err)?;
    }
    Ok(ExitCode::OK)
}
