//! One function per subcommand. Each receives the resolved
//! [`crate::context::Context`] and returns the process exit code; output goes to
//! stdout on purpose, logs to tracing.

pub mod accounts;
pub mod billing;
pub mod blocks;
pub mod collect;
pub mod docs;
pub mod doctor;
pub mod estimates;
pub mod hooks;
pub mod jobs;
pub mod mcp;
pub mod mcp_tools;
pub mod plugins;
pub mod records;
pub mod runs;
pub mod schedule;
pub mod sdk;
pub mod serve;
pub mod statusline;
pub mod store;
pub mod views;

use crate::error::HostError;

/// An error writing to stdout or a file.
pub(crate) fn write_err(e: std::io::Error) -> HostError {
    HostError::write(e)
}
