//! The home folder and the settings read from the environment and `.env`.
//!
//! Loading configuration never writes a file. The process environment wins
//! over `.env`; nothing is copied into the process environment, so a plugin
//! sees only what it is handed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A `Result` whose error is a [`ConfigError`].
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// What is wrong with the home folder or a setting. Each variant names the
/// folder or the setting, never a setting's value where it may be a secret;
/// [`crate::error`] maps them to exit code 3 and to their hints.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--home` / `AGENT_HOME` names no folder.
    #[error("home folder {} does not exist", .0.display())]
    NoHome(PathBuf),
    /// No platform data folder to put the default home in.
    #[error("cannot find this user's data folder (is HOME set?)")]
    NoDataFolder,
    /// The default home could not be made.
    #[error("cannot create the home folder {}: {source}", .path.display())]
    CreateHome {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `.env` could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    ReadEnvFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `.env` does not parse; the reason names the line, not the value.
    #[error("{}: {reason}", .path.display())]
    EnvFileSyntax {
        /// The file.
        path: PathBuf,
        /// Which line, and what is wrong with it.
        reason: String,
    },
    /// A setting that does not parse as what it must be.
    #[error("{name}={value:?} is not {what}")]
    NotA {
        /// The setting.
        name: String,
        /// Its value (settings read this way are never secrets).
        value: String,
        /// What it must be, e.g. "a number of seconds".
        what: String,
    },
    /// A whole-number setting above its ceiling.
    #[error("{name}={value} is more than {max} ({what})")]
    TooLarge {
        /// The setting.
        name: String,
        /// Its value.
        value: u64,
        /// The largest value taken.
        max: u64,
        /// What it is, e.g. "a number of seconds".
        what: String,
    },
    /// A setting that parses but is out of the range its reader takes.
    #[error("{name}={value} is not {what}")]
    OutOfRange {
        /// The setting.
        name: String,
        /// Its value, as read.
        value: String,
        /// What it must be.
        what: String,
    },
}

/// The folder that holds `.env`, `agent_os.db`, `agent.log` and `plugins/`.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Resolves the home folder: `--home` (which clap fills from
    /// `AGENT_HOME`), which must exist; else the platform's data folder
    /// (`~/.local/share/agent-host` on Linux, `~/Library/Application
    /// Support/agent-host` on macOS), created on first use unless `create`
    /// is false (a command that only reads: `prices`, `plugin check`).
    pub fn resolve(flag: Option<&Path>, create: bool) -> Result<Self> {
        let Some(root) = flag.map(Path::to_path_buf) else { return Self::default_home(create) };
        if !root.is_dir() {
            return Err(ConfigError::NoHome(root));
        }
        Ok(Home { root })
    }

    fn default_home(create: bool) -> Result<Self> {
        let base = dirs::data_dir().ok_or(ConfigError::NoDataFolder)?;
        let root = base.join("agent-host");
        if create && !root.is_dir() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(&root)
                .map_err(|source| ConfigError::CreateHome { path: root.clone(), source })?;
        }
        Ok(Home { root })
    }

    /// A database in the working folder that is not the home's: the sign of
    /// a home that used to be the working folder.
    pub fn stray_database(&self) -> Option<PathBuf> {
        let here = std::env::current_dir().ok()?.join("agent_os.db");
        let ours = self.db_path();
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        (here.is_file() && !same(&here, &ours)).then_some(here)
    }

    /// Whether the folder exists (a read-only command does not create it).
    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }

    /// The home folder itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where `report daily` writes its exports.
    pub fn exports_dir(&self) -> PathBuf {
        self.root.join("exports")
    }

    /// `agent_os.db`.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("agent_os.db")
    }

    /// `agent.log`.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("agent.log")
    }

    /// `.env`.
    pub fn env_path(&self) -> PathBuf {
        self.root.join(".env")
    }

    /// The lock file that keeps two runs apart.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(".agent-host.lock")
    }

    /// The cache of plugin manifests, by file identity.
    pub fn manifest_cache_path(&self) -> PathBuf {
        self.root.join("plugin-manifests.json")
    }

    /// `grants.json`: what the operator granted each plugin file.
    pub fn grants_path(&self) -> PathBuf {
        self.root.join("grants.json")
    }

    /// The default plugins folder.
    pub fn default_plugins_dir(&self) -> PathBuf {
        self.root.join("plugins")
    }

    /// The files the home keeps for agent-host (not `.env`, which is the
    /// operator's: `doctor` checks it).
    pub fn kept_files(&self) -> Vec<PathBuf> {
        let db = self.db_path();
        let with = |suffix: &str| {
            let mut name = db.as_os_str().to_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        vec![
            db.clone(),
            with("-wal"),
            with("-shm"),
            self.log_path(),
            self.manifest_cache_path(),
            self.grants_path(),
            self.lock_path(),
        ]
    }

    /// Makes each kept file that others may read or write 0600: a home
    /// made by an older release had its database and log at 0644. A file
    /// that cannot be changed is left for `doctor` to report.
    pub fn tighten(&self) {
        #[cfg(unix)]
        for path in self.kept_files() {
            use std::os::unix::fs::PermissionsExt;
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
}

/// Files and folders this process creates are its user's alone (umask 077):
/// the database, its journal, the log, caches and exports hold spend and
/// the names of keys. Plugin files are installed with an explicit 0755.
pub fn keep_private() {
    #[cfg(unix)]
    // SAFETY: umask only sets this process's file creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// Settings and secrets: `.env` overlaid by the process environment.
#[derive(Clone, Default)]
pub struct Settings {
    vars: BTreeMap<String, String>,
    /// What the operator set for agent-host itself: `.env`, overlaid by a
    /// job's own values in `agent-host.toml` (the process environment, which
    /// `vars` lays over it, reaches a plugin only where its grant says so).
    operator: BTreeMap<String, String>,
    warnings: Vec<String>,
    env_file: PathBuf,
}

// Values are secrets: never print them.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings").field("names", &self.vars.keys().collect::<Vec<_>>()).finish()
    }
}

impl Settings {
    /// Reads `.env` (if present) and the process environment.
    pub fn load(env_file: &Path) -> Result<Self> {
        let mut settings = Settings { env_file: env_file.to_path_buf(), ..Settings::default() };
        if env_file.exists() {
            settings.warnings.extend(permission_warning(env_file));
            let text = std::fs::read_to_string(env_file)
                .map_err(|source| ConfigError::ReadEnvFile { path: env_file.into(), source })?;
            settings.vars = crate::envfile::parse(&text)
                .map_err(|reason| ConfigError::EnvFileSyntax { path: env_file.into(), reason })?;
            settings.operator = settings.vars.clone();
        }
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                settings.vars.insert(k, v);
            }
        }
        Ok(settings)
    }

    /// Settings from a fixed map (tests).
    #[cfg(test)]
    pub fn from_map(vars: BTreeMap<String, String>) -> Self {
        Settings { vars, ..Settings::default() }
    }

    /// The same settings with `name` set to `value` (a job's own value).
    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_string(), value.to_string());
        self.operator.insert(name.to_string(), value.to_string());
    }

    /// A setting's value for a plugin: set in `.env` or the plugin's job,
    /// or in the process environment when `name` is among `from_env` (the
    /// names its grant lets it take from there).
    pub fn for_plugin(&self, name: &str, from_env: &[String]) -> Option<&str> {
        let value = if from_env.iter().any(|e| e == name) {
            self.vars.get(name)
        } else {
            self.operator.get(name)
        };
        value.map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The same settings without `name` (a secret a job does not map).
    pub fn remove(&mut self, name: &str) {
        self.vars.remove(name);
        self.operator.remove(name);
    }

    /// A setting's value; empty values count as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// Whether `name` holds a secret: a name any installed plugin declares
    /// as one (`declared`), a name that says it is one (see
    /// [`is_secret_name`]), or a URL carrying a password. Such a setting is
    /// never handed to a plugin as a plain setting.
    pub fn is_secret(&self, name: &str, declared: &[String]) -> bool {
        // The alert mail server's URL holds its login whenever it has one;
        // without one it is still the host's, never a plugin's.
        const HOST_SECRETS: [&str; 2] = ["ALERT_SMTP_URL", "AGENT_STORE_URL"];
        is_secret_name(name)
            || HOST_SECRETS.contains(&name)
            || declared.iter().any(|d| d == name)
            || self.get(name).is_some_and(url_has_password)
    }

    /// Every secret value that is set, for redaction everywhere.
    pub fn secret_values(&self, declared: &[String]) -> Vec<String> {
        let mut values: Vec<String> = self
            .vars
            .iter()
            .filter(|(k, v)| !v.is_empty() && self.is_secret(k, declared))
            .map(|(_, v)| v.clone())
            .collect();
        // A URL's password also shows on its own (a driver's message).
        let passwords: Vec<String> = values.iter().flat_map(|v| url_password(v)).collect();
        values.extend(passwords);
        // Longest first, so a secret that contains another is redacted whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        values
    }

    /// The `.env` file settings are read from (whether or not it exists).
    pub fn env_file(&self) -> &Path {
        &self.env_file
    }

    /// Warnings found while loading (e.g. `.env` readable by others).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A setting parsed with `parse`, or `default` when unset. A value that
    /// does not parse is an error naming the setting.
    pub fn parsed<T>(&self, name: &str, default: T, what: &str) -> Result<T>
    where
        T: std::str::FromStr,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| ConfigError::NotA {
                name: name.into(),
                value: v.into(),
                what: what.into(),
            }),
        }
    }
}

impl Settings {
    /// A whole-number setting, `default` when unset, refused above `max` (a
    /// value that large is a typo, and would overflow a clock or a date).
    pub fn bounded(&self, name: &str, default: u64, max: u64, what: &str) -> Result<u64> {
        let v: u64 = self.parsed(name, default, what)?;
        if v > max {
            return Err(ConfigError::TooLarge {
                name: name.into(),
                value: v,
                max,
                what: what.into(),
            });
        }
        Ok(v)
    }
}

/// Whether a setting's name says it holds a secret: one of its
/// `_`-separated words is, or ends with, a key, a token, a secret, a
/// password, a passphrase or a `PWD`, singular or plural
/// (`OPENAI_ADMIN_KEYS`, `PGPASSWORD`, `GH_TOKEN`, `MYSQL_PWD`), or is
/// credentials, a DSN, a webhook, a cookie, a session, auth, a pass or a
/// PAT (`SENTRY_DSN`, `SLACK_WEBHOOK_URL`, `SMTP_PASS`, `GITHUB_PAT`).
/// `MAX_TOKENS`, `GIT_AUTHOR` and the shell's `PWD` are not.
pub fn is_secret_name(name: &str) -> bool {
    const ENDINGS: [&str; 7] =
        ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "PWD"];
    const WORDS: [&str; 9] =
        ["CREDENTIAL", "CREDENTIALS", "DSN", "WEBHOOK", "COOKIE", "SESSION", "AUTH", "PASS", "PAT"];
    let name = name.to_ascii_uppercase();
    // The shell's working folders, not passwords.
    if name == "PWD" || name == "OLDPWD" {
        return false;
    }
    let words: Vec<&str> = name.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    // `MAX_TOKENS` counts tokens; `SLACK_TOKENS` holds them.
    let counts = words.iter().any(|w| ["MAX", "MIN", "LIMIT", "COUNT", "NUM"].contains(w));
    words.iter().any(|w| {
        let singular = w.strip_suffix('S').filter(|_| !counts).unwrap_or(w);
        ENDINGS.iter().any(|e| w.ends_with(e) || singular.ends_with(e)) || WORDS.contains(w)
    })
}

/// Whether a value is a URL with a password in it (`postgres://u:pw@h/db`).
/// A URL's password, as written and percent-decoded.
fn url_password(value: &str) -> Vec<String> {
    let Some(p) = url::Url::parse(value).ok().and_then(|u| u.password().map(str::to_string)) else {
        return Vec::new();
    };
    let decoded = url::form_urlencoded::parse(format!("p={p}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned());
    std::iter::once(p).chain(decoded).filter(|p| !p.is_empty()).collect()
}

fn url_has_password(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|u| u.password().is_some_and(|p| !p.is_empty()))
}

#[cfg(unix)]
fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is readable by other users and holds secrets; fix with `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_and_urls_with_passwords_are_secrets() {
        for name in [
            "OPENAI_ADMIN_KEY",
            "AWS_ACCESS_KEY_ID",
            "PGPASSWORD",
            "SENTRY_DSN",
            "GH_TOKEN",
            "MYSQL_PWD",
            "GITHUB_PAT",
            "SMTP_PASS",
            "GPG_PASSPHRASE",
            "OPENAI_ADMIN_KEYS",
            "SLACK_TOKENS",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "SSH_PRIVATE_KEY_FILE",
            "DB_PASS",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "OPENAI_BASE_URL",
            "OPENAI_ACCOUNT",
            "MONTHLY_BUDGET_USD",
            "AGENT_HOME",
            "ANTHROPIC_MAX_TOKENS",
            "GIT_AUTHOR",
            "MAX_SESSIONS",
            "PWD",
            "CLAUDE_CONFIG_DIR",
            "CODEX_HOME",
            "PATH",
            "PATHS",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
        let s = Settings::from_map(
            [("DATABASE_URL".into(), "postgres://u:hunter22@db/x".into())].into(),
        );
        assert!(s.is_secret("DATABASE_URL", &[]));
        // The password alone too: a driver may quote it without the URL.
        assert_eq!(
            s.secret_values(&[]),
            vec!["postgres://u:hunter22@db/x".to_string(), "hunter22".to_string()]
        );
        assert!(Settings::from_map(BTreeMap::new()).is_secret("AGENT_STORE_URL", &[]));
        // The alert mail server, with or without a login in it.
        let s = Settings::from_map(
            [("ALERT_SMTP_URL".into(), "smtp://u:pw-secret@mail.example.com:587".into())].into(),
        );
        assert!(s.is_secret("ALERT_SMTP_URL", &[]));
        assert!(Settings::from_map(BTreeMap::new()).is_secret("ALERT_SMTP_URL", &[]));
    }

    #[test]
    fn parsed_setting_names_the_variable() {
        let s = Settings::from_map([("BUDGET".into(), "lots".into())].into());
        let err = s.parsed::<u32>("BUDGET", 1, "a whole number").unwrap_err();
        assert!(err.to_string().contains("BUDGET=\"lots\" is not a whole number"));
        assert_eq!(s.parsed::<u32>("OTHER", 7, "x").unwrap(), 7);
    }
}
