//! A job: one plugin run under a name of its own, with its own settings,
//! secrets, account label, parameters and timeout. Runs, coverage, state and
//! stored rows are kept under the job's name, so two jobs of one plugin
//! (two organizations) never mix. Without `agent-host.toml` every plugin is
//! one job, named after it. A job's identity (a fingerprint of the key it
//! authenticates with) tells when two names stand for one organization.

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
    /// Who the job collects for, as far as the host can tell without asking
    /// the provider (the admin APIs do not reliably name the organization): a
    /// fingerprint of the secret its plugin authenticates with, the first of
    /// `requires_one_of` that is set (or every declared secret that is set),
    /// as `key-sha256:` and the first 16 hex digits of its SHA-256. Never the
    /// secret itself. `None` for a plugin that uses no secret.
    pub fn identity(&self) -> Option<String> {
        use sha2::{Digest, Sha256};
        let m = &self.plugin.manifest;
        let values: Vec<&str> = match m.requires_one_of.iter().find_map(|k| self.settings.get(k)) {
            Some(v) => vec![v],
            None => m.secrets.iter().filter_map(|k| self.settings.get(k)).collect(),
        };
        if values.is_empty() {
            return None;
        }
        let mut hash = Sha256::new();
        for v in values {
            hash.update(v.as_bytes());
            // Separated, so two secrets never read as one.
            hash.update([0]);
        }
        let hex: String = hash.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
        Some(format!("key-sha256:{hex}"))
    }

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
