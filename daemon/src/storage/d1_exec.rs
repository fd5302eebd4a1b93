//! Running a D1 call's SQL on one hardened connection (`d1_guard`): a statement, a batch (one
//! transaction: all or nothing), an `exec` (line by line, as D1 splits it).
//!
//! Guarantees: a value binds as D1 binds it (null, an integer or a real number, text, a BLOB);
//! a result cell comes back as SQLite stored it ([`Value`]); a call's results are at most
//! [`RESULT_MAX_BYTES`] (counted as they are read: a larger one stops reading and is an error);
//! no transaction survives a call (a batch commits or rolls back, and anything a statement
//! left open is rolled back); an error is a message in D1's shape, `<what SQLite said>:
//! SQLITE_<CODE>`, naming the fence's reason for a refusal, the time budget for an
//! interruption (or that the request was over), and the cap a full database or temporary
//! files met. Trusts: the connection's fence, armed by the caller.

use std::sync::atomic::Ordering;
use std::time::Instant;

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Batch, Connection, ErrorCode, StatementStatus, ToSql};

use super::d1_guard::Fence;

/// Most bytes of results one call returns (cells as the answer's JSON counts them, BLOBs as
/// bytes): half of what a host call's answer carries, the rest for the JSON around them.
pub const RESULT_MAX_BYTES: usize = stockade_ipc::limits::MAX_HOST_CALL_PAYLOAD / 2;

/// A bound value, as D1 takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Param {
    /// A JavaScript number: an integer when it is one (and fits), else a real; NaN and the
    /// infinities are null, as JSON (which D1's wire is) makes them.
    pub fn number(n: f64) -> Param {
        if !n.is_finite() {
            Param::Null
        } else if n.fract() == 0.0 && n.abs() < 9.2e18 {
            Param::Integer(n as i64)
        } else {
            Param::Real(n)
        }
    }
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Null => ValueRef::Null,
            Param::Integer(i) => ValueRef::Integer(*i),
            Param::Real(f) => ValueRef::Real(*f),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// One statement and its bound values.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Param>,
}

/// D1's `meta` of one statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub duration_ms: f64,
    pub changes: u64,
    pub last_row_id: i64,
    pub changed_db: bool,
    pub size_after: u64,
    /// Rows returned, or the rows full scans stepped through when more
    /// (`SQLITE_STMTSTATUS_FULLSCAN_STEP`, a row each; `VM_STEP` counts virtual machine
    /// instructions, not rows, and a row found through an index is counted only when returned:
    /// stock SQLite counts rows read no closer, so this is an estimate, low for an aggregate
    /// over an index range).
    pub rows_read: u64,
    /// Rows inserted, updated or deleted, those of triggers included (`sqlite3_total_changes`
    /// before and after; D1 also counts each index entry written, this does not).
    pub rows_written: u64,
}

/// One statement's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub meta: Meta,
}

/// A call's SQL failed: D1's message (without its `D1_ERROR: ` prefix, which the runtime adds).
#[derive(Debug, Clone, PartialEq)]
pub struct SqlError(pub String);

/// What a call is allowed: its time budget (for the message; the fence enforces it) and the
/// result bytes it has left.
pub struct Allowance {
    pub budget_ms: u64,
    pub bytes_left: usize,
}

fn code_name(extended: std::os::raw::c_int) -> &'static str {
    const NAMES: [&str; 27] = [
        "SQLITE_OK",
        "SQLITE_ERROR",
        "SQLITE_INTERNAL",
        "SQLITE_PERM",
        "SQLITE_ABORT",
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_NOMEM",
        "SQLITE_READONLY",
        "SQLITE_INTERRUPT",
        "SQLITE_IOERR",
        "SQLITE_CORRUPT",
        "SQLITE_NOTFOUND",
        "SQLITE_FULL",
        "SQLITE_CANTOPEN",
        "SQLITE_PROTOCOL",
        "SQLITE_EMPTY",
        "SQLITE_SCHEMA",
        "SQLITE_TOOBIG",
        "SQLITE_CONSTRAINT",
        "SQLITE_MISMATCH",
        "SQLITE_MISUSE",
        "SQLITE_NOLFS",
        "SQLITE_AUTH",
        "SQLITE_FORMAT",
        "SQLITE_RANGE",
        "SQLITE_NOTADB",
    ];
    usize::try_from(extended & 0xff)
        .ok()
        .and_then(|i| NAMES.get(i).copied())
        .unwrap_or("SQLITE_ERROR")
}

/// `e` as the tenant sees it.
pub fn describe(e: &rusqlite::Error, fence: &Fence, budget_ms: u64) -> SqlError {
    if fence.abandoned() {
        return SqlError(
            "the request that made the call is over, so the query was stopped: SQLITE_INTERRUPT"
                .into(),
        );
    }
    if fence.out_of_cpu() {
        return SqlError(
            "the query used the CPU time its request had left and was interrupted: SQLITE_INTERRUPT"
                .into(),
        );
    }
    if fence.interrupted() {
        return SqlError(format!(
            "the query ran longer than its time budget of {budget_ms} ms and was interrupted: SQLITE_INTERRUPT"
        ));
    }
    SqlError(match e {
        rusqlite::Error::SqliteFailure(err, _)
        | rusqlite::Error::SqlInputError { error: err, .. } => {
            let text = match e {
                rusqlite::Error::SqliteFailure(_, Some(m))
                | rusqlite::Error::SqlInputError { msg: m, .. } => m.clone(),
                _ => err.to_string(),
            };
            let code = code_name(err.extended_code);
            match fence.denied() {
                // The authorizer refused (SQLITE_AUTH, or SQLITE_ERROR for a function).
                Some(why) => format!("{text}: {why}: {code}"),
                None if err.code == ErrorCode::DiskFull => match super::d1::d1_temp::refused() {
                    true => format!(
                        "{text}: this tenant's temporary files (sorts, temporary tables) are at their cap, [store] d1_max_bytes = {} bytes: {code}",
                        super::d1::d1_temp::cap().unwrap_or(0)
                    ),
                    false => match fence.full() {
                        Some(why) => format!("{text}: {why}: {code}"),
                        None => format!("{text}: {code}"),
                    },
                },
                None => {
                    if matches!(
                        err.code,
                        ErrorCode::SystemIoFailure
                            | ErrorCode::DatabaseCorrupt
                            | ErrorCode::CannotOpen
                            | ErrorCode::OutOfMemory
                    ) {
                        tracing::error!("d1: {e}");
                    }
                    format!("{text}: {code}")
                }
            }
        }
        rusqlite::Error::MultipleStatement => {
            "a prepared statement is one SQL statement (batch() or exec() run more): SQLITE_ERROR"
                .into()
        }
        rusqlite::Error::Utf8Error(..) => "a text value is not valid UTF-8: SQLITE_MISMATCH".into(),
        other => format!("{other}: SQLITE_ERROR"),
    })
}

/// Bytes `v` takes in the answer (its JSON, a BLOB's bytes), at most.
fn cell_bytes(v: &ValueRef<'_>) -> usize {
    match v {
        ValueRef::Null => 4,
        ValueRef::Integer(_) | ValueRef::Real(_) => 24,
        ValueRef::Text(t) => {
            2 + t
                .iter()
                .map(|&b| match b {
                    b'"' | b'\\' => 2,
                    0..=0x1f => 6,
                    _ => 1,
                })
                .sum::<usize>()
        }
        ValueRef::Blob(b) => 32 + b.len(),
    }
}

fn too_large() -> SqlError {
    SqlError(format!(
        "the results are more than {RESULT_MAX_BYTES} bytes, what one call returns: select fewer rows or columns (LIMIT): SQLITE_TOOBIG"
    ))
}

/// The database's size, bytes.
fn size(conn: &Connection, fence: &Fence) -> u64 {
    fence.internal.store(true, Ordering::SeqCst);
    let pages: rusqlite::Result<(i64, i64)> = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .and_then(|n: i64| Ok((n, conn.query_row("PRAGMA page_size", [], |r| r.get(0))?)));
    fence.internal.store(false, Ordering::SeqCst);
    pages
        .map(|(n, size)| u64::try_from(n.saturating_mul(size)).unwrap_or(0))
        .unwrap_or(0)
}

/// Runs one statement of a call.
pub fn statement(
    conn: &Connection,
    fence: &Fence,
    query: &Query,
    allowance: &mut Allowance,
) -> Result<Outcome, SqlError> {
    let describe = |e: rusqlite::Error| describe(&e, fence, allowance.budget_ms);
    let started = Instant::now();
    let before = conn.total_changes();
    let mut stmt = conn.prepare(&query.sql).map_err(describe)?;
    if stmt.parameter_count() != query.params.len() {
        return Err(SqlError(format!(
            "Wrong number of parameter bindings for SQL query: the statement takes {}, {} given: SQLITE_RANGE",
            stmt.parameter_count(),
            query.params.len()
        )));
    }
    for (i, p) in query.params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, p).map_err(describe)?;
    }
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let readonly = stmt.readonly();
    let mut out = Vec::new();
    {
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next().map_err(describe)? {
            let mut cells = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                let v = row.get_ref(i).map_err(describe)?;
                let need = cell_bytes(&v) + 1;
                if need > allowance.bytes_left {
                    return Err(too_large());
                }
                allowance.bytes_left -= need;
                cells.push(match v {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Integer(i),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) => Value::Text(
                        String::from_utf8(t.to_vec())
                            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                    ),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(cells);
        }
    }
    let scanned = u64::try_from(stmt.get_status(StatementStatus::FullscanStep)).unwrap_or(0);
    drop(stmt);
    let written = conn.total_changes().saturating_sub(before);
    let changes = if written > 0 && !readonly {
        conn.changes()
    } else {
        0
    };
    let meta = Meta {
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        changes,
        last_row_id: conn.last_insert_rowid(),
        changed_db: !readonly,
        size_after: size(conn, fence),
        rows_read: (out.len() as u64).max(scanned),
        rows_written: if readonly { 0 } else { written },
    };
    Ok(Outcome {
        columns,
        rows: out,
        meta,
    })
}

/// Runs the supervisor's own `sql` (a transaction's), past the fence and its deadline.
fn internal(conn: &Connection, fence: &Fence, sql: &str) -> rusqlite::Result<()> {
    fence.disarm();
    fence.internal.store(true, Ordering::SeqCst);
    let done = conn.execute_batch(sql);
    fence.internal.store(false, Ordering::SeqCst);
    done
}

/// Rolls back whatever a call left open.
pub fn close_transaction(conn: &Connection, fence: &Fence) {
    if !conn.is_autocommit() {
        if let Err(e) = internal(conn, fence, "ROLLBACK") {
            tracing::error!("d1: rolling back: {e}");
        }
    }
}

/// Runs `queries` in one transaction: every result, or the first error and nothing written.
pub fn batch(
    conn: &Connection,
    fence: &Fence,
    queries: &[Query],
    allowance: &mut Allowance,
) -> Result<Vec<Outcome>, SqlError> {
    let budget_ms = allowance.budget_ms;
    internal(conn, fence, "BEGIN IMMEDIATE").map_err(|e| describe(&e, fence, budget_ms))?;
    fence.arm(budget_ms);
    let mut out = Vec::with_capacity(queries.len());
    for query in queries {
        match statement(conn, fence, query, allowance) {
            Ok(o) => out.push(o),
            Err(e) => {
                close_transaction(conn, fence);
                return Err(e);
            }
        }
    }
    if let Err(e) = internal(conn, fence, "COMMIT") {
        close_transaction(conn, fence);
        return Err(describe(&e, fence, budget_ms));
    }
    Ok(out)
}

/// D1's `exec`: each line of `sql` (trimmed) on its own, in order, every statement on it run
/// to its end; rows are not returned. The statements run (D1's `count`: two on one line are
/// two, a blank line none) and their time, or the first failing line.
pub fn exec(
    conn: &Connection,
    fence: &Fence,
    sql: &str,
    budget_ms: u64,
) -> Result<(u64, f64), SqlError> {
    let started = Instant::now();
    let mut count = 0;
    for (i, line) in sql.trim().split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut run = || -> rusqlite::Result<()> {
            let mut statements = Batch::new(conn, line);
            while let Some(mut stmt) = statements.next()? {
                let mut rows = stmt.raw_query();
                while rows.next()?.is_some() {}
                count += 1;
            }
            Ok(())
        };
        if let Err(e) = run() {
            let SqlError(why) = describe(&e, fence, budget_ms);
            return Err(SqlError(format!("Error in line {}: {line}: {why}", i + 1)));
        }
    }
    Ok((count, started.elapsed().as_secs_f64() * 1000.0))
}

#[cfg(test)]
#[path = "d1_exec_tests.rs"]
mod tests;
