//! One daemon per `data_dir`: the folder holds what only one supervisor may own at a time (the
//! SQLite store, the Durable Objects' files and their alarm index, D1 and R2 files), so a second
//! `stockade serve` on the same folder must not start beside the first. Before that check, two
//! daemons on one folder both ran: two supervisors could each construct the same Durable Object,
//! which breaks the one-instance promise its storage's consistency rests on.
//!
//! Guarantees:
//! - `serve` takes an exclusive `flock(2)` on `data_dir/stockade.lock` before it opens the store
//!   and holds it for its whole life; a second daemon on the folder fails to start with
//!   [`DataDirError::Held`], naming the folder and the holder's pid as the holder wrote it;
//! - the lock is the kernel's, tied to the open file: it is released when the process ends, also
//!   by `kill -9`, so a crash never leaves a stale lock to clear by hand (the pid in the file is
//!   only for the message);
//! - the folder is created (mode 0700) when missing, as the store would.
//!
//! Trusts: that the folder is on a filesystem with working `flock` (local filesystems do; on
//! NFS, Linux emulates it with byte-range locks, which also exclude across hosts).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside `data_dir`.
pub const LOCK_FILE: &str = "stockade.lock";

/// The held lock: dropping it (the daemon's end) releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Why the daemon could not take its `data_dir`.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The folder or the lock file could not be made or opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another process holds the lock.
    #[error(
        "another stockade daemon ({holder}) serves data_dir {}; one daemon per data_dir (give \
         this one a data_dir of its own)",
        dir.display()
    )]
    Held { dir: PathBuf, holder: String },
    /// `flock` itself failed (not because another process holds it).
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DataDirLock {
    /// Creates `dir` if missing and takes its lock, writing this process's pid into it.
    pub fn take(dir: &Path) -> Result<DataDirLock, DataDirError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| DataDirError::Open {
                path: dir.to_path_buf(),
                source,
            })?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|source| DataDirError::Open {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut written = String::new();
                let _ = file.read_to_string(&mut written);
                let holder = match written.trim().parse::<u32>() {
                    Ok(pid) => format!("pid {pid}"),
                    Err(_) => "pid unknown".to_string(),
                };
                return Err(DataDirError::Held {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(source)) => return Err(DataDirError::Lock { path, source }),
        }
        // The pid is for a second daemon's message only; failing to write it is not fatal.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()));
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stockade-lock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_second_lock_on_the_folder_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = scratch("second");
        let first = DataDirLock::take(&dir).expect("first");
        // flock locks belong to the open file description, so a second open in this same
        // process is refused exactly as another process's would be.
        match DataDirLock::take(&dir) {
            Err(DataDirError::Held { holder, .. }) => {
                assert_eq!(holder, format!("pid {}", std::process::id()));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        let again = DataDirLock::take(&dir).expect("free once the first is dropped");
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_folder_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("made").join("nested");
        let lock = DataDirLock::take(&dir).expect("take");
        let mode = std::fs::metadata(&dir).expect("dir").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        drop(lock);
        let _ = std::fs::remove_dir_all(dir.parent().expect("parent"));
    }
}
