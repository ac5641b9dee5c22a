//! What a billed view breaks spend down by: one [`By`] for `summary --by`,
//! the dashboard's `?by=`, the MCP `summary` tool and the summary's JSON and
//! table, mapped here (and only here) to the store's grouping.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::billing::storage::Breakdown;

/// What spend is broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// Provider only.
    Provider,
    /// Model (or line item, where costs carry no model).
    Model,
    /// Project or workspace.
    Project,
    /// Account (one organization or key of a provider; see agent-host.toml).
    Account,
    /// The agent's session (local logs only: estimated), one row per session.
    Session,
    /// The machine (`AGENT_MACHINE`) that read the calls and ran the runs,
    /// one row per machine: a team's shared store.
    Machine,
}

impl By {
    /// Every choice, in the order help lists them.
    pub const ALL: [By; 6] =
        [By::Provider, By::Model, By::Project, By::Account, By::Session, By::Machine];

    /// Its name on the command line, in URLs and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            By::Provider => "provider",
            By::Model => "model",
            By::Project => "project",
            By::Account => "account",
            By::Session => "session",
            By::Machine => "machine",
        }
    }

    /// What it means, for `--help`.
    pub fn help(self) -> &'static str {
        match self {
            By::Provider => "Provider only",
            By::Model => "Model (or line item, where costs carry no model)",
            By::Project => "Project or workspace",
            By::Account => "Account (one organization or key of a provider; see agent-host.toml)",
            By::Session => "The agent's session (local logs only: estimated), one row per session",
            By::Machine => {
                "The machine that read the calls and ran the runs (AGENT_MACHINE), one row per machine"
            }
        }
    }

    /// The store's grouping for a breakdown table: none for provider (the
    /// totals are by provider already) and for session (read from calls).
    pub fn grouping(self) -> Option<Breakdown> {
        match self {
            By::Provider | By::Session | By::Machine => None,
            By::Model => Some(Breakdown::Model),
            By::Project => Some(Breakdown::Project),
            By::Account => Some(Breakdown::Account),
        }
    }

    /// The choice that groups as `b`.
    pub fn of(b: Breakdown) -> By {
        match b {
            Breakdown::Model => By::Model,
            Breakdown::Project => By::Project,
            Breakdown::Account => By::Account,
        }
    }

    /// The heading of its column in a breakdown table.
    pub fn title(self) -> &'static str {
        match self {
            By::Model => "Model (or line item)",
            By::Account => "Account",
            By::Project => "Project",
            By::Provider => "Provider",
            By::Session => "Session",
            By::Machine => "Machine",
        }
    }
}

impl fmt::Display for By {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A name that is no breakdown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not provider, model, project, account or session")]
pub struct UnknownBy(pub String);

impl FromStr for By {
    type Err = UnknownBy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        By::ALL.into_iter().find(|b| b.as_str() == s).ok_or_else(|| UnknownBy(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_map_onto_the_store() {
        for by in By::ALL {
            assert_eq!(by.as_str().parse::<By>(), Ok(by));
            assert_eq!(serde_json::to_string(&by).unwrap(), format!("\"{by}\""));
            if let Some(g) = by.grouping() {
                assert_eq!((By::of(g), g.dim()), (by, by.as_str()));
            }
        }
        assert_eq!("Model".parse::<By>(), Err(UnknownBy("Model".into())));
    }
}
