//! The dispatcher: resolves the home folder, settings, logging, the database
//! and the plugins folder once, then hands them to the command asked for.
//! The commands themselves live in [`crate::commands`]; what they start from
//! is [`crate::context::Context`].

use std::collections::BTreeMap;

use crate::cli::{AccountsCommand, Cli, Command, JobsCommand, PluginsCommand, ReportCommand};
use crate::commands;
use crate::context::Context;
use crate::error::{HostError, Result};

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
    let json = machine_output(&cli.command);
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
    dispatch(&ctx, cli.command)
}

/// Whether stdout carries something a program reads (`--json`, the status
/// line, the MCP protocol, a page on stdout): then nothing but warnings
/// goes to the console, even with `--verbose`.
fn machine_output(command: &Command) -> bool {
    match command {
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
    }
}

/// Hands the command to the module that runs it.
fn dispatch(ctx: &Context, command: Command) -> Result<u8> {
    match command {
        Command::Plugins(PluginsCommand::List(f)) => commands::plugins::list(ctx, f.json),
        Command::Plugins(PluginsCommand::Install { files }) => {
            commands::plugins::install(ctx, &files)
        }
        Command::Plugins(PluginsCommand::Grant { names, all }) => {
            commands::plugins::grant(ctx, &names, all)
        }
        Command::Plugins(PluginsCommand::Revoke { names }) => {
            commands::plugins::revoke(ctx, &names)
        }
        Command::Run(args) => {
            use commands::collect::What;
            let params: BTreeMap<String, String> = args.params.into_iter().collect();
            // The parser requires one of --plugin and --job.
            let what = match (&args.job, &args.plugin) {
                (Some(job), _) => What::Job(job),
                (None, plugin) => What::Plugin(plugin.as_deref().unwrap_or_default()),
            };
            commands::collect::collect(ctx, what, params, &args.exec)
        }
        Command::RunAll(args) => {
            use commands::collect::What;
            commands::collect::collect(ctx, What::All, BTreeMap::new(), &args.exec)
        }
        Command::Jobs(JobsCommand::List(f)) => commands::jobs::list(ctx, f.json),
        Command::Accounts(AccountsCommand::List(f)) => commands::accounts::list(ctx, f.json),
        Command::Accounts(AccountsCommand::Rename { old, new }) => {
            commands::accounts::rename(ctx, &old, &new)
        }
        Command::Accounts(AccountsCommand::Merge { from, into }) => {
            commands::accounts::merge(ctx, &from, &into)
        }
        Command::Store(crate::cli::StoreCommand::Migrate(args)) => {
            commands::store::migrate(ctx, &args)
        }
        Command::Records(args) => match &args.action {
            Some(crate::cli::RecordsAction::Prune { plugin, kind, keep, before }) => {
                commands::records::prune(ctx, plugin, kind.as_deref(), *keep, *before)
            }
            None => commands::records::list(ctx, &args),
        },
        Command::Runs(args) => commands::runs::list(ctx, &args),
        Command::Summary(args) => commands::billing::summary(ctx, &args),
        Command::Export(args) => commands::billing::export(ctx, &args),
        Command::Alerts(args) => commands::billing::alerts(ctx, &args),
        Command::Report(ReportCommand::Daily(args)) => commands::billing::report_daily(ctx, &args),
        Command::Report(ReportCommand::Html(args)) => commands::serve::report_html(ctx, &args),
        Command::Serve(args) => commands::serve::serve(ctx, &args),
        Command::Prices(args) => commands::estimates::prices(ctx, &args),
        Command::Reconcile(args) => commands::estimates::reconcile(ctx, &args),
        Command::Blocks(args) => commands::blocks::run(ctx, &args),
        Command::Statusline => commands::statusline::run(ctx),
        Command::Mcp => commands::mcp::serve(ctx),
        Command::Schedule(cmd) => commands::schedule::run(ctx, cmd),
        Command::Doctor(f) => commands::doctor::run(ctx, f.json),
        Command::Home(f) => commands::doctor::paths(ctx, f.json),
        // Answered before the context was loaded.
        Command::Completions { .. } | Command::Man => Ok(crate::error::ExitCode::OK),
        Command::Plugin(crate::cli::PluginCommand::Check(args)) => commands::sdk::check(ctx, &args),
        Command::Plugin(_) => Ok(crate::error::ExitCode::OK),
        Command::Worker => Ok(crate::kernel::worker::main()),
    }
}
