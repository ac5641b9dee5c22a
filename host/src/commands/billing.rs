//! The billing application's commands: `summary`, `export`, `alerts` and
//! the nightly `report daily`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use super::collect::collect_locked;
use super::write_err;
use crate::billing::dashboard;
use crate::billing::export::{self, Format};
use crate::billing::period::Period;
use crate::billing::summary;
use crate::cli::{
    AlertsArgs, By, DailyArgs, ExecArgs, ExportArgs, ExportFormat, PeriodArgs, SummaryArgs,
};
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};
use crate::kernel::lock::RunLock;
use crate::kernel::run::RunReport;
use crate::store::Store;

/// The period a report command covers (default: the month of yesterday).
pub(crate) fn period(ctx: &Context, args: &PeriodArgs) -> Result<Period> {
    if let Some(m) = &args.month {
        return Period::parse_month(m).map_err(|e| HostError::usage(e.to_string()));
    }
    match (args.from, args.to) {
        (Some(from), Some(to)) => {
            Period::new(from, to).map_err(|e| HostError::usage(format!("--{e}")))
        }
        // As `run-all --from`: up to yesterday, the last finished day.
        (Some(from), None) => {
            let yesterday = ctx.today()? - chrono::Days::new(1);
            Ok(Period { from, to: yesterday.max(from) })
        }
        _ => {
            let today = ctx.today()?;
            Ok(dashboard::default_period(today))
        }
    }
}

/// The summary `summary` prints (`--by session` aside, which is
/// [`super::views::sessions`]).
pub(crate) fn summary_data(ctx: &Context, args: &SummaryArgs) -> Result<summary::Summary> {
    let store = ctx.store()?;
    let q = summary_query(ctx, args, &store)?;
    let today = ctx.today()?;
    let budget = crate::billing::report::alert_settings(&ctx.settings)?.budget;
    Ok(dashboard::summary(&store, &q, today, &budget, &ctx.prices())?)
}

/// The summary's query, its provider resolved (an id or a display name,
/// any case; an unknown one is a usage error listing the known ones).
pub(crate) fn summary_query(
    ctx: &Context,
    args: &SummaryArgs,
    store: &Store,
) -> Result<dashboard::Query> {
    let p = period(ctx, &args.period)?;
    let by = args.by.grouping();
    let mut q = dashboard::Query { period: p, provider: args.provider.clone(), by };
    q.resolve_provider(store)?;
    Ok(q)
}

/// `agent-host summary`: totals, breakdown, coverage, budget, forecast.
pub fn summary(ctx: &Context, args: &SummaryArgs) -> Result<u8> {
    let text = if args.json {
        super::views::pretty(&super::views::summary_value(ctx, args)?)
    } else if args.by == By::Session {
        let store = ctx.store()?;
        let table = ctx.prices();
        crate::billing::sessions::render(&super::views::sessions(ctx, &store, &table, args)?)
    } else if args.by == By::Machine {
        let store = ctx.store()?;
        let table = ctx.prices();
        crate::billing::machines::render(&super::views::machines(ctx, &store, &table, args)?)
    } else {
        let s = summary_data(ctx, args)?;
        if args.daily || args.monthly {
            let store = ctx.store()?;
            let q = summary_query(ctx, args, &store)?;
            let detail =
                if args.breakdown { Some(dashboard::models_by_day(&store, &q)?) } else { None };
            let periods = summary::render_periods(&s, args.monthly, detail.as_deref());
            format!("{}\n{periods}", summary::render(&s))
        } else if args.weekly {
            let weeks = crate::billing::period::render(&super::views::weeks(ctx, args, &s)?);
            format!("{}\n{weeks}", summary::render(&s))
        } else {
            summary::render(&s)
        }
    };
    writeln!(std::io::stdout().lock(), "{}", text.trim_end()).map_err(write_err)?;
    Ok(ExitCode::OK)
}

/// Writes through a temporary file renamed into place, so a failed export
/// never leaves a half-written file behind.
pub(crate) fn write_atomically(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<usize>,
) -> Result<usize> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    // The error names the file the user asked for, not our temporary one.
    let file = std::fs::File::create(&tmp)
        .map_err(|e| HostError::output(format!("cannot write {}: {e}", path.display())))?;
    let mut w = std::io::BufWriter::new(file);
    let result = write(&mut w).and_then(|n| {
        w.flush()
            .map_err(|e| HostError::output(format!("cannot write {}: {e}", path.display())))?;
        Ok(n)
    });
    match result {
        Ok(n) => {
            std::fs::rename(&tmp, path)
                .map_err(|e| HostError::output(format!("cannot write {}: {e}", path.display())))?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn export_err(e: export::ExportError) -> HostError {
    match e {
        export::ExportError::Store(s) => s.into(),
        export::ExportError::Write(w) => HostError::output(w),
        export::ExportError::Io(e) => HostError::write(e),
    }
}

/// Writes one export to `w`; returns the rows written.
fn write_export(
    store: &Store,
    prices: &crate::billing::prices::PriceTable,
    today: chrono::NaiveDate,
    p: Period,
    format: ExportFormat,
    detail: bool,
    w: &mut dyn Write,
) -> Result<usize> {
    let fmt = match format {
        ExportFormat::Csv => Format::Csv,
        ExportFormat::Json => Format::Json,
        ExportFormat::Focus => Format::Focus,
    };
    // Providers known only from local logs appear by their estimate,
    // labelled `estimated`, in every export.
    let estimated = || crate::billing::estimate::stand_in_lines(store, prices, p);
    match (fmt, detail) {
        (Format::Focus, _) => export::write_focus(w, store, p, &estimated()?),
        (_, true) => export::write_detail(w, store, p, fmt, &estimated()?),
        (_, false) => {
            // Providers without billed data appear by their estimate, labelled.
            let days = crate::billing::estimate::with_stand_ins(store, prices, p, today)?;
            export::write_daily(w, &days, fmt)
        }
    }
    .map_err(export_err)
}

/// The default file name says which period it holds (`2025-08`, or
/// `2025-08-03_2025-09-02`), so exporting another period never replaces it.
fn default_export_name(format: ExportFormat, detail: bool, p: Period) -> String {
    let span = if Period::month_of(p.from) == p {
        p.from.format("%Y-%m").to_string()
    } else {
        format!("{}_{}", p.from, p.to)
    };
    let kind = if detail { "billing_detail" } else { "billing_export" };
    match format {
        ExportFormat::Csv => format!("{kind}_{span}.csv"),
        ExportFormat::Json => format!("{kind}_{span}.json"),
        ExportFormat::Focus => format!("focus_export_{span}.csv"),
    }
}

/// `agent-host export`: daily or detailed CSV/JSON, or FOCUS rows.
pub fn export(ctx: &Context, args: &ExportArgs) -> Result<u8> {
    let store = ctx.store()?;
    let prices = ctx.prices();
    let today = ctx.today()?;
    let p = period(ctx, &args.period)?;
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_export_name(args.format, args.detail, p)));
    if path.as_os_str() == "-" {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write_export(&store, &prices, today, p, args.format, args.detail, &mut out)?;
        out.flush().map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    let n = write_atomically(&path, |w| {
        write_export(&store, &prices, today, p, args.format, args.detail, w)
    })?;
    tracing::info!("wrote {n} rows for {}..{} to {}", p.from, p.to, path.display());
    if n == 0 {
        // Written all the same (a script may expect the file), but said.
        tracing::warn!(
            "no data for {}..{}: {} holds only the header (see `agent-host runs`, or collect with `agent-host run-all --from {}`)",
            p.from,
            p.to,
            path.display(),
            p.from
        );
    }
    writeln!(std::io::stdout().lock(), "{}", path.display()).map_err(write_err)?;
    Ok(ExitCode::OK)
}

/// `agent-host alerts`: evaluate the rules and send what is due.
pub fn alerts(ctx: &Context, args: &AlertsArgs) -> Result<u8> {
    // Sending and recording must not interleave with another run's.
    let _lock = if args.dry_run { None } else { Some(RunLock::acquire(&ctx.home.lock_path())?) };
    let mut store = ctx.store()?;
    let today = ctx.today()?;
    let mut out = std::io::stdout().lock();
    // With --json, stdout carries the JSON alone; what a dry run would send
    // is shown on stderr.
    let mut human = std::io::stderr();
    let lines: &mut dyn Write = if args.json { &mut human } else { &mut out };
    let outcome = crate::billing::report::check_alerts(
        &mut store,
        &ctx.settings,
        &ctx.prices(),
        today,
        args.dry_run,
        lines,
    )?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&outcome).unwrap_or_default())
            .map_err(write_err)?;
    } else if !args.dry_run {
        writeln!(out, "{}", outcome.summary_line()).map_err(write_err)?;
    }
    Ok(ExitCode::OK)
}

/// `agent-host report daily`: collect, alert and export, under the run lock.
pub fn report_daily(ctx: &Context, args: &DailyArgs) -> Result<u8> {
    let _lock = RunLock::acquire(&ctx.home.lock_path())?;
    let exec = ExecArgs { from: None, to: None, timeout: None, json: false };
    let reports = collect_locked(ctx, super::collect::What::All, BTreeMap::new(), &exec, true)?;
    let today = ctx.today()?;
    let mut store = ctx.store()?;
    let prices = ctx.prices();
    let mut out = std::io::stdout().lock();
    let outcome = crate::billing::report::check_alerts(
        &mut store,
        &ctx.settings,
        &prices,
        today,
        args.dry_run,
        &mut out,
    )?;
    writeln!(out, "alerts: {}", outcome.summary_line()).map_err(write_err)?;
    let month = dashboard::default_period(today);
    let dir = ctx.home.exports_dir();
    let path = dir.join(default_export_name(ExportFormat::Csv, false, month));
    if args.dry_run {
        writeln!(out, "would write {}", path.display()).map_err(write_err)?;
    } else {
        std::fs::create_dir_all(&dir)
            .map_err(|e| HostError::output(format!("cannot create {}: {e}", dir.display())))?;
        let n = write_atomically(&path, |w| {
            write_export(&store, &prices, today, month, ExportFormat::Csv, false, w)
        })?;
        writeln!(out, "export: {} ({n} rows)", path.display()).map_err(write_err)?;
    }
    Ok(if reports.iter().all(RunReport::succeeded) { ExitCode::OK } else { ExitCode::RUN_FAILED })
}
