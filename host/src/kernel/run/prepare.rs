//! Preparing a run: the job's parameters and settings checked, its
//! windows of days planned, its read paths resolved, and its start recorded
//! in the store. Nothing here runs plugin code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use plugin_api::RunRequest;

use super::{RunOptions, MAX_WINDOW_DAYS, MISSING_DAY_ATTEMPTS};
use crate::config::Settings;
use crate::kernel::destination::Destinations;
use crate::kernel::error::{KernelError, Result};
use crate::kernel::grants::check_read_path;
use crate::kernel::job::Job;
use crate::kernel::ledger::Ledger;
use crate::kernel::loader::Plugin;
use crate::kernel::plan::plan;
use crate::kernel::protocol::{ProtocolInfo, RunJob, SandboxSpec};

/// Why `plugin` cannot run with these settings: none of the secrets it needs
/// one of is set.
pub fn missing_secret(plugin: &Plugin, settings: &Settings) -> Option<String> {
    let needed = &plugin.manifest.requires_one_of;
    if needed.is_empty() || needed.iter().any(|k| settings.get(k).is_some()) {
        return None;
    }
    let mut why = format!(
        "no key configured: set {} in {} or the environment",
        needed[0],
        settings.env_file().display()
    );
    if let Some(setup) = &plugin.manifest.setup {
        why.push_str(&format!(" ({setup})"));
    }
    if needed.len() > 1 {
        why.push_str(&format!(
            "; {} also works, with the limits the plugin warns about",
            needed[1..].join(" or ")
        ));
    }
    Some(why)
}

/// A run that has been planned and recorded as started.
pub(super) struct Prepared {
    /// Shared by the job's runs (one per window, and chained ones).
    pub(super) spec: Arc<Job>,
    pub(super) job: RunJob,
    pub(super) destinations: Destinations,
    pub(super) secret_values: Vec<String>,
    pub(super) window: Option<(NaiveDate, NaiveDate)>,
    pub(super) started: Instant,
}

/// Checks `--param` values against the manifest and fills in defaults.
pub fn resolve_params(
    plugin: &Plugin,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let specs = &plugin.manifest.params;
    for name in given.keys() {
        if !specs.iter().any(|s| &s.name == name) {
            return Err(KernelError::UnknownParam {
                plugin: plugin.manifest.name.clone(),
                param: name.clone(),
                known: specs.iter().map(|s| s.name.clone()).collect(),
            });
        }
    }
    let mut out = BTreeMap::new();
    for spec in specs {
        if let Some(v) = given.get(&spec.name).or(spec.default.as_ref()) {
            out.insert(spec.name.clone(), v.clone());
        }
    }
    Ok(out)
}

/// The job's parameters with `given` (`--param`) laid over them, checked
/// against the manifest.
pub(super) fn job_params(
    spec: &Job,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut all = spec.params.clone();
    all.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    resolve_params(&spec.plugin, &all)
}

/// The windows of days to run: the plan for daily plugins without
/// `--from`/`--to` (each hole in the job's ledger, whatever left it, then
/// the recent days), the range asked for otherwise; one window without days
/// for other plugins.
pub(super) fn windows<L: Ledger>(
    store: &L,
    spec: &Job,
    opts: &RunOptions,
) -> Result<Vec<Option<(NaiveDate, NaiveDate)>>> {
    let m = &spec.plugin.manifest;
    let name = &spec.name;
    if !m.daily {
        if opts.from.is_some() || opts.to.is_some() {
            tracing::warn!(plugin = %name, "does not collect days; --from/--to ignored");
        }
        return Ok(vec![None]);
    }
    let windows = match (opts.from, opts.to) {
        (None, None) => {
            let complete = store.complete_days(name)?;
            let missing = store.missing_days(name, MISSING_DAY_ATTEMPTS, opts.today)?;
            let p = plan(opts.today, &complete, &missing, opts.trailing_days);
            if let Some((a, b)) = p.skipped {
                tracing::info!(
                    plugin = %name,
                    "{a}..{b} already complete; skipped (outside the {}-day re-pull window)",
                    opts.trailing_days
                );
            }
            for (a, b) in &p.holes {
                tracing::info!(plugin = %name, "{a}..{b} missing (asked for before, never completed)");
            }
            p.windows()
        }
        (from, to) => {
            let yesterday = opts.today.pred_opt().unwrap_or(opts.today);
            let to = to.unwrap_or(yesterday);
            vec![(from.unwrap_or(to), to)]
        }
    };
    Ok(windows.into_iter().flat_map(split_window).map(Some).collect())
}

/// A window cut into consecutive windows of at most [`MAX_WINDOW_DAYS`].
pub(super) fn split_window((from, to): (NaiveDate, NaiveDate)) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + chrono::Days::new(MAX_WINDOW_DAYS - 1)).min(to);
        out.push((start, end));
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    out
}

/// Plans a plugin's runs (one per window) and records their start.
pub(super) fn prepare_all<L: Ledger>(
    store: &mut L,
    spec: &Arc<Job>,
    opts: &RunOptions,
    params: &BTreeMap<String, String>,
) -> Result<Vec<Prepared>> {
    // Read once: no run of these has stored anything yet.
    let state = store.plugin_state(&spec.name)?;
    windows(store, spec, opts)?
        .into_iter()
        .map(|w| prepare(store, spec, opts, params.clone(), w, state.clone()))
        .collect()
}

/// Records the start of one run over `window`, handing the plugin `state`
/// (what its last stored run kept).
pub(super) fn prepare<L: Ledger>(
    store: &mut L,
    spec: &Arc<Job>,
    opts: &RunOptions,
    params: BTreeMap<String, String>,
    window: Option<(NaiveDate, NaiveDate)>,
    state: Option<String>,
) -> Result<Prepared> {
    let (plugin, settings, name) = (&spec.plugin, &spec.settings, &spec.name);
    let m = &plugin.manifest;
    // The scan sets ungranted plugins aside; a job built some other way
    // is refused here all the same.
    let Some(grant) = plugin.standing.grant() else {
        let why = plugin.standing.refusal(&m.name).unwrap_or_default();
        return Err(KernelError::JobNotGranted { job: spec.name.clone(), why });
    };
    let mut settings_given = BTreeMap::new();
    for name in &m.settings {
        if settings.is_secret(name, &opts.secret_names) {
            tracing::warn!(
                plugin = %spec.name,
                "setting {name} names a secret; it is never handed over as a plain setting"
            );
        } else if let Some(v) = settings.for_plugin(name, &grant.env) {
            settings_given.insert(name.clone(), v.to_string());
        }
    }
    let secrets: BTreeMap<String, String> = m
        .secrets
        .iter()
        .filter_map(|k| settings.get(k).map(|v| (k.clone(), v.to_string())))
        .collect();
    // The operator's URL settings (base URLs) are reachable wherever they
    // point; the manifest's hosts only at public addresses.
    let destinations = Destinations::new(&m.hosts, settings_given.values().map(String::as_str));
    let read_paths = resolve_read_paths(plugin, &settings_given, &opts.protected)?;
    let request = RunRequest {
        from: window.map(|w| w.0.to_string()),
        to: window.map(|w| w.1.to_string()),
        params,
        settings: settings_given,
        today: Some(opts.today.to_string()),
        read_paths: read_paths
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|p| p.display().to_string()).collect()))
            .collect(),
        state,
        account: spec.account.clone(),
        ..Default::default()
    };
    let run_id = opts.begin(store, name, window, &plugin.sha256)?;
    match window {
        Some((f, t)) => tracing::info!(plugin = %name, run_id = %run_id, "collecting {f}..{t}"),
        None => tracing::info!(plugin = %name, run_id = %run_id, "running"),
    }
    let job = RunJob {
        plugin: m.name.clone(),
        run_id,
        request_json: serde_json::to_string(&request).unwrap_or_default(),
        secrets,
        declared: m.secrets.clone(),
        sandbox: SandboxSpec {
            host_pid: std::process::id(),
            read_paths: read_paths.values().flatten().map(|p| p.display().to_string()).collect(),
            memory_bytes: opts.memory_bytes,
            cgroup: None,
            cpu_secs: opts.timeout_for(spec).as_secs() + 5,
        },
        protocol: ProtocolInfo::default(),
    };
    Ok(Prepared {
        spec: Arc::clone(spec),
        job,
        destinations,
        secret_values: settings.secret_values(&opts.secret_names),
        window,
        started: Instant::now(),
    })
}

/// What each declared read path grants with the plugin's settings.
/// None may reach the home, the plugins folder, a system folder or `/`.
pub(super) fn resolve_read_paths(
    plugin: &Plugin,
    settings: &BTreeMap<String, String>,
    protected: &[PathBuf],
) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let refuse = |source| KernelError::ReadPath { job: plugin.manifest.name.clone(), source };
    plugin
        .read_paths
        .iter()
        .map(|p| {
            let paths = p.resolve(|name| settings.get(name).cloned()).map_err(refuse)?;
            for path in &paths {
                check_read_path(path, protected).map_err(refuse)?;
            }
            Ok((p.declared().to_string(), paths))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn long_ranges_are_cut_into_bounded_windows() {
        let w = split_window((d("2016-01-01"), d("2025-12-31")));
        assert_eq!(w.len(), 40);
        assert_eq!(w[0], (d("2016-01-01"), d("2016-04-01")));
        assert!(w.windows(2).all(|p| p[0].1.succ_opt() == Some(p[1].0)));
        assert_eq!(w[39].1, d("2025-12-31"));
        assert!(w.iter().all(|(a, b)| (*b - *a).num_days() < MAX_WINDOW_DAYS as i64));
        assert_eq!(split_window((d("2025-08-01"), d("2025-08-01"))).len(), 1);
    }
}
