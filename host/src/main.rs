//! `agent-host`: parse the command line, run it, map the outcome to an exit
//! code. Errors print as one line, plus a `hint:` line where a fix is known.

use agent_host::{app, cli, error, kernel};
use clap::Parser;

fn main() -> std::process::ExitCode {
    // Nothing of the same user may read the host's memory (its secrets).
    kernel::sandbox::harden_host();
    // The worker skips clap and logging set-up: it is on every run's path.
    if std::env::args_os().nth(1).is_some_and(|a| a == "__worker") {
        return std::process::ExitCode::from(kernel::worker::main());
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e),
    };
    match app::run(cli) {
        Ok(code) => std::process::ExitCode::from(code),
        // Output piped into `head` and closed early is not an error.
        Err(e) if e.kind() == error::ErrorKind::OutputClosed => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

/// Help and version print as clap renders them; usage errors as one line.
fn clap_exit(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Printing help to a closed pipe is not worth an error.
            let _ = e.print();
            std::process::ExitCode::SUCCESS
        }
        _ => {
            let text = e.to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first}");
            eprintln!("hint: see `agent-host --help`");
            std::process::ExitCode::from(error::ExitCode::USAGE)
        }
    }
}
