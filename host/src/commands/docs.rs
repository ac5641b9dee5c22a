//! `agent-host completions SHELL` and `agent-host man`: generated from the
//! same clap definition as the parser, so they never drift from it.

use clap::CommandFactory;

use super::write_err;
use crate::cli::Cli;
use crate::error::{ExitCode, Result};

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "agent-host", &mut std::io::stdout().lock());
    Ok(ExitCode::OK)
}

/// Prints the manual page.
pub fn man() -> Result<u8> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout().lock())
        .map_err(write_err)?;
    Ok(ExitCode::OK)
}
