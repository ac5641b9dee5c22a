//! The dispatcher: resolves the home folder, settings, logging, the database
//! and the plugins folder once, then hands them to the command asked for.
//! The commands themselves live in [`crate::commands`].

use chrono::{NaiveDate, Utc};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::cli::{AccountsCommand, Cli, Command, JobsCommand, PluginsCommand, ReportCommand};
use crate::commands;
use crate::config::{Home, Settings};
use crate::error::{HostError, Result};
use crate::store::{Location, Store};

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
        // Reading a price or a plugin file writes nothing: no home is made.
        let create = !matches!(
            cli.command,
            Command::Prices(crate::cli::PricesArgs { command: None, .. })
                | Command::Plugin(crate::cli::PluginCommand::Check(_))
        );
        let home = Home::resolve(cli.home.as_deref(), create)?;
        let settings = Settings::load(&home.env_path())?;
        let plugins_dir = cli.plugins_dir.clone().unwrap_or_else(|| home.default_plugins_dir());
        Ok(Context { home, settings, plugins_dir })
    }

    /// The price table in force: the one imported into the home, or the
    /// embedded one. An imported table that no longer reads is said once and
    /// the embedded one used, so a damaged file never stops billed views.
    pub fn prices(&self) -> crate::billing::prices::PriceTable {
        use crate::billing::prices::PriceTable;
        PriceTable::load(self.home.path()).unwrap_or_else(|e| {
            tracing::warn!(
                "the imported price table cannot be read ({e}); estimates use the embedded \
                 table until `agent-host prices update --from FILE` imports a good one"
            );
            PriceTable::embedded()
        })
    }

    /// Where the history lives: `AGENT_STORE_URL` (environment or `.env`),
    /// else `[store] url` in `agent-host.toml`, else the home's SQLite file.
    pub fn store_location(&self) -> Result<Location> {
        let url = match self.settings.get("AGENT_STORE_URL") {
            Some(u) => Some(u.to_string()),
            None => crate::jobfile::store_url(self.home.path())?,
        };
        match url {
            Some(u) => Ok(Location::parse(&u)?),
            None => Ok(Location::Sqlite(self.home.db_path())),
        }
    }

    /// This machine's name in a shared store: `AGENT_MACHINE`, else the
    /// host name.
    pub fn machine(&self) -> String {
        self.settings
            .get("AGENT_MACHINE")
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(host_name)
    }

    /// Opens the store, writing as this machine.
    pub fn store(&self) -> Result<Store> {
        let mut store = Store::open_at(&self.store_location()?)?;
        store.set_machine(&self.machine());
        Ok(store)
    }

    /// How plugins are found: manifests read by workers, cached in the home.
    pub fn scan_options(&self) -> Result<crate::kernel::loader::ScanOptions> {
        let exe = std::env::current_exe().map_err(|e| {
            HostError::config(format!("cannot find the agent-host executable: {e}"))
        })?;
        Ok(crate::kernel::loader::ScanOptions {
            exe,
            cache: self.home.exists().then(|| self.home.manifest_cache_path()),
            timeout: std::time::Duration::from_secs(self.settings.bounded(
                "AGENT_MANIFEST_TIMEOUT_SECS",
                10,
                3600,
                "a number of seconds",
            )?),
            memory_bytes: self.worker_memory()?,
            grants: Some(self.home.grants_path()),
            protected: self.protected_paths(),
        })
    }

    /// Folders no plugin may read, whatever it was granted: the home (its
    /// `.env`, database, logs and grants) and the plugins folder.
    pub fn protected_paths(&self) -> Vec<PathBuf> {
        vec![self.home.path().to_path_buf(), self.plugins_dir.clone()]
    }

    /// The plugins folder, scanned.
    pub fn catalog(&self) -> Result<crate::kernel::loader::Catalog> {
        let opts = self.scan_options()?;
        self.grant_what_ran_before(&opts)?;
        crate::kernel::loader::scan(&self.plugins_dir, &opts)
    }

    /// A home from before grants existed (no grants file, a database):
    /// each plugin file that already ran here is granted what it asks for,
    /// once, and said so, so an upgrade keeps collecting. Any other file
    /// waits for the operator.
    pub fn grant_what_ran_before(&self, opts: &crate::kernel::loader::ScanOptions) -> Result<()> {
        use crate::kernel::grants::Grants;
        let path = self.home.grants_path();
        if path.exists() || !self.home.db_path().exists() {
            return Ok(());
        }
        let Ok(ran) = self.store().and_then(|s| Ok(s.plugin_files_run()?)) else { return Ok(()) };
        let found = crate::kernel::loader::scan(&self.plugins_dir, opts)?;
        let mut grants = Grants::load(&path).map_err(|e| HostError::config(e.to_string()))?;
        let now = Utc::now().to_rfc3339();
        let mut granted = Vec::new();
        for p in found.ungranted.iter().filter(|p| ran.contains(&p.sha256)) {
            grants.grant(&p.manifest.name, &p.sha256, &p.request(), &now);
            granted.push(p.manifest.name.as_str());
        }
        // Written even when empty: this happens once per home.
        grants.save().map_err(|e| HostError::output(e.to_string()))?;
        if !granted.is_empty() {
            tracing::warn!(
                "granted {} what they ask for: they ran here before grants existed ({}); \
                 `agent-host plugins list` shows each request, `plugins revoke NAME` takes one back",
                granted.join(", "),
                path.display()
            );
        }
        Ok(())
    }

    /// A worker's address-space limit, `AGENT_WORKER_MEMORY_MB` (2048).
    pub fn worker_memory(&self) -> Result<u64> {
        let mb = self.settings.bounded(
            "AGENT_WORKER_MEMORY_MB",
            2048,
            1 << 20,
            "a number of megabytes",
        )?;
        Ok(mb.saturating_mul(1 << 20))
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
    // Generated documents need no home, settings or logging.
    match cli.command {
        Command::Completions { shell } => return commands::docs::completions(shell),
        Command::Man => return commands::docs::man(),
        // Starting a plugin project needs no home either.
        Command::Plugin(crate::cli::PluginCommand::New(ref args)) => {
            return commands::sdk::new(args)
        }
        Command::Plugin(crate::cli::PluginCommand::Other(ref words)) => {
            return Err(commands::sdk::unknown(words))
        }
        _ => {}
    }
    // What the home keeps (database, log, caches, exports) is this user's
    // alone: new files 0600 in 0700 folders, and files an older release
    // left readable by others tightened.
    crate::config::keep_private();
    let ctx = Context::load(&cli)?;
    ctx.home.tighten();
    let json = match &cli.command {
        Command::Plugins(PluginsCommand::List(f)) => f.json,
        Command::Plugins(
            PluginsCommand::Install { .. }
            | PluginsCommand::Grant { .. }
            | PluginsCommand::Revoke { .. },
        ) => false,
        Command::Plugin(crate::cli::PluginCommand::Check(a)) => a.json,
        Command::Plugin(_) => false,
        Command::Run(a) => a.exec.json,
        Command::RunAll(a) => a.exec.json,
        Command::Runs(a) => a.json,
        Command::Jobs(JobsCommand::List(f)) => f.json,
        Command::Accounts(AccountsCommand::List(f)) => f.json,
        Command::Accounts(_) => false,
        Command::Store(crate::cli::StoreCommand::Migrate(a)) => a.json,
        Command::Records(a) => a.json,
        Command::Summary(a) => a.json,
        Command::Alerts(a) => a.json,
        Command::Export(a) => a.out.as_deref() == Some(std::path::Path::new("-")),
        Command::Doctor(f) | Command::Home(f) => f.json,
        Command::Prices(a) => a.json,
        Command::Reconcile(a) => a.json,
        Command::Blocks(a) => a.json,
        // stdout is the status line or the protocol: nothing else on the console.
        Command::Statusline | Command::Mcp => true,
        Command::Report(ReportCommand::Html(a)) => a.out.as_os_str() == "-",
        Command::Report(_)
        | Command::Serve(_)
        | Command::Schedule(_)
        | Command::Worker
        | Command::Completions { .. }
        | Command::Man => false,
    };
    let console = if cli.quiet {
        "error"
    } else if cli.verbose && !json {
        "info"
    } else {
        "warn"
    };
    let log = ctx.home.exists().then(|| ctx.home.log_path());
    crate::logging::init(log.as_deref(), console).map_err(HostError::config)?;
    for w in ctx.settings.warnings() {
        tracing::warn!("{w}");
    }
    if let Some(db) = ctx.home.stray_database() {
        tracing::warn!(
            "{} is not this home's database (the home is {}); use --home . to use it",
            db.display(),
            ctx.home.path().display()
        );
    }
    match cli.command {
        Command::Plugins(PluginsCommand::List(f)) => commands::plugins::list(&ctx, f.json),
        Command::Plugins(PluginsCommand::Install { files }) => {
            commands::plugins::install(&ctx, &files)
        }
        Command::Plugins(PluginsCommand::Grant { names, all }) => {
            commands::plugins::grant(&ctx, &names, all)
        }
        Command::Plugins(PluginsCommand::Revoke { names }) => {
            commands::plugins::revoke(&ctx, &names)
        }
        Command::Run(args) => {
            use commands::collect::What;
            let params: BTreeMap<String, String> = args.params.into_iter().collect();
            // The parser requires one of --plugin and --job.
            let what = match (&args.job, &args.plugin) {
                (Some(job), _) => What::Job(job),
                (None, plugin) => What::Plugin(plugin.as_deref().unwrap_or_default()),
            };
            commands::collect::collect(&ctx, what, params, &args.exec)
        }
        Command::RunAll(args) => {
            use commands::collect::What;
            commands::collect::collect(&ctx, What::All, BTreeMap::new(), &args.exec)
        }
        Command::Jobs(JobsCommand::List(f)) => commands::jobs::list(&ctx, f.json),
        Command::Accounts(AccountsCommand::List(f)) => commands::accounts::list(&ctx, f.json),
        Command::Accounts(AccountsCommand::Rename { old, new }) => {
            commands::accounts::rename(&ctx, &old, &new)
        }
        Command::Accounts(AccountsCommand::Merge { from, into }) => {
            commands::accounts::merge(&ctx, &from, &into)
        }
        Command::Store(crate::cli::StoreCommand::Migrate(args)) => {
            commands::store::migrate(&ctx, &args)
        }
        Command::Records(args) => match &args.action {
            Some(crate::cli::RecordsAction::Prune { plugin, kind, keep, before }) => {
                commands::records::prune(&ctx, plugin, kind.as_deref(), *keep, *before)
            }
            None => commands::records::list(&ctx, &args),
        },
        Command::Runs(args) => commands::runs::list(&ctx, &args),
        Command::Summary(args) => commands::billing::summary(&ctx, &args),
        Command::Export(args) => commands::billing::export(&ctx, &args),
        Command::Alerts(args) => commands::billing::alerts(&ctx, &args),
        Command::Report(ReportCommand::Daily(args)) => commands::billing::report_daily(&ctx, &args),
        Command::Report(ReportCommand::Html(args)) => commands::serve::report_html(&ctx, &args),
        Command::Serve(args) => commands::serve::serve(&ctx, &args),
        Command::Prices(args) => commands::estimates::prices(&ctx, &args),
        Command::Reconcile(args) => commands::estimates::reconcile(&ctx, &args),
        Command::Blocks(args) => commands::blocks::run(&ctx, &args),
        Command::Statusline => commands::statusline::run(&ctx),
        Command::Mcp => commands::mcp::serve(&ctx),
        Command::Schedule(cmd) => commands::schedule::run(&ctx, cmd),
        Command::Doctor(f) => commands::doctor::run(&ctx, f.json),
        Command::Home(f) => commands::doctor::paths(&ctx, f.json),
        // Answered before the context was loaded.
        Command::Completions { .. } | Command::Man => Ok(crate::error::ExitCode::OK),
        Command::Plugin(crate::cli::PluginCommand::Check(args)) => {
            commands::sdk::check(&ctx, &args)
        }
        Command::Plugin(_) => Ok(crate::error::ExitCode::OK),
        Command::Worker => Ok(crate::kernel::worker::main()),
    }
}

/// The kernel's name for this machine (`uname -n`), or `unknown`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
