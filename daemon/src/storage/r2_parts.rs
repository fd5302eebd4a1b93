//! The multipart uploads in a tenant's R2 index: one `uploads` row per upload under way (its
//! bucket, key, metadata and start time) and one `parts` row per part stored (its number, the
//! version its file is named by, size and MD5).
//!
//! Guarantees: an upload is found only by its id *and* the bucket and key it was created for, in
//! the calling tenant's own index (another tenant's id reaches nothing); a part's bytes count in
//! the tenant's `usage` from the transaction that records it (so uploads under way count against
//! `r2_tenant_max_bytes`, across restarts too) until the upload is completed (they become the
//! object's bytes in the same transaction) or aborted or reaped (given back); a part's file is
//! named by a committed row until then, so the index's sweep keeps it. Trusts: its callers to
//! have checked keys, names and part numbers.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::Value;

use super::r2::{too_large_for_tenant, R2Error};
use super::r2_index::{self, usage, Meta};

/// The tables, created if new.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS uploads (
   id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, http TEXT NOT NULL,
   custom TEXT NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;
 CREATE TABLE IF NOT EXISTS parts (
   upload TEXT NOT NULL, number INTEGER NOT NULL, version TEXT NOT NULL, size INTEGER NOT NULL,
   md5 TEXT NOT NULL, PRIMARY KEY (upload, number)) WITHOUT ROWID;";

fn failed(e: rusqlite::Error) -> R2Error {
    R2Error::internal("index", e)
}

/// R2's error for an upload that is not (or no longer) there.
pub fn no_such_upload(method: &str) -> R2Error {
    R2Error::Failed(
        10024,
        format!("{method}: The specified multipart upload does not exist"),
    )
}

/// An upload under way.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub http: Value,
    pub custom: Value,
}

/// A stored part.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub number: u32,
    pub version: String,
    pub size: u64,
    pub md5: String,
}

/// Records a new upload `id` of `key` in `bucket`.
pub fn create(
    conn: &Connection,
    id: &str,
    bucket: &str,
    key: &str,
    upload: &Upload,
    now_ms: i64,
) -> Result<(), R2Error> {
    conn.execute(
        "INSERT INTO uploads (id, bucket, key, http, custom, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            bucket,
            key.as_bytes(),
            upload.http.to_string(),
            upload.custom.to_string(),
            now_ms
        ],
    )
    .map_err(failed)?;
    Ok(())
}

/// Upload `id`, if it is one of `key` in `bucket`.
pub fn find(
    conn: &Connection,
    id: &str,
    bucket: &str,
    key: &str,
) -> Result<Option<Upload>, R2Error> {
    conn.query_row(
        "SELECT http, custom FROM uploads WHERE id = ?1 AND bucket = ?2 AND key = ?3",
        params![id, bucket, key.as_bytes()],
        |r| {
            let json =
                |s: String| serde_json::from_str(&s).unwrap_or(Value::Object(Default::default()));
            Ok(Upload {
                http: json(r.get(0)?),
                custom: json(r.get(1)?),
            })
        },
    )
    .optional()
    .map_err(failed)
}

/// Upload `id`'s parts, by number.
pub fn parts(conn: &Connection, id: &str) -> Result<Vec<Part>, R2Error> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT number, version, size, md5 FROM parts WHERE upload = ?1 ORDER BY number",
        )
        .map_err(failed)?;
    let rows = stmt
        .query_map([id], |r| {
            Ok(Part {
                number: r.get::<_, i64>(0)?.clamp(0, u32::MAX as i64) as u32,
                version: r.get(1)?,
                size: r.get::<_, i64>(2)?.max(0) as u64,
                md5: r.get(3)?,
            })
        })
        .map_err(failed)?;
    rows.collect::<Result<_, _>>().map_err(failed)
}

/// The part files `bucket`'s uploads name (kept by the sweep).
pub fn versions(conn: &Connection, bucket: &str) -> Result<Vec<String>, R2Error> {
    let mut stmt = conn
        .prepare(
            "SELECT p.version FROM parts p JOIN uploads u ON p.upload = u.id WHERE u.bucket = ?1",
        )
        .map_err(failed)?;
    let rows = stmt
        .query_map([bucket], |r| r.get::<_, String>(0))
        .map_err(failed)?;
    rows.collect::<Result<_, _>>().map_err(failed)
}

fn set_usage(tx: &Transaction<'_>, bytes: u64) -> Result<(), R2Error> {
    tx.execute("UPDATE usage SET bytes = ?1 WHERE id = 0", [bytes as i64])
        .map_err(failed)?;
    Ok(())
}

/// Records `part` of upload `id` (of `key` in `bucket`) if the tenant stays within `quota`: the
/// version of the part it replaced (its file to remove), and the tenant's bytes after.
pub fn put_part(
    conn: &mut Connection,
    id: &str,
    bucket: &str,
    key: &str,
    part: &Part,
    quota: u64,
) -> Result<(Option<String>, u64), R2Error> {
    let tx = conn.transaction().map_err(failed)?;
    if find(&tx, id, bucket, key)?.is_none() {
        return Err(no_such_upload("uploadPart"));
    }
    let old: Option<(String, i64)> = tx
        .query_row(
            "SELECT version, size FROM parts WHERE upload = ?1 AND number = ?2",
            params![id, part.number],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(failed)?;
    let used = usage(&tx)?;
    let after = used
        .saturating_sub(old.as_ref().map_or(0, |o| o.1.max(0) as u64))
        .saturating_add(part.size);
    if after > quota && after > used {
        return Err(too_large_for_tenant(quota));
    }
    tx.execute(
        "INSERT OR REPLACE INTO parts (upload, number, version, size, md5) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, part.number, part.version, part.size as i64, part.md5],
    )
    .map_err(failed)?;
    set_usage(&tx, after)?;
    tx.commit().map_err(failed)?;
    Ok((old.map(|o| o.0), after))
}

/// Removes upload `id` and its parts within `tx`: the part files to remove, the bytes freed.
fn drop_upload(tx: &Transaction<'_>, id: &str) -> Result<(Vec<String>, u64), R2Error> {
    let gone = parts(tx, id)?;
    tx.execute("DELETE FROM parts WHERE upload = ?1", [id])
        .map_err(failed)?;
    tx.execute("DELETE FROM uploads WHERE id = ?1", [id])
        .map_err(failed)?;
    let freed = gone.iter().fold(0u64, |n, p| n.saturating_add(p.size));
    Ok((gone.into_iter().map(|p| p.version).collect(), freed))
}

/// Aborts upload `id` of `key` in `bucket` (nothing if there is none): the part files to
/// remove, and the tenant's bytes after.
pub fn abort(
    conn: &mut Connection,
    id: &str,
    bucket: &str,
    key: &str,
) -> Result<(Vec<String>, u64), R2Error> {
    let tx = conn.transaction().map_err(failed)?;
    if find(&tx, id, bucket, key)?.is_none() {
        return Ok((Vec::new(), usage(&tx)?));
    }
    let (files, freed) = drop_upload(&tx, id)?;
    let after = usage(&tx)?.saturating_sub(freed);
    set_usage(&tx, after)?;
    tx.commit().map_err(failed)?;
    Ok((files, after))
}

/// Removes every upload started before `before_ms`: (bucket, part file) pairs to remove, and the
/// tenant's bytes after.
pub fn reap(
    conn: &mut Connection,
    before_ms: i64,
) -> Result<(Vec<(String, String)>, u64), R2Error> {
    let tx = conn.transaction().map_err(failed)?;
    let expired: Vec<(String, String)> = {
        let mut stmt = tx
            .prepare("SELECT id, bucket FROM uploads WHERE created < ?1")
            .map_err(failed)?;
        let rows = stmt
            .query_map([before_ms], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(failed)?;
        rows.collect::<Result<_, _>>().map_err(failed)?
    };
    let mut files = Vec::new();
    let mut freed = 0u64;
    for (id, bucket) in expired {
        let (gone, n) = drop_upload(&tx, &id)?;
        freed = freed.saturating_add(n);
        files.extend(gone.into_iter().map(|v| (bucket.clone(), v)));
    }
    let after = usage(&tx)?.saturating_sub(freed);
    set_usage(&tx, after)?;
    tx.commit().map_err(failed)?;
    Ok((files, after))
}

/// What a completion found.
#[derive(Debug)]
pub enum Completed {
    /// The object is written: the files to remove (the parts', and the object's it replaced).
    Written(Vec<String>),
    /// The upload, or one of the parts assembled, is no longer as it was read.
    Changed,
}

/// Completes upload `id` as `object`, assembled from `used` (the parts as read before the
/// assembly): one transaction that checks they are still the upload's, drops the upload and all
/// its parts and writes the object, replacing any.
pub fn complete(
    conn: &mut Connection,
    id: &str,
    bucket: &str,
    object: &Meta,
    used: &[Part],
) -> Result<(Completed, u64), R2Error> {
    let tx = conn.transaction().map_err(failed)?;
    if find(&tx, id, bucket, &object.key)?.is_none() {
        return Ok((Completed::Changed, usage(&tx)?));
    }
    let now = parts(&tx, id)?;
    if !used.iter().all(|p| now.contains(p)) {
        return Ok((Completed::Changed, usage(&tx)?));
    }
    let (mut files, freed) = drop_upload(&tx, id)?;
    let old = r2_index::get(&tx, bucket, &object.key)?;
    // The parts' bytes become the object's: the usage never grows here.
    let after = usage(&tx)?
        .saturating_sub(freed)
        .saturating_sub(old.as_ref().map_or(0, |o| o.size))
        .saturating_add(object.size);
    r2_index::insert(&tx, bucket, object)?;
    set_usage(&tx, after)?;
    tx.commit().map_err(failed)?;
    files.extend(old.map(|o| o.version));
    Ok((Completed::Written(files), after))
}
