//! What a plugin's manifest may ask for: its JSON read into a
//! [`Manifest`] with a usable name, public hosts only, a contract this host
//! still runs, and read paths that are well-formed and never reach the
//! home, the plugins folder, a system folder or `/`. Anything else is a
//! [`ManifestError`]. The manifest is read (in a worker) by the loader.

use std::path::{Path, PathBuf};

use plugin_api::Manifest;

use super::grants::{check_read_path, ReadPathError};
use super::loader::ScanOptions;

/// One declared read path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadPath {
    /// An absolute path (a `~/` already resolved).
    Fixed {
        /// As declared.
        declared: String,
        /// Resolved.
        path: PathBuf,
    },
    /// `$NAME` or `$NAME/sub/folder`: the paths the operator set in the
    /// plugin's setting `NAME` (each joined with `sub`).
    Setting {
        /// As declared.
        declared: String,
        /// The setting's name.
        name: String,
        /// A relative path below each of them, or empty.
        sub: String,
    },
}

impl ReadPath {
    /// The entry as the manifest declares it.
    pub fn declared(&self) -> &str {
        match self {
            ReadPath::Fixed { declared, .. } | ReadPath::Setting { declared, .. } => declared,
        }
    }

    /// The paths this entry grants with these settings: a setting holds a
    /// comma-separated list, each absolute or `~/…`; an unset one grants
    /// nothing.
    pub fn resolve(
        &self,
        get: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Vec<PathBuf>, ReadPathError> {
        match self {
            ReadPath::Fixed { path, .. } => Ok(vec![path.clone()]),
            ReadPath::Setting { name, sub, .. } => get(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let base = resolve_read_path(p).map_err(|e| ReadPathError::Setting {
                        name: name.clone(),
                        source: Box::new(e),
                    })?;
                    Ok(if sub.is_empty() { base } else { base.join(sub) })
                })
                .collect(),
        }
    }
}

/// Why a plugin file's manifest is refused: it could not be read, or what
/// it asks for is something no grant can give.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The worker that reads it failed, timed out or got no manifest.
    #[error("{0}")]
    Unread(String),
    /// It is not a manifest.
    #[error("invalid manifest: {0}")]
    Invalid(String),
    /// Its name is not one a file or a setting can carry.
    #[error("invalid plugin name {0:?} (letters, digits, '_' and '-' only)")]
    Name(String),
    /// It names a host of this machine or a private network.
    #[error(
        "manifest host {0:?} is this machine or a private network; a plugin may name only \
         public hosts (an operator reaches a local one through the plugin's base URL setting)"
    )]
    LocalHost(String),
    /// A daily plugin built before contract 1.2 (no providers, no observes).
    #[error(
        "built for a plugin contract before 1.2: a daily plugin now declares the providers \
         it reports for (`providers`) or observes (`observes`), and this file declares \
         neither; install this release's build of {0} (`agent-host plugins install FILE`, \
         or `scripts/install.sh` for the bundled plugins)"
    )]
    BeforeContract12(String),
    /// A read path that names no setting of the plugin.
    #[error("read path {path:?} names {name}, which is not one of the plugin's settings")]
    UnknownSetting {
        /// The read path as declared.
        path: String,
        /// The setting it names.
        name: String,
    },
    /// A read path whose part after the setting is not a plain relative path.
    #[error("read path {0:?}: what follows the setting must be a plain relative path")]
    NotPlain(String),
    /// A read path no grant may give.
    #[error(transparent)]
    ReadPath(#[from] ReadPathError),
    /// The operator's grants file cannot be used.
    #[error(transparent)]
    Grants(#[from] super::grants::GrantError),
}

/// A manifest read from its JSON, with a usable name.
fn checked_manifest(json: &str) -> std::result::Result<Manifest, ManifestError> {
    let manifest = Manifest::from_json(json).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    validate_name(&manifest.name)?;
    Ok(manifest)
}

/// A manifest whose requests the host can consider at all: public hosts
/// only, read paths that are well-formed and never the home, the plugins
/// folder, a system folder or `/`; its texts made printable.
pub(super) fn vetted(
    json: &str,
    opts: &ScanOptions,
) -> std::result::Result<(Manifest, Vec<ReadPath>), ManifestError> {
    let mut manifest = checked_manifest(json)?;
    if let Some(h) = manifest.hosts.iter().find(|h| super::destination::is_local_host(h)) {
        return Err(ManifestError::LocalHost(h.clone()));
    }
    // Since contract 1.2 a daily plugin says which providers it reports
    // for or observes; a daily manifest with neither was built before, and
    // every one of its runs would fail on its first record.
    if manifest.daily && manifest.providers.is_empty() && manifest.observes.is_empty() {
        return Err(ManifestError::BeforeContract12(manifest.name));
    }
    // Shown on terminals: no escape sequences.
    manifest.version = crate::logging::printable(&manifest.version, false);
    manifest.description = crate::logging::printable(&manifest.description, false);
    let read_paths = manifest
        .read_paths
        .iter()
        .map(|p| read_path(p, &manifest.settings))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    for p in &read_paths {
        if let ReadPath::Fixed { path, .. } = p {
            check_read_path(path, &opts.protected)?;
        }
    }
    Ok((manifest, read_paths))
}

/// A declared read path: `$NAME` (or `$NAME/sub`) of a declared setting, or
/// a fixed path.
fn read_path(p: &str, settings: &[String]) -> std::result::Result<ReadPath, ManifestError> {
    let Some(rest) = p.strip_prefix('$') else {
        return Ok(ReadPath::Fixed { declared: p.to_string(), path: resolve_read_path(p)? });
    };
    let (name, sub) = rest.split_once('/').unwrap_or((rest, ""));
    if !settings.iter().any(|s| s == name) {
        return Err(ManifestError::UnknownSetting { path: p.into(), name: name.into() });
    }
    let plain = Path::new(sub).components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(ManifestError::NotPlain(p.into()));
    }
    Ok(ReadPath::Setting { declared: p.to_string(), name: name.to_string(), sub: sub.to_string() })
}

/// A read path: absolute, or `~/…` under the user's home.
fn resolve_read_path(p: &str) -> std::result::Result<PathBuf, ReadPathError> {
    let path = match p.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(rest),
            None => return Err(ReadPathError::NoHome(p.into())),
        },
        None => PathBuf::from(p),
    };
    if !path.is_absolute() || path.components().any(|c| c == std::path::Component::ParentDir) {
        return Err(ReadPathError::NotAbsolute(p.into()));
    }
    Ok(path)
}

pub(super) fn validate_name(name: &str) -> std::result::Result<(), ManifestError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ManifestError::Name(name.into()))
    }
}
