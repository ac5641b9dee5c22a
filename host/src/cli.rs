//! The command line (clap derive). Parsing only validates what was typed;
//! resolving paths, settings and the database happens in `app`.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  a plugin run failed or was partial
  2  bad command line (unknown plugin, bad date, bad value)
  3  bad environment (home folder, .env, plugins folder, settings)
  4  the database cannot be used (corrupt, foreign, read-only, disk full)
  5  another run is in progress in this home folder
  6  an output file or schedule could not be written

Files in the home folder: .env (settings and secrets; the environment wins),
agent_os.db (SQLite), agent.log, plugins/ (*.so / *.dylib).";

/// agent-host: runs data-collecting plugins in isolated workers and keeps an
/// exact history of what your AI providers billed you.
#[derive(Debug, Parser)]
#[command(
    name = "agent-host",
    version,
    after_help = AFTER_HELP,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Home folder holding .env, agent_os.db, agent.log and plugins/
    /// [default: the platform's data folder, e.g. ~/.local/share/agent-host]
    #[arg(long, global = true, env = "AGENT_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Folder to load plugins from [default: HOME/plugins]
    #[arg(long, global = true, env = "AGENT_PLUGINS_DIR", value_name = "DIR")]
    pub plugins_dir: Option<PathBuf>,

    /// Only print errors on the console (warnings still go to agent.log)
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also print progress (INFO lines) on the console; by default only
    /// warnings and errors are printed there, and everything goes to agent.log
    #[arg(long, short, global = true)]
    pub verbose: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect installed plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Write plugins: start a project (`plugin new`), check a built file
    /// (`plugin check`).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run one plugin.
    Run(RunArgs),
    /// Run every enabled job of agent-host.toml, or every loaded plugin
    /// without it (the nightly job); non-zero exit if any failed.
    RunAll(RunAllArgs),
    /// What a plugin stored outside the billing application (e.g.
    /// status_watch's incidents), newest first.
    Records(RecordsArgs),
    /// The jobs `run-all` runs (agent-host.toml, or one per plugin).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Show recent runs, and the days each job's history is missing.
    Runs(RunsArgs),
    /// The accounts rows are kept under: list, rename, merge.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// The store itself: copy this home's history into another store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Spend at a glance: totals, breakdown, coverage, budget and forecast.
    Summary(SummaryArgs),
    /// Write billing data as CSV, JSON or FinOps FOCUS.
    Export(ExportArgs),
    /// Evaluate the alert rules and send what is due (once per rule and period).
    Alerts(AlertsArgs),
    /// Reports; `report daily` is the nightly job.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Install, show or remove the nightly `report daily` schedule.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Print the home folder and every file agent-host keeps in it.
    Home(JsonFlag),
    /// Print a shell completion script (e.g. `agent-host completions bash >
    /// ~/.local/share/bash-completion/completions/agent-host`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; e.g. `agent-host man | man -l -`).
    Man,
    /// Check the database, the plugins (and the sandbox protecting them),
    /// and the permissions of the home folder and .env.
    Doctor(JsonFlag),
    /// Serve a local, read-only dashboard of spend, tokens and data health.
    Serve(ServeArgs),
    /// Show the prices estimates use and the table's date, or import a newer table.
    Prices(PricesArgs),
    /// Billed cost against estimates (the admin API's usage and local logs
    /// at list prices), per provider and day, with the drift explained.
    Reconcile(ReconcileArgs),
    /// 5-hour blocks of local-log calls (the window Claude's plans reset
    /// on), the gaps between them, and the active block's burn rate and
    /// projection (estimated).
    Blocks(BlocksArgs),
    /// One line for Claude Code's status line: reads its status-line JSON on
    /// stdin, prints the session's, today's, the active block's and the
    /// month's spend.
    Statusline,
    /// A Model Context Protocol server on stdin/stdout (read only): tools
    /// `summary`, `blocks`, `reconcile`, `runs`, `data_health`.
    Mcp,
    /// Internal: the isolated worker process.
    #[command(name = "__worker", hide = true)]
    Worker,
}

/// `plugins` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List loaded plugins, and every file that was rejected with the reason.
    List(JsonFlag),
    /// Copy built plugin files into the plugins folder (as `lib<name>.so`,
    /// mode 0755), after reading each one's manifest in a sandboxed worker.
    Install {
        /// The plugin files (.so / .dylib).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Grant installed plugins what their manifests ask for (secrets,
    /// settings, hosts, read paths), for their current files: shown first,
    /// recorded in the home's grants.json.
    Grant {
        /// The plugins to grant.
        #[arg(required_unless_present = "all", value_name = "NAME")]
        names: Vec<String>,
        /// Every usable plugin in the plugins folder.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
    /// Take a plugin's grant back: it is not run until granted again.
    Revoke {
        /// The plugins whose grants are taken back.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
}

/// `plugin` subcommands: the plugin SDK.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Start a plugin: a standalone cargo project in DIR/NAME with a working
    /// example, a test on plugin-api's fake host, and plugin-api vendored.
    New(PluginNewArgs),
    /// Read a built plugin file's manifest in a sandboxed worker, as the host
    /// does, and print it; exit 3 when it is not a usable plugin.
    Check(PluginCheckArgs),
    /// Any other word, answered with the valid ones (`plugin list` is a
    /// common slip for `plugins list`).
    #[command(external_subcommand)]
    Other(Vec<String>),
}

/// `plugin new` arguments.
#[derive(Debug, Args)]
pub struct PluginNewArgs {
    /// The plugin's name: a crate name in snake_case, e.g. acme_usage
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Create the project folder NAME in this folder [default: the current one]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `plugin check` arguments.
#[derive(Debug, Args)]
pub struct PluginCheckArgs {
    /// The built plugin file (.so / .dylib)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Print JSON for scripts
    #[arg(long)]
    pub json: bool,
}

/// A `--json` switch.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON for scripts instead of a table
    #[arg(long)]
    pub json: bool,
}

/// How runs execute.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// First UTC day to collect (YYYY-MM-DD) [default: the day after the last
    /// complete one, or 30 days back on a first run]
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub from: Option<NaiveDate>,

    /// Last UTC day to collect, inclusive [default: yesterday]
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub to: Option<NaiveDate>,

    /// Kill a plugin run after this many seconds [env: AGENT_RUN_TIMEOUT_SECS;
    /// default: 600]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=crate::kernel::run::MAX_RUN_TIMEOUT_SECS))]
    pub timeout: Option<u64>,

    /// Print the run reports as JSON
    #[arg(long)]
    pub json: bool,
}

/// `run` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["plugin", "job"])))]
pub struct RunArgs {
    /// The plugin's name (see `agent-host plugins list`)
    #[arg(long, value_name = "NAME")]
    pub plugin: Option<String>,

    /// A job of agent-host.toml (see `agent-host jobs list`)
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,

    /// A plugin parameter, as name=value (repeatable)
    #[arg(long = "param", value_parser = parse_param, value_name = "NAME=VALUE")]
    pub params: Vec<(String, String)>,

    /// How to run.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// `records` arguments.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RecordsArgs {
    /// `records prune`: free room under a plugin's records quota.
    #[command(subcommand)]
    pub action: Option<RecordsAction>,

    /// The plugin (or job) that stored them
    #[arg(long, value_name = "NAME", required = true)]
    pub plugin: Option<String>,

    /// Only this kind (e.g. incident)
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,

    /// How many, newest first
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,

    /// Print JSON for scripts (payloads whole)
    #[arg(long)]
    pub json: bool,
}

/// `records` subcommands.
#[derive(Debug, Subcommand)]
pub enum RecordsAction {
    /// Delete a plugin's records beyond the newest N (`--keep`) or last
    /// updated before a day (`--before`); its grant's quota counts what is left.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["keep", "before"])))]
    Prune {
        /// The plugin (or job) whose records go
        #[arg(long, value_name = "NAME")]
        plugin: String,
        /// Only this kind
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// Keep the newest N
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Delete those last updated before this UTC day (YYYY-MM-DD)
        #[arg(long, value_name = "DAY", value_parser = parse_day)]
        before: Option<chrono::NaiveDate>,
    },
}

/// `jobs` subcommands.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List the jobs: name, plugin, account, enabled, and which variables hold their secrets.
    List(JsonFlag),
}

/// `accounts` subcommands.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List every account with rows: provider, days, the jobs that wrote
    /// them and who collected them (a fingerprint of the key, never the key).
    List(JsonFlag),
    /// Give an account another name on every row (refused if NEW has rows:
    /// that is a merge).
    Rename {
        /// The account's name now
        old: String,
        /// Its new name
        new: String,
    },
    /// Move every row of FROM into INTO: refused if both hold different rows
    /// for one provider and day (a day counted twice); identical days keep
    /// one copy.
    Merge {
        /// The account that goes away
        from: String,
        /// The account that keeps the rows
        into: String,
    },
}

/// `store` subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the whole history of this home's store (AGENT_STORE_URL, or the
    /// SQLite file) into another, and verify row counts and exact money sums
    /// per table. Refused if the target holds history, unless --append.
    Migrate(MigrateArgs),
}

/// `store migrate` arguments.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The target: postgres://user:password@host:port/database, or
    /// sqlite:PATH (a new or empty file).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Add to a target that already holds history; refused, with nothing
    /// written, if any row is in both (a day would count twice).
    #[arg(long)]
    pub append: bool,
    /// Print what was copied as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `run-all` arguments.
#[derive(Debug, Args)]
pub struct RunAllArgs {
    /// How to run.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// `runs` arguments.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// How many runs to show, newest first
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub limit: u64,

    /// List every missing day (per job, with why) instead of the runs
    #[arg(long)]
    pub missing: bool,

    /// Print JSON for scripts
    #[arg(long)]
    pub json: bool,
}

/// A span of days: a month, or from/to.
#[derive(Debug, Args)]
pub struct PeriodArgs {
    /// A calendar month, YYYY-MM [default: the month of yesterday]
    #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["from", "to"])]
    pub month: Option<String>,

    /// First UTC day (YYYY-MM-DD)
    #[arg(long, visible_alias = "since", value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub from: Option<NaiveDate>,

    /// Last UTC day, inclusive (YYYY-MM-DD) [default with --from: yesterday, as for run-all]
    #[arg(
        long,
        visible_alias = "until",
        value_parser = parse_day,
        value_name = "YYYY-MM-DD",
        requires = "from"
    )]
    pub to: Option<NaiveDate>,
}

pub use crate::billing::breakdown::By;

/// `--by` takes the names [`By::as_str`] gives, with [`By::help`] beside
/// each in `--help`.
impl clap::ValueEnum for By {
    fn value_variants<'a>() -> &'a [Self] {
        &By::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()).help(self.help()))
    }
}

/// `summary` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("table").args(["daily", "monthly"])))]
pub struct SummaryArgs {
    /// Which days.
    #[command(flatten)]
    pub period: PeriodArgs,

    /// Break spend down by
    #[arg(long, value_enum, default_value_t = By::Provider)]
    pub by: By,

    /// Only this provider: its id or its name as shown, in any case (openai, OpenAI)
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,

    /// Also show a table with one row per day (days without data marked)
    #[arg(long, conflicts_with = "monthly")]
    pub daily: bool,

    /// Also show a table with one row per calendar month
    #[arg(long)]
    pub monthly: bool,

    /// Also show a table with one row per ISO week (Monday first); in
    /// --json, the `weekly` rows
    #[arg(long, conflicts_with_all = ["daily", "monthly"])]
    pub weekly: bool,

    /// With --daily or --monthly: the models inside each row
    #[arg(long, requires = "table")]
    pub breakdown: bool,

    /// Print JSON for scripts (money exact, not rounded)
    #[arg(long)]
    pub json: bool,
}

/// `blocks` arguments.
#[derive(Debug, Args)]
pub struct BlocksArgs {
    /// First UTC day of calls to read [default: the first ever]
    #[arg(long, visible_alias = "since", value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub from: Option<NaiveDate>,

    /// Last UTC day of calls to read, inclusive [default: today]
    #[arg(long, visible_alias = "until", value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub to: Option<NaiveDate>,

    /// Only the block under way, if any
    #[arg(long)]
    pub active: bool,

    /// Print JSON for scripts (money exact)
    #[arg(long)]
    pub json: bool,
}

/// `prices` arguments.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PricesArgs {
    /// Import a newer price table.
    #[command(subcommand)]
    pub command: Option<PricesCommand>,

    /// The price of this model (as logged or billed, e.g. claude-sonnet-4-5-20250929)
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// Whose price list to look in, by id in any case (openai, OpenAI) [default: every provider with the model]
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,

    /// Print JSON for scripts (prices exact)
    #[arg(long)]
    pub json: bool,
}

/// `prices` subcommands.
#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Check a genai-prices `data.json` and use it from now on instead of the embedded table.
    Update {
        /// The file (the same format as the embedded table)
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
}

/// `reconcile` arguments.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Which days.
    #[command(flatten)]
    pub period: PeriodArgs,

    /// Print JSON for scripts (money exact)
    #[arg(long)]
    pub json: bool,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// CSV: Provider, Date, Tokens, Cost, Collected At (one row per cost line with --detail)
    Csv,
    /// JSON array of the same rows
    Json,
    /// FinOps FOCUS 1.2 CSV, one row per cost line
    Focus,
}

/// `export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,

    /// Which days.
    #[command(flatten)]
    pub period: PeriodArgs,

    /// One row per model/project/line item instead of per provider and day
    #[arg(long)]
    pub detail: bool,

    /// File to write (`-` for stdout) [default: billing_export_PERIOD.csv or
    /// .json (billing_detail_… with --detail), or focus_export_PERIOD.csv, in
    /// the working directory; PERIOD is YYYY-MM for a month, else FROM_TO]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `alerts` arguments.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Print what would be sent instead of sending it
    #[arg(long)]
    pub dry_run: bool,

    /// Print the outcome as JSON
    #[arg(long)]
    pub json: bool,
}

/// `report` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The nightly job: run every collector, send due alerts, write the
    /// month's export to HOME/exports/; exit code reflects collection failures.
    Daily(DailyArgs),
    /// The dashboard as one self-contained HTML file, its data inlined (for
    /// email or a synced folder).
    Html(HtmlArgs),
}

/// `report html` arguments.
#[derive(Debug, Args)]
pub struct HtmlArgs {
    /// Which days.
    #[command(flatten)]
    pub period: PeriodArgs,

    /// Only this provider's spend and tokens (its id or name, e.g. openai or
    /// OpenAI); data health, runs and alerts still cover every plugin
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,

    /// Where to write the file (`-` for stdout)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback needs a token
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787", value_parser = parse_bind)]
    pub bind: std::net::SocketAddr,

    /// Require this token (16 characters or more) on every request
    /// (`Authorization: Bearer TOKEN`, or `?token=TOKEN` in the page's
    /// address); prefer AGENT_SERVE_TOKEN, since other users can see a
    /// command line [env: AGENT_SERVE_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// `report daily` arguments.
#[derive(Debug, Args)]
pub struct DailyArgs {
    /// Collect, then print the alerts and the export path instead of
    /// sending and writing them
    #[arg(long)]
    pub dry_run: bool,
}

/// `schedule` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Install the nightly `report daily` job (idempotent)
    Install(ScheduleInstallArgs),
    /// Show the installed job
    Status(ScheduleBackendArg),
    /// Remove the job
    Remove(ScheduleBackendArg),
}

/// `schedule install` arguments.
#[derive(Debug, Args)]
pub struct ScheduleInstallArgs {
    /// Local time of day to run, HH:MM (24-hour)
    #[arg(long, default_value = "06:15", value_parser = crate::schedule::parse_at, value_name = "HH:MM")]
    pub at: (u32, u32),

    /// Print the entry instead of installing it
    #[arg(long)]
    pub dry_run: bool,

    /// Which scheduler.
    #[command(flatten)]
    pub backend: ScheduleBackendArg,
}

/// The scheduler to use.
#[derive(Debug, Args)]
pub struct ScheduleBackendArg {
    /// Scheduler [default: launchd on macOS, cron where crontab exists, else systemd]
    #[arg(long, value_enum)]
    pub backend: Option<crate::schedule::Backend>,
}

pub use crate::billing::period::parse_day;

/// An address to listen on: `IP:PORT`, or `localhost:PORT` (which is
/// `127.0.0.1:PORT`: a name is not looked up).
pub fn parse_bind(s: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let port = |p: &str| p.parse::<u16>().ok();
    match s.rsplit_once(':') {
        Some((host, p)) if host.eq_ignore_ascii_case("localhost") && port(p).is_some() => {
            Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port(p).unwrap_or_default())))
        }
        Some((_, p)) if port(p).is_none() => {
            Err(format!("{s:?}: {p:?} is not a port (0 to 65535)"))
        }
        None => Err(format!("{s:?} has no port: expected IP:PORT, e.g. 127.0.0.1:8787")),
        Some((host, _)) => Err(format!(
            "{s:?}: {host:?} is not an IP address (expected IP:PORT, e.g. 127.0.0.1:8787 or [::1]:8787; localhost is accepted)"
        )),
    }
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn days_are_strict() {
        assert!(parse_day("2025-02-28").is_ok());
        assert!(parse_day("2025-02-30").is_err());
        assert!(parse_day("2025-2-3").is_err());
        assert!(parse_day("yesterday").is_err());
    }

    // See: issue 24, point 14 (`--bind localhost:8787` got clap's generic
    // "invalid socket address").
    #[test]
    fn bind_addresses_take_localhost_and_say_what_is_wrong() {
        assert_eq!(parse_bind("localhost:8787").unwrap().to_string(), "127.0.0.1:8787");
        assert_eq!(parse_bind("[::1]:9").unwrap().to_string(), "[::1]:9");
        let errors: Vec<String> = ["localhost", "localhost:99999", "example.com:80", "1.2.3.4:x"]
            .iter()
            .map(|s| parse_bind(s).unwrap_err())
            .collect();
        insta::assert_snapshot!("bind_errors", errors.join("\n"));
    }

    #[test]
    fn params_need_a_name() {
        assert_eq!(parse_param("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_param("=x").is_err());
        assert!(parse_param("novalue").is_err());
    }
}
