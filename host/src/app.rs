//! The dispatcher: resolves the home folder, settings, logging, the database
//! and the plugins folder once, then hands them to the command asked for.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, Utc};

use crate::billing::BillingSink;
use crate::cli::{Cli, Command, ExecArgs, PluginsCommand, RunsArgs};
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
        Command::Worker => false,
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
    let opts = run_options(ctx, exec, params)?;
    let catalog = loader::scan(&ctx.plugins_dir)?;
    let _lock = RunLock::acquire(&ctx.home.lock_path())?;
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
