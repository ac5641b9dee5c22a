//! The one user-facing error type of the binary, its exit codes and hints.
//! Each layer has its own typed error ([`ConfigError`],
//! [`KernelError`], [`BillingError`], [`StoreError`]); this module alone
//! decides which exit code and which `hint:` line each variant gets.
//!
//! Exit codes (also in the README and `agent-host --help`):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything asked for succeeded |
//! | 1 | a plugin run failed or was partial (collection incomplete) |
//! | 2 | bad command line: unknown plugin, bad date, bad value |
//! | 3 | bad environment: home folder, `.env`, plugin folder, permissions, settings |
//! | 4 | the database cannot be used (corrupt, foreign, read-only, full) |
//! | 5 | another run is in progress in this home folder |
//! | 6 | a file could not be written or a schedule could not be installed |

use std::fmt;

use crate::billing::error::BillingError;
use crate::billing::prices::PriceError;
use crate::config::ConfigError;
use crate::kernel::error::KernelError;
use crate::store::StoreError;

/// Documented process exit codes.
pub struct ExitCode;

impl ExitCode {
    /// Success.
    pub const OK: u8 = 0;
    /// A plugin run failed or was partial.
    pub const RUN_FAILED: u8 = 1;
    /// Bad command-line input.
    pub const USAGE: u8 = 2;
    /// Bad environment or configuration.
    pub const CONFIG: u8 = 3;
    /// The database cannot be used.
    pub const STORE: u8 = 4;
    /// Another run holds the lock.
    pub const BUSY: u8 = 5;
    /// An output could not be written.
    pub const OUTPUT: u8 = 6;
}

/// Everything that can go wrong for a user, with the exit code it maps to.
#[derive(Debug)]
pub struct HostError {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
}

/// The class of a [`HostError`], which decides its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad command-line input.
    Usage,
    /// Bad environment or configuration.
    Config,
    /// The database cannot be used.
    Store,
    /// Another run is in progress.
    Busy,
    /// An output could not be written.
    Output,
    /// The reader of our output went away (e.g. `| head`): not an error.
    OutputClosed,
}

impl HostError {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        HostError { kind, message: message.into(), hint: None }
    }

    /// Bad command-line input.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// Bad environment or configuration.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// An output could not be written.
    pub fn output(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Output, message)
    }

    /// A failed write to stdout or a file; a closed pipe is told apart, so
    /// `agent-host … | head` ends quietly.
    pub fn write(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Self::new(ErrorKind::OutputClosed, "the output was closed")
        } else {
            Self::output(format!("cannot write output: {e}"))
        }
    }

    /// The class of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Adds a `hint:` line saying how to fix it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The hint, if one is known.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Usage => ExitCode::USAGE,
            ErrorKind::Config => ExitCode::CONFIG,
            ErrorKind::Store => ExitCode::STORE,
            ErrorKind::Busy => ExitCode::BUSY,
            ErrorKind::Output => ExitCode::OUTPUT,
            ErrorKind::OutputClosed => ExitCode::OK,
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, always: a message from deep down must not break the layout.
        f.write_str(&self.message.replace('\n', " "))
    }
}

impl std::error::Error for HostError {}

impl From<PriceError> for HostError {
    fn from(e: PriceError) -> Self {
        // A shape error already says "the price table: …".
        let text = e.to_string();
        let text =
            if text.starts_with("the price table") { text } else { format!("price table: {text}") };
        HostError::config(text)
            .with_hint("`agent-host prices update --from FILE` takes a genai-prices data.json")
    }
}

impl From<StoreError> for HostError {
    fn from(e: StoreError) -> Self {
        let hint = e.hint();
        let err = HostError::new(ErrorKind::Store, e.to_string());
        match hint {
            Some(h) => err.with_hint(h),
            None => err,
        }
    }
}

impl From<ConfigError> for HostError {
    fn from(e: ConfigError) -> Self {
        let hint = match &e {
            ConfigError::NoHome(root) => Some(format!(
                "create it with `mkdir -p {}`, or point --home / AGENT_HOME at an existing folder",
                root.display()
            )),
            ConfigError::NoDataFolder => Some("point --home or AGENT_HOME at a folder".into()),
            ConfigError::CreateHome { .. } => {
                Some("point --home or AGENT_HOME at a folder you can write".into())
            }
            ConfigError::EnvFileSyntax { .. } => Some(
                "each line is NAME=value, taken literally (no $VAR expansion; quotes allowed); \
                 # starts a comment"
                    .into(),
            ),
            ConfigError::NotA { name, what, .. } => {
                Some(format!("set {name} in the environment or .env to {what}"))
            }
            ConfigError::TooLarge { name, max, .. } => Some(format!("set {name} to at most {max}")),
            ConfigError::ReadEnvFile { .. } | ConfigError::OutOfRange { .. } => None,
        };
        with_hint(HostError::config(e.to_string()), hint)
    }
}

impl From<KernelError> for HostError {
    fn from(e: KernelError) -> Self {
        let e = match e {
            KernelError::Config(c) => return c.into(),
            KernelError::Store(s) => return s.into(),
            other => other,
        };
        let kind = match &e {
            KernelError::UnknownPlugin { .. }
            | KernelError::RejectedPlugin { .. }
            | KernelError::UnknownParam { .. } => ErrorKind::Usage,
            KernelError::HomeNotWritable { .. } => ErrorKind::Store,
            KernelError::Busy => ErrorKind::Busy,
            _ => ErrorKind::Config,
        };
        let hint = match &e {
            KernelError::UnknownPlugin { installed, .. } if installed.is_empty() => {
                Some("no plugin is installed; run `agent-host plugins list` to see why".into())
            }
            KernelError::UnknownPlugin { installed, .. } => {
                Some(format!("installed plugins: {}", installed.join(", ")))
            }
            KernelError::UnknownParam { known, .. } if known.is_empty() => {
                Some("it takes no parameters".into())
            }
            KernelError::UnknownParam { known, .. } => {
                Some(format!("it accepts: {}", known.join(", ")))
            }
            KernelError::PluginsFolder { .. } => Some(
                "build and install the plugins with `scripts/install.sh`, or point --plugins-dir / \
                 AGENT_PLUGINS_DIR at the folder that holds them"
                    .into(),
            ),
            KernelError::UnsafeFolder { fix, .. } => fix.clone(),
            KernelError::Grants(_) => {
                Some("fix or remove the file, then grant the plugins again".into())
            }
            KernelError::HomeNotWritable { .. } => Some(
                "make the home folder writable, or free disk space; nothing was changed".into(),
            ),
            KernelError::Busy => {
                Some("wait for it to finish; the lock is released when it exits".into())
            }
            _ => None,
        };
        with_hint(HostError::new(kind, e.to_string()), hint)
    }
}

impl From<BillingError> for HostError {
    fn from(e: BillingError) -> Self {
        let e = match e {
            BillingError::Config(c) => return c.into(),
            BillingError::Prices(p) => return p.into(),
            BillingError::Store(s) => return s.into(),
            BillingError::Write(io) => return HostError::write(io),
            other => other,
        };
        let hint = match &e {
            BillingError::Budget(_) => {
                Some("set it to the monthly budget in dollars, e.g. MONTHLY_BUDGET_USD=50".into())
            }
            BillingError::Thresholds(_) => Some("e.g. ALERT_BUDGET_THRESHOLDS=50,80,100".into()),
            BillingError::EmailWithoutServer => Some(
                "set ALERT_SMTP_URL=smtp://user:password@host:587 in .env, or unset the others"
                    .into(),
            ),
            BillingError::SmtpUrl(_) => Some(
                "e.g. ALERT_SMTP_URL=smtp://user:password@smtp.example.com:587 (STARTTLS) or \
                 smtps://…:465"
                    .into(),
            ),
            BillingError::MissingEmailSetting(name) => {
                Some(format!("set {name} in .env (e.g. {name}=alerts@example.com)"))
            }
            BillingError::NotAnAddress { name, .. } => {
                Some(format!("e.g. {name}=\"Billing <billing@example.com>\""))
            }
            BillingError::NoRecipient => Some(
                "a comma-separated list, e.g. ALERT_EMAIL_TO=a@example.com,b@example.com".into(),
            ),
            BillingError::WebhookUrl(var) => {
                Some(format!("set {var} to the webhook URL the service gave you, or unset it"))
            }
            _ => None,
        };
        with_hint(HostError::config(e.to_string()), hint)
    }
}

impl From<crate::billing::dashboard::QueryError> for HostError {
    fn from(e: crate::billing::dashboard::QueryError) -> Self {
        use crate::billing::dashboard::QueryError;
        match e {
            QueryError::Store(s) => s.into(),
            // Everything else is a value the user gave.
            e => HostError::usage(e.to_string()),
        }
    }
}

fn with_hint(err: HostError, hint: Option<String>) -> HostError {
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// A `Result` whose error is a [`HostError`].
pub type Result<T, E = HostError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn io(kind: std::io::ErrorKind) -> std::io::Error {
        std::io::Error::new(kind, "denied")
    }

    #[test]
    fn each_layer_maps_to_its_documented_exit_code_and_hint() {
        let busy = HostError::from(KernelError::Busy);
        assert_eq!(busy.exit_code(), ExitCode::BUSY);
        assert_eq!(busy.to_string(), "another run is in progress in this home folder");
        assert!(busy.hint().is_some_and(|h| h.contains("lock is released")));

        let unknown =
            HostError::from(KernelError::UnknownPlugin { name: "x".into(), installed: vec![] });
        assert_eq!(unknown.exit_code(), ExitCode::USAGE);
        assert!(unknown.hint().is_some_and(|h| h.starts_with("no plugin is installed")));
        let unknown = HostError::from(KernelError::UnknownPlugin {
            name: "x".into(),
            installed: vec!["a".into(), "b".into()],
        });
        assert_eq!(unknown.hint(), Some("installed plugins: a, b"));

        let home = HostError::from(KernelError::HomeNotWritable {
            path: PathBuf::from("/h/.lock"),
            source: io(std::io::ErrorKind::PermissionDenied),
        });
        assert_eq!(home.exit_code(), ExitCode::STORE);
        assert_eq!(home.to_string(), "cannot write in the home folder (/h/.lock): denied");

        let not_run = HostError::from(KernelError::CannotRun { job: "j".into(), why: "no".into() });
        assert_eq!((not_run.exit_code(), not_run.to_string().as_str()), (3, "j cannot run: no"));

        let setting = HostError::from(KernelError::Config(ConfigError::TooLarge {
            name: "N".into(),
            value: 9,
            max: 5,
            what: "a number".into(),
        }));
        assert_eq!(setting.exit_code(), ExitCode::CONFIG);
        assert_eq!(setting.to_string(), "N=9 is more than 5 (a number)");
        assert_eq!(setting.hint(), Some("set N to at most 5"));

        let closed = HostError::from(BillingError::Write(io(std::io::ErrorKind::BrokenPipe)));
        assert_eq!(closed.kind(), ErrorKind::OutputClosed);
        let full = HostError::from(BillingError::Write(io(std::io::ErrorKind::StorageFull)));
        assert_eq!(full.exit_code(), ExitCode::OUTPUT);

        let query = HostError::from(crate::billing::dashboard::QueryError::By("x".into()));
        assert_eq!(query.exit_code(), ExitCode::USAGE);
        let query = HostError::from(crate::billing::dashboard::QueryError::Store(
            StoreError::Invalid("unreadable".into()),
        ));
        assert_eq!(query.exit_code(), ExitCode::STORE);

        let home = HostError::from(ConfigError::NoHome(PathBuf::from("/nowhere")));
        assert_eq!(home.exit_code(), ExitCode::CONFIG);
        assert_eq!(home.to_string(), "home folder /nowhere does not exist");
        assert!(home.hint().is_some_and(|h| h.starts_with("create it with `mkdir -p /nowhere`")));

        let hook = HostError::from(BillingError::WebhookUrl("SLACK_WEBHOOK_URL"));
        assert_eq!(hook.exit_code(), ExitCode::CONFIG);
        assert_eq!(hook.to_string(), "SLACK_WEBHOOK_URL is not an http(s) URL");
        assert!(hook.hint().is_some_and(|h| h.starts_with("set SLACK_WEBHOOK_URL")));
    }
}
