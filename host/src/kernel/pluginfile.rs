//! Trusting a plugin file: it must be a regular file (no symlink), owned by
//! this user or root, writable by no one else, in folders up to the root that
//! no one else can write to (a root-owned sticky folder such as `/tmp`
//! excepted). The file is opened once; its identity and sha256 come from that
//! descriptor, and the worker loads exactly that descriptor, so a file
//! swapped after the checks is never the one that runs.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What identifies a plugin file's content for the manifest cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// sha256 of the content, hex.
    pub sha256: String,
}

impl Identity {
    /// The identity of the file `meta` describes, whose content hashes to
    /// `sha256`.
    #[cfg(unix)]
    pub fn of(meta: &std::fs::Metadata, sha256: String) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            sha256,
        }
    }

    /// The identity of the file `meta` describes (no inode off Unix).
    #[cfg(not(unix))]
    pub fn of(meta: &std::fs::Metadata, sha256: String) -> Identity {
        Identity { dev: 0, ino: 0, size: meta.len(), mtime_ns: 0, sha256 }
    }
}

/// A digest as lowercase hex.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A checked, open plugin file.
pub struct CheckedFile {
    /// The open file the worker will load.
    pub file: File,
    /// Its identity.
    pub identity: Identity,
}

/// Checks `path` and its folders, opens it without following links, and
/// hashes what was opened. The error is one line.
pub fn open_checked(path: &Path) -> Result<CheckedFile, String> {
    imp::open_checked(path)
}

/// Why a folder cannot be trusted, and the command that fixes it if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderProblem {
    /// One line.
    pub message: String,
    /// The fix, e.g. `chmod go-w DIR`.
    pub fix: Option<String>,
}

/// Checks that a folder (the plugins folder) and its ancestors are safe.
pub fn check_folder(dir: &Path) -> Result<(), FolderProblem> {
    imp::check_folder(dir)
}

fn sha256_of(file: &mut File) -> Result<String, String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("cannot read: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

#[cfg(unix)]
mod imp {
    use std::fs::Metadata;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::path::Path;

    use super::{sha256_of, CheckedFile, FolderProblem, Identity};

    fn owner_ok(meta: &Metadata) -> bool {
        // SAFETY: no arguments.
        let me = unsafe { libc::geteuid() };
        meta.uid() == me || meta.uid() == 0
    }

    fn who_can_write(meta: &Metadata) -> Option<&'static str> {
        let mode = meta.mode();
        if mode & 0o002 != 0 {
            Some("writable by every user")
        } else if mode & 0o020 != 0 {
            Some("writable by its group")
        } else {
            None
        }
    }

    /// The folder and every ancestor: owned by us or root, and not writable
    /// by others unless root-owned with the sticky bit.
    pub fn check_folder(dir: &Path) -> Result<(), FolderProblem> {
        let problem = |message: String, fix: Option<String>| FolderProblem { message, fix };
        let abs = std::fs::canonicalize(dir)
            .map_err(|e| problem(format!("cannot resolve {}: {e}", dir.display()), None))?;
        for folder in abs.ancestors() {
            let meta = std::fs::metadata(folder)
                .map_err(|e| problem(format!("cannot read {}: {e}", folder.display()), None))?;
            if !owner_ok(&meta) {
                return Err(problem(
                    format!(
                        "folder {} belongs to another user (uid {}), who could replace the plugins in it",
                        folder.display(),
                        meta.uid()
                    ),
                    None,
                ));
            }
            let sticky_root = meta.uid() == 0 && meta.mode() & 0o1000 != 0;
            if let Some(who) = who_can_write(&meta) {
                if !sticky_root {
                    return Err(problem(
                        format!(
                            "folder {} is {who}, so anyone could plant code in it",
                            folder.display()
                        ),
                        Some(format!("fix with `chmod go-w {}`", folder.display())),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn open_checked(path: &Path) -> Result<CheckedFile, String> {
        let link = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read: {e}"))?;
        if link.file_type().is_symlink() {
            return Err("is a symbolic link; copy the plugin file itself into the folder".into());
        }
        if !link.is_file() {
            return Err("not a regular file".into());
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("cannot open: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
        if (meta.dev(), meta.ino()) != (link.dev(), link.ino()) {
            return Err("the file changed while it was being checked".into());
        }
        if !owner_ok(&meta) {
            return Err(format!(
                "belongs to another user (uid {}); only files of this user or root are loaded",
                meta.uid()
            ));
        }
        if let Some(who) = who_can_write(&meta) {
            return Err(format!(
                "file is {who}, so anyone could replace its code; fix with `chmod go-w {}`",
                path.display()
            ));
        }
        let identity = Identity::of(&meta, sha256_of(&mut file)?);
        Ok(CheckedFile { file, identity })
    }
}

#[cfg(not(unix))]
mod imp {
    use std::path::Path;

    use super::{CheckedFile, FolderProblem};

    pub fn check_folder(_: &Path) -> Result<(), FolderProblem> {
        Ok(())
    }

    pub fn open_checked(_: &Path) -> Result<CheckedFile, String> {
        Err("plugins are supported on Unix only".into())
    }
}
