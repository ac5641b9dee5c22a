//! Operator grants: a plugin's manifest is a *request* (secrets, settings,
//! hosts, read paths); what it may use is what the operator granted, once,
//! for that exact file (its sha256). The grants live in `grants.json` in the
//! home (mode 0600). A plugin without a grant, whose file changed since, or
//! that asks for more than was granted is refused before any worker starts,
//! with the command that fixes it. This is the one place that decides.
//!
//! Read paths get a second, absolute rule ([`check_read_path`]): whatever was
//! granted, the home (`.env`, database, logs, grants), the plugins folder,
//! `/proc`, `/sys`, `/dev` and `/` itself are never readable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plugin_api::Manifest;
use serde::{Deserialize, Serialize};

/// Why the grants file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// It exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The grants file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// It is not a grants file.
    #[error("{path} is not a grants file: {reason}")]
    Parse {
        /// The grants file.
        path: PathBuf,
        /// What is wrong, with its line.
        reason: String,
    },
    /// It cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The grants file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// What one plugin file asks for, as its manifest declares it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Secrets it reads through `Host::secret`.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Plain settings handed over in its run request.
    #[serde(default)]
    pub settings: Vec<String>,
    /// Hosts it may reach over HTTP.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Files and folders it may read, as declared (`$SETTING/sub` unresolved).
    #[serde(default)]
    pub read_paths: Vec<String>,
}

impl Request {
    /// What `manifest` asks for.
    pub fn of(manifest: &Manifest) -> Request {
        Request {
            secrets: manifest.secrets.clone(),
            settings: manifest.settings.clone(),
            hosts: manifest.hosts.clone(),
            read_paths: manifest.read_paths.clone(),
        }
    }

    /// What this asks for that `granted` does not give, one phrase per kind.
    fn beyond(&self, granted: &Request) -> Vec<String> {
        let extra = |kind: &str, asked: &[String], given: &[String]| {
            let more: Vec<&str> =
                asked.iter().filter(|a| !given.contains(a)).map(String::as_str).collect();
            (!more.is_empty()).then(|| format!("{kind} {}", more.join(", ")))
        };
        [
            extra("secrets", &self.secrets, &granted.secrets),
            extra("settings", &self.settings, &granted.settings),
            extra("hosts", &self.hosts, &granted.hosts),
            extra("read paths", &self.read_paths, &granted.read_paths),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// One line per kind asked for, for `plugins install`, `grant` and
    /// `list` (`-` where nothing is asked).
    pub fn describe(&self) -> Vec<(String, String)> {
        let list = |v: &[String]| if v.is_empty() { "-".to_string() } else { v.join(", ") };
        vec![
            ("secrets".into(), list(&self.secrets)),
            ("settings".into(), list(&self.settings)),
            ("hosts".into(), list(&self.hosts)),
            ("read paths".into(), list(&self.read_paths)),
        ]
    }
}

/// What the operator granted one plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The plugin file granted (sha256 of its content, hex): any other file
    /// under the plugin's name is refused until granted again.
    pub sha256: String,
    /// When it was granted (RFC 3339).
    pub granted_at: String,
    /// What was granted.
    #[serde(flatten)]
    pub allowed: Request,
    /// Settings the plugin may also take from the host's environment (not
    /// only from `.env` or its job). Only names in `allowed.settings` count.
    #[serde(default)]
    pub env: Vec<String>,
    /// Most records it may keep in the kernel's generic records table.
    #[serde(default = "default_max_records")]
    pub max_records: u64,
    /// Most payload bytes those records may hold.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: u64,
}

fn default_max_records() -> u64 {
    100_000
}

fn default_max_record_bytes() -> u64 {
    64 << 20
}

/// Whether a plugin file is covered by its grant, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// The grant covers this file and everything it asks for.
    Granted(Grant),
    /// It was never granted.
    NotGranted,
    /// It was granted for another file.
    Changed {
        /// The file granted.
        granted: String,
    },
    /// Its file is the one granted, but it asks for more.
    AsksMore(Vec<String>),
}

impl Standing {
    /// The grant, when it covers the plugin.
    pub fn grant(&self) -> Option<&Grant> {
        match self {
            Standing::Granted(g) => Some(g),
            _ => None,
        }
    }

    /// Why the plugin is not run, naming the command that fixes it; `None`
    /// when it is granted.
    pub fn refusal(&self, name: &str) -> Option<String> {
        let fix = format!("check what it asks for, then run `agent-host plugins grant {name}`");
        match self {
            Standing::Granted(_) => None,
            Standing::NotGranted => Some(format!("not granted by the operator; {fix}")),
            Standing::Changed { granted } => Some(format!(
                "its file changed since it was granted (sha256 {} granted); {fix}",
                granted.get(..12).unwrap_or(granted)
            )),
            Standing::AsksMore(more) => {
                Some(format!("asks for more than was granted ({}); {fix}", more.join("; ")))
            }
        }
    }
}

/// Every grant of a home, by plugin name.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Grants {
    #[serde(skip)]
    path: PathBuf,
    /// The grants.
    #[serde(default)]
    plugins: BTreeMap<String, Grant>,
}

impl Grants {
    /// Reads the grants file at `path` (none yet: no grants).
    pub fn load(path: &Path) -> Result<Grants, GrantError> {
        let mut grants = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Grants>(&bytes).map_err(|e| {
                GrantError::Parse { path: path.to_path_buf(), reason: e.to_string() }
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Grants::default(),
            Err(source) => return Err(GrantError::Read { path: path.to_path_buf(), source }),
        };
        grants.path = path.to_path_buf();
        Ok(grants)
    }

    /// Where a plugin file with `sha256` asking for `request` stands.
    pub fn standing(&self, name: &str, sha256: &str, request: &Request) -> Standing {
        let Some(g) = self.plugins.get(name) else { return Standing::NotGranted };
        if g.sha256 != sha256 {
            return Standing::Changed { granted: g.sha256.clone() };
        }
        let more = request.beyond(&g.allowed);
        if more.is_empty() {
            Standing::Granted(g.clone())
        } else {
            Standing::AsksMore(more)
        }
    }

    /// Grants `name` (the file `sha256`) what `request` asks for; settings
    /// may come from the environment as well.
    pub fn grant(&mut self, name: &str, sha256: &str, request: &Request, now: &str) {
        let grant = Grant {
            sha256: sha256.to_string(),
            granted_at: now.to_string(),
            env: request.settings.clone(),
            allowed: request.clone(),
            max_records: default_max_records(),
            max_record_bytes: default_max_record_bytes(),
        };
        self.plugins.insert(name.to_string(), grant);
    }

    /// Takes `name`'s grant back; whether there was one.
    pub fn revoke(&mut self, name: &str) -> bool {
        self.plugins.remove(name).is_some()
    }

    /// The granted plugins' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.plugins.keys().map(String::as_str)
    }

    /// Writes the file (mode 0600, through a temporary file renamed into
    /// place, so a crash never leaves half a file).
    pub fn save(&self) -> Result<(), GrantError> {
        let fail = |source| GrantError::Write { path: self.path.clone(), source };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        std::io::Write::write_all(&mut tmp, &json).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
        }
        tmp.as_file().sync_all().map_err(fail)?;
        tmp.persist(&self.path).map_err(|e| fail(e.error))?;
        Ok(())
    }
}

/// System folders no plugin reads, whatever it was granted: the running
/// system's state, devices and other processes.
const SYSTEM: &[&str] = &["/proc", "/sys", "/dev"];

/// Why a read path cannot be granted: it does not resolve, or it reaches
/// what no plugin reads.
#[derive(Debug, thiserror::Error)]
pub enum ReadPathError {
    /// `~/…` without a `HOME` to put it under.
    #[error("read path {0:?} needs HOME, which is not set")]
    NoHome(String),
    /// A relative path, or one with `..`.
    #[error("read path {0:?} must be absolute (or start with ~/) without '..'")]
    NotAbsolute(String),
    /// A path named by a setting, which is wrong.
    #[error("setting {name}: {source}")]
    Setting {
        /// The setting.
        name: String,
        /// What is wrong with the path it names.
        source: Box<ReadPathError>,
    },
    /// `/` itself.
    #[error("read path {} is the whole file system", .0.display())]
    Root(PathBuf),
    /// The user's home folder itself.
    #[error("read path {} is the user's whole home folder", .0.display())]
    UserHome(PathBuf),
    /// Under `/proc`, `/sys` or `/dev`.
    #[error("read path {} is under {system}, which no plugin reads", .path.display())]
    System {
        /// The path asked for.
        path: PathBuf,
        /// The system folder it is under.
        system: &'static str,
    },
    /// It holds the agent-host home or the plugins folder.
    #[error(
        "read path {} contains {}, which no plugin reads (it holds the settings, secrets, \
         database and plugins of agent-host)",
        .path.display(),
        .protected.display()
    )]
    Contains {
        /// The path asked for.
        path: PathBuf,
        /// The protected folder inside it.
        protected: PathBuf,
    },
    /// It is inside the agent-host home or the plugins folder.
    #[error("read path {} is inside {}, which no plugin reads", .path.display(), .protected.display())]
    Inside {
        /// The path asked for.
        path: PathBuf,
        /// The protected folder it is inside.
        protected: PathBuf,
    },
}

/// Why `path` may not be a read path, if it may not: it is `/`, the user's
/// home itself, under a system folder, or it contains or lies inside one of
/// `protected` (the agent-host home and the plugins folder). Symbolic links
/// are followed first, so a link to the home is the home.
pub fn check_read_path(path: &Path, protected: &[PathBuf]) -> Result<(), ReadPathError> {
    let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let shown = path.to_path_buf();
    if real.parent().is_none() {
        return Err(ReadPathError::Root(shown));
    }
    let user_home = std::env::var_os("HOME").map(PathBuf::from);
    if user_home.and_then(|h| h.canonicalize().ok()).is_some_and(|h| h == real) {
        return Err(ReadPathError::UserHome(shown));
    }
    if let Some(sys) = SYSTEM.iter().find(|s| real.starts_with(s)) {
        return Err(ReadPathError::System { path: shown, system: sys });
    }
    for p in protected {
        let p = p.canonicalize().unwrap_or_else(|_| p.clone());
        if p.starts_with(&real) {
            return Err(ReadPathError::Contains { path: shown, protected: p });
        }
        if real.starts_with(&p) {
            return Err(ReadPathError::Inside { path: shown, protected: p });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(settings: &[&str], read: &[&str]) -> Request {
        Request {
            secrets: vec!["K_KEY".into()],
            settings: settings.iter().map(|s| s.to_string()).collect(),
            hosts: vec!["api.example.com".into()],
            read_paths: read.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_grant_covers_only_its_file_and_what_was_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grants.json");
        let mut g = Grants::load(&path).unwrap();
        let asked = request(&["A_URL"], &["$A_DIR/logs"]);
        assert_eq!(g.standing("p", "abc", &asked), Standing::NotGranted);
        g.grant("p", "abc", &asked, "2026-12-07T00:00:00Z");
        g.save().unwrap();
        let g = Grants::load(&path).unwrap();
        assert!(g.standing("p", "abc", &asked).grant().is_some());
        assert_eq!(g.standing("p", "abd", &asked), Standing::Changed { granted: "abc".into() });
        let more = request(&["A_URL", "B_NOTE"], &["/"]);
        assert_eq!(
            g.standing("p", "abc", &more),
            Standing::AsksMore(vec!["settings B_NOTE".into(), "read paths /".into()])
        );
        assert!(g.standing("p", "abc", &more).refusal("p").unwrap().contains("plugins grant p"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_grants_file_is_an_error_not_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grants.json");
        std::fs::write(&path, "{ not json").unwrap();
        assert!(matches!(Grants::load(&path), Err(GrantError::Parse { .. })));
    }

    #[test]
    fn read_paths_never_reach_the_home_or_the_system() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(home.join("plugins")).unwrap();
        std::fs::create_dir_all(&logs).unwrap();
        let protected = vec![home.clone(), home.join("plugins")];
        assert!(check_read_path(&logs, &protected).is_ok());
        for bad in [
            PathBuf::from("/"),
            PathBuf::from("/proc/self"),
            PathBuf::from("/sys"),
            PathBuf::from("/dev/shm"),
            dir.path().to_path_buf(),
            home.clone(),
            home.join(".env"),
            home.join("plugins"),
        ] {
            assert!(check_read_path(&bad, &protected).is_err(), "{}", bad.display());
        }
        #[cfg(unix)]
        {
            let link = dir.path().join("innocent");
            std::os::unix::fs::symlink(&home, &link).unwrap();
            let why = check_read_path(&link, &protected).unwrap_err().to_string();
            assert!(why.contains("inside") || why.contains("contains"), "{why}");
        }
    }
}
