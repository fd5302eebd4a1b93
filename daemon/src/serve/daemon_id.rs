//! The daemon's identity: a random 128-bit id made once per `data_dir` and kept in
//! `data_dir/daemon.id` (32 hex digits, mode 0600), read at every start once the folder's lock
//! is held (`data_dir_lock.rs`). What a daemon leases in a store shared with others (a queue
//! batch it delivers, `store::queues::claim`) is recorded under this id, so a daemon restarted on
//! its folder knows which leases were its dead predecessor's: only one daemon holds the folder's
//! lock at a time, and the lock outlives nobody, so whoever held this id before is gone.
//!
//! Guarantees: the same folder gives the same id from start to start; the file is written whole
//! (a temporary file, fsynced, renamed over, the folder fsynced), so a crash leaves the old file,
//! the new one or none, never a torn one; a file that does not hold an id (edited by hand) is
//! replaced by a new id, logged: the leases of the old one are then left to end by themselves, as
//! before ids existed, never taken from another daemon.
//!
//! Trusts: that the folder is the daemon's alone (the lock), and that a `data_dir` is not copied
//! to start a second daemon on a store shared with the first (the copy would carry the id: delete
//! `daemon.id` in the copy, which then makes its own).

use std::io::Write;
use std::path::{Path, PathBuf};

/// The id file's name inside `data_dir`.
pub const ID_FILE: &str = "daemon.id";

/// Why the id could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum DaemonIdError {
    #[error("the daemon id {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the daemon id: no randomness: {0}")]
    Random(getrandom::Error),
}

/// The id of the daemon serving `dir` (whose lock the caller holds): the one kept there, or a
/// new one, then kept.
pub fn load_or_create(dir: &Path) -> Result<String, DaemonIdError> {
    let path = dir.join(ID_FILE);
    let io = |source| DaemonIdError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            if let Some(id) = parse(&text) {
                return Ok(id);
            }
            tracing::warn!(
                "{} does not hold a daemon id; a new one replaces it (leases of the old one end \
                 by themselves)",
                path.display()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(DaemonIdError::Random)?;
    let id = hex::encode(bytes);
    write_whole(dir, &path, &id).map_err(io)?;
    tracing::info!("a new daemon id for this data_dir: {id}");
    Ok(id)
}

/// The id in a file's text: 32 lowercase hex digits, surrounding whitespace aside.
fn parse(text: &str) -> Option<String> {
    let id = text.trim();
    (id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| id.to_owned())
}

/// Writes `id` to `path` whole: a temporary file (0600), fsynced, renamed over, `dir` fsynced.
fn write_whole(dir: &Path, path: &Path, id: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let temp = dir.join(format!("{ID_FILE}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    writeln!(file, "{id}")?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stockade-id-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    #[test]
    fn an_id_is_made_once_private_and_kept_from_start_to_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("kept");
        let first = load_or_create(&dir).expect("made");
        assert!(parse(&first).is_some(), "{first}");
        let mode = std::fs::metadata(dir.join(ID_FILE))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(&dir).expect("read"), first);
        let other = scratch("other");
        assert_ne!(load_or_create(&other).expect("made"), first);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&other);
    }

    #[test]
    fn a_file_without_an_id_is_replaced() {
        let dir = scratch("bad");
        std::fs::write(dir.join(ID_FILE), "not an id\n").expect("write");
        let id = load_or_create(&dir).expect("made");
        assert!(parse(&id).is_some(), "{id}");
        assert_eq!(
            std::fs::read_to_string(dir.join(ID_FILE)).expect("read"),
            format!("{id}\n")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
