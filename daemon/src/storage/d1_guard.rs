//! The fence around one tenant's D1 database: a tenant's SQL runs in the supervisor (not
//! jailed), on a SQLite connection this module configures before any of it runs.
//!
//! Guarantees, for every statement a tenant prepares on a [`harden`]ed connection:
//! - the authorizer refuses `ATTACH` and `DETACH` (a file path), every `PRAGMA` but the
//!   read-only [`READ_PRAGMAS`] and the [`SET_PRAGMAS`] (foreign keys), reads of the other
//!   `pragma_*` table-valued functions (`pragma_database_list` would show the file's path),
//!   `load_extension()` (also never enabled on the connection, and rusqlite is built without its
//!   `load_extension` feature), and `BEGIN`/`COMMIT`/`ROLLBACK`/`SAVEPOINT` (as on D1: `batch()`
//!   is the transaction; the supervisor's own, [`Fence::internal`], pass); `VACUUM` (and
//!   `VACUUM INTO 'file'`) fails too, on the `ATTACH` it runs inside and on the limit of
//!   attached databases, 0;
//! - the size cap is `max_page_count` (which the tenant cannot change: `PRAGMA` refused), set
//!   again before each call ([`cap_pages`]) to what the database and its tenant have left;
//! - temporary files stay files (`temp_store = FILE`, counted by `d1_temp`'s VFS), the page
//!   cache (and so what a sort keeps in memory before it spills) at [`CACHE_KIB`];
//! - SQLite's limits: a string, BLOB or row is at most [`MAX_LENGTH`] bytes, a statement
//!   [`MAX_SQL_LENGTH`], a table [`MAX_COLUMNS`] columns, [`MAX_PARAMS`] bound parameters,
//!   [`MAX_EXPR_DEPTH`] deep expressions, no attached database;
//! - defensive mode (no `writable_schema` corruption), an untrusted schema;
//! - a progress handler interrupts a statement past the deadline [`Fence::arm`] set, past the
//!   CPU time [`Fence::limit_cpu`] allows its thread, or once the request that made the call is
//!   over ([`Fence::watch`]); never the supervisor's own.
//!
//! Trusts: SQLite's authorizer and progress handler (`sqlite3_set_authorizer`,
//! `sqlite3_progress_handler`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::Connection;

/// Largest string, BLOB or row, bytes (D1's limit).
pub const MAX_LENGTH: i32 = 2_000_000;
/// Largest SQL statement, bytes (D1's limit).
pub const MAX_SQL_LENGTH: i32 = 100_000;
/// Most columns of a table, index or result (D1's limit).
pub const MAX_COLUMNS: i32 = 100;
/// Most bound parameters of a statement (D1's limit).
pub const MAX_PARAMS: i32 = 100;
/// Deepest expression tree (SQLite's parser recurses on the supervisor's stack).
pub const MAX_EXPR_DEPTH: i32 = 100;
/// SQLite page size of a new database; `max_page_count` is the cap over it.
const PAGE_SIZE: i64 = 4096;
/// The page cache of a connection, KiB (SQLite's default, set so that it stays the bound).
pub const CACHE_KIB: i64 = 2000;
/// Virtual machine steps between two looks at the deadline.
const PROGRESS_STEPS: i32 = 1000;

/// `PRAGMA`s a tenant may run with or without an argument: they read the schema only.
pub const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
];
/// `PRAGMA`s a tenant may also set (as on D1).
pub const SET_PRAGMAS: &[&str] = &["foreign_keys", "defer_foreign_keys"];

/// What the supervisor shares with a connection's hooks.
#[derive(Default)]
pub struct Fence {
    /// The deadline of the running call, ms after `epoch` (0: none).
    deadline_ms: AtomicU64,
    epoch: OnceInstant,
    /// The progress handler interrupted the running call.
    interrupted: AtomicBool,
    /// Set while the supervisor's own statements run (its transactions, `PRAGMA page_count`).
    pub internal: AtomicBool,
    /// Why the authorizer refused the last statement it refused.
    denied: Mutex<Option<String>>,
    /// Set (by the caller's drop guard) once the request that made the running call is over.
    abandoned: Mutex<Option<Arc<AtomicBool>>>,
    /// The progress handler stopped the running call because its request was over.
    gone: AtomicBool,
    /// Which cap a full database met in the running call (see [`cap_pages`]).
    full: Mutex<Option<String>>,
    /// The running call's thread's CPU clock (ns) past which it is interrupted (0: none): the
    /// CPU its request had left, for a Durable Object's synchronous call (see
    /// [`Fence::limit_cpu`]).
    cpu_until_ns: AtomicU64,
    /// The progress handler interrupted the running call at its CPU limit.
    out_of_cpu: AtomicBool,
}

/// The CPU time the calling thread has run.
pub fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

#[derive(Default)]
struct OnceInstant(std::sync::OnceLock<Instant>);

impl OnceInstant {
    fn get(&self) -> Instant {
        *self.0.get_or_init(Instant::now)
    }
}

impl Fence {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.get().elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Starts a call that may run for `budget_ms`; clears what the last one left.
    pub fn arm(&self, budget_ms: u64) {
        self.interrupted.store(false, Ordering::SeqCst);
        if let Ok(mut d) = self.denied.lock() {
            *d = None;
        }
        let at = self.now_ms().saturating_add(budget_ms).max(1);
        self.deadline_ms.store(at, Ordering::SeqCst);
    }

    /// No deadline (for the supervisor's own statements: a rollback is never interrupted).
    pub fn disarm(&self) {
        self.deadline_ms.store(0, Ordering::SeqCst);
    }

    /// Interrupts the calls that follow once the calling thread (the one that runs them) has
    /// spent `cpu` more of CPU time; `None`: no such limit. Called on that thread, before them.
    pub fn limit_cpu(&self, cpu: Option<std::time::Duration>) {
        self.out_of_cpu.store(false, Ordering::SeqCst);
        let until = cpu.map_or(0, |cpu| {
            let at = thread_cpu_time().saturating_add(cpu).as_nanos();
            u64::try_from(at).unwrap_or(u64::MAX).max(1)
        });
        self.cpu_until_ns.store(until, Ordering::SeqCst);
    }

    /// Whether the progress handler interrupted the running call at its CPU limit.
    pub fn out_of_cpu(&self) -> bool {
        self.out_of_cpu.load(Ordering::SeqCst)
    }

    /// Stops the running call once `abandoned` is set (`None`: the call is over).
    pub fn watch(&self, abandoned: Option<Arc<AtomicBool>>) {
        self.gone.store(false, Ordering::SeqCst);
        if let Ok(mut a) = self.abandoned.lock() {
            *a = abandoned;
        }
    }

    /// Whether the progress handler stopped the running call because its request was over.
    pub fn abandoned(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    /// Which cap a full database met in the running call.
    pub fn full(&self) -> Option<String> {
        self.full.lock().ok().and_then(|f| f.clone())
    }

    /// Whether the progress handler interrupted the running call.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Why the authorizer refused the last statement it refused.
    pub fn denied(&self) -> Option<String> {
        self.denied.lock().ok().and_then(|d| d.clone())
    }

    fn past_deadline(&self) -> bool {
        if self.internal.load(Ordering::SeqCst) {
            return false;
        }
        let at = self.deadline_ms.load(Ordering::SeqCst);
        if at != 0 && self.now_ms() >= at {
            self.interrupted.store(true, Ordering::SeqCst);
            return true;
        }
        let cpu_until = self.cpu_until_ns.load(Ordering::SeqCst);
        if cpu_until != 0 && thread_cpu_time().as_nanos() >= u128::from(cpu_until) {
            self.out_of_cpu.store(true, Ordering::SeqCst);
            self.interrupted.store(true, Ordering::SeqCst);
            return true;
        }
        let gone = self
            .abandoned
            .lock()
            .map(|a| a.as_ref().is_some_and(|flag| flag.load(Ordering::SeqCst)))
            .unwrap_or(false);
        if gone {
            self.gone.store(true, Ordering::SeqCst);
            self.interrupted.store(true, Ordering::SeqCst);
        }
        gone
    }
}

/// Whether a tenant's statement may do `action` (`internal`: the supervisor's own statement):
/// `Err` says why not.
pub fn authorize(action: &AuthAction<'_>, internal: bool) -> Result<(), String> {
    let lower = |s: &str| s.to_ascii_lowercase();
    match action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            Err("ATTACH and DETACH are not allowed (one database per binding)".into())
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = lower(pragma_name);
            let read = READ_PRAGMAS.contains(&name.as_str());
            let set = SET_PRAGMAS.contains(&name.as_str());
            // The supervisor's own: the cap, the size, and the upkeep after a write (`d1_upkeep`).
            let own = match pragma_value {
                None => ["page_count", "page_size", "freelist_count", "incremental_vacuum"]
                    .contains(&name.as_str()),
                Some(_) => ["max_page_count", "wal_checkpoint"].contains(&name.as_str()),
            };
            if read || set || (internal && own) {
                Ok(())
            } else {
                Err(format!("PRAGMA {name} is not allowed"))
            }
        }
        AuthAction::Read { table_name, .. } => {
            let table = lower(table_name);
            match table.strip_prefix("pragma_") {
                Some(pragma) if !READ_PRAGMAS.contains(&pragma) => {
                    Err(format!("{table} is not allowed"))
                }
                _ => Ok(()),
            }
        }
        AuthAction::Function { function_name } => {
            let name = lower(function_name);
            if name == "load_extension" || name == "fts3_tokenizer" {
                Err(format!("{name}() is not allowed"))
            } else {
                Ok(())
            }
        }
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } if !internal => Err(
            "BEGIN, COMMIT, ROLLBACK and SAVEPOINT are not allowed: batch() runs statements in one transaction"
                .into(),
        ),
        AuthAction::Unknown { code, .. } => Err(format!("SQLite action {code} is not allowed")),
        _ => Ok(()),
    }
}

/// Configures `conn` as the module comment says, for a database of at most `max_bytes`; the
/// [`Fence`] its hooks share. Run before any tenant statement.
pub fn harden(conn: &mut Connection, max_bytes: u64) -> rusqlite::Result<Arc<Fence>> {
    harden_reserving(conn, max_bytes, None)
}

/// The table an action reads, writes, makes, alters or drops, if it names one.
fn table_of<'a>(action: &AuthAction<'a>) -> Option<&'a str> {
    match action {
        AuthAction::Read { table_name, .. }
        | AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
        | AuthAction::CreateTable { table_name }
        | AuthAction::CreateTempTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::DropTempTable { table_name }
        | AuthAction::AlterTable { table_name, .. }
        | AuthAction::CreateIndex { table_name, .. }
        | AuthAction::CreateTrigger { table_name, .. }
        | AuthAction::CreateTempTrigger { table_name, .. }
        | AuthAction::CreateVtable { table_name, .. }
        | AuthAction::Analyze { table_name } => Some(table_name),
        AuthAction::CreateView { view_name } | AuthAction::CreateTempView { view_name } => {
            Some(view_name)
        }
        _ => None,
    }
}

/// [`harden`], and tenant statements may not name a table whose name starts with `reserved`
/// (any case): the supervisor's own tables in the file (a Durable Object's `_cf_KV`).
pub fn harden_reserving(
    conn: &mut Connection,
    max_bytes: u64,
    reserved: Option<&'static str>,
) -> rusqlite::Result<Arc<Fence>> {
    conn.pragma_update(None, "page_size", PAGE_SIZE)?; // a new database's; kept otherwise
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "journal_size_limit", 4 << 20)?;
    conn.pragma_update(None, "temp_store", "FILE")?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    let page_size = u64::try_from(page_size).unwrap_or(4096).max(512);
    let pages = i64::try_from(max_bytes / page_size)
        .unwrap_or(i64::MAX)
        .max(1);
    conn.pragma_update(None, "max_page_count", pages)?;
    for (limit, value) in [
        (Limit::SQLITE_LIMIT_LENGTH, MAX_LENGTH),
        (Limit::SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_LENGTH),
        (Limit::SQLITE_LIMIT_COLUMN, MAX_COLUMNS),
        (Limit::SQLITE_LIMIT_VARIABLE_NUMBER, MAX_PARAMS),
        (Limit::SQLITE_LIMIT_EXPR_DEPTH, MAX_EXPR_DEPTH),
        (Limit::SQLITE_LIMIT_ATTACHED, 0),
        (Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 32),
        (Limit::SQLITE_LIMIT_WORKER_THREADS, 0),
    ] {
        conn.set_limit(limit, value)?;
    }
    for (config, on) in [
        (DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true),
        (DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_ATTACH_CREATE, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_ATTACH_WRITE, false),
    ] {
        conn.set_db_config(config, on)?;
    }
    let fence = Arc::new(Fence::default());
    fence.epoch.get();
    let hooks = Arc::clone(&fence);
    conn.authorizer(Some(move |context: AuthContext<'_>| {
        let internal = hooks.internal.load(Ordering::SeqCst);
        let reserved_table = reserved.zip(table_of(&context.action)).and_then(|(p, t)| {
            t.to_ascii_lowercase()
                .starts_with(&p.to_ascii_lowercase())
                .then(|| {
                    format!("the table {t} is the runtime's (names starting {p} are reserved)")
                })
        });
        let verdict = match reserved_table {
            Some(why) if !internal => Err(why),
            _ => authorize(&context.action, internal),
        };
        match verdict {
            Ok(()) => Authorization::Allow,
            Err(why) => {
                if let Ok(mut d) = hooks.denied.lock() {
                    *d = Some(why);
                }
                Authorization::Deny
            }
        }
    }))?;
    let progress = Arc::clone(&fence);
    conn.progress_handler(PROGRESS_STEPS, Some(move || progress.past_deadline()))?;
    Ok(fence)
}

/// Caps the database at `max_bytes` (at least its size now) for the next call, which, when
/// full, is told `why`.
pub fn cap_pages(
    conn: &Connection,
    fence: &Fence,
    max_bytes: u64,
    why: String,
) -> rusqlite::Result<()> {
    if let Ok(mut f) = fence.full.lock() {
        *f = Some(why);
    }
    fence.internal.store(true, Ordering::SeqCst);
    let set = conn
        .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
        .and_then(|page_size| {
            let page_size = u64::try_from(page_size).unwrap_or(4096).max(512);
            let pages = i64::try_from(max_bytes / page_size)
                .unwrap_or(i64::MAX)
                .clamp(1, i64::from(u32::MAX - 1));
            conn.pragma_update(None, "max_page_count", pages)
        });
    fence.internal.store(false, Ordering::SeqCst);
    set
}

#[cfg(test)]
#[path = "d1_guard_tests.rs"]
mod tests;
