//! One run at a time per home folder: an advisory `flock` on a lock file,
//! released by the kernel when the process ends, however it ends.

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::error::{KernelError, Result};

/// Held while collecting; dropping it releases the lock.
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock, or fails at once with "another run is in progress".
    pub fn acquire(path: &Path) -> Result<RunLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| KernelError::HomeNotWritable { path: path.into(), source })?;
        try_lock(&file).map_err(|busy| {
            if busy {
                KernelError::Busy
            } else {
                KernelError::Lock(path.into())
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
