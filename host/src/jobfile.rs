//! `agent-host.toml`: the jobs an operator declares (a plugin under a name,
//! with an account label, the variables that hold its secrets, its settings,
//! parameters, timeout and whether `run-all` runs it). Everything is checked
//! before anything runs; an error names the file, the line and the key. Two
//! jobs of one organization (one key) are refused: its days would count twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::Settings;
use crate::context::Context;
use crate::error::{HostError, Result};
use crate::kernel::job::Job;
use crate::kernel::loader::{Catalog, Plugin};
use crate::kernel::run::MAX_RUN_TIMEOUT_SECS;
use crate::trigger::{Key, Style, Trigger};

/// The file's name in the home folder.
pub const FILE: &str = "agent-host.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsToml {
    #[serde(default)]
    job: Vec<Spanned<Entry>>,
    #[serde(default)]
    trigger: Vec<Spanned<TriggerEntry>>,
    /// Read by [`store_url`], before any job.
    #[serde(default)]
    #[expect(dead_code, reason = "read by store_url; accepted here so the file validates")]
    store: Option<StoreEntry>,
}

/// `[store]`: where this home's history lives (see [`store_url`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreEntry {
    url: String,
}

/// The `[store] url` of the home's `agent-host.toml`, if it sets one. A
/// parse error names the file but never quotes it (the URL may hold a
/// password).
pub fn store_url(home: &std::path::Path) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct OnlyStore {
        #[serde(default)]
        store: Option<StoreEntry>,
    }
    let path = home.join(FILE);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let parsed: OnlyStore = toml::from_str(&text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let line = text[..at].matches('\n').count() + 1;
        let what = hide_values(&e.message().replace('\n', " "));
        HostError::config(format!("{}:{line}: {what}", path.display()))
            .with_hint("see `agent-host jobs list` and the README's \"Jobs\" section")
    })?;
    Ok(parsed.store.map(|s| s.url).filter(|u| !u.trim().is_empty()))
}

/// A `[[trigger]]`: a signed webhook that starts jobs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerEntry {
    name: Spanned<String>,
    #[serde(default)]
    jobs: Option<Spanned<Vec<Spanned<String>>>>,
    secret: Spanned<String>,
    #[serde(default)]
    style: Option<Spanned<String>>,
}

/// The shortest HMAC key a trigger accepts, in bytes.
const MIN_KEY_BYTES: usize = 16;

type Table = BTreeMap<Spanned<String>, Spanned<String>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Spanned<String>,
    plugin: Spanned<String>,
    #[serde(default)]
    account: Option<Spanned<String>>,
    #[serde(default)]
    secrets: Table,
    #[serde(default)]
    settings: Table,
    #[serde(default)]
    params: Table,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    timeout: Option<Spanned<u64>>,
}

/// A mistake in the file, at a byte offset.
struct Mistake {
    at: usize,
    what: String,
}

fn at<T>(s: &Spanned<T>, what: impl Into<String>) -> Mistake {
    Mistake { at: s.span().start, what: what.into() }
}

/// The jobs of a home, read once per command.
pub struct Jobs {
    /// The file, when there is one.
    pub file: Option<PathBuf>,
    /// The file's jobs, or one per loaded plugin without it.
    pub jobs: Vec<Job>,
    /// The variables the file names as holding secrets: secrets too, never
    /// handed over as settings and always redacted.
    pub secret_variables: Vec<String>,
    /// The file's signed webhook triggers.
    pub triggers: Vec<Trigger>,
}

/// Reads and checks `agent-host.toml` (or, without it, makes one job per
/// loaded plugin).
pub fn load(ctx: &Context, catalog: &Catalog) -> Result<Jobs> {
    let path = ctx.home.path().join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let jobs = catalog.plugins.iter().map(|p| Job::of(p, &ctx.settings)).collect();
            return Ok(Jobs {
                file: None,
                jobs,
                secret_variables: Vec::new(),
                triggers: Vec::new(),
            });
        }
        Err(e) => return Err(HostError::config(format!("cannot read {}: {e}", path.display()))),
    };
    let (jobs, secret_variables, triggers) = parse(&text, catalog, &ctx.settings).map_err(|m| {
        let line = text[..m.at.min(text.len())].matches('\n').count() + 1;
        HostError::config(format!("{}:{line}: {}", path.display(), m.what))
            .with_hint("see `agent-host jobs list` and the README's \"Jobs\" section")
    })?;
    Ok(Jobs { file: Some(path), jobs, secret_variables, triggers })
}

/// The file's jobs, the variables it names as holding secrets, and its
/// triggers.
type Parsed = (Vec<Job>, Vec<String>, Vec<Trigger>);

/// Reads the file's text into [`Parsed`].
fn parse(text: &str, catalog: &Catalog, settings: &Settings) -> Result<Parsed, Mistake> {
    let file: JobsToml = toml::from_str(text).map_err(|e| Mistake {
        at: e.span().map_or(0, |s| s.start),
        what: hide_values(&e.message().replace('\n', " ")),
    })?;
    let secret_variables = file
        .job
        .iter()
        .flat_map(|j| j.get_ref().secrets.values().map(|v| v.get_ref().clone()))
        .chain(file.trigger.iter().map(|t| t.get_ref().secret.get_ref().clone()))
        .collect();
    let mut jobs = Vec::new();
    let mut names = BTreeSet::new();
    let mut accounts = BTreeSet::new();
    // Per identity (the key's fingerprint): the job and the providers it claims.
    let mut identities: Vec<(String, String, Vec<String>)> = Vec::new();
    let file_plugins: Vec<String> =
        file.job.iter().map(|j| j.get_ref().plugin.get_ref().clone()).collect();
    for entry in file.job {
        let e = entry.into_inner();
        let job = job(&e, catalog, settings)?;
        if !names.insert(job.name.clone()) {
            return Err(at(&e.name, format!("job {:?} is declared twice", job.name)));
        }
        let shared = file_plugins.iter().filter(|p| **p == job.plugin.manifest.name).count() > 1;
        if shared && job.account.is_none() {
            return Err(at(
                &e.name,
                format!(
                    "job {:?}: {} runs in more than one job, so each needs its own account",
                    job.name, job.plugin.manifest.name
                ),
            ));
        }
        let account = job.account.clone().unwrap_or_else(|| "default".into());
        if !accounts.insert((job.plugin.manifest.name.clone(), account.clone())) {
            return Err(at(
                &e.name,
                format!(
                    "job {:?}: another job runs {} for account {account:?}; their rows would \
                     replace each other (give each its own account)",
                    job.name, job.plugin.manifest.name
                ),
            ));
        }
        // One organization under two jobs would have its days counted twice.
        if let Some(id) = job.identity() {
            let providers = &job.plugin.manifest.providers;
            let same = identities
                .iter()
                .find(|(i, _, p)| *i == id && p.iter().any(|x| providers.contains(x)));
            if let Some((_, other, _)) = same {
                return Err(at(
                    &e.name,
                    format!(
                        "job {:?}: uses the same key as job {other:?}, so both collect one \
                         organization and its days would be counted twice (give each job its \
                         own organization's key)",
                        job.name
                    ),
                ));
            }
            identities.push((id, job.name.clone(), providers.clone()));
        }
        jobs.push(job);
    }
    let triggers = triggers(&file.trigger, &jobs, settings)?;
    Ok((jobs, secret_variables, triggers))
}

/// The file's triggers, each naming jobs of the file and a set key.
fn triggers(
    entries: &[Spanned<TriggerEntry>],
    jobs: &[Job],
    settings: &Settings,
) -> Result<Vec<Trigger>, Mistake> {
    let mut out: Vec<Trigger> = Vec::new();
    for entry in entries {
        let e = entry.get_ref();
        let name = e.name.get_ref();
        if !valid_name(name, 64, &['_', '-']) {
            return Err(at(
                &e.name,
                format!("trigger {name:?}: letters, digits, '_' and '-' only"),
            ));
        }
        if out.iter().any(|t| &t.name == name) {
            return Err(at(&e.name, format!("trigger {name:?} is declared twice")));
        }
        let names = match &e.jobs {
            None if !jobs.iter().any(|j| j.enabled) => {
                return Err(at(
                    &e.name,
                    format!("trigger {name:?}: the file has no enabled job to run"),
                ))
            }
            None => jobs.iter().filter(|j| j.enabled).map(|j| j.name.clone()).collect(),
            Some(list) if list.get_ref().is_empty() => {
                return Err(at(
                    list,
                    format!("trigger {name:?}: jobs is empty (omit it for every enabled job)"),
                ))
            }
            Some(list) => {
                let mut names = Vec::new();
                for j in list.get_ref() {
                    if !jobs.iter().any(|job| &job.name == j.get_ref()) {
                        let known: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
                        return Err(at(
                            j,
                            format!(
                                "trigger {name:?}: no job named {:?} (jobs: {})",
                                j.get_ref(),
                                known.join(", ")
                            ),
                        ));
                    }
                    names.push(j.get_ref().clone());
                }
                names
            }
        };
        let var = e.secret.get_ref();
        if !is_variable_name(var) {
            // Most likely the key itself pasted here: never repeat it.
            return Err(at(
                &e.secret,
                format!(
                    "trigger {name:?}: secret must name a variable (put the key itself in .env)"
                ),
            ));
        }
        let key = match settings.get(var) {
            None => {
                return Err(at(
                    &e.secret,
                    format!(
                        "trigger {name:?}: secret names {var:?}, which is not set in the environment or .env"
                    ),
                ))
            }
            Some(k) if k.len() < MIN_KEY_BYTES => {
                return Err(at(
                    &e.secret,
                    format!(
                        "trigger {name:?}: the key in {var:?} is shorter than {MIN_KEY_BYTES} bytes"
                    ),
                ))
            }
            Some(k) => Key::new(k),
        };
        let style = match e.style.as_ref().map(|s| (s, s.get_ref().as_str())) {
            None | Some((_, "agent")) => Style::Agent,
            Some((_, "github")) => Style::Github,
            Some((s, other)) => {
                return Err(at(
                    s,
                    format!("trigger {name:?}: style {other:?} is not \"agent\" or \"github\""),
                ))
            }
        };
        out.push(Trigger { name: name.clone(), jobs: names, secret: var.clone(), key, style });
    }
    Ok(out)
}

/// Whether `s` can be an account label.
pub fn valid_account(s: &str) -> bool {
    valid_name(s, 64, &['_', '-', '.'])
}

fn valid_name(s: &str, max: usize, extra: &[char]) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

fn job(e: &Entry, catalog: &Catalog, settings: &Settings) -> Result<Job, Mistake> {
    let name = e.name.get_ref();
    if !valid_name(name, 64, &['_', '-']) {
        return Err(at(&e.name, format!("name {name:?}: letters, digits, '_' and '-' only")));
    }
    let plugin = plugin(e, catalog)?;
    if name != &plugin.manifest.name && catalog.plugins.iter().any(|p| &p.manifest.name == name) {
        return Err(at(&e.name, format!("name {name:?} is another plugin's name")));
    }
    if let Some(a) = &e.account {
        if !valid_account(a.get_ref()) {
            return Err(at(
                a,
                format!(
                    "job {name:?}: account {:?}: letters, digits, '_', '-' and '.' only",
                    a.get_ref()
                ),
            ));
        }
    }
    let timeout = match &e.timeout {
        Some(t) if *t.get_ref() == 0 || *t.get_ref() > MAX_RUN_TIMEOUT_SECS => {
            return Err(at(
                t,
                format!("job {name:?}: timeout must be 1 to {MAX_RUN_TIMEOUT_SECS} seconds"),
            ))
        }
        t => t.as_ref().map(|t| Duration::from_secs(*t.get_ref())),
    };
    Ok(Job {
        name: name.clone(),
        settings: job_settings(e, plugin, settings)?,
        account: e.account.as_ref().map(|a| a.get_ref().clone()),
        params: params(e, plugin)?,
        timeout,
        enabled: e.enabled.unwrap_or(true),
        plugin: plugin.clone(),
    })
}

fn plugin<'c>(e: &Entry, catalog: &'c Catalog) -> Result<&'c Plugin, Mistake> {
    let wanted = e.plugin.get_ref();
    catalog.plugins.iter().find(|p| &p.manifest.name == wanted).ok_or_else(|| {
        let loaded: Vec<&str> = catalog.plugins.iter().map(|p| p.manifest.name.as_str()).collect();
        at(
            &e.plugin,
            format!(
                "job {:?}: plugin {wanted:?} is not loaded (loaded: {})",
                e.name.get_ref(),
                if loaded.is_empty() { "none".into() } else { loaded.join(", ") }
            ),
        )
    })
}

/// The host's settings as this job's plugin sees them: its own settings laid
/// over, and, when the job maps secrets, exactly those secrets.
fn job_settings(e: &Entry, plugin: &Plugin, base: &Settings) -> Result<Settings, Mistake> {
    let m = &plugin.manifest;
    let job = e.name.get_ref();
    let mut out = base.clone();
    if !e.secrets.is_empty() {
        for s in &m.secrets {
            out.remove(s);
        }
    }
    for (k, var) in &e.secrets {
        if !is_variable_name(var.get_ref()) {
            // Most likely the key itself pasted here: never repeat it.
            return Err(at(
                var,
                format!(
                    "job {job:?}: secrets.{} must name a variable (put the key itself in .env)",
                    k.get_ref()
                ),
            ));
        }
        if !m.secrets.contains(k.get_ref()) {
            return Err(at(
                k,
                format!(
                    "job {job:?}: secrets.{}: {} declares no such secret (it declares: {})",
                    k.get_ref(),
                    m.name,
                    m.secrets.join(", ")
                ),
            ));
        }
        // The error names the variable, never its value. A disabled job may
        // name one that is not set yet.
        match base.get(var.get_ref()) {
            Some(value) => out.set(k.get_ref(), value),
            None if e.enabled == Some(false) => {}
            None => {
                let why = format!(
                    "job {job:?}: secrets.{} names {:?}, which is not set in the environment or .env",
                    k.get_ref(),
                    var.get_ref()
                );
                return Err(at(var, why));
            }
        }
    }
    for (k, v) in &e.settings {
        if !m.settings.contains(k.get_ref()) {
            return Err(at(
                k,
                format!(
                    "job {job:?}: settings.{}: {} takes no such setting (it takes: {})",
                    k.get_ref(),
                    m.name,
                    m.settings.join(", ")
                ),
            ));
        }
        out.set(k.get_ref(), v.get_ref());
    }
    Ok(out)
}

/// Whether `s` can be an environment variable's name.
fn is_variable_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A TOML error without the values it quotes (a key pasted in the wrong
/// place would otherwise be printed).
fn hide_values(message: &str) -> String {
    let mut out = String::new();
    for (i, part) in message.split('"').enumerate() {
        out.push_str(if i % 2 == 1 { "\"…\"" } else { part });
    }
    out
}

fn params(e: &Entry, plugin: &Plugin) -> Result<BTreeMap<String, String>, Mistake> {
    let specs = &plugin.manifest.params;
    e.params
        .iter()
        .map(|(k, v)| {
            if specs.iter().any(|s| &s.name == k.get_ref()) {
                Ok((k.get_ref().clone(), v.get_ref().clone()))
            } else {
                Err(at(
                    k,
                    format!(
                        "job {:?}: params.{}: {} takes no such parameter",
                        e.name.get_ref(),
                        k.get_ref(),
                        plugin.manifest.name
                    ),
                ))
            }
        })
        .collect()
}
