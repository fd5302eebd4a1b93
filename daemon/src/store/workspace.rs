//! Workspaces: a small filesystem per (tenant, workspace name), rows of `files` (files and
//! directories at normal paths, see `paths`) with the usage in `workspaces`.
//!
//! Guarantees: every operation is confined to one (tenant, workspace) (both are bound in every
//! statement); every path is normalised first (`paths`), so nothing names a row outside it; a
//! write locks the workspace's usage row first (PostgreSQL `FOR UPDATE`; SQLite transactions are
//! serialised), so concurrent writers, from any number of isolates or daemons, can never take a
//! workspace past its quotas of bytes and entries; parents are directories (a write creates the
//! missing ones, a file never has children); the usage row always equals the sum of its files.
//! Trusts: the tenant and workspace its caller resolved.

use super::paths::{self, ancestors, is_within};
use super::{Quotas, StoreError, Tx};

/// Largest file, bytes (a host call carries at most 16 MiB).
pub const MAX_FILE_BYTES: usize = 15 << 20;

/// One entry's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub dir: bool,
    pub size: i64,
    pub mtime_ms: i64,
}

/// A workspace: who and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ws {
    pub tenant: String,
    pub name: String,
}

impl Ws {
    pub fn new(tenant: &str, name: &str) -> Ws {
        Ws {
            tenant: tenant.to_owned(),
            name: name.to_owned(),
        }
    }
}

fn entry_of(row: &super::Row) -> Result<Entry, StoreError> {
    Ok(Entry {
        path: row.text(0)?,
        dir: row.int(1)? != 0,
        size: row.int(2)?,
        mtime_ms: row.int(3)?,
    })
}

/// The entry at normal `path` (the root is always a directory).
pub fn stat(tx: &mut dyn Tx, ws: &Ws, path: &str) -> Result<Option<Entry>, StoreError> {
    if path.is_empty() {
        return Ok(Some(Entry {
            path: String::new(),
            dir: true,
            size: 0,
            mtime_ms: 0,
        }));
    }
    let rows = tx.query(
        "SELECT path, dir, size, mtime_ms FROM files \
         WHERE tenant = ?1 AND workspace = ?2 AND path = ?3",
        &[
            ws.tenant.as_str().into(),
            ws.name.as_str().into(),
            path.into(),
        ],
    )?;
    rows.first().map(entry_of).transpose()
}

/// The contents of the file at normal `path`.
pub fn read(tx: &mut dyn Tx, ws: &Ws, path: &str) -> Result<(Vec<u8>, Entry), StoreError> {
    let mut rows = tx.query(
        "SELECT path, dir, size, mtime_ms, data FROM files \
         WHERE tenant = ?1 AND workspace = ?2 AND path = ?3",
        &[
            ws.tenant.as_str().into(),
            ws.name.as_str().into(),
            path.into(),
        ],
    )?;
    let Some(row) = rows.first_mut() else {
        return Err(StoreError::NotFound(format!("no such file: {path}")));
    };
    let entry = entry_of(row)?;
    if entry.dir {
        return Err(StoreError::Invalid(format!("{path} is a directory")));
    }
    Ok((row.blob(4)?, entry))
}

/// Every entry strictly below normal directory `dir` (everything for the root), in path order.
pub fn below(tx: &mut dyn Tx, ws: &Ws, dir: &str) -> Result<Vec<Entry>, StoreError> {
    let rows = if dir.is_empty() {
        tx.query(
            "SELECT path, dir, size, mtime_ms FROM files \
             WHERE tenant = ?1 AND workspace = ?2 ORDER BY path",
            &[ws.tenant.as_str().into(), ws.name.as_str().into()],
        )?
    } else {
        // Paths below `d` are exactly those in ["d/", "d0"): '0' follows '/'.
        tx.query(
            "SELECT path, dir, size, mtime_ms FROM files \
             WHERE tenant = ?1 AND workspace = ?2 AND path > ?3 AND path < ?4 ORDER BY path",
            &[
                ws.tenant.as_str().into(),
                ws.name.as_str().into(),
                format!("{dir}/").into(),
                format!("{dir}0").into(),
            ],
        )?
    };
    rows.iter().map(entry_of).collect()
}

/// The entries directly in normal directory `dir`.
pub fn list(tx: &mut dyn Tx, ws: &Ws, dir: &str) -> Result<Vec<Entry>, StoreError> {
    match stat(tx, ws, dir)? {
        None => return Err(StoreError::NotFound(format!("no such directory: {dir}"))),
        Some(e) if !e.dir => return Err(StoreError::Invalid(format!("{dir} is a file"))),
        Some(_) => {}
    }
    let skip = if dir.is_empty() { 0 } else { dir.len() + 1 };
    Ok(below(tx, ws, dir)?
        .into_iter()
        .filter(|e| !e.path[skip..].contains('/'))
        .collect())
}

/// The workspace's usage row, locked until the transaction ends: (bytes, entries).
fn lock_usage(tx: &mut dyn Tx, ws: &Ws) -> Result<(i64, i64), StoreError> {
    let key = [ws.tenant.as_str().into(), ws.name.as_str().into()];
    tx.exec(
        "INSERT INTO workspaces (tenant, name, bytes, files) VALUES (?1, ?2, 0, 0) \
         ON CONFLICT (tenant, name) DO NOTHING",
        &key,
    )?;
    let sql = format!(
        "SELECT bytes, files FROM workspaces WHERE tenant = ?1 AND name = ?2{}",
        tx.for_update()
    );
    let rows = tx.query(&sql, &key)?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Backend("the workspace row vanished".into()))?;
    Ok((row.int(0)?, row.int(1)?))
}

fn set_usage(tx: &mut dyn Tx, ws: &Ws, usage: (i64, i64)) -> Result<(), StoreError> {
    tx.exec(
        "UPDATE workspaces SET bytes = ?3, files = ?4 WHERE tenant = ?1 AND name = ?2",
        &[
            ws.tenant.as_str().into(),
            ws.name.as_str().into(),
            usage.0.into(),
            usage.1.into(),
        ],
    )?;
    Ok(())
}

fn check_quotas(usage: (i64, i64), quotas: Quotas) -> Result<(), StoreError> {
    if usage.0 > quotas.bytes {
        return Err(StoreError::Quota(format!(
            "the workspace would exceed its quota of {} bytes",
            quotas.bytes
        )));
    }
    if usage.1 > quotas.files {
        return Err(StoreError::Quota(format!(
            "the workspace would exceed its quota of {} files and directories",
            quotas.files
        )));
    }
    Ok(())
}

fn insert(
    tx: &mut dyn Tx,
    ws: &Ws,
    path: &str,
    data: Option<Vec<u8>>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let dir = i64::from(data.is_none());
    let data = data.unwrap_or_default();
    let size = data.len() as i64;
    tx.exec(
        "INSERT INTO files (tenant, workspace, path, dir, data, size, mtime_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tenant, workspace, path) \
         DO UPDATE SET dir = excluded.dir, data = excluded.data, size = excluded.size, \
         mtime_ms = excluded.mtime_ms",
        &[
            ws.tenant.as_str().into(),
            ws.name.as_str().into(),
            path.into(),
            dir.into(),
            data.into(),
            size.into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// Makes the directories `dirs` (outermost first) that are missing; counts them in `usage`.
fn make_dirs(
    tx: &mut dyn Tx,
    ws: &Ws,
    dirs: &[&str],
    usage: &mut (i64, i64),
    now_ms: i64,
) -> Result<(), StoreError> {
    for dir in dirs {
        match stat(tx, ws, dir)? {
            Some(e) if e.dir => {}
            Some(_) => return Err(StoreError::Conflict(format!("{dir} is a file"))),
            None => {
                insert(tx, ws, dir, None, now_ms)?;
                usage.1 += 1;
            }
        }
    }
    Ok(())
}

/// Writes the file at normal `path` (replacing one), making missing parent directories.
pub fn write(
    tx: &mut dyn Tx,
    ws: &Ws,
    path: &str,
    data: Vec<u8>,
    quotas: Quotas,
    now_ms: i64,
) -> Result<(), StoreError> {
    if path.is_empty() {
        return Err(StoreError::Invalid(
            "the workspace root is not a file".into(),
        ));
    }
    if data.len() > MAX_FILE_BYTES {
        return Err(StoreError::Invalid(format!(
            "a file is at most {MAX_FILE_BYTES} bytes"
        )));
    }
    let mut usage = lock_usage(tx, ws)?;
    make_dirs(tx, ws, &ancestors(path), &mut usage, now_ms)?;
    match stat(tx, ws, path)? {
        Some(e) if e.dir => return Err(StoreError::Conflict(format!("{path} is a directory"))),
        Some(e) => usage.0 -= e.size,
        None => usage.1 += 1,
    }
    usage.0 += data.len() as i64;
    check_quotas(usage, quotas)?;
    insert(tx, ws, path, Some(data), now_ms)?;
    set_usage(tx, ws, usage)
}

/// Makes the directory at normal `path` and its missing parents (an existing one is fine).
pub fn mkdir(
    tx: &mut dyn Tx,
    ws: &Ws,
    path: &str,
    quotas: Quotas,
    now_ms: i64,
) -> Result<(), StoreError> {
    if path.is_empty() {
        return Ok(());
    }
    let mut usage = lock_usage(tx, ws)?;
    let mut dirs = ancestors(path);
    dirs.push(path);
    make_dirs(tx, ws, &dirs, &mut usage, now_ms)?;
    check_quotas(usage, quotas)?;
    set_usage(tx, ws, usage)
}

/// Deletes the entry at normal `path` (a non-empty directory only when `recursive`); whether
/// there was one.
pub fn delete(tx: &mut dyn Tx, ws: &Ws, path: &str, recursive: bool) -> Result<bool, StoreError> {
    if path.is_empty() {
        return Err(StoreError::Invalid(
            "the workspace root cannot be deleted".into(),
        ));
    }
    let mut usage = lock_usage(tx, ws)?;
    let Some(entry) = stat(tx, ws, path)? else {
        return Ok(false);
    };
    let mut gone = vec![entry.clone()];
    if entry.dir {
        let children = below(tx, ws, path)?;
        if !children.is_empty() && !recursive {
            return Err(StoreError::Conflict(format!(
                "directory {path} is not empty"
            )));
        }
        gone.extend(children);
    }
    for e in &gone {
        usage.0 -= e.size;
        usage.1 -= 1;
    }
    tx.exec(
        "DELETE FROM files WHERE tenant = ?1 AND workspace = ?2 AND \
         (path = ?3 OR (path > ?4 AND path < ?5))",
        &[
            ws.tenant.as_str().into(),
            ws.name.as_str().into(),
            path.into(),
            format!("{path}/").into(),
            format!("{path}0").into(),
        ],
    )?;
    set_usage(tx, ws, usage)?;
    Ok(true)
}

/// Moves the entry at normal `from` (a directory with everything below it) to normal `to`,
/// which must not exist; missing parents of `to` are made. Refused when an entry's new path
/// would break the path rules (`paths`: too long, too deep).
pub fn rename(
    tx: &mut dyn Tx,
    ws: &Ws,
    from: &str,
    to: &str,
    quotas: Quotas,
    now_ms: i64,
) -> Result<(), StoreError> {
    if from.is_empty() || to.is_empty() {
        return Err(StoreError::Invalid(
            "the workspace root cannot be moved".into(),
        ));
    }
    if is_within(to, from) {
        return Err(StoreError::Invalid(format!(
            "cannot move {from} into itself"
        )));
    }
    let mut usage = lock_usage(tx, ws)?;
    let Some(entry) = stat(tx, ws, from)? else {
        return Err(StoreError::NotFound(format!(
            "no such file or directory: {from}"
        )));
    };
    if stat(tx, ws, to)?.is_some() {
        return Err(StoreError::Conflict(format!("{to} exists")));
    }
    let mut moving = vec![entry.path.clone()];
    if entry.dir {
        moving.extend(below(tx, ws, from)?.into_iter().map(|e| e.path));
    }
    let moving: Vec<(String, String)> = moving
        .into_iter()
        .map(|old| {
            let new = format!("{to}{}", &old[from.len()..]);
            (old, new)
        })
        .collect();
    // A deeper or longer `to` may take an entry below it past the path rules: refused, like
    // any path that breaks them, before anything moves.
    for (_, new) in &moving {
        paths::normalise(new)?;
    }
    make_dirs(tx, ws, &ancestors(to), &mut usage, now_ms)?;
    check_quotas(usage, quotas)?;
    for (old, new) in moving {
        tx.exec(
            "UPDATE files SET path = ?4 WHERE tenant = ?1 AND workspace = ?2 AND path = ?3",
            &[
                ws.tenant.as_str().into(),
                ws.name.as_str().into(),
                old.into(),
                new.into(),
            ],
        )?;
    }
    set_usage(tx, ws, usage)
}

/// The workspace's usage: (bytes, entries).
#[cfg(test)]
pub fn usage(tx: &mut dyn Tx, ws: &Ws) -> Result<(i64, i64), StoreError> {
    let rows = tx.query(
        "SELECT bytes, files FROM workspaces WHERE tenant = ?1 AND name = ?2",
        &[ws.tenant.as_str().into(), ws.name.as_str().into()],
    )?;
    match rows.first() {
        Some(row) => Ok((row.int(0)?, row.int(1)?)),
        None => Ok((0, 0)),
    }
}

/// Files (not directories) below normal `dir`, with their contents, in path order, `batch` at a
/// time after `after` (exclusive).
pub fn files_after(
    tx: &mut dyn Tx,
    ws: &Ws,
    after: &str,
    batch: i64,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    tx.query(
        "SELECT path, data FROM files WHERE tenant = ?1 AND workspace = ?2 AND dir = 0 \
         AND path > ?3 ORDER BY path LIMIT ?4",
        &[
            ws.tenant.as_str().into(),
            ws.name.as_str().into(),
            after.into(),
            batch.into(),
        ],
    )?
    .into_iter()
    .map(|mut row| Ok((row.text(0)?, row.blob(1)?)))
    .collect()
}

/// Re-exported for callers that normalise.
pub use paths::{normalise, normalise_file};
