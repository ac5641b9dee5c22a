//! What can go wrong in the kernel, as a typed [`KernelError`]: a plugin
//! that cannot be found or run, the plugins folder, the run lock, the store
//! under the run ledger. It knows no exit code and no hint: the command
//! line maps each variant to those in [`crate::error`].

use std::path::PathBuf;

use super::grants::{GrantError, ReadPathError};
use crate::config::ConfigError;
use crate::store::StoreError;

/// A `Result` whose error is a [`KernelError`].
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

/// Why the kernel could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// No plugin of that name was found.
    #[error("unknown plugin {name}")]
    UnknownPlugin {
        /// The name asked for.
        name: String,
        /// The plugins that are installed and granted.
        installed: Vec<String>,
    },
    /// The plugin's file was refused when the folder was scanned.
    #[error("plugin {name} cannot be used: {}: {reason}", .path.display())]
    RejectedPlugin {
        /// The plugin's name.
        name: String,
        /// Its file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// The plugin is installed but not granted (or its grant no longer
    /// matches its file).
    #[error("plugin {name} is not run: {why}")]
    NotGranted {
        /// The plugin's name.
        name: String,
        /// What the operator has to do.
        why: String,
    },
    /// A job whose plugin has no grant reached the run loop.
    #[error("{job} is not run: {why}")]
    JobNotGranted {
        /// The job's name.
        job: String,
        /// What the operator has to do.
        why: String,
    },
    /// A `--param` the plugin does not declare.
    #[error("plugin {plugin} has no parameter {param}")]
    UnknownParam {
        /// The plugin's name.
        plugin: String,
        /// The parameter given.
        param: String,
        /// The parameters it declares.
        known: Vec<String>,
    },
    /// The job cannot run with these settings (no key, a read path that
    /// reaches a protected folder).
    #[error("{job} cannot run: {why}")]
    CannotRun {
        /// The job's name.
        job: String,
        /// Why.
        why: String,
    },
    /// A read path of the job cannot be granted with these settings.
    #[error("{job} cannot run: {source}")]
    ReadPath {
        /// The job's name.
        job: String,
        /// What is wrong with the path.
        source: ReadPathError,
    },
    /// The plugins folder cannot be read.
    #[error("cannot read plugins folder {}: {source}", .dir.display())]
    PluginsFolder {
        /// The folder.
        dir: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The plugins folder is a file.
    #[error("plugins folder {} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    /// The plugins folder is not safe to load code from.
    #[error("refusing to load plugins from {}: {message}", .dir.display())]
    UnsafeFolder {
        /// The folder.
        dir: PathBuf,
        /// What is wrong with it.
        message: String,
        /// How to fix it, when known.
        fix: Option<String>,
    },
    /// The plugins folder cannot be listed.
    #[error("cannot list {}: {source}", .dir.display())]
    ListFolder {
        /// The folder.
        dir: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The operator's grants file cannot be used.
    #[error(transparent)]
    Grants(#[from] GrantError),
    /// The lock file cannot be made: the home is not writable.
    #[error("cannot write in the home folder ({}): {source}", .path.display())]
    HomeNotWritable {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Another run holds the home's lock.
    #[error("another run is in progress in this home folder")]
    Busy,
    /// The lock file exists but cannot be locked.
    #[error("cannot lock {}", .0.display())]
    Lock(PathBuf),
    /// A setting the kernel reads is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store refused a read or a write.
    #[error(transparent)]
    Store(#[from] StoreError),
}
