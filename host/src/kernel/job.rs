//! A job: one plugin run under a name of its own, with its own settings,
//! secrets, account label, parameters and timeout. Runs, coverage, state and
//! stored rows are kept under the job's name, so two jobs of one plugin
//! (two organizations) never mix. Without `agent-host.toml` every plugin is
//! one job, named after it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::loader::Plugin;
use crate::config::Settings;

/// One job.
#[derive(Clone)]
pub struct Job {
    /// The name its runs and data are kept under.
    pub name: String,
    /// The plugin it runs.
    pub plugin: Plugin,
    /// Settings and secrets as the plugin sees them.
    pub settings: Settings,
    /// The account label its records carry, when the job sets one.
    pub account: Option<String>,
    /// Parameters (`--param` values are laid over them).
    pub params: BTreeMap<String, String>,
    /// Its own run timeout, when set.
    pub timeout: Option<Duration>,
    /// `run-all` skips a disabled job (`run --job` still runs it).
    pub enabled: bool,
}

impl Job {
    /// The plugin as a job of its own name, with the host's settings.
    pub fn of(plugin: &Plugin, settings: &Settings) -> Job {
        Job {
            name: plugin.manifest.name.clone(),
            plugin: plugin.clone(),
            settings: settings.clone(),
            account: None,
            params: BTreeMap::new(),
            timeout: None,
            enabled: true,
        }
    }
}
