//! The one user-facing error type of the binary, its exit codes and hints.
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

impl From<crate::billing::prices::PriceError> for HostError {
    fn from(e: crate::billing::prices::PriceError) -> Self {
        // A shape error already says "the price table: …".
        let text = e.to_string();
        let text =
            if text.starts_with("the price table") { text } else { format!("price table: {text}") };
        HostError::config(text)
            .with_hint("`agent-host prices update --from FILE` takes a genai-prices data.json")
    }
}

impl From<crate::store::StoreError> for HostError {
    fn from(e: crate::store::StoreError) -> Self {
        let hint = e.hint();
        let err = HostError::new(ErrorKind::Store, e.to_string());
        match hint {
            Some(h) => err.with_hint(h),
            None => err,
        }
    }
}

/// A `Result` whose error is a [`HostError`].
pub type Result<T, E = HostError> = std::result::Result<T, E>;
