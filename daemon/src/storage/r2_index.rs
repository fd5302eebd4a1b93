//! A tenant's R2 index (`DIR/<tenant>/index.sqlite3`): one row per object, `(bucket, key)` to
//! its version (the name of its file), size, etag, upload time and metadata, and the tenant's
//! total bytes (`usage`).
//!
//! Guarantees: keys are BLOBs, compared byte by byte (UTF-8's order, as R2 lists them); a commit
//! checks the put's condition and the tenant's quota against the row it replaces in the same
//! transaction that writes it; WAL with `synchronous=FULL` (a commit that returned is durable);
//! a list never returns more than its limit of objects and delimited prefixes together, and its
//! cursor is the next key to look at (opaque to the tenant, and only ever read within the
//! tenant's own bucket). Trusts: its callers to have checked keys and names.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use serde_json::Value;

use super::r2::{too_large_for_tenant, R2Error};
use super::r2_cond::OnlyIf;

/// Most objects (and prefixes) one list returns, as on R2.
pub const MAX_LIST: usize = 1000;

/// One object's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub key: String,
    pub version: String,
    pub size: u64,
    pub etag: String,
    pub uploaded_ms: i64,
    /// R2's httpMetadata, a JSON object (`cacheExpiry` in ms since the epoch).
    pub http: Value,
    /// customMetadata, a JSON object of strings.
    pub custom: Value,
    /// Hex digests by algorithm (`md5` always).
    pub checksums: Value,
}

fn failed(e: rusqlite::Error) -> R2Error {
    R2Error::internal("index", e)
}

/// Opens (creating if new) the index at `path`.
pub fn open(path: &Path) -> Result<Connection, R2Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(path, flags).map_err(failed)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS objects (
           bucket TEXT NOT NULL, key BLOB NOT NULL, version TEXT NOT NULL, size INTEGER NOT NULL,
           etag TEXT NOT NULL, uploaded INTEGER NOT NULL, http TEXT NOT NULL,
           custom TEXT NOT NULL, checksums TEXT NOT NULL,
           PRIMARY KEY (bucket, key)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS usage (id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL);
         INSERT OR IGNORE INTO usage (id, bytes) VALUES (0, 0);",
    )
    .map_err(failed)?;
    conn.execute_batch(super::r2_parts::SCHEMA)
        .map_err(failed)?;
    Ok(conn)
}

/// The tenant's committed bytes.
pub fn usage(conn: &Connection) -> Result<u64, R2Error> {
    conn.query_row("SELECT bytes FROM usage WHERE id = 0", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|b| b.max(0) as u64)
    .map_err(failed)
}

/// The versions `bucket`'s rows name, its objects' and its multipart uploads' parts (the files
/// to keep).
pub fn versions(conn: &Connection, bucket: &str) -> Result<HashSet<String>, R2Error> {
    let mut stmt = conn
        .prepare("SELECT version FROM objects WHERE bucket = ?1")
        .map_err(failed)?;
    let rows = stmt
        .query_map([bucket], |r| r.get::<_, String>(0))
        .map_err(failed)?;
    let mut kept: HashSet<String> = rows.collect::<Result<_, _>>().map_err(failed)?;
    kept.extend(super::r2_parts::versions(conn, bucket)?);
    Ok(kept)
}

const COLUMNS: &str = "key, version, size, etag, uploaded, http, custom, checksums";

fn json(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::Object(Default::default()))
}

fn meta(r: &Row<'_>) -> rusqlite::Result<Meta> {
    let key: Vec<u8> = r.get(0)?;
    Ok(Meta {
        key: String::from_utf8_lossy(&key).into_owned(),
        version: r.get(1)?,
        size: r.get::<_, i64>(2)?.max(0) as u64,
        etag: r.get(3)?,
        uploaded_ms: r.get(4)?,
        http: json(r.get(5)?),
        custom: json(r.get(6)?),
        checksums: json(r.get(7)?),
    })
}

/// `bucket`'s object `key`.
pub fn get(conn: &Connection, bucket: &str, key: &str) -> Result<Option<Meta>, R2Error> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
        params![bucket, key.as_bytes()],
        meta,
    )
    .optional()
    .map_err(failed)
}

/// What a commit did.
#[derive(Debug)]
pub enum Committed {
    /// Written; the version it replaced, whose file is to be removed.
    Written(Option<String>),
    /// The condition failed; nothing written.
    ConditionFailed,
}

/// Writes `object` into `bucket` if `only_if` holds for the object it replaces and the tenant's
/// objects stay within `quota`; one transaction.
pub fn commit(
    conn: &mut Connection,
    bucket: &str,
    object: &Meta,
    only_if: &OnlyIf,
    quota: u64,
) -> Result<(Committed, u64), R2Error> {
    let tx = conn.transaction().map_err(failed)?;
    let old = get(&tx, bucket, &object.key)?;
    if !only_if.holds(old.as_ref()) {
        return Ok((Committed::ConditionFailed, usage(&tx)?));
    }
    let used = usage(&tx)?;
    let after = used
        .saturating_sub(old.as_ref().map_or(0, |o| o.size))
        .saturating_add(object.size);
    if after > quota && after > used {
        return Err(too_large_for_tenant(quota));
    }
    insert(&tx, bucket, object)?;
    tx.execute("UPDATE usage SET bytes = ?1 WHERE id = 0", [after as i64])
        .map_err(failed)?;
    tx.commit().map_err(failed)?;
    Ok((Committed::Written(old.map(|o| o.version)), after))
}

/// Writes `object`'s row into `bucket`, replacing any of its key (the caller keeps the usage).
pub fn insert(conn: &Connection, bucket: &str, object: &Meta) -> Result<(), R2Error> {
    conn.execute(
        &format!("INSERT OR REPLACE INTO objects ({COLUMNS}, bucket) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            object.key.as_bytes(),
            object.version,
            object.size as i64,
            object.etag,
            object.uploaded_ms,
            object.http.to_string(),
            object.custom.to_string(),
            object.checksums.to_string(),
            bucket
        ],
    )
    .map_err(failed)?;
    Ok(())
}

/// Deletes `keys` of `bucket`: the versions whose files are to be removed, and the tenant's bytes
/// after.
pub fn delete(
    conn: &mut Connection,
    bucket: &str,
    keys: &[String],
) -> Result<(Vec<String>, u64), R2Error> {
    let tx = conn.transaction().map_err(failed)?;
    let mut gone = Vec::new();
    let mut freed = 0u64;
    for key in keys {
        if let Some(old) = get(&tx, bucket, key)? {
            tx.execute(
                "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
                params![bucket, key.as_bytes()],
            )
            .map_err(failed)?;
            freed = freed.saturating_add(old.size);
            gone.push(old.version);
        }
    }
    let after = usage(&tx)?.saturating_sub(freed);
    tx.execute("UPDATE usage SET bytes = ?1 WHERE id = 0", [after as i64])
        .map_err(failed)?;
    tx.commit().map_err(failed)?;
    Ok((gone, after))
}

/// What a list asks.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub limit: usize,
    /// The first key to look at (from the cursor or `startAfter`), inclusive.
    pub from: Vec<u8>,
    pub delimiter: Option<String>,
}

/// One page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListPage {
    pub objects: Vec<Meta>,
    pub delimited_prefixes: Vec<String>,
    /// The next key to look at, when there is more.
    pub cursor: Option<Vec<u8>>,
}

/// The smallest key after every key that starts with `prefix` (a UTF-8 prefix never ends in
/// 0xff: its last byte goes up by one).
fn after_all_with(prefix: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xff {
            out.push(last + 1);
            return out;
        }
    }
    vec![0xff; 1025]
}

/// The smallest key after `key`.
fn after(key: &[u8]) -> Vec<u8> {
    let mut out = key.to_vec();
    out.push(0);
    out
}

fn first_from(
    conn: &Connection,
    bucket: &str,
    from: &[u8],
    n: usize,
) -> Result<Vec<Meta>, R2Error> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM objects WHERE bucket = ?1 AND key >= ?2 ORDER BY key LIMIT ?3"
        ))
        .map_err(failed)?;
    let rows = stmt
        .query_map(params![bucket, from, n as i64], meta)
        .map_err(failed)?;
    rows.collect::<Result<_, _>>().map_err(failed)
}

/// A page of `bucket`'s objects as `q` asks.
pub fn list(conn: &Connection, bucket: &str, q: &ListQuery) -> Result<ListPage, R2Error> {
    let prefix = q.prefix.as_bytes();
    let mut from = if q.from.as_slice() > prefix {
        q.from.clone()
    } else {
        prefix.to_vec()
    };
    let mut page = ListPage::default();
    let limit = q.limit.clamp(1, MAX_LIST);
    let mut exhausted = false;
    'pages: while page.objects.len() + page.delimited_prefixes.len() < limit {
        let want = limit - page.objects.len() - page.delimited_prefixes.len();
        let rows = first_from(conn, bucket, &from, want.min(256))?;
        if rows.is_empty() {
            exhausted = true;
            break;
        }
        for row in rows {
            let key = row.key.as_bytes();
            if !key.starts_with(prefix) {
                exhausted = true;
                break 'pages;
            }
            let rest = &row.key[q.prefix.len()..];
            if let Some(at) = q
                .delimiter
                .as_deref()
                .and_then(|d| rest.find(d).map(|i| i + d.len()))
            {
                let common = &row.key[..q.prefix.len() + at];
                page.delimited_prefixes.push(common.to_owned());
                from = after_all_with(common.as_bytes());
                continue 'pages;
            }
            from = after(key);
            page.objects.push(row);
            if page.objects.len() + page.delimited_prefixes.len() >= limit {
                break 'pages;
            }
        }
    }
    if !exhausted {
        let next = first_from(conn, bucket, &from, 1)?;
        if next
            .first()
            .is_some_and(|m| m.key.as_bytes().starts_with(prefix))
        {
            page.cursor = Some(from);
        }
    }
    Ok(page)
}
