//! D1 databases (`{"binding": "d1", "database": "db"}`): one SQLite file per (tenant,
//! database), `DIR/<tenant>/<database>.sqlite3` (`DIR` is `data_dir/d1`, whichever store holds
//! the rest: D1 is local to the daemon, also with PostgreSQL).
//!
//! Guarantees: a call reaches only the file its tenant and database name make, both checked
//! again here (`[A-Za-z0-9_-]`, 1-64: no path separator, no dot), under a folder created 0700,
//! opened without following a symbolic link and without URI file names; a tenant has at most
//! [`MAX_DATABASES_PER_TENANT`] files; every connection is hardened (`d1_guard`) before a
//! tenant statement runs on it, its size capped at `[store] d1_max_bytes` and, before each
//! call, at what the tenant has left of `[store] d1_tenant_max_bytes` (the bytes of all its
//! databases' files, WAL included, counted then: a call's own WAL growth, at most what one
//! transaction writes, is counted by the next; after a call that wrote, the pages it freed are
//! returned and the WAL folded into the file and emptied, `d1_upkeep`, so between calls each
//! page is on disk, and counted, once); no new database once fewer than
//! [`NEW_DATABASE_BYTES`] are left; the tenant's temporary files at most `d1_max_bytes` together
//! (`d1_temp`); each call under a time budget of `[store] d1_query_ms`, and stopped once the
//! request that made it is over (its host call's future dropped, for its wall-clock limit, say),
//! so it frees the database; WAL with `synchronous=FULL`, so a write whose call
//! answered survives a `kill -9` of the daemon; the SQL runs on the blocking pool, at most
//! [`CALLS_PER_TENANT`] calls of one tenant at once (more wait their turn), one at a time per
//! database. Trusts: the tenant and database names its caller resolved from the stored binding.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::d1_exec::{self, Allowance, Outcome, Query, SqlError, RESULT_MAX_BYTES};
use super::d1_guard::{cap_pages, harden, Fence};
use d1_temp::TempQuota;
use d1_upkeep::Commits;

/// The temporary-file cap (a module of its own, declared here: `storage/mod.rs` lists D1's
/// others).
#[path = "d1_temp.rs"]
pub(crate) mod d1_temp;
/// Bookmarks, returning freed space, `dump()` (declared here as `d1_temp` is).
#[path = "d1_upkeep.rs"]
pub(crate) mod d1_upkeep;

/// Calls of one tenant running at once (each holds a thread of the blocking pool).
pub const CALLS_PER_TENANT: usize = 2;
/// Databases one tenant may have.
pub const MAX_DATABASES_PER_TENANT: usize = 100;
/// Connections kept open; past it, idle ones are closed.
const MAX_OPEN: usize = 256;
/// What a tenant must have left of its quota for a new database (its file, WAL and index).
pub const NEW_DATABASE_BYTES: u64 = 64 << 10;
/// Most bytes `dump()` returns (with `d1_max_bytes`): what one host call's answer carries, less
/// room for its head.
pub const DUMP_MAX_BYTES: u64 = (stockade_ipc::limits::MAX_HOST_CALL_PAYLOAD - (64 << 10)) as u64;

/// `[store] d1_*`, resolved.
#[derive(Debug, Clone)]
pub struct D1Settings {
    pub dir: PathBuf,
    pub max_bytes: u64,
    /// All of a tenant's databases together, bytes.
    pub tenant_max_bytes: u64,
    pub query_ms: u64,
}

/// What a call asks.
pub enum Work {
    Statement(Query),
    Batch(Vec<Query>),
    Exec(String),
    /// The database's bytes (`dump()`).
    Dump,
}

/// What it got.
pub enum Done {
    Statement(Outcome),
    Batch(Vec<Outcome>),
    /// Statements run, milliseconds.
    Exec(u64, f64),
    Dump(Vec<u8>),
}

/// What a call got and the database's bookmark after it (`d1_upkeep`).
pub struct Answered {
    pub done: Done,
    pub bookmark: String,
}

struct Database {
    conn: Mutex<Connection>,
    fence: Arc<Fence>,
    commits: Commits,
}

/// The open databases and the tenants' turns.
pub struct D1 {
    settings: D1Settings,
    open: Mutex<HashMap<(String, String), Arc<Database>>>,
    turns: Mutex<HashMap<String, Arc<Semaphore>>>,
    temp: Mutex<HashMap<String, Arc<TempQuota>>>,
}

/// Sets its flag when dropped: with the future of the call that holds it, when the request that
/// made the call is over.
struct Abandon(Arc<AtomicBool>);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The bytes of the files in `dir` (none: 0).
fn bytes_in(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn valid_tenant(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn failed(what: &str, e: impl std::fmt::Display) -> SqlError {
    tracing::error!("d1: {what}: {e}");
    SqlError(
        "the database could not be opened or used (the operator's log says why): SQLITE_CANTOPEN"
            .into(),
    )
}

impl D1 {
    pub fn new(settings: D1Settings) -> Arc<D1> {
        if let Err(code) = d1_temp::register() {
            // Every open then fails (no such VFS): D1 is refused, never run uncapped.
            tracing::error!("d1: registering the temporary-file VFS failed: SQLite code {code}");
        }
        Arc::new(D1 {
            settings,
            open: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
            temp: Mutex::new(HashMap::new()),
        })
    }

    fn temp_quota(&self, tenant: &str) -> Arc<TempQuota> {
        let mut temp = lock(&self.temp);
        Arc::clone(
            temp.entry(tenant.to_owned())
                .or_insert_with(|| TempQuota::new(self.settings.max_bytes)),
        )
    }

    /// Caps `db` (at `path`) for the next call at what it and its tenant have left.
    fn cap(&self, db: &Database, conn: &Connection, path: &Path) -> Result<(), SqlError> {
        let (max, quota) = (self.settings.max_bytes, self.settings.tenant_max_bytes);
        let used = path.parent().map_or(0, bytes_in);
        let main = std::fs::metadata(path).map_or(0, |m| m.len());
        let left = quota.saturating_sub(used.saturating_sub(main));
        let (bytes, why) = if max <= left {
            (
                max,
                format!("the database is at its size cap, [store] d1_max_bytes = {max} bytes"),
            )
        } else {
            (left, format!(
                "this tenant's D1 databases (WAL included) take {used} bytes of its quota, [store] d1_tenant_max_bytes = {quota} bytes"
            ))
        };
        cap_pages(conn, &db.fence, bytes, why).map_err(|e| failed("cap", e))
    }

    /// The file of `tenant`'s `database`, or why there is none.
    pub fn path(&self, tenant: &str, database: &str) -> Result<PathBuf, SqlError> {
        if !valid_tenant(tenant) || !crate::supervisor::bindings::valid_database_name(database) {
            return Err(SqlError(
                "a database name is 1-64 of [A-Za-z0-9_-]: SQLITE_CANTOPEN".into(),
            ));
        }
        Ok(self
            .settings
            .dir
            .join(tenant)
            .join(format!("{database}.sqlite3")))
    }

    /// The open database, opened (created if new) and hardened if it was not.
    fn database(&self, tenant: &str, name: &str) -> Result<Arc<Database>, SqlError> {
        let key = (tenant.to_owned(), name.to_owned());
        let mut open = lock(&self.open);
        if let Some(db) = open.get(&key) {
            return Ok(Arc::clone(db));
        }
        let path = self.path(tenant, name)?;
        let dir = path.parent().map(PathBuf::from).unwrap_or_default();
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| failed("mkdir", e))?;
        }
        if !path.exists() {
            let count = std::fs::read_dir(&dir)
                .map_err(|e| failed("list", e))?
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".sqlite3"))
                .count();
            if count >= MAX_DATABASES_PER_TENANT {
                return Err(SqlError(format!(
                    "this tenant has {count} databases, the most it may have: SQLITE_CANTOPEN"
                )));
            }
            let (used, quota) = (bytes_in(&dir), self.settings.tenant_max_bytes);
            if used.saturating_add(NEW_DATABASE_BYTES) > quota {
                return Err(SqlError(format!(
                    "this tenant's D1 databases take {used} bytes, no room for a new one in its quota, [store] d1_tenant_max_bytes = {quota} bytes: SQLITE_FULL"
                )));
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut conn = Connection::open_with_flags_and_vfs(&path, flags, d1_temp::VFS_NAME)
            .map_err(|e| failed("open", e))?;
        d1_upkeep::prepare_new(&conn).map_err(|e| failed("auto_vacuum", e))?;
        let fence = harden(&mut conn, self.settings.max_bytes).map_err(|e| failed("harden", e))?;
        let commits = Commits::install(&mut conn).map_err(|e| failed("commit hook", e))?;
        if open.len() >= MAX_OPEN {
            open.retain(|_, db| Arc::strong_count(db) > 1);
        }
        let db = Arc::new(Database {
            conn: Mutex::new(conn),
            fence,
            commits,
        });
        open.insert(key, Arc::clone(&db));
        Ok(db)
    }

    fn turns(&self, tenant: &str) -> Arc<Semaphore> {
        let mut turns = lock(&self.turns);
        Arc::clone(
            turns
                .entry(tenant.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(CALLS_PER_TENANT))),
        )
    }

    /// Runs `work` on `tenant`'s `database`, in its turn, on the blocking pool.
    pub async fn run(
        self: &Arc<Self>,
        tenant: &str,
        database: &str,
        work: Work,
    ) -> Result<Answered, SqlError> {
        // Dropped with this future: by the link when the request is over.
        let abandon = Abandon(Arc::new(AtomicBool::new(false)));
        let abandoned = Arc::clone(&abandon.0);
        let turn = self
            .turns(tenant)
            .acquire_owned()
            .await
            .map_err(|e| failed("turn", e))?;
        let me = Arc::clone(self);
        let (tenant, database) = (tenant.to_owned(), database.to_owned());
        let done = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let _temp = d1_temp::enter(me.temp_quota(&tenant));
            let db = me.database(&tenant, &database)?;
            let mut conn = lock(&db.conn);
            if abandoned.load(Ordering::SeqCst) {
                return Err(SqlError(
                    "the request that made the call is over: SQLITE_INTERRUPT".into(),
                ));
            }
            me.cap(&db, &conn, &me.path(&tenant, &database)?)?;
            let budget_ms = me.settings.query_ms;
            let commits = db.commits.now();
            db.fence.watch(Some(abandoned));
            db.fence.arm(budget_ms);
            let mut allowance = Allowance {
                budget_ms,
                bytes_left: RESULT_MAX_BYTES,
            };
            let done = match work {
                Work::Statement(q) => {
                    d1_exec::statement(&conn, &db.fence, &q, &mut allowance).map(Done::Statement)
                }
                Work::Batch(qs) => {
                    d1_exec::batch(&conn, &db.fence, &qs, &mut allowance).map(Done::Batch)
                }
                Work::Exec(sql) => d1_exec::exec(&conn, &db.fence, &sql, budget_ms)
                    .map(|(n, ms)| Done::Exec(n, ms)),
                Work::Dump => {
                    let cap = me.settings.max_bytes.min(DUMP_MAX_BYTES);
                    d1_upkeep::dump(&mut conn, &db.fence, cap).map(Done::Dump)
                }
            };
            d1_exec::close_transaction(&conn, &db.fence);
            if db.commits.now() != commits {
                d1_upkeep::settle(&conn, &db.fence);
            }
            db.fence.disarm();
            db.fence.watch(None);
            done.map(|done| Answered {
                done,
                bookmark: db.commits.bookmark(),
            })
        })
        .await
        .map_err(|e| failed("call", e));
        drop(abandon);
        done?
    }
}

#[cfg(test)]
#[path = "d1_tests.rs"]
mod tests;

/// The TypeScript of a `d1` binding (`GET /v1/workers/{id}/types`).
pub const DECLARATIONS: &str = "interface D1Meta {
  duration: number; size_after: number; rows_read: number; rows_written: number;
  last_row_id: number; changed_db: boolean; changes: number;
  served_by?: string; served_by_region?: string; served_by_primary?: boolean; timings?: { sql_duration_ms: number }; total_attempts?: number;
}
interface D1Result<T = Record<string, unknown>> { success: true; meta: D1Meta; results: T[] }
interface D1ExecResult { count: number; duration: number }
interface D1PreparedStatement {
  /** Values: null, number, string, boolean (1/0), ArrayBuffer or a view, an array of bytes (a BLOB). */
  bind(...values: unknown[]): D1PreparedStatement;
  first<T = unknown>(column: string): Promise<T | null>;
  first<T = Record<string, unknown>>(): Promise<T | null>;
  run<T = Record<string, unknown>>(): Promise<D1Result<T>>;
  all<T = Record<string, unknown>>(): Promise<D1Result<T>>;
  raw<T = unknown[]>(options: { columnNames: true }): Promise<[string[], ...T[]]>;
  raw<T = unknown[]>(options?: { columnNames?: false }): Promise<T[]>;
}
type D1SessionBookmark = string;
type D1SessionConstraint = \"first-primary\" | \"first-unconstrained\";
interface D1DatabaseSession {
  prepare(query: string): D1PreparedStatement;
  batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]>;
  /** The latest bookmark of the session's answers (or the one it started from), else null. */
  getBookmark(): D1SessionBookmark | null;
}
interface D1Database {
  prepare(query: string): D1PreparedStatement;
  /** One transaction: every statement's result, or the first error and nothing written. */
  batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]>;
  /** Each line on its own, no bindings; `count` is the statements run. */
  exec(query: string): Promise<D1ExecResult>;
  /** The database file, as SQLite serializes it (at most `[store] d1_max_bytes`). */
  dump(): Promise<ArrayBuffer>;
  withSession(constraintOrBookmark?: D1SessionBookmark | D1SessionConstraint): D1DatabaseSession;
}
";
