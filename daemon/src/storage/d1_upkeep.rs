//! What D1 does around a tenant's SQL on one database: the commit counter behind a session's
//! bookmark, the space a write freed returned to the disk (and so to the tenant's quota), and
//! `dump()`, the database's bytes as SQLite serializes them.
//!
//! Guarantees:
//! - a [`Commits`] counts every committed write transaction of its connection (SQLite's commit
//!   hook, which a read never calls); [`Commits::bookmark`] is `<open>-<commits>`, two 16-digit
//!   lower-case hex numbers, so bookmarks compare as strings: larger after each write, and
//!   larger after a reopen (`<open>` is the opening's milliseconds, above every earlier one of
//!   this process; a restart's clock is trusted to be later);
//! - after a call that wrote, [`settle`] returns the pages it freed (`PRAGMA incremental_vacuum`:
//!   new databases are `auto_vacuum = INCREMENTAL`, [`prepare_new`]) and folds the WAL into the
//!   file, truncating it (`wal_checkpoint(TRUNCATE)`): between calls a database's bytes on disk
//!   are its file, its WAL empty, so the quota counts each page once. The vacuum moves at most
//!   as many pages as it frees, which the call itself just freed: its cost is the call's own
//!   order. A call that only read is left as it is;
//! - [`dump`] is `sqlite3_serialize` of the main database: read through SQLite's pager in one
//!   read transaction (the WAL's pages included; never a copy of a file being written), after
//!   checking its size against the cap, so the supervisor holds at most the cap's bytes.
//!
//! Trusts: SQLite's commit hook, pager and checkpointer; the caller holds the connection (one per
//! database) for the whole call and no transaction is open when [`settle`] or [`dump`] runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::{Connection, MAIN_DB};

use crate::storage::d1_exec::SqlError;
use crate::storage::d1_guard::Fence;

/// The last opening's milliseconds (each opening takes a later one).
static LAST_OPEN_MS: AtomicU64 = AtomicU64::new(0);

/// The write transactions a connection committed since it was opened.
pub struct Commits {
    opened_ms: u64,
    count: Arc<AtomicU64>,
}

impl Commits {
    /// Counts `conn`'s commits from now on.
    pub fn install(conn: &mut Connection) -> rusqlite::Result<Commits> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let opened_ms = match LAST_OPEN_MS.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
            Some(now.max(l.saturating_add(1)))
        }) {
            Ok(last) | Err(last) => now.max(last.saturating_add(1)),
        };
        let count = Arc::new(AtomicU64::new(0));
        let hook = Arc::clone(&count);
        conn.commit_hook(Some(move || {
            hook.fetch_add(1, Ordering::SeqCst);
            false // never turn the commit into a rollback
        }))?;
        Ok(Commits { opened_ms, count })
    }

    /// Commits so far.
    pub fn now(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// The session bookmark of the database as it is now.
    pub fn bookmark(&self) -> String {
        format!("{:016x}-{:016x}", self.opened_ms, self.now())
    }
}

/// Whether `s` is a bookmark as [`Commits::bookmark`] makes them (the form `d1.js`'s
/// `withSession` checks; a test pins the two together).
#[cfg(test)]
pub fn valid_bookmark(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 33
        && b.iter().enumerate().all(|(i, &c)| match i {
            16 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

/// Sets up a database file that has no page yet: its free pages can be returned. Run before
/// any other statement (an existing database keeps its mode).
pub fn prepare_new(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
}

/// Runs the supervisor's own `sql` past the fence, stepping it to its end.
fn own<T>(
    conn: &Connection,
    fence: &Fence,
    sql: &str,
    read: impl FnOnce(&mut rusqlite::Rows<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    fence.disarm();
    fence.internal.store(true, Ordering::SeqCst);
    let done = conn.prepare(sql).and_then(|mut stmt| {
        let mut rows = stmt.query([])?;
        let out = read(&mut rows)?;
        while rows.next()?.is_some() {}
        Ok(out)
    });
    fence.internal.store(false, Ordering::SeqCst);
    done
}

fn count(rows: &mut rusqlite::Rows<'_>) -> rusqlite::Result<i64> {
    Ok(match rows.next()? {
        Some(row) => row.get(0)?,
        None => 0,
    })
}

/// After a call that wrote: its freed pages returned, the WAL folded into the file and emptied.
/// A failure is logged (the next call's cap counts what is left on disk).
pub fn settle(conn: &Connection, fence: &Fence) {
    let free = own(conn, fence, "PRAGMA freelist_count", count);
    if matches!(free, Ok(n) if n > 0) {
        if let Err(e) = own(conn, fence, "PRAGMA incremental_vacuum", |_| Ok(())) {
            tracing::warn!("d1: returning free pages: {e}");
        }
    }
    if let Err(e) = own(conn, fence, "PRAGMA wal_checkpoint(TRUNCATE)", |_| Ok(())) {
        tracing::warn!("d1: checkpoint: {e}");
    }
}

/// The database's bytes, as SQLite serializes them; refused (before reading) past `cap` bytes.
pub fn dump(conn: &mut Connection, fence: &Fence, cap: u64) -> Result<Vec<u8>, SqlError> {
    let failed = |e: rusqlite::Error| {
        tracing::error!("d1: dump: {e}");
        SqlError(
            "the database could not be read (the operator's log says why): SQLITE_IOERR".into(),
        )
    };
    let pages = own(conn, fence, "PRAGMA page_count", count).map_err(failed)?;
    let page_size = own(conn, fence, "PRAGMA page_size", count).map_err(failed)?;
    let bytes = u64::try_from(pages.saturating_mul(page_size)).unwrap_or(u64::MAX);
    if bytes > cap {
        return Err(SqlError(format!(
            "the database is {bytes} bytes, more than dump() returns ({cap} bytes: [store] d1_max_bytes, and what one call carries): SQLITE_TOOBIG"
        )));
    }
    // sqlite3_serialize prepares its own `PRAGMA page_count`, which the authorizer lets the
    // supervisor run.
    fence.disarm();
    fence.internal.store(true, Ordering::SeqCst);
    let data = conn.serialize(MAIN_DB).map(|d| d.to_vec());
    fence.internal.store(false, Ordering::SeqCst);
    data.map_err(failed)
}

#[cfg(test)]
#[path = "d1_upkeep_tests.rs"]
mod tests;
