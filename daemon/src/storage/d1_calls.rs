//! The `d1.*` host calls behind a `{"binding": "d1"}` (isolate/js/d1.js): `query` (one
//! statement: `first`, `all`, `run`, `raw`), `batch` (statements in one transaction), `exec`,
//! `dump` (the database's bytes).
//!
//! Wire (framed like the other storage calls): a request head `{binding, sql, params}`,
//! `{binding, statements: [{sql, params}]}` or `{binding, sql}`; a parameter is null, a number,
//! a string, or `{"b": [offset, length]}` (a BLOB) / `{"t": [offset, length]}` (a long text)
//! into the bytes after the head. An answer head is `{columns, rows, meta}` (a BLOB cell as
//! `{"b": [offset, length]}` into the answer's bytes), `{results: [...]}`, `{count,
//! duration}` or `{size}` (a dump, its bytes after the head), each with the database's
//! `bookmark` after the call (a session's, `d1_upkeep`); `{"error": {"name": "Error",
//! "message"}}` is D1's error (the runtime adds the `D1_ERROR: ` prefix), a `TypeError` a
//! malformed request.
//!
//! Guarantees: a call reaches only a database of a D1 binding of the calling worker's stored
//! definition, within the calling tenant (`Storage::answer_d1`). Trusts: the call context.

use std::sync::Arc;

use rusqlite::types::Value as Cell;
use serde_json::{json, Map, Value};

use super::d1::{Answered, Done, Work, D1};
use super::d1_exec::{Meta, Outcome, Param, Query, SqlError};
use super::{frame, split, within_a_call, Storage};
use crate::supervisor::bindings::Binding;
use crate::supervisor::CallContext;

pub const OPS: [&str; 4] = ["query", "batch", "exec", "dump"];

/// Most statements in one batch.
pub const MAX_BATCH: usize = 1000;

fn type_error(message: impl Into<String>) -> Vec<u8> {
    frame(
        &json!({"error": {"name": "TypeError", "message": message.into()}}),
        &[],
    )
}

/// The bytes `{"x": [offset, length]}` names in `body`.
fn slice<'a>(reference: &Value, body: &'a [u8]) -> Option<&'a [u8]> {
    let range = reference.as_array()?;
    let (offset, length) = match range.as_slice() {
        [o, l] => (
            usize::try_from(o.as_u64()?).ok()?,
            usize::try_from(l.as_u64()?).ok()?,
        ),
        _ => return None,
    };
    body.get(offset..offset.checked_add(length)?)
}

fn param(v: &Value, body: &[u8]) -> Result<Param, String> {
    Ok(match v {
        Value::Null => Param::Null,
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Param::Integer(i),
            (None, Some(f)) => Param::number(f),
            _ => return Err(format!("the number {n} cannot be bound")),
        },
        Value::String(s) => Param::Text(s.clone()),
        Value::Object(o) if o.len() == 1 => {
            if let Some(r) = o.get("b") {
                Param::Blob(
                    slice(r, body)
                        .ok_or("a BLOB parameter is malformed")?
                        .to_vec(),
                )
            } else if let Some(r) = o.get("t") {
                let bytes = slice(r, body).ok_or("a text parameter is malformed")?;
                Param::Text(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| "a text parameter is not UTF-8")?,
                )
            } else {
                return Err("a parameter is malformed".into());
            }
        }
        _ => return Err("a parameter is malformed".into()),
    })
}

pub(crate) fn query(v: &Value, body: &[u8]) -> Result<Query, String> {
    let sql = v
        .get("sql")
        .and_then(Value::as_str)
        .ok_or("a statement needs its sql")?;
    let params = match v.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ps)) => ps
            .iter()
            .map(|p| param(p, body))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("params must be an array".into()),
    };
    Ok(Query {
        sql: sql.to_owned(),
        params,
    })
}

fn work(op: &str, head: &Value, body: &[u8]) -> Result<Work, String> {
    Ok(match op {
        "query" => Work::Statement(query(head, body)?),
        "batch" => {
            let statements = head
                .get("statements")
                .and_then(Value::as_array)
                .ok_or("a batch needs its statements")?;
            if statements.len() > MAX_BATCH {
                return Err(format!("a batch is at most {MAX_BATCH} statements"));
            }
            Work::Batch(
                statements
                    .iter()
                    .map(|s| query(s, body))
                    .collect::<Result<_, _>>()?,
            )
        }
        "exec" => Work::Exec(
            head.get("sql")
                .and_then(Value::as_str)
                .ok_or("exec needs its sql")?
                .to_owned(),
        ),
        "dump" => Work::Dump,
        _ => return Err(format!("no d1 operation {op}")),
    })
}

fn meta(m: &Meta) -> Value {
    json!({
        "served_by": "stockade",
        // One copy, written and read here: the primary (D1 names a region, `WNAM` say).
        "served_by_region": "local",
        "served_by_primary": true,
        "timings": {"sql_duration_ms": m.duration_ms},
        "duration": m.duration_ms,
        "changes": m.changes,
        "last_row_id": m.last_row_id,
        "changed_db": m.changed_db,
        "size_after": m.size_after,
        "rows_read": m.rows_read,
        "rows_written": m.rows_written,
        "total_attempts": 1,
    })
}

/// `o` as an answer's JSON, its BLOBs appended to `bytes`.
pub(crate) fn outcome(o: Outcome, bytes: &mut Vec<u8>) -> Value {
    let rows: Vec<Value> = o
        .rows
        .into_iter()
        .map(|row| {
            Value::Array(
                row.into_iter()
                    .map(|cell| match cell {
                        Cell::Null => Value::Null,
                        Cell::Integer(i) => json!(i),
                        Cell::Real(f) => json!(f),
                        Cell::Text(t) => Value::String(t),
                        Cell::Blob(b) => {
                            let at = bytes.len();
                            bytes.extend_from_slice(&b);
                            json!({"b": [at, b.len()]})
                        }
                    })
                    .collect(),
            )
        })
        .collect();
    let mut out = Map::new();
    out.insert("columns".into(), json!(o.columns));
    out.insert("rows".into(), Value::Array(rows));
    out.insert("meta".into(), meta(&o.meta));
    Value::Object(out)
}

/// The framed answer to `done`.
pub fn answer(done: Result<Answered, SqlError>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let head = match done {
        Ok(Answered { done, bookmark }) => {
            let mut head = match done {
                Done::Statement(o) => outcome(o, &mut bytes),
                Done::Batch(os) => {
                    let results: Vec<Value> =
                        os.into_iter().map(|o| outcome(o, &mut bytes)).collect();
                    json!({ "results": results })
                }
                Done::Exec(count, duration) => json!({"count": count, "duration": duration}),
                Done::Dump(dump) => {
                    bytes = dump;
                    json!({ "size": bytes.len() })
                }
            };
            head["bookmark"] = Value::String(bookmark);
            head
        }
        Err(SqlError(message)) => json!({"error": {"name": "Error", "message": message}}),
    };
    within_a_call(frame(&head, &bytes))
}

impl Storage {
    /// A `d1.{op}` call: the binding it names resolved against the caller's stored bindings.
    pub(super) async fn answer_d1(
        &self,
        d1: Arc<D1>,
        context: CallContext,
        payload: Vec<u8>,
        op: &'static str,
    ) -> Result<Vec<u8>, String> {
        let (head, body) = split(&payload)?;
        let (tenant, name) = context.binding_caller(self.tenants.get(), &head)?;
        let Some(Binding::D1 { database }) = context.bindings.get(name) else {
            return Err(format!("this worker has no D1 binding named {name:?}"));
        };
        let work = match work(op, &head, body) {
            Ok(w) => w,
            Err(why) => return Ok(type_error(format!("D1: {why}"))),
        };
        Ok(answer(d1.run(&tenant, database, work).await))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_blobs_are_read_from_the_body() {
        let body = b"\x00\x01\xffhello";
        let head = json!({"sql": "SELECT ?", "params": [
            null, 7, 1.5, "s", {"b": [0, 3]}, {"t": [3, 5]}, 1e300
        ]});
        let q = query(&head, body).expect("valid");
        assert_eq!(
            q.params,
            vec![
                Param::Null,
                Param::Integer(7),
                Param::Real(1.5),
                Param::Text("s".into()),
                Param::Blob(vec![0, 1, 255]),
                Param::Text("hello".into()),
                Param::Real(1e300),
            ]
        );
        for bad in [
            json!({"b": [4, 100]}),
            json!({"b": [u64::MAX, 2]}),
            json!({"t": [0, 3]}),
            json!({"x": 1}),
            json!([1, 2]),
            json!(true),
        ] {
            let head = json!({"sql": "SELECT ?", "params": [bad]});
            assert!(query(&head, body).is_err(), "{bad}");
        }
        assert!(work("drop", &json!({}), body).is_err());
        let many = json!({"statements": vec![json!({"sql": "SELECT 1"}); MAX_BATCH + 1]});
        assert!(work("batch", &many, body).is_err());
    }

    #[test]
    fn blob_cells_travel_as_bytes() {
        let o = Outcome {
            columns: vec!["b".into(), "t".into()],
            rows: vec![vec![Cell::Blob(vec![9, 8]), Cell::Text("x".into())]],
            meta: Meta::default(),
        };
        let framed = answer(Ok(Answered {
            done: Done::Statement(o),
            bookmark: "b".into(),
        }));
        let (head, bytes) = split(&framed).expect("framed");
        assert_eq!(head["rows"], json!([[{"b": [0, 2]}, "x"]]));
        assert_eq!(bytes, &[9, 8]);
        assert_eq!(head["meta"]["served_by_primary"], true);
        assert_eq!(head["bookmark"], "b");
        let err = answer(Err(SqlError("no such table: t: SQLITE_ERROR".into())));
        let (head, _) = split(&err).expect("framed");
        assert_eq!(head["error"]["name"], "Error");
    }
}
