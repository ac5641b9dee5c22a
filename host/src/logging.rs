//! Tracing set-up: the console (stderr) and `agent.log` in the home folder,
//! both with timestamps; `AGENT_LOG` overrides the level filter.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

/// The target of a run's outcome, which the console leaves out: the
/// command prints each run's result line (with its error) itself.
pub const OUTCOME: &str = "agent_host::outcome";

/// Starts logging to stderr at `console` level (`error`, `warn` or `info`;
/// `AGENT_LOG` overrides it) and, when `log_file` is given, appending
/// everything from `info` up to it. A log file that cannot be opened (a
/// read-only or full disk) is warned about and skipped: the command itself
/// reports what it cannot do.
pub fn init(log_file: Option<&Path>, console: &str) -> Result<(), String> {
    let console_filter = EnvFilter::try_from_env("AGENT_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{console},{OUTCOME}=off")));
    let console = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .with_target(false)
        .compact()
        .with_filter(console_filter);

    let mut file_problem = None;
    let file = log_file.and_then(|path| {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        // The log names plugins, days and errors: this user's alone.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(path)
            .map_err(|e| {
                file_problem = Some(format!("cannot open log file {}: {e}", path.display()))
            })
            .ok()
    });
    let file_layer = match file {
        Some(file) => {
            let filter =
                EnvFilter::try_from_env("AGENT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
            Some(
                fmt::layer()
                    .with_writer(Mutex::new(file))
                    .with_ansi(false)
                    .with_target(false)
                    .with_filter(filter),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(console)
        .with(file_layer)
        .try_init()
        .map_err(|e| format!("cannot start logging: {e}"))?;
    if let Some(p) = file_problem {
        tracing::warn!("{p}; logging to the console only");
    }
    Ok(())
}

/// Replaces every secret value in `text` with `[redacted]`.
///
/// Values shorter than 8 characters are left alone: replacing them would
/// mangle ordinary text (a setting named `SORT_KEY=model` is no secret
/// anyone could use), and real keys are far longer.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "[redacted]");
        }
    }
    out
}

/// Text from a plugin made safe to print: control characters (terminal
/// escape sequences among them) and invisible format characters (bidi
/// overrides, zero-width spaces) become `?`; tabs stay, and newlines stay
/// only where `multiline` allows them.
pub fn printable(text: &str, multiline: bool) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => c,
            '\n' if multiline => c,
            '\n' | '\r' => ' ',
            c if c.is_control() || is_format(c) => '?',
            c => c,
        })
        .collect()
}

/// Unicode format characters (category Cf) that change how text reads
/// without showing: bidi controls, zero-width characters, the BOM.
pub fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_replaces_every_occurrence() {
        let secrets = vec!["sk-admin-123456".to_string(), "abcdefg".to_string()];
        assert_eq!(
            redact("key sk-admin-123456 and sk-admin-123456 abcdefg", &secrets),
            "key [redacted] and [redacted] abcdefg"
        );
    }

    #[test]
    fn printable_drops_escapes() {
        assert_eq!(printable("a\x1b[31mred\x07\nb\tc", false), "a?[31mred? b\tc");
        assert_eq!(printable("a\nb", true), "a\nb");
    }
}
