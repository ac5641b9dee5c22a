//! Finds plugins: checks every `.so`/`.dylib` in the plugins folder (see
//! [`pluginfile`]), reads each manifest in a sandboxed
//! worker (never in this process), vets what it asks for (see
//! [`super::manifest`]), and reports every file that is not a
//! usable plugin in one line, without stopping the others. Manifests are
//! cached by file identity and content hash, so listing stays fast and a
//! changed file is read again.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use abi_stable::library::lib_header_from_path;
use plugin_api::{Manifest, PluginMod_Ref};
use serde::{Deserialize, Serialize};

use super::error::{KernelError, Result};
use super::grants::{Grants, Request, Standing};
use super::isolate::{run_worker, OutputLimits};
use super::manifest::{validate_name, vetted, ManifestError, ReadPath};
use super::pluginfile::{self, CheckedFile, Identity};
use super::protocol::{Job, SandboxSpec};

/// A plugin whose file passed the checks and declared a valid manifest.
#[derive(Clone)]
pub struct Plugin {
    /// What it declared.
    pub manifest: Manifest,
    /// The library file.
    pub path: PathBuf,
    /// The sha256 of the file's content, hex.
    pub sha256: String,
    /// The checked file, open: runs load exactly this.
    pub file: Arc<File>,
    /// The manifest's `read_paths`, checked: each a fixed path or a `$NAME`
    /// setting resolved at run time ([`ReadPath::resolve`]).
    pub read_paths: Vec<ReadPath>,
    /// Whether the operator's grant covers this file and what it asks for.
    pub standing: Standing,
}

impl Plugin {
    /// What its manifest asks for.
    pub fn request(&self) -> Request {
        Request::of(&self.manifest)
    }
}

/// A file in the plugins folder that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// The file.
    pub path: PathBuf,
    /// The plugin name it declared, when it got that far (duplicates).
    #[serde(skip)]
    pub plugin: Option<String>,
    /// One line saying why.
    pub reason: String,
}

/// Everything found in a plugins folder.
#[derive(Default)]
pub struct Catalog {
    /// Loaded plugins, by file name: each granted by the operator.
    pub plugins: Vec<Plugin>,
    /// Usable plugins the operator's grants do not cover (also listed in
    /// `rejected`, with the reason): kept to show what they ask for.
    pub ungranted: Vec<Plugin>,
    /// Files that were refused.
    pub rejected: Vec<Rejected>,
}

impl Catalog {
    /// The plugin called `name`, or a usage error listing what exists.
    pub fn get(&self, name: &str) -> Result<&Plugin> {
        if let Some(p) = self.plugins.iter().find(|p| p.manifest.name == name) {
            return Ok(p);
        }
        if let Some(p) = self.ungranted.iter().find(|p| p.manifest.name == name) {
            let why = p.standing.refusal(name).unwrap_or_default();
            return Err(KernelError::NotGranted { name: name.into(), why });
        }
        if let Some(r) = self.rejected.iter().find(|r| r.plugin.as_deref() == Some(name)) {
            return Err(KernelError::RejectedPlugin {
                name: name.into(),
                path: r.path.clone(),
                reason: r.reason.clone(),
            });
        }
        let installed = self.plugins.iter().map(|p| p.manifest.name.clone()).collect();
        Err(KernelError::UnknownPlugin { name: name.into(), installed })
    }

    /// Every secret name any installed plugin declares.
    pub fn declared_secrets(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.plugins.iter().flat_map(|p| p.manifest.secrets.iter().cloned()).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// How manifests are read.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The agent-host executable, run as the worker.
    pub exe: PathBuf,
    /// Where the manifest cache lives (none: no cache).
    pub cache: Option<PathBuf>,
    /// A manifest worker is killed after this long.
    pub timeout: Duration,
    /// The worker's memory limit in bytes.
    pub memory_bytes: u64,
    /// The operator's grants file (none: nothing is granted).
    pub grants: Option<PathBuf>,
    /// Folders no read path may reach: the home and the plugins folder.
    pub protected: Vec<PathBuf>,
}

/// Scans `dir`: checks every `.so`/`.dylib` in it (sorted by file name) and
/// reads its manifest in a worker, or from the cache.
pub fn scan(dir: &Path, opts: &ScanOptions) -> Result<Catalog> {
    let meta = std::fs::metadata(dir)
        .map_err(|source| KernelError::PluginsFolder { dir: dir.into(), source })?;
    if !meta.is_dir() {
        return Err(KernelError::NotAFolder(dir.into()));
    }
    pluginfile::check_folder(dir).map_err(|p| KernelError::UnsafeFolder {
        dir: dir.into(),
        message: p.message,
        fix: p.fix,
    })?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| KernelError::ListFolder { dir: dir.into(), source })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| is_library_name(p))
        .collect();
    paths.sort();

    let mut cache = ManifestCache::load(opts.cache.as_deref());
    let mut checked = Vec::new();
    let mut catalog = Catalog::default();
    for path in paths {
        match pluginfile::open_checked(&path) {
            Ok(file) => checked.push((path, file)),
            Err(reason) => catalog.rejected.push(Rejected { path, plugin: None, reason }),
        }
    }
    let grants = match &opts.grants {
        Some(p) => Grants::load(p)?,
        None => Grants::default(),
    };
    let answers = read_manifests(&checked, &mut cache, opts);
    for ((path, file), answer) in checked.into_iter().zip(answers) {
        // The name it declares, when it got that far: a run asking for it
        // then says why it cannot be used.
        let named = answer.as_ref().ok().and_then(|json| Manifest::from_json(json).ok());
        let plugin = answer
            .map_err(ManifestError::Unread)
            .and_then(|json| plugin_from(path.clone(), file, &json, opts, &grants));
        match plugin {
            Ok(plugin) => catalog.plugins.push(plugin),
            Err(e) => {
                let reason = e.to_string();
                let plugin = named.map(|m| m.name).filter(|n| validate_name(n).is_ok());
                catalog.rejected.push(Rejected { path, plugin, reason })
            }
        }
    }
    cache.save();
    reject_duplicates(&mut catalog);
    reject_shared_claims(&mut catalog, "provider", |m| &m.providers);
    reject_shared_claims(&mut catalog, "secret", |m| &m.secrets);
    set_aside_ungranted(&mut catalog);
    catalog.rejected.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(catalog)
}

/// Moves every plugin its grant does not cover out of the loaded ones: it
/// is listed as rejected with the reason and the fix, and never run.
fn set_aside_ungranted(catalog: &mut Catalog) {
    let plugins = std::mem::take(&mut catalog.plugins);
    for p in plugins {
        match p.standing.refusal(&p.manifest.name) {
            None => catalog.plugins.push(p),
            Some(reason) => {
                catalog.rejected.push(Rejected {
                    path: p.path.clone(),
                    plugin: Some(p.manifest.name.clone()),
                    reason,
                });
                catalog.ungranted.push(p);
            }
        }
    }
}

/// Each file's manifest JSON (or why there is none): from the cache, or
/// read by workers, several at once.
fn read_manifests(
    files: &[(PathBuf, CheckedFile)],
    cache: &mut ManifestCache,
    opts: &ScanOptions,
) -> Vec<std::result::Result<String, String>> {
    let mut answers: Vec<Option<std::result::Result<String, String>>> =
        files.iter().map(|(_, f)| cache.get(&f.identity)).collect();
    let missing: Vec<usize> = (0..files.len()).filter(|i| answers[*i].is_none()).collect();
    for batch in missing.chunks(4) {
        let read: Vec<(usize, (Answer, bool))> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&i| s.spawn(move || (i, read_manifest(&files[i].1.file, opts))))
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for (i, (answer, lasting)) in read {
            // A crash may not happen again; only what the file itself
            // answers (or a timeout) is remembered.
            if lasting {
                cache.put(files[i].1.identity.clone(), answer.clone());
            }
            answers[i] = Some(answer);
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err("the manifest could not be read".into())))
        .collect()
}

/// A manifest's JSON, or why there is none.
type Answer = std::result::Result<String, String>;

/// Reads one manifest in a sandboxed worker; the flag says whether the
/// answer is the file's own (worth caching).
fn read_manifest(file: &File, opts: &ScanOptions) -> (std::result::Result<String, String>, bool) {
    let job = Job::Manifest {
        sandbox: SandboxSpec {
            host_pid: std::process::id(),
            read_paths: Vec::new(),
            memory_bytes: opts.memory_bytes,
            cgroup: None,
            cpu_secs: opts.timeout.as_secs() + 1,
        },
    };
    let outcome = run_worker(
        &opts.exe,
        file,
        job,
        opts.timeout,
        &OutputLimits { log_lines: 0, ..OutputLimits::default() },
        None,
        &mut |_, _| {},
    );
    match (outcome.manifest, outcome.failure) {
        (Some(json), None) => (Ok(json), true),
        // A manifest that hangs would hold every listing and the nightly
        // run for the whole timeout, each time: it is refused until its
        // file changes.
        (_, Some(why)) if outcome.timed_out => (
            Err(format!("{why}; refused until the file changes (install it again to retry)")),
            true,
        ),
        (_, Some(why)) => (Err(why), outcome.refused),
        (None, None) => (Err("the worker returned no manifest".into()), false),
    }
}

/// Reads and checks the manifest of a plugin file that is not installed yet
/// (for `plugins install`), in a sandboxed worker like any other: the
/// manifest and its checked read paths.
pub fn inspect(
    file: &File,
    opts: &ScanOptions,
) -> std::result::Result<(Manifest, Vec<ReadPath>), ManifestError> {
    vetted(&read_manifest(file, opts).0.map_err(ManifestError::Unread)?, opts)
}

/// Reads the manifest of a plugin file outside the plugins folder (for
/// `plugin check`) in a sandboxed worker, and checks it exactly as a scan
/// does: the plugin a scan would load from it, or why it would be refused.
pub fn check_file(
    path: &Path,
    file: CheckedFile,
    opts: &ScanOptions,
) -> std::result::Result<Plugin, ManifestError> {
    let json = read_manifest(&file.file, opts).0.map_err(ManifestError::Unread)?;
    let grants = match &opts.grants {
        Some(p) => Grants::load(p)?,
        None => Grants::default(),
    };
    plugin_from(path.to_path_buf(), file, &json, opts, &grants)
}

/// A plugin from its checked file and manifest JSON.
fn plugin_from(
    path: PathBuf,
    file: CheckedFile,
    json: &str,
    opts: &ScanOptions,
    grants: &Grants,
) -> std::result::Result<Plugin, ManifestError> {
    let (manifest, read_paths) = vetted(json, opts)?;
    let standing = grants.standing(&manifest.name, &file.identity.sha256, &Request::of(&manifest));
    Ok(Plugin {
        manifest,
        path,
        sha256: file.identity.sha256,
        file: Arc::new(file.file),
        read_paths,
        standing,
    })
}

fn is_library_name(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("so" | "dylib"))
}

/// Two files declaring the same name: both are refused, so the choice is the
/// operator's, not the directory order's.
fn reject_duplicates(catalog: &mut Catalog) {
    let mut by_name: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for p in &catalog.plugins {
        by_name.entry(p.manifest.name.clone()).or_default().push(p.path.clone());
    }
    reject_where(catalog, |p| {
        let paths = &by_name[&p.manifest.name];
        (paths.len() > 1).then(|| {
            let others: Vec<String> =
                paths.iter().filter(|o| **o != p.path).map(|o| o.display().to_string()).collect();
            format!(
                "plugin '{}' is also provided by {}; remove all but one",
                p.manifest.name,
                others.join(", ")
            )
        })
    });
}

/// Two plugins reporting for the same provider could overwrite each other's
/// data, and a second plugin declaring another's secret would be handed its
/// key: both are refused until the operator removes one.
fn reject_shared_claims(
    catalog: &mut Catalog,
    what: &str,
    claims: impl Fn(&Manifest) -> &Vec<String>,
) {
    let mut by_claim: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &catalog.plugins {
        for id in claims(&p.manifest) {
            by_claim.entry(id.clone()).or_default().push(p.manifest.name.clone());
        }
    }
    reject_where(catalog, |p| {
        claims(&p.manifest).iter().find_map(|id| {
            let claimants = &by_claim[id];
            (claimants.len() > 1).then(|| {
                let others: Vec<&str> = claimants
                    .iter()
                    .map(String::as_str)
                    .filter(|n| *n != p.manifest.name)
                    .collect();
                format!(
                    "configuration error: {what} '{id}' is also claimed by {}; \
                     remove all but one plugin claiming it",
                    others.join(", ")
                )
            })
        })
    });
}

/// Moves every plugin for which `why` answers a reason to the rejected.
fn reject_where(catalog: &mut Catalog, why: impl Fn(&Plugin) -> Option<String>) {
    let plugins = std::mem::take(&mut catalog.plugins);
    for p in plugins {
        match why(&p) {
            None => catalog.plugins.push(p),
            Some(reason) => catalog.rejected.push(Rejected {
                reason,
                path: p.path,
                plugin: Some(p.manifest.name),
            }),
        }
    }
}

/// dlopen + abi_stable's header, version and layout checks. Only ever
/// called inside a worker.
pub fn load_module(path: &Path) -> std::result::Result<PluginMod_Ref, String> {
    let header = lib_header_from_path(path).map_err(|e| summarize(&e.to_string()))?;
    header.init_root_module::<PluginMod_Ref>().map_err(|e| summarize(&e.to_string()))
}

/// Manifests already read, by file identity (a file that changes in any way
/// is read again). Kept as JSON in the home folder.
#[derive(Default, Serialize, Deserialize)]
struct ManifestCache {
    #[serde(skip)]
    path: Option<PathBuf>,
    #[serde(skip)]
    used: Vec<bool>,
    #[serde(skip)]
    changed: bool,
    entries: Vec<CacheEntry>,
}

#[derive(Clone, Serialize, Deserialize)]
struct CacheEntry {
    identity: Identity,
    answer: std::result::Result<String, String>,
}

impl ManifestCache {
    fn load(path: Option<&Path>) -> Self {
        let mut cache: ManifestCache = path
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        cache.path = path.map(Path::to_path_buf);
        cache.used = vec![false; cache.entries.len()];
        cache
    }

    fn get(&mut self, id: &Identity) -> Option<std::result::Result<String, String>> {
        let i = self.entries.iter().position(|e| e.identity == *id)?;
        self.used[i] = true;
        Some(self.entries[i].answer.clone())
    }

    fn put(&mut self, identity: Identity, answer: std::result::Result<String, String>) {
        self.entries.push(CacheEntry { identity, answer });
        self.used.push(true);
        self.changed = true;
    }

    /// Writes the cache, keeping only the files seen in this scan. A cache
    /// that cannot be written only costs speed.
    fn save(mut self) {
        let Some(path) = self.path.take() else { return };
        if !self.changed && self.used.iter().all(|u| *u) {
            return;
        }
        let used = std::mem::take(&mut self.used);
        self.entries =
            self.entries.into_iter().zip(used).filter(|(_, u)| *u).map(|(e, _)| e).collect();
        let Ok(json) = serde_json::to_vec(&self) else { return };
        // A fresh temporary file (never one a link points to), renamed into place.
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
            if std::io::Write::write_all(&mut tmp, &json).is_ok() {
                let _ = tmp.persist(&path);
            }
        }
    }
}

/// Turns abi_stable's load error (a layout dump of up to thousands of lines)
/// into one line: its `Error:` lines when there are any, else its first text.
pub fn summarize(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut errors: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("Error:") else { continue };
        let mut e = format!("Error: {}", rest.trim());
        // abi_stable prints `Expected:` and `Found:` each followed by a value;
        // short values say what differs, long ones are layout dumps.
        let value_after = |label: &str| {
            let at = lines[i + 1..].iter().take(6).position(|l| *l == label)?;
            let v = lines.get(i + 2 + at)?;
            (v.len() <= 60 && !v.starts_with("Error:")).then_some(*v)
        };
        if let (Some(exp), Some(found)) = (value_after("Expected:"), value_after("Found:")) {
            e = format!("{e} (expected {exp}, found {found})");
        }
        if !errors.contains(&e) {
            errors.push(e);
        }
    }
    let mut out = if errors.is_empty() {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        format!("incompatible plugin-api: {}", errors.join(" | "))
    };
    // abi_stable's own typo, kept out of our messages.
    out = out.replace("Could load symbol", "Could not load symbol");
    // "Could not open library at: F because: F: why" names the file twice.
    if let Some((file, why)) =
        out.strip_prefix("Could not open library at: ").and_then(|r| r.split_once(" because: "))
    {
        let why = why.strip_prefix(&format!("{file}: ")).unwrap_or(why);
        out = format!("not a loadable library: {why}");
    }
    if out.chars().count() > 400 {
        out = out.chars().take(400).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarize_keeps_only_error_lines() {
        let dump = "a long dump\n  Error:incompatible type size\nExpected:\n104\nFound:\n80\n\
                    layout...\n Error:mismatched type\nExpected:\n<a 900-line dump>\nmore";
        assert_eq!(
            summarize(dump),
            "incompatible plugin-api: Error: incompatible type size (expected 104, found 80) | \
             Error: mismatched type"
        );
    }

    #[test]
    fn summarize_folds_plain_errors_to_one_line() {
        let s = summarize("Could not open library at: x.so because:\n x.so: file too short");
        assert_eq!(s, "not a loadable library: file too short");
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("openai_collector").is_ok());
        assert!(validate_name("../evil").is_err());
        assert!(validate_name("").is_err());
    }
}
