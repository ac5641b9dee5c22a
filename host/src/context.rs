//! What every command starts from: the home folder, its settings and the
//! plugins folder, resolved once, with the accessors commands share (the
//! store, the price table, the plugin catalog, today). Commands depend on
//! this module; it depends on no command.

use chrono::{NaiveDate, Utc};
use std::path::PathBuf;

use crate::cli::{Cli, Command};
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
    /// Resolves the home, its settings and the plugins folder for `cli`.
    pub fn load(cli: &Cli) -> Result<Context> {
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
        Ok(crate::kernel::loader::scan(&self.plugins_dir, &opts)?)
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
            Some(v) => crate::billing::period::parse_day(v)
                .map_err(|e| HostError::config(format!("AGENT_TODAY: {e}"))),
            None => Ok(Utc::now().date_naive()),
        }
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
