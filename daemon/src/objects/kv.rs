//! The key-value API's operations on an object's `_cf_KV` table (`ctx.storage.get`, `put`, ...),
//! run by `db::ObjectDb` on the object's connection.
//!
//! Guarantees: a write is one savepoint (a transaction of its own, or a level of the object's
//! open transaction, `txn.rs`); a `list` answers at most `RESULT_MAX_BYTES` (an error
//! beyond, asking for a limit). Trusts: its caller to run it on the right object's connection,
//! with the connection's fence marking these statements as the supervisor's own.

use rusqlite::{Connection, OptionalExtension};

use super::db::{Done, Work};
use crate::storage::d1_exec::RESULT_MAX_BYTES;

/// A key-value operation on `_cf_KV` (writes in one transaction).
pub(super) fn kv_op(conn: &Connection, work: Work) -> rusqlite::Result<Done> {
    match work {
        Work::Get(keys) => {
            let mut stmt = conn.prepare_cached("SELECT value FROM _cf_KV WHERE key = ?1")?;
            let mut out = Vec::new();
            for key in keys {
                if let Some(v) = stmt
                    .query_row([&key], |r| r.get::<_, Vec<u8>>(0))
                    .optional()?
                {
                    out.push((key, v));
                }
            }
            Ok(Done::Entries(out))
        }
        Work::Put(entries) => atomic(conn, || {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO _cf_KV (key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?;
            for (k, v) in &entries {
                stmt.execute(rusqlite::params![k, v])?;
            }
            Ok(Done::Count(0))
        }),
        Work::Delete(keys) => atomic(conn, || {
            let mut n = 0;
            let mut stmt = conn.prepare_cached("DELETE FROM _cf_KV WHERE key = ?1")?;
            for k in &keys {
                n += stmt.execute([k])? as u64;
            }
            Ok(Done::Count(n))
        }),
        Work::DeleteAll => {
            let n = conn.execute("DELETE FROM _cf_KV", [])? as u64;
            Ok(Done::Count(n))
        }
        Work::List(o) => {
            let sql = format!(
                "SELECT key, value FROM _cf_KV WHERE (?1 IS NULL OR key >= ?1) AND (?2 IS NULL OR key > ?2) \
                 AND (?3 IS NULL OR key < ?3) AND (?4 IS NULL OR substr(key, 1, length(?4)) = ?4) \
                 ORDER BY key {} LIMIT ?5",
                if o.reverse { "DESC" } else { "ASC" }
            );
            let limit = o.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query(rusqlite::params![
                o.start,
                o.start_after,
                o.end,
                o.prefix,
                limit
            ])?;
            let (mut out, mut bytes) = (Vec::new(), 0usize);
            while let Some(row) = rows.next()? {
                let (k, v): (String, Vec<u8>) = (row.get(0)?, row.get(1)?);
                bytes += k.len() + v.len();
                if bytes > RESULT_MAX_BYTES {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_TOOBIG),
                        Some(format!(
                            "list() found more than {RESULT_MAX_BYTES} bytes: give it a limit"
                        )),
                    ));
                }
                out.push((k, v));
            }
            Ok(Done::Entries(out))
        }
        Work::Sql(_)
        | Work::GetAlarm
        | Work::SyncAlarm
        | Work::DeleteAllAndAlarm
        | Work::SetAlarm(_)
        | Work::DeleteAlarm(_)
        | Work::Txn(_)
        | Work::KeepName(_)
        | Work::Name
        | Work::Settle => Ok(Done::Count(0)),
    }
}

/// Runs `body` in a savepoint of its own (a transaction of its own outside one, a level of the
/// object's transaction inside one): all of it, or none.
fn atomic(
    conn: &Connection,
    body: impl FnOnce() -> rusqlite::Result<Done>,
) -> rusqlite::Result<Done> {
    conn.execute_batch("SAVEPOINT _cf_kv")?;
    match body() {
        Ok(done) => {
            conn.execute_batch("RELEASE _cf_kv")?;
            Ok(done)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO _cf_kv; RELEASE _cf_kv");
            Err(e)
        }
    }
}
