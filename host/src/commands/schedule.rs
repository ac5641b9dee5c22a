//! `agent-host schedule install|status|remove`.

use std::io::Write;

use super::write_err;
use crate::cli::ScheduleCommand;
use crate::context::Context;
use crate::error::{ExitCode, HostError, Result};

/// Installs, shows or removes the nightly job.
pub fn run(ctx: &Context, cmd: ScheduleCommand) -> Result<u8> {
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
                None => writeln!(out, "not installed ({backend})"),
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
