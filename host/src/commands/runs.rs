//! `agent-host runs`: recent runs, and the days each job's history lacks
//! with why (the coverage ledger's holes, which the next run collects).

use std::io::Write;

use chrono::{NaiveDate, Utc};

use super::write_err;
use crate::cli::RunsArgs;
use crate::context::Context;
use crate::error::{ExitCode, Result};
use crate::kernel::ledger::LedgerReads as _;
use crate::kernel::ledger::MissingDay;
use crate::kernel::lock::RunLock;
use crate::kernel::run::{span_text, MISSING_DAY_ATTEMPTS};
use crate::store::Store;
use crate::table::{count, render, Align};

/// Spans of missing days listed under the runs; `--missing` lists them all.
const SHOWN_SPANS: usize = 10;

/// Prints the newest runs and the missing days, or (`--missing`) every
/// missing day.
pub fn list(ctx: &Context, args: &RunsArgs) -> Result<u8> {
    let mut store = ctx.store()?;
    close_dead_runs(ctx, &mut store);
    let today = ctx.today()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = super::views::runs_value(ctx, &store, args)?;
        writeln!(out, "{}", super::views::pretty(&v)).map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    let missing = store.missing_in(NaiveDate::MIN, today, today)?;
    if args.missing {
        if missing.is_empty() {
            writeln!(out, "no missing days").map_err(write_err)?;
        } else {
            write_missing(&mut out, &missing, usize::MAX)?;
        }
        return Ok(ExitCode::OK);
    }
    let rows = store.list_runs(args.limit as usize)?;
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
                r.trigger.as_ref().map_or("-".into(), |t| format!("trigger {t}")),
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
            ("Started by", Align::Left),
            ("Error", Align::Left),
        ],
        &cells,
    );
    write!(out, "{table}").map_err(write_err)?;
    if !missing.is_empty() {
        writeln!(out).map_err(write_err)?;
        write_missing(&mut out, &missing, SHOWN_SPANS)?;
    }
    Ok(ExitCode::OK)
}

/// Marks the runs of a host that died as interrupted, as the next collection
/// would, when no run is in progress: their days then read as what they
/// are. While another agent-host collects, its runs are left as they are.
/// Listing never fails for it: on a read-only disk the runs stay as stored.
fn close_dead_runs(ctx: &Context, store: &mut Store) {
    if let Ok(_lock) = RunLock::acquire(&ctx.home.lock_path()) {
        if let Err(e) = store.mark_interrupted(&Utc::now().to_rfc3339()) {
            tracing::debug!("cannot mark interrupted runs: {e}");
        }
    }
}

/// Missing days as spans of consecutive days of one job with one reason.
fn write_missing(out: &mut dyn Write, missing: &[MissingDay], shown: usize) -> Result<()> {
    let mut spans: Vec<(&str, NaiveDate, NaiveDate, &str, i64, usize)> = Vec::new();
    for m in missing {
        let Ok(day) = m.day.parse::<NaiveDate>() else { continue };
        let why = m.reason.as_deref().unwrap_or("");
        match spans.last_mut() {
            Some((plugin, _, end, w, tries, n))
                if *plugin == m.plugin && end.succ_opt() == Some(day) && *w == why =>
            {
                *end = day;
                *tries = (*tries).max(m.attempts);
                *n += 1;
            }
            _ => spans.push((&m.plugin, day, day, why, m.attempts, 1)),
        }
    }
    writeln!(out, "Missing days ({} in all; the next run collects them):", missing.len())
        .map_err(write_err)?;
    let rows: Vec<Vec<String>> = spans
        .iter()
        .take(shown)
        .map(|(plugin, from, to, why, tries, n)| {
            let mut why = why.to_string();
            if *tries >= i64::from(MISSING_DAY_ATTEMPTS) {
                why.push_str(&format!(
                    " (failed {tries} times: given up on; `run --from/--to` asks again)"
                ));
            }
            vec![plugin.to_string(), span_text(*from, *to), count(*n as i64), why]
        })
        .collect();
    let header = [
        ("Job", Align::Left),
        ("Days", Align::Left),
        ("Count", Align::Right),
        ("Why", Align::Left),
    ];
    write!(out, "{}", render(2, &header, &rows)).map_err(write_err)?;
    if spans.len() > shown {
        writeln!(
            out,
            "  and {} more span(s): `agent-host runs --missing` lists them all",
            spans.len() - shown
        )
        .map_err(write_err)?;
    }
    Ok(())
}
