//! One run at a time per home folder: an advisory `flock` on a lock file,
//! released by the kernel when the process ends, however it ends.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::error::{ErrorKind, HostError, Result};

/// Held while collecting; dropping it releases the lock.
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock, or fails at once with "another run is in progress".
    pub fn acquire(path: &Path) -> Result<RunLock> {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(
            |e| {
                HostError::new(
                    ErrorKind::Store,
                    format!("cannot write in the home folder ({}): {e}", path.display()),
                )
                .with_hint("make the home folder writable, or free disk space; nothing was changed")
            },
        )?;
        try_lock(&file).map_err(|busy| {
            if busy {
                HostError::new(ErrorKind::Busy, "another run is in progress in this home folder")
                    .with_hint("wait for it to finish; the lock is released when it exits")
            } else {
                HostError::config(format!("cannot lock {}", path.display()))
            }
        })?;
        Ok(RunLock { _file: file })
    }
}

/// `Err(true)` when someone else holds it.
#[cfg(unix)]
fn try_lock(file: &File) -> std::result::Result<(), bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor owned by `file`, which outlives the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK))
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::result::Result<(), bool> {
    Ok(())
}
