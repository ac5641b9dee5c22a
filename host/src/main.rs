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

/// Help and version print as clap renders them. A usage error prints
/// clap's whole message (what is missing, the valid values, a suggestion),
/// then a hint, and exits 2; `agent-host` alone prints the help and exits 2.
fn clap_exit(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Printing help to a closed pipe is not worth an error.
            let _ = e.print();
            std::process::ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            std::process::ExitCode::from(error::ExitCode::USAGE)
        }
        _ => {
            let text = e.render().to_string();
            // clap closes with its own pointer to --help; ours follows.
            let body: Vec<&str> = text
                .trim_end()
                .lines()
                .filter(|l| !l.starts_with("For more information, try"))
                .collect();
            eprintln!("{}", body.join("\n").trim_end());
            eprintln!("hint: see `agent-host --help`, or `agent-host COMMAND --help`");
            std::process::ExitCode::from(error::ExitCode::USAGE)
        }
    }
}
