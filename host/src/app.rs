//! The dispatcher: resolves the home folder, settings, logging, the database
//! and the plugins folder once, then hands them to the command asked for.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, Utc};

use crate::billing::export::{self, Format};
use crate::billing::summary::{self, Period};
use crate::billing::BillingSink;
use crate::cli::{
    AlertsArgs, By, Cli, Command, DailyArgs, ExecArgs, ExportArgs, ExportFormat, PeriodArgs,
    PluginsCommand, ReportCommand, RunsArgs, ScheduleCommand, SummaryArgs,
};
use crate::config::{Home, Settings};
use crate::error::{ExitCode, HostError, Result};
use crate::kernel::loader::{self, Catalog};
use crate::kernel::lock::RunLock;
use crate::kernel::protocol::HttpSettings;
use crate::kernel::runner::{self, Isolation, RunOptions, RunReport};
use crate::store::Store;

/// What every command starts from.
pub struct Context {
    /// The home folder.
    pub home: Home,
    /// Settings and secrets.
    pub settings: Settings,
    /// The plugins folder.
    pub plugins_dir: PathBuf,
}

impl Context {
    fn load(cli: &Cli) -> Result<Context> {
        let home = Home::resolve(cli.home.as_deref())?;
        let settings = Settings::load(&home.env_path())?;
        let plugins_dir = cli.plugins_dir.clone().unwrap_or_else(|| home.default_plugins_dir());
        Ok(Context { home, settings, plugins_dir })
    }

    /// Opens the database.
    pub fn store(&self) -> Result<Store> {
        Ok(Store::open(&self.home.db_path())?)
    }

    /// Today in UTC; `AGENT_TODAY` pins it (tests, reproducible backfills).
    pub fn today(&self) -> Result<NaiveDate> {
        match self.settings.get("AGENT_TODAY") {
            Some(v) => {
                crate::cli::parse_day(v).map_err(|e| HostError::config(format!("AGENT_TODAY: {e}")))
            }
            None => Ok(Utc::now().date_naive()),
        }
    }
}

/// Runs the parsed command line and returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let ctx = Context::load(&cli)?;
    let json = match &cli.command {
        Command::Plugins(PluginsCommand::List(f)) => f.json,
        Command::Run(a) => a.exec.json,
        Command::RunAll(a) => a.exec.json,
        Command::Runs(a) => a.json,
        Command::Summary(a) => a.json,
        Command::Alerts(a) => a.json,
        Command::Export(a) => a.out.as_deref() == Some(std::path::Path::new("-")),
        Command::Report(_) | Command::Schedule(_) | Command::Worker => false,
    };
    crate::logging::init(Some(&ctx.home.log_path()), cli.quiet || json)
        .map_err(HostError::config)?;
    for w in ctx.settings.warnings() {
        tracing::warn!("{w}");
    }
    match cli.command {
        Command::Plugins(PluginsCommand::List(f)) => plugins_list(&ctx, f.json),
        Command::Run(args) => {
            let params: BTreeMap<String, String> = args.params.into_iter().collect();
            collect(&ctx, Some(&args.plugin), params, &args.exec)
        }
        Command::RunAll(args) => collect(&ctx, None, BTreeMap::new(), &args.exec),
        Command::Runs(args) => runs(&ctx, &args),
        Command::Summary(args) => summary(&ctx, &args),
        Command::Export(args) => export(&ctx, &args),
        Command::Alerts(args) => alerts(&ctx, &args),
        Command::Report(ReportCommand::Daily(args)) => report_daily(&ctx, &args),
        Command::Schedule(cmd) => schedule(&ctx, cmd),
        Command::Worker => Ok(crate::kernel::worker::main()),
    }
}

fn plugins_list(ctx: &Context, json: bool) -> Result<u8> {
    let catalog = loader::scan(&ctx.plugins_dir)?;
    let mut out = std::io::stdout().lock();
    if json {
        let plugins: Vec<_> = catalog
            .plugins
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.manifest.name,
                    "version": p.manifest.version,
                    "description": p.manifest.description,
                    "file": p.path,
                    "secrets": p.manifest.secrets,
                    "settings": p.manifest.settings,
                    "hosts": p.manifest.hosts,
                    "params": p.manifest.params,
                    "daily": p.manifest.daily,
                })
            })
            .collect();
        let doc = serde_json::json!({ "plugins": plugins, "rejected": catalog.rejected });
        writeln!(out, "{doc:#}").map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    if catalog.plugins.is_empty() {
        writeln!(out, "no plugins loaded from {}", ctx.plugins_dir.display()).map_err(write_err)?;
    }
    for p in &catalog.plugins {
        writeln!(out, "{:<24} {:<10} {}", p.manifest.name, p.manifest.version, p.path.display())
            .map_err(write_err)?;
    }
    for r in &catalog.rejected {
        writeln!(out, "rejected {}: {}", r.path.display(), r.reason).map_err(write_err)?;
    }
    Ok(ExitCode::OK)
}

fn write_err(e: std::io::Error) -> HostError {
    HostError::output(format!("cannot write output: {e}"))
}

/// Settings that shape a run, with their defaults.
fn run_options(
    ctx: &Context,
    exec: &ExecArgs,
    params: BTreeMap<String, String>,
) -> Result<RunOptions> {
    if let (Some(f), Some(t)) = (exec.from, exec.to) {
        if f > t {
            return Err(HostError::usage(format!("--from {f} is after --to {t}")));
        }
    }
    let today = ctx.today()?;
    if let Some(t) = exec.to {
        if t >= today {
            return Err(HostError::usage(format!(
                "--to {t} is not a finished UTC day (today is {today})"
            ))
            .with_hint("collect up to yesterday at the latest"));
        }
    }
    if let Some(f) = exec.from {
        if exec.to.is_none() && f >= today {
            return Err(HostError::usage(format!(
                "--from {f} is not a finished UTC day (today is {today})"
            )));
        }
    }
    let s = &ctx.settings;
    let timeout_secs = match exec.timeout {
        Some(t) => t,
        None => s.parsed("AGENT_RUN_TIMEOUT_SECS", 600u64, "a number of seconds")?,
    };
    let isolation = if exec.in_process {
        Isolation::InProcess
    } else {
        let exe = std::env::current_exe().map_err(|e| {
            HostError::config(format!("cannot find the agent-host executable: {e}"))
        })?;
        Isolation::Worker { exe, timeout: Duration::from_secs(timeout_secs) }
    };
    let http = HttpSettings {
        timeout_ms: s.parsed("AGENT_HTTP_TIMEOUT_SECS", 60u64, "a number of seconds")? * 1000,
        backoff_ms: s.parsed("AGENT_HTTP_BACKOFF_MS", 500u64, "a number of milliseconds")?,
        max_wait_ms: s.parsed("AGENT_HTTP_MAX_WAIT_SECS", 60u64, "a number of seconds")? * 1000,
        ..HttpSettings::default()
    };
    Ok(RunOptions {
        from: exec.from,
        to: exec.to,
        params,
        isolation,
        trailing_days: s.parsed("AGENT_TRAILING_DAYS", 3u64, "a number of days")?,
        today,
        http,
        jobs: s.parsed("AGENT_JOBS", 2usize, "a number of parallel runs")?,
    })
}

/// `run` and `run-all`: collect under the run lock.
pub fn collect(
    ctx: &Context,
    plugin: Option<&str>,
    params: BTreeMap<String, String>,
    exec: &ExecArgs,
) -> Result<u8> {
    let reports = collect_reports(ctx, plugin, params, exec)?;
    print_reports(&reports, exec.json)?;
    Ok(if reports.iter().all(RunReport::succeeded) { ExitCode::OK } else { ExitCode::RUN_FAILED })
}

/// Runs the collection and returns the reports (used by `report daily` too).
pub fn collect_reports(
    ctx: &Context,
    plugin: Option<&str>,
    params: BTreeMap<String, String>,
    exec: &ExecArgs,
) -> Result<Vec<RunReport>> {
    let _lock = RunLock::acquire(&ctx.home.lock_path())?;
    collect_locked(ctx, plugin, params, exec)
}

/// Collection, for a caller that holds the run lock.
fn collect_locked(
    ctx: &Context,
    plugin: Option<&str>,
    params: BTreeMap<String, String>,
    exec: &ExecArgs,
) -> Result<Vec<RunReport>> {
    let opts = run_options(ctx, exec, params)?;
    let catalog = loader::scan(&ctx.plugins_dir)?;
    let mut store = ctx.store()?;
    let now = Utc::now().to_rfc3339();
    let interrupted = store.mark_interrupted(&now)?;
    if interrupted > 0 {
        tracing::warn!("{interrupted} earlier run(s) were interrupted; marked failed (nothing of them was stored)");
    }
    let sink = BillingSink;
    match plugin {
        Some(name) => {
            let p = catalog.get(name)?;
            Ok(vec![runner::run_plugin(&mut store, p, &ctx.settings, &sink, &opts)?])
        }
        None => {
            report_rejected(&catalog);
            let plugins: Vec<_> = catalog.plugins.iter().collect();
            if plugins.is_empty() {
                return Err(HostError::config(format!(
                    "no plugin could be loaded from {}",
                    ctx.plugins_dir.display()
                ))
                .with_hint("run `agent-host plugins list` to see why, or `scripts/install.sh` to install them"));
            }
            runner::run_many(&mut store, &plugins, &ctx.settings, &sink, &opts)
        }
    }
}

fn report_rejected(catalog: &Catalog) {
    for r in &catalog.rejected {
        tracing::warn!("skipped {}: {}", r.path.display(), r.reason);
    }
}

fn print_reports(reports: &[RunReport], json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let doc = serde_json::to_string_pretty(reports).unwrap_or_default();
        writeln!(out, "{doc}").map_err(write_err)?;
        return Ok(());
    }
    for r in reports {
        let window = match (r.from, r.to) {
            (Some(f), Some(t)) => format!("{f}..{t}"),
            _ => "-".into(),
        };
        write!(
            out,
            "{:<24} {:<8} {:<22} {} records, {} written, {} changed, {} ms",
            r.plugin,
            r.status,
            window,
            r.records_received,
            r.records_written,
            r.records_changed,
            r.duration_ms
        )
        .map_err(write_err)?;
        match &r.error {
            Some(e) => writeln!(out, "\n  error: {e}"),
            None => writeln!(out),
        }
        .map_err(write_err)?;
    }
    Ok(())
}

fn runs(ctx: &Context, args: &RunsArgs) -> Result<u8> {
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
            "{}  {:<24} {:<8} {:<24} {:>6} rows  {}  {}",
            &r.started_at[..r.started_at.len().min(19)],
            r.plugin_name,
            r.status,
            window,
            r.records_written,
            &r.id[..8],
            r.error.as_deref().unwrap_or("")
        )
        .map_err(write_err)?;
    }
    Ok(ExitCode::OK)
}

/// The period a report command covers (default: the month of yesterday).
fn period(ctx: &Context, args: &PeriodArgs) -> Result<Period> {
    if let Some(m) = &args.month {
        return Period::parse_month(m).map_err(HostError::usage);
    }
    match (args.from, args.to) {
        (Some(from), Some(to)) if from > to => {
            Err(HostError::usage(format!("--from {from} is after --to {to}")))
        }
        (Some(from), Some(to)) => Ok(Period { from, to }),
        _ => {
            let today = ctx.today()?;
            Ok(Period::month_of(today.pred_opt().unwrap_or(today)))
        }
    }
}

fn summary(ctx: &Context, args: &SummaryArgs) -> Result<u8> {
    use crate::store::reports::Breakdown;
    let store = ctx.store()?;
    let p = period(ctx, &args.period)?;
    let today = ctx.today()?;
    let budget = crate::billing::report::alert_settings(&ctx.settings)?.budget;
    let days = store.day_totals(p.from, p.to)?;
    let month = Period::month_of(p.to);
    let month_days = if (month.from, month.to) == (p.from, p.to) {
        days.clone()
    } else {
        store.day_totals(month.from, month.to)?
    };
    let breakdown = match args.by {
        By::Provider => None,
        By::Model => Some(("model", store.breakdown(p.from, p.to, Breakdown::Model)?)),
        By::Project => Some(("project", store.breakdown(p.from, p.to, Breakdown::Project)?)),
    };
    let s = summary::summarize(p, today, &days, breakdown, &month_days, budget)
        .map_err(|e| HostError::new(crate::error::ErrorKind::Store, e))?;
    let text = if args.json {
        serde_json::to_string_pretty(&s).unwrap_or_default()
    } else {
        summary::render(&s)
    };
    writeln!(std::io::stdout().lock(), "{}", text.trim_end()).map_err(write_err)?;
    Ok(ExitCode::OK)
}

/// Writes through a temporary file renamed into place, so a failed export
/// never leaves a half-written file behind.
fn write_atomically(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<usize>,
) -> Result<usize> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let file = std::fs::File::create(&tmp)
        .map_err(|e| HostError::output(format!("cannot create {}: {e}", tmp.display())))?;
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
    }
}

/// Writes one export to `w`; returns the rows written.
fn write_export(
    store: &Store,
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
    match (fmt, detail) {
        (Format::Focus, _) => export::write_focus(w, store, p),
        (_, true) => export::write_detail(w, store, p, fmt),
        (_, false) => export::write_daily(w, &store.day_totals(p.from, p.to)?, fmt),
    }
    .map_err(export_err)
}

fn default_export_name(format: ExportFormat, today: NaiveDate) -> String {
    let stamp = today.format("%Y%m%d");
    match format {
        ExportFormat::Csv => format!("billing_export_{stamp}.csv"),
        ExportFormat::Json => format!("billing_export_{stamp}.json"),
        ExportFormat::Focus => format!("focus_export_{stamp}.csv"),
    }
}

fn export(ctx: &Context, args: &ExportArgs) -> Result<u8> {
    let store = ctx.store()?;
    let p = period(ctx, &args.period)?;
    let path = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(default_export_name(args.format, ctx.today().unwrap_or_default()))
    });
    if path.as_os_str() == "-" {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write_export(&store, p, args.format, args.detail, &mut out)?;
        out.flush().map_err(write_err)?;
        return Ok(ExitCode::OK);
    }
    let n = write_atomically(&path, |w| write_export(&store, p, args.format, args.detail, w))?;
    tracing::info!("wrote {n} rows for {}..{} to {}", p.from, p.to, path.display());
    writeln!(std::io::stdout().lock(), "{}", path.display()).map_err(write_err)?;
    Ok(ExitCode::OK)
}

fn alerts(ctx: &Context, args: &AlertsArgs) -> Result<u8> {
    let mut store = ctx.store()?;
    let today = ctx.today()?;
    let mut out = std::io::stdout().lock();
    let outcome = crate::billing::report::check_alerts(
        &mut store,
        &ctx.settings,
        today,
        args.dry_run,
        &mut out,
    )?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&outcome).unwrap_or_default())
            .map_err(write_err)?;
    } else if !args.dry_run {
        writeln!(out, "{}", outcome.summary_line()).map_err(write_err)?;
    }
    Ok(ExitCode::OK)
}

fn report_daily(ctx: &Context, args: &DailyArgs) -> Result<u8> {
    let _lock = RunLock::acquire(&ctx.home.lock_path())?;
    let exec = ExecArgs { from: None, to: None, in_process: false, timeout: None, json: false };
    let reports = collect_locked(ctx, None, BTreeMap::new(), &exec)?;
    print_reports(&reports, false)?;
    let today = ctx.today()?;
    let mut store = ctx.store()?;
    let mut out = std::io::stdout().lock();
    let outcome = crate::billing::report::check_alerts(
        &mut store,
        &ctx.settings,
        today,
        args.dry_run,
        &mut out,
    )?;
    writeln!(out, "alerts: {}", outcome.summary_line()).map_err(write_err)?;
    let month = Period::month_of(today.pred_opt().unwrap_or(today));
    let dir = ctx.home.exports_dir();
    let path = dir.join(default_export_name(ExportFormat::Csv, today));
    if args.dry_run {
        writeln!(out, "would write {}", path.display()).map_err(write_err)?;
    } else {
        std::fs::create_dir_all(&dir)
            .map_err(|e| HostError::output(format!("cannot create {}: {e}", dir.display())))?;
        let n =
            write_atomically(&path, |w| write_export(&store, month, ExportFormat::Csv, false, w))?;
        writeln!(out, "export: {} ({n} rows)", path.display()).map_err(write_err)?;
    }
    Ok(if reports.iter().all(RunReport::succeeded) { ExitCode::OK } else { ExitCode::RUN_FAILED })
}

fn schedule(ctx: &Context, cmd: ScheduleCommand) -> Result<u8> {
    use crate::schedule::{self as sched, Backend};
    let home = ctx
        .home
        .path()
        .canonicalize()
        .map_err(|e| HostError::config(format!("cannot resolve the home folder: {e}")))?;
    let mut out = std::io::stdout().lock();
    match cmd {
        ScheduleCommand::Install(args) => {
            let backend = args.backend.backend.unwrap_or_else(Backend::default_for_platform);
            let bin = std::env::current_exe().and_then(|p| p.canonicalize()).map_err(|e| {
                HostError::config(format!("cannot find the agent-host executable: {e}"))
            })?;
            let job = sched::Job {
                log: home.join("report.log"),
                bin,
                home,
                hour: args.at.0,
                minute: args.at.1,
            };
            let done = sched::install(backend, &job, args.dry_run)?;
            writeln!(out, "{done}").map_err(write_err)?;
        }
        ScheduleCommand::Status(b) => {
            let backend = b.backend.unwrap_or_else(Backend::default_for_platform);
            match sched::status(backend, &home)? {
                Some(entry) => writeln!(out, "installed: {entry}"),
                None => writeln!(out, "not installed ({backend:?})"),
            }
            .map_err(write_err)?;
        }
        ScheduleCommand::Remove(b) => {
            let backend = b.backend.unwrap_or_else(Backend::default_for_platform);
            let removed = sched::remove(backend, &home)?;
            writeln!(out, "{}", if removed { "removed" } else { "nothing to remove" })
                .map_err(write_err)?;
        }
    }
    Ok(ExitCode::OK)
}
