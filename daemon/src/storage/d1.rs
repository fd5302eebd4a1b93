//! D1 databases (`{"binding": "d1", "database": "db"}`): one SQLite file per (tenant,
//! database), `DIR/<tenant>/<database>.sqlite3` (`DIR` is `data_dir/d1`, whichever store holds
//! the rest: D1 is local to the daemon, also with PostgreSQL).
//!
//! Guarantees: a call reaches only the file its tenant and database name make, both checked
//! again here (`[A-Za-z0-9_-]`, 1-64: no path separator, no dot), under a folder created 0700,
//! opened without following a symbolic link and without URI file names; a tenant has at most
//! [`MAX_DATABASES_PER_TENANT`] files; every connection is hardened (`d1_guard`) before a
//! tenant statement runs on it, its size capped at `[store] d1_max_bytes`, each call under a
//! time budget of `[store] d1_query_ms`; WAL with `synchronous=FULL`, so a write whose call
//! answered survives a `kill -9` of the daemon; the SQL runs on the blocking pool, at most
//! [`CALLS_PER_TENANT`] calls of one tenant at once (more wait their turn), one at a time per
//! database. Trusts: the tenant and database names its caller resolved from the stored binding.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::d1_exec::{self, Allowance, Outcome, Query, SqlError, RESULT_MAX_BYTES};
use super::d1_guard::{harden, Fence};

/// Calls of one tenant running at once (each holds a thread of the blocking pool).
pub const CALLS_PER_TENANT: usize = 2;
/// Databases one tenant may have.
pub const MAX_DATABASES_PER_TENANT: usize = 100;
/// Connections kept open; past it, idle ones are closed.
const MAX_OPEN: usize = 256;

/// `[store] d1_*`, resolved.
#[derive(Debug, Clone)]
pub struct D1Settings {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub query_ms: u64,
}

/// What a call asks.
pub enum Work {
    Statement(Query),
    Batch(Vec<Query>),
    Exec(String),
}

/// What it got.
pub enum Done {
    Statement(Outcome),
    Batch(Vec<Outcome>),
    /// Lines run, milliseconds.
    Exec(u64, f64),
}

struct Database {
    conn: Mutex<Connection>,
    fence: Arc<Fence>,
}

/// The open databases and the tenants' turns.
pub struct D1 {
    settings: D1Settings,
    open: Mutex<HashMap<(String, String), Arc<Database>>>,
    turns: Mutex<HashMap<String, Arc<Semaphore>>>,
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
        Arc::new(D1 {
            settings,
            open: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
        })
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
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut conn = Connection::open_with_flags(&path, flags).map_err(|e| failed("open", e))?;
        let fence = harden(&mut conn, self.settings.max_bytes).map_err(|e| failed("harden", e))?;
        if open.len() >= MAX_OPEN {
            open.retain(|_, db| Arc::strong_count(db) > 1);
        }
        let db = Arc::new(Database {
            conn: Mutex::new(conn),
            fence,
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
    ) -> Result<Done, SqlError> {
        let turn = self
            .turns(tenant)
            .acquire_owned()
            .await
            .map_err(|e| failed("turn", e))?;
        let me = Arc::clone(self);
        let (tenant, database) = (tenant.to_owned(), database.to_owned());
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let db = me.database(&tenant, &database)?;
            let conn = lock(&db.conn);
            let budget_ms = me.settings.query_ms;
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
            };
            d1_exec::close_transaction(&conn, &db.fence);
            db.fence.disarm();
            done
        })
        .await
        .map_err(|e| failed("call", e))?
    }
}

/// The TypeScript of a `d1` binding (`GET /v1/workers/{id}/types`).
pub const DECLARATIONS: &str = "interface D1Meta {
  duration: number; size_after: number; rows_read: number; rows_written: number;
  last_row_id: number; changed_db: boolean; changes: number;
  served_by?: string; served_by_primary?: boolean; timings?: { sql_duration_ms: number }; total_attempts?: number;
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
interface D1Database {
  prepare(query: string): D1PreparedStatement;
  /** One transaction: every statement's result, or the first error and nothing written. */
  batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]>;
  /** Each line on its own, no bindings. */
  exec(query: string): Promise<D1ExecResult>;
}
";
