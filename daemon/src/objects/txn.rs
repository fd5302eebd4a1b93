//! Transactions that span several storage calls of one object (`ctx.storage.transactionSync`,
//! `transaction`), and the SQL of one `sql.exec` (several statements: atomic, the last one's
//! rows answered).
//!
//! A transaction is a stack of savepoints on the object's connection (`SAVEPOINT _cf_txn`, one per
//! nesting level), held between the calls that make it: `do.txn {op: "begin"}` pushes one,
//! `commit` releases the innermost (the outermost's release commits, durably), `rollback` rolls
//! the innermost back and releases it. The queue (`db.rs`) knows who holds it: the request that
//! began it (weakly: it is gone once that request ended) and its incarnation of the object.
//!
//! Guarantees: a transaction whose request ended, whose isolate died (a call of another
//! incarnation arrives) or whose object is closed (its connection dropped: SQLite rolls back)
//! is rolled back whole before anything else runs on the file, never half-committed; work the
//! supervisor queues itself (an alarm's bookkeeping) waits while a live transaction is open; the
//! tenant's SQL can neither open nor end one (`storage::d1_guard`'s authorizer; the statements
//! here run as the supervisor's own). Trusts: its caller to run it on the object's connection.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use rusqlite::Connection;

use crate::storage::d1_exec::{self, Allowance, Outcome, Query, SqlError};
use crate::storage::d1_guard::Fence;

/// Transaction operations (`do.txn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOp {
    Begin,
    Commit,
    Rollback,
}

/// Nested transactions one object may hold at once.
pub const MAX_DEPTH: u32 = 64;

/// Who made a storage call: the request (alive while its `Resources` are) and the incarnation of
/// the object (the definition id the directory gave it).
#[derive(Clone)]
pub struct Owner {
    pub request: Weak<dyn std::any::Any + Send + Sync>,
    pub incarnation: stockade_ipc::WorkerId,
}

/// The transaction held open on an object's connection.
pub struct Held {
    pub depth: u32,
    pub owner: Owner,
}

/// What the queue does with a task while a transaction is held.
pub enum Turn {
    /// Run it (it belongs to the transaction, or none is held).
    Run,
    /// Roll the transaction back first (its holder is gone), then run it.
    RollBackFirst,
    /// Keep it for after the transaction (the supervisor's own work).
    Wait,
}

/// What to do with a task of `owner` (none: the supervisor's) while `held` is open.
pub fn turn(held: Option<&Held>, owner: Option<&Owner>) -> Turn {
    let Some(held) = held else {
        return Turn::Run;
    };
    let alive = held.owner.request.strong_count() > 0;
    match owner {
        _ if !alive => Turn::RollBackFirst,
        None => Turn::Wait,
        Some(o) if o.incarnation == held.owner.incarnation => Turn::Run,
        Some(_) => Turn::RollBackFirst,
    }
}

/// Runs the supervisor's own `sql` on `conn` (past the authorizer's refusal of transactions).
fn own(conn: &Connection, fence: &Fence, sql: &str) -> rusqlite::Result<()> {
    fence.internal.store(true, Ordering::SeqCst);
    let done = conn.execute_batch(sql);
    fence.internal.store(false, Ordering::SeqCst);
    done
}

fn failed(what: &str, e: rusqlite::Error) -> SqlError {
    SqlError(format!("{what}: {e}"))
}

/// Rolls back whatever transaction `conn` holds (nothing when none).
pub fn roll_back_all(conn: &Connection, fence: &Fence) {
    if !conn.is_autocommit() {
        if let Err(e) = own(conn, fence, "ROLLBACK") {
            tracing::error!("durable object storage: rolling back an abandoned transaction: {e}");
        }
    }
}

/// Applies `op` to the transaction `held` (made or ended here) for `owner`.
pub fn apply(
    conn: &Connection,
    fence: &Fence,
    held: &mut Option<Held>,
    op: TxnOp,
    owner: Option<&Owner>,
) -> Result<(), SqlError> {
    let depth = held.as_ref().map_or(0, |h| h.depth);
    if depth > 0 && conn.is_autocommit() {
        // An error ended the whole transaction in SQLite (a full disk, say): its levels are gone.
        *held = None;
        return Err(SqlError(
            "the transaction was rolled back by an earlier error: SQLITE_ABORT".into(),
        ));
    }
    match op {
        TxnOp::Begin => {
            let owner = owner.ok_or_else(|| SqlError("a transaction needs its object".into()))?;
            if depth >= MAX_DEPTH {
                return Err(SqlError(format!(
                    "transactions nest at most {MAX_DEPTH} deep: SQLITE_LIMIT"
                )));
            }
            own(conn, fence, "SAVEPOINT _cf_txn").map_err(|e| failed("SAVEPOINT", e))?;
            match held {
                Some(h) => h.depth += 1,
                None => {
                    *held = Some(Held {
                        depth: 1,
                        owner: owner.clone(),
                    })
                }
            }
        }
        TxnOp::Commit | TxnOp::Rollback if depth == 0 => {
            return Err(SqlError("no transaction is open".into()));
        }
        TxnOp::Commit => {
            own(conn, fence, "RELEASE _cf_txn").map_err(|e| failed("COMMIT", e))?;
            lower(held);
        }
        TxnOp::Rollback => {
            let done = own(conn, fence, "ROLLBACK TO _cf_txn; RELEASE _cf_txn");
            lower(held);
            if let Err(e) = done {
                roll_back_all(conn, fence);
                *held = None;
                return Err(failed("ROLLBACK", e));
            }
        }
    }
    Ok(())
}

fn lower(held: &mut Option<Held>) {
    if let Some(h) = held {
        h.depth -= 1;
        if h.depth == 0 {
            *held = None;
        }
    }
}

/// Runs `body` inside a savepoint of its own: kept if it succeeds, rolled back if it fails.
pub fn atomic<T>(
    conn: &Connection,
    fence: &Fence,
    body: impl FnOnce() -> Result<T, SqlError>,
) -> Result<T, SqlError> {
    own(conn, fence, "SAVEPOINT _cf_op").map_err(|e| failed("SAVEPOINT", e))?;
    let done = body();
    let end = if done.is_ok() {
        "RELEASE _cf_op"
    } else {
        "ROLLBACK TO _cf_op; RELEASE _cf_op"
    };
    if let Err(e) = own(conn, fence, end) {
        return Err(failed("ending a statement's savepoint", e));
    }
    done
}

/// `sql.exec`: the statements of `query.sql` in order (`split.rs`), in one savepoint when there
/// are several; the bindings go to the last, whose rows are the answer; rows read and written
/// are counted over all of them.
pub fn exec(
    conn: &Connection,
    fence: &Fence,
    query: &Query,
    allowance: &mut Allowance,
) -> Result<Outcome, SqlError> {
    let pieces = super::split::statements(&query.sql);
    if pieces.len() <= 1 {
        return d1_exec::statement(conn, fence, query, allowance);
    }
    atomic(conn, fence, || {
        let (mut read, mut written) = (0, 0);
        let last = pieces.len() - 1;
        let mut outcome = None;
        for (i, piece) in pieces.iter().enumerate() {
            let one = Query {
                sql: (*piece).to_owned(),
                params: if i == last {
                    query.params.clone()
                } else {
                    Vec::new()
                },
            };
            let o = d1_exec::statement(conn, fence, &one, allowance)?;
            read += o.meta.rows_read;
            written += o.meta.rows_written;
            outcome = Some(o);
        }
        let mut o = outcome.ok_or_else(|| SqlError("no statement".into()))?;
        o.meta.rows_read = read;
        o.meta.rows_written = written;
        Ok(o)
    })
}

/// An `Owner` for a call made with `resources` by incarnation `incarnation`.
pub fn owner<T: std::any::Any + Send + Sync>(
    resources: &Arc<T>,
    incarnation: stockade_ipc::WorkerId,
) -> Owner {
    let any: Arc<dyn std::any::Any + Send + Sync> = resources.clone();
    Owner {
        request: Arc::downgrade(&any),
        incarnation,
    }
}
