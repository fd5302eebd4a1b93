//! The SQLite backend: one database file, one connection owned by a dedicated thread, which runs
//! the transactions one after the other (SQLite serialises writers anyway; this also serialises
//! the quota checks of `workspace`).
//!
//! Guarantees: WAL journal with `synchronous=FULL`, so a transaction whose call returned `Ok` was
//! fsynced and survives a `kill -9` or a power cut (a [`Durability::Process`] one runs under
//! `synchronous=NORMAL`: written to the log, not fsynced, so it survives a `kill -9` only, until
//! the next fsync of the log); every transaction is `BEGIN IMMEDIATE` and
//! is rolled back unless its closure returned `Ok`; a panicking closure rolls back and fails its
//! call, the thread goes on. Trusts: the path the operator configured (created 0700 if missing).

use std::any::Any;
use std::path::Path;
use std::sync::mpsc;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{Backend, Dialect, Durability, Row, StoreError, Tx, Val, Work};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

pub struct Sqlite {
    jobs: mpsc::Sender<Job>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl Sqlite {
    /// Opens (creating) the database at `path`; its folder is created 0700 if missing.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| conn.pragma_update(None, "foreign_keys", "ON"))
            .and_then(|()| conn.busy_timeout(std::time::Duration::from_secs(10)))
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open(format!(
                "{}: the journal mode is {mode}, not WAL",
                path.display()
            )));
        }
        let (jobs, inbox) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("stockade-sqlite".into())
            .spawn(move || {
                let mut conn = conn;
                while let Ok(job) = inbox.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Open(format!("cannot start the SQLite thread: {e}")))?;
        Ok(Sqlite { jobs })
    }
}

/// Creates `dir` (and parents) with mode 0700 if missing.
pub fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))
}

/// Runs `work` in one transaction of `conn`, as durably as `durability` says.
fn run(
    conn: &mut Connection,
    work: Work,
    durability: Durability,
) -> Result<Box<dyn Any + Send>, StoreError> {
    if durability == Durability::Disk {
        return run_tx(conn, work);
    }
    // The setting is the connection's, and cannot change inside a transaction: set around it.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(backend)?;
    let result = run_tx(conn, work);
    let restored = conn.pragma_update(None, "synchronous", "FULL");
    match restored {
        Ok(()) => result,
        // SQLite refuses the setting only inside a transaction, which `run_tx` always ended;
        // should it ever, the call fails rather than pass for durable.
        Err(e) => Err(backend(e)),
    }
}

fn run_tx(conn: &mut Connection, work: Work) -> Result<Box<dyn Any + Send>, StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    let mut handle = SqliteTx { tx: &tx };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut handle)));
    match caught {
        Ok(Ok(value)) => {
            tx.commit().map_err(backend)?;
            Ok(value)
        }
        // Dropping `tx` rolls back.
        Ok(Err(e)) => Err(e),
        Err(_) => Err(StoreError::Backend("a transaction panicked".into())),
    }
}

#[async_trait::async_trait]
impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn transact(
        &self,
        work: Work,
        durability: Durability,
    ) -> Result<Box<dyn Any + Send>, StoreError> {
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = done.send(run(conn, work, durability));
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Backend("the SQLite thread is gone".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the SQLite thread dropped a transaction".into()))?
    }
}

struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Val::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Val::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(backend)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(backend)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(backend)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(backend)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i).map_err(backend)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Real(v) => Val::Int(v as i64),
                    ValueRef::Text(v) => Val::Text(String::from_utf8_lossy(v).into_owned()),
                    ValueRef::Blob(v) => Val::Blob(v.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}
