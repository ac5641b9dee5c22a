//! Finds and loads plugins: scans the plugins folder, refuses files others
//! can write, loads each library with `lib_header_from_path` +
//! `init_root_module`, and reports every file that is not a usable plugin in
//! one line, without stopping the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use abi_stable::library::lib_header_from_path;
use plugin_api::{Manifest, PluginMod_Ref};
use serde::Serialize;

use crate::error::{HostError, Result};

/// A plugin that loaded and declared a valid manifest.
#[derive(Clone)]
pub struct Plugin {
    /// What it declared.
    pub manifest: Manifest,
    /// The library file.
    pub path: PathBuf,
    /// Its root module (the library stays loaded for the life of the process).
    pub module: PluginMod_Ref,
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
    /// Loaded plugins, by file name.
    pub plugins: Vec<Plugin>,
    /// Files that were refused.
    pub rejected: Vec<Rejected>,
}

impl Catalog {
    /// The plugin called `name`, or a usage error listing what exists.
    pub fn get(&self, name: &str) -> Result<&Plugin> {
        if let Some(p) = self.plugins.iter().find(|p| p.manifest.name == name) {
            return Ok(p);
        }
        if let Some(r) = self.rejected.iter().find(|r| r.plugin.as_deref() == Some(name)) {
            return Err(HostError::usage(format!(
                "plugin {name} cannot be used: {}: {}",
                r.path.display(),
                r.reason
            )));
        }
        let known: Vec<&str> = self.plugins.iter().map(|p| p.manifest.name.as_str()).collect();
        let hint = if known.is_empty() {
            "no plugin is installed; run `agent-host plugins list` to see why".to_string()
        } else {
            format!("installed plugins: {}", known.join(", "))
        };
        Err(HostError::usage(format!("unknown plugin {name}")).with_hint(hint))
    }
}

/// Scans `dir` and loads every `.so`/`.dylib` in it (sorted by file name).
pub fn scan(dir: &Path) -> Result<Catalog> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        HostError::config(format!("cannot read plugins folder {}: {e}", dir.display())).with_hint(
            "build and install the plugins with `scripts/install.sh`, or point --plugins-dir / \
             AGENT_PLUGINS_DIR at the folder that holds them",
        )
    })?;
    if !meta.is_dir() {
        return Err(HostError::config(format!("plugins folder {} is not a folder", dir.display())));
    }
    if let Some(reason) = writable_by_others(&meta) {
        return Err(HostError::config(format!(
            "plugins folder {} is {reason}, so anyone could plant code in it; refusing to load",
            dir.display()
        ))
        .with_hint(format!("fix with `chmod go-w {}`", dir.display())));
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| HostError::config(format!("cannot list {}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| is_library_name(p))
        .collect();
    paths.sort();

    let mut catalog = Catalog::default();
    for path in paths {
        match load(&path) {
            Ok(plugin) => catalog.plugins.push(plugin),
            Err(reason) => catalog.rejected.push(Rejected { path, plugin: None, reason }),
        }
    }
    reject_duplicates(&mut catalog);
    Ok(catalog)
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
    let plugins = std::mem::take(&mut catalog.plugins);
    for p in plugins {
        let paths = &by_name[&p.manifest.name];
        if paths.len() == 1 {
            catalog.plugins.push(p);
            continue;
        }
        let others: Vec<String> =
            paths.iter().filter(|o| **o != p.path).map(|o| o.display().to_string()).collect();
        catalog.rejected.push(Rejected {
            reason: format!(
                "plugin '{}' is also provided by {}; remove all but one",
                p.manifest.name,
                others.join(", ")
            ),
            path: p.path,
            plugin: Some(p.manifest.name),
        });
    }
    catalog.rejected.sort_by(|a, b| a.path.cmp(&b.path));
}

/// Loads one library and reads its manifest. The error is one line.
pub fn load(path: &Path) -> std::result::Result<Plugin, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if let Some(reason) = writable_by_others(&meta) {
        return Err(format!(
            "file is {reason}, so anyone could replace its code; fix with `chmod go-w {}`",
            path.display()
        ));
    }
    let module = load_module(path)?;
    let json = (module.manifest())();
    let manifest =
        Manifest::from_json(json.as_str()).map_err(|e| format!("invalid manifest: {e}"))?;
    validate_name(&manifest.name)?;
    Ok(Plugin { manifest, path: path.to_path_buf(), module })
}

/// dlopen + abi_stable's header, version and layout checks.
pub fn load_module(path: &Path) -> std::result::Result<PluginMod_Ref, String> {
    let header = lib_header_from_path(path).map_err(|e| summarize(&e.to_string()))?;
    header.init_root_module::<PluginMod_Ref>().map_err(|e| summarize(&e.to_string()))
}

fn validate_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid plugin name {name:?} (letters, digits, '_' and '-' only)"))
    }
}

#[cfg(unix)]
fn writable_by_others(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 {
        Some("writable by every user")
    } else if mode & 0o020 != 0 {
        Some("writable by its group")
    } else {
        None
    }
}

#[cfg(not(unix))]
fn writable_by_others(_meta: &std::fs::Metadata) -> Option<&'static str> {
    None
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
        assert_eq!(s, "Could not open library at: x.so because: x.so: file too short");
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("openai_collector").is_ok());
        assert!(validate_name("../evil").is_err());
        assert!(validate_name("").is_err());
    }
}
