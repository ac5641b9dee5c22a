//! `agent-host runs`.

use std::io::Write;

use super::write_err;
use crate::app::Context;
use crate::cli::RunsArgs;
use crate::error::{ExitCode, Result};
use crate::table::{count, render, Align};

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
        return Ok(ExitCode::OK);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let window = match (&r.window_from, &r.window_to) {
                (Some(f), Some(t)) => format!("{f}..{t}"),
                _ => "-".into(),
            };
            let sha = r.plugin_sha256.as_deref().map_or("-", |h| h.get(..12).unwrap_or(h));
            vec![
                r.started_at.get(..19).unwrap_or(&r.started_at).replace('T', " "),
                r.plugin_name.clone(),
                r.status.clone(),
                window,
                count(r.records_written),
                r.id.get(..8).unwrap_or(&r.id).to_string(),
                format!("sha256:{sha}"),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let table = render(
        0,
        &[
            ("Started (UTC)", Align::Left),
            ("Plugin", Align::Left),
            ("Status", Align::Left),
            ("Days", Align::Left),
            ("Rows", Align::Right),
            ("Run", Align::Left),
            ("Plugin file", Align::Left),
            ("Error", Align::Left),
        ],
        &cells,
    );
    write!(out, "{table}").map_err(write_err)?;
    Ok(ExitCode::OK)
}
