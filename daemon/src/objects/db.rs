//! A Durable Object's storage: one SQLite file per object,
//! `DIR/<tenant>/<worker>/<class>/<id>.sqlite3` (`DIR` is `data_dir/do`), holding the tenant's own
//! SQL tables (`ctx.storage.sql`), the key-value API's table `_cf_KV` (as on Cloudflare), the
//! alarm's `_cf_ALARM` (`alarms.rs`) and the object's name's `_cf_NAME` (`name.rs`).
//!
//! Guarantees:
//! - each path component is checked again here (a tenant name, 64 hex digits, a class name):
//!   no separator, no dot; folders are created 0700, the file opened without following a
//!   symbolic link, through D1's temporary-file VFS (`storage::d1::d1_temp`);
//! - the connection is hardened as a D1 database's (`storage::d1_guard`: authorizer, limits,
//!   progress handler, no ATTACH, no PRAGMA but the schema's), and tenant SQL may not name a
//!   `_cf_` table; each operation runs under `query_ms` and is stopped when the request that
//!   made it is over;
//! - the file is capped at `max_bytes`, and before each operation at what the tenant has left of
//!   `tenant_max_bytes` (the bytes of all its objects' files, WAL included);
//! - an object's operations run one at a time, in the order their host calls arrived
//!   ([`ObjectDb::submit`] queues synchronously, `db_queue.rs`), on the blocking pool; a write
//!   is committed (WAL, `synchronous=FULL`) before its call answers, so an acknowledged `put`
//!   survives a `kill -9`; a transaction held between calls (`txn.rs`) commits at its outermost
//!   level's end, and one its request left open is rolled back before anything else runs;
//! - a value is the runtime's encoding of it (rpc.js's tagged JSON, UTF-8), stored as a BLOB;
//!   keys are text, at most [`MAX_KEY_BYTES`], values at most [`MAX_VALUE_BYTES`].
//!
//! Trusts: the object key its caller resolved from the directory.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::directory::{valid_id, ObjectKey};
use super::txn::{self, Held, Owner, Turn, TxnOp};
use crate::storage::d1::d1_temp::{self, TempQuota};
use crate::storage::d1_exec::{self, Allowance, Outcome, Query, SqlError, RESULT_MAX_BYTES};
use crate::storage::d1_guard::{cap_pages, harden_reserving, thread_cpu_time, Fence};
use crate::supervisor::bindings::valid_class_name;

/// Longest key, bytes (Cloudflare's).
pub const MAX_KEY_BYTES: usize = 2048;
/// Largest value, bytes (a SQLite-backed object's, as on Cloudflare).
pub const MAX_VALUE_BYTES: usize = 2 << 20;
/// Most keys one get, put or delete names (Cloudflare's).
pub const MAX_KEYS: usize = 128;

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID";

/// `[durable_objects]`' storage settings, resolved.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub tenant_max_bytes: u64,
    pub query_ms: u64,
}

/// `list`'s options.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub start: Option<String>,
    pub start_after: Option<String>,
    pub end: Option<String>,
    pub prefix: Option<String>,
    pub reverse: bool,
    pub limit: Option<u64>,
}

/// One storage operation.
pub enum Work {
    Get(Vec<String>),
    Put(Vec<(String, Vec<u8>)>),
    Delete(Vec<String>),
    DeleteAll,
    /// `DeleteAll` and the alarm (compatibility date 2026-02-24 or later, as on Cloudflare).
    DeleteAllAndAlarm,
    List(ListOptions),
    Sql(Query),
    /// The alarm's time (`alarms::Alarms`).
    GetAlarm,
    /// As `GetAlarm`, and makes the index and the schedule say the same.
    SyncAlarm,
    SetAlarm(i64),
    /// Deletes the alarm if it is set for this time (any, for `None`): the alarm left.
    DeleteAlarm(Option<i64>),
    /// Begins, commits or rolls back one level of a transaction (`txn.rs`).
    Txn(TxnOp),
    /// Nothing: lets the queue look at a transaction whose request ended (`TxnHold`).
    Settle,
    /// Keeps the object's name unless its file keeps one already (`name.rs`).
    KeepName(String),
    /// The name the object's file keeps (`name.rs`).
    Name,
}

/// What it answered.
pub enum Done {
    /// Found entries, in key order.
    Entries(Vec<(String, Vec<u8>)>),
    /// Keys deleted (or nothing, for a put).
    Count(u64),
    Sql(Outcome),
    /// The alarm set (after the operation), ms since the epoch.
    Alarm(Option<i64>),
    /// The object's name, as its file keeps it.
    Name(Option<String>),
}

struct Opened {
    conn: Connection,
    fence: Arc<Fence>,
    path: PathBuf,
}

/// The objects' files and their queues.
pub struct ObjectDb {
    settings: DbSettings,
    /// The objects' alarms: the daemon's index of them and their schedule.
    pub alarms: super::alarms::Alarms,
    queues: Mutex<HashMap<ObjectKey, mpsc::UnboundedSender<queue::Task>>>,
    temp: Mutex<HashMap<String, Arc<TempQuota>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn failed(what: &str, e: impl std::fmt::Display) -> SqlError {
    tracing::error!("durable object storage: {what}: {e}");
    SqlError("the object's storage could not be opened or used (the operator's log says why): SQLITE_CANTOPEN".into())
}

/// The bytes of the files under `dir`, however deep.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.path(), e.file_type().ok()?)))
        .map(|(path, kind)| {
            if kind.is_dir() {
                bytes_under(&path)
            } else if kind.is_file() {
                std::fs::metadata(&path).map_or(0, |m| m.len())
            } else {
                0
            }
        })
        .sum()
}

fn valid_tenant(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ObjectDb {
    pub fn new(settings: DbSettings) -> Arc<ObjectDb> {
        if let Err(code) = d1_temp::register() {
            tracing::error!("durable objects: registering the temporary-file VFS failed: {code}");
        }
        Arc::new(ObjectDb {
            alarms: super::alarms::Alarms::open(&settings.dir),
            settings,
            queues: Mutex::default(),
            temp: Mutex::default(),
        })
    }

    /// The file of `key`, or why there is none.
    pub fn path(&self, key: &ObjectKey) -> Result<PathBuf, SqlError> {
        if !valid_tenant(&key.tenant)
            || !(valid_id(&key.worker) || crate::store::worker_names::valid_name(&key.worker))
            || !valid_class_name(&key.class)
            || !valid_id(&key.id)
        {
            return Err(SqlError("not an object's name: SQLITE_CANTOPEN".into()));
        }
        Ok(self
            .settings
            .dir
            .join(&key.tenant)
            .join(&key.worker)
            .join(&key.class)
            .join(format!("{}.sqlite3", key.id)))
    }

    fn temp_quota(&self, tenant: &str) -> Arc<TempQuota> {
        let mut temp = lock(&self.temp);
        Arc::clone(
            temp.entry(tenant.to_owned())
                .or_insert_with(|| TempQuota::new(self.settings.max_bytes)),
        )
    }

    fn open(&self, key: &ObjectKey) -> Result<Opened, SqlError> {
        let path = self.path(key)?;
        let dir = path.parent().map(PathBuf::from).unwrap_or_default();
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| failed("mkdir", e))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut conn = Connection::open_with_flags_and_vfs(&path, flags, d1_temp::VFS_NAME)
            .map_err(|e| failed("open", e))?;
        let fence = harden_reserving(&mut conn, self.settings.max_bytes, Some("_cf_"))
            .map_err(|e| failed("harden", e))?;
        fence.internal.store(true, Ordering::SeqCst);
        let made = conn
            .execute_batch(SCHEMA)
            .and_then(|()| conn.execute_batch(super::alarms::FILE_SCHEMA));
        fence.internal.store(false, Ordering::SeqCst);
        made.map_err(|e| failed("schema", e))?;
        Ok(Opened { conn, fence, path })
    }

    /// Makes the daemon's alarm index and schedule say what the file says again, after a
    /// rollback (an alarm set or deleted inside the transaction had changed them).
    fn resync_alarm(&self, db: &Opened, key: &ObjectKey) {
        db.fence.internal.store(true, Ordering::SeqCst);
        if let Err(e) = self.alarms.sync(&db.conn, key) {
            tracing::error!("durable object storage: the alarm after a rollback: {e}");
        }
        db.fence.internal.store(false, Ordering::SeqCst);
    }

    /// Caps the file for the next operation at what it and its tenant have left.
    fn cap(&self, db: &Opened) -> Result<(), SqlError> {
        let (max, quota) = (self.settings.max_bytes, self.settings.tenant_max_bytes);
        let tenant_dir = db.path.ancestors().nth(3).map(PathBuf::from);
        let used = tenant_dir.as_deref().map_or(0, bytes_under);
        let main = std::fs::metadata(&db.path).map_or(0, |m| m.len());
        let left = quota.saturating_sub(used.saturating_sub(main));
        let (bytes, why) = if max <= left {
            (max, format!("the object's storage is at its size cap, [durable_objects] max_bytes = {max} bytes"))
        } else {
            (left, format!("this tenant's Durable Objects take {used} bytes of its quota, [durable_objects] tenant_max_bytes = {quota} bytes"))
        };
        cap_pages(&db.conn, &db.fence, bytes, why).map_err(|e| failed("cap", e))
    }

    fn run(
        &self,
        db: &Opened,
        held: &mut Option<Held>,
        key: &ObjectKey,
        work: Work,
        owner: Option<&Owner>,
        abandoned: Arc<AtomicBool>,
    ) -> Result<Done, SqlError> {
        let budget_ms = self.settings.query_ms;
        db.fence.watch(Some(abandoned));
        db.fence.arm(budget_ms);
        let done = match work {
            Work::Settle => Ok(Done::Count(0)),
            Work::Txn(op) => {
                let done = txn::apply(&db.conn, &db.fence, held, op, owner);
                if op == TxnOp::Rollback {
                    self.resync_alarm(db, key);
                }
                done.map(|()| Done::Count(0))
            }
            Work::Sql(query) => {
                let mut allowance = Allowance {
                    budget_ms,
                    bytes_left: RESULT_MAX_BYTES,
                };
                txn::exec(&db.conn, &db.fence, &query, &mut allowance)
                    .map(Done::Sql)
                    .map_err(|SqlError(why)| {
                        // The guard's refusal names D1's batch(); an object has its own way.
                        SqlError(why.replace(
                            "batch() runs statements in one transaction",
                            "use ctx.storage.transactionSync() or ctx.storage.transaction()",
                        ))
                    })
            }
            kv => {
                // The supervisor's own statements (the tenant's SQL may not name _cf_KV).
                db.fence.internal.store(true, Ordering::SeqCst);
                let done = match kv {
                    Work::GetAlarm => self.alarms.get_for(&db.conn, key).map(Done::Alarm),
                    Work::DeleteAllAndAlarm => super::kv::kv_op(&db.conn, Work::DeleteAll)
                        .and_then(|done| self.alarms.delete(&db.conn, key, None).map(|_| done)),
                    Work::SyncAlarm => self.alarms.sync(&db.conn, key).map(Done::Alarm),
                    Work::SetAlarm(at) => self
                        .alarms
                        .set(&db.conn, key, at)
                        .map(|()| Done::Alarm(Some(at))),
                    Work::DeleteAlarm(only) => {
                        self.alarms.delete(&db.conn, key, only).map(Done::Alarm)
                    }
                    Work::KeepName(name) => super::name::keep(&db.conn, &name),
                    Work::Name => super::name::read(&db.conn).map(Done::Name),
                    kv => super::kv::kv_op(&db.conn, kv),
                }
                .map_err(|e| d1_exec::describe(&e, &db.fence, budget_ms));
                db.fence.internal.store(false, Ordering::SeqCst);
                done
            }
        };
        if held.is_none() {
            d1_exec::close_transaction(&db.conn, &db.fence);
        }
        db.fence.disarm();
        db.fence.watch(None);
        done
    }
}

#[path = "db_queue.rs"]
mod queue;
pub use queue::Charge;

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;
