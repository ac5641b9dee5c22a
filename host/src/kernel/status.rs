//! The status of a run, one enum for the kernel that sets it, the CLI and
//! the dashboard that show it, and the alerts that watch it. The store
//! keeps it as text: [`RunStatus::as_str`] writes it, [`str::parse`] reads
//! it back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a run stands, as stored in the run ledger and shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished (or interrupted before it could say).
    Running,
    /// Everything the run was asked for was collected.
    Success,
    /// Some of it was collected: the days it lacks are asked for again.
    Partial,
    /// Nothing of it was stored.
    Failed,
    /// Not run, for want of a key: not a failure.
    Skipped,
}

impl RunStatus {
    /// Every status, in the order a run may pass through them.
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Running,
        RunStatus::Success,
        RunStatus::Partial,
        RunStatus::Failed,
        RunStatus::Skipped,
    ];

    /// The lowercase name the store keeps and users see.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Skipped => "skipped",
        }
    }

    /// The status a plugin reported through the ABI, if it is one the host
    /// knows.
    pub fn from_plugin(status: plugin_api::RunStatus) -> Option<RunStatus> {
        match status {
            plugin_api::RunStatus::SUCCESS => Some(RunStatus::Success),
            plugin_api::RunStatus::PARTIAL => Some(RunStatus::Partial),
            plugin_api::RunStatus::FAILED => Some(RunStatus::Failed),
            _ => None,
        }
    }

    /// Whether the run collected everything it was asked for (a run
    /// skipped for want of a key is not a failure).
    pub fn succeeded(self) -> bool {
        matches!(self, RunStatus::Success | RunStatus::Skipped)
    }

    /// Whether the run ended without all it was asked for: failed or partial.
    pub fn fell_short(self) -> bool {
        matches!(self, RunStatus::Failed | RunStatus::Partial)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A stored status the host does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a run status (running, success, partial, failed or skipped)")]
pub struct UnknownStatus(pub String);

impl FromStr for RunStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownStatus(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<RunStatus>(&format!("\"{s}\"")).unwrap(), s);
        }
        assert!("Success".parse::<RunStatus>().is_err());
        for s in [plugin_api::RunStatus::SUCCESS, plugin_api::RunStatus::PARTIAL] {
            assert_eq!(RunStatus::from_plugin(s).map(RunStatus::as_str), s.name());
        }
        assert_eq!(RunStatus::from_plugin(plugin_api::RunStatus(9)), None);
    }
}
