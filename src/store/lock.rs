//! One writer per database: an exclusive `flock(2)` on the database file itself, taken by
//! [`super::Store::open`] and held for the writer's life.
//!
//! Why `flock` on the file and not SQLite's `locking_mode = EXCLUSIVE`: in WAL mode that mode
//! keeps every other connection out, readers included, so `ssd-edge report` could not read
//! while a run counts. Why not a separate lock file: nothing to leave behind or clean up, and
//! no second path that could differ from the database's (a symlink, a bind mount). SQLite
//! itself locks with `fcntl` byte ranges, which on Linux are independent of `flock`, so the
//! two never interfere; readers (`report`) do not take this lock. The kernel drops it when the
//! process ends however it ends (kill -9, power loss), so a crash never leaves a stale lock.

use super::StoreError;
use std::fs::File;
use std::path::Path;

#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the lock without waiting; another holder is [`StoreError::Locked`].
    pub(crate) fn take(path: &Path) -> Result<WriterLock, StoreError> {
        let file = File::open(path).map_err(|e| StoreError::Io {
            path: path.to_owned(),
            error: e,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock(2) on a descriptor this function owns.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r != 0 {
                let e = std::io::Error::last_os_error();
                return Err(if e.kind() == std::io::ErrorKind::WouldBlock {
                    StoreError::Locked {
                        path: path.to_owned(),
                    }
                } else {
                    StoreError::Io {
                        path: path.to_owned(),
                        error: e,
                    }
                });
            }
        }
        Ok(WriterLock { _file: file })
    }
}
