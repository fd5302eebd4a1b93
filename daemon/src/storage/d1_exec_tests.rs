//! Statements, batches and `exec` on a real hardened connection.

use super::*;
use crate::storage::d1_guard::harden;
use std::sync::Arc;

fn open(tag: &str) -> (Connection, Arc<Fence>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("stockade-d1-exec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut conn = Connection::open(dir.join("db.sqlite3")).expect("open");
    let fence = harden(&mut conn, 8 << 20).expect("harden");
    fence.arm(10_000);
    (conn, fence, dir)
}

fn q(sql: &str, params: Vec<Param>) -> Query {
    Query {
        sql: sql.into(),
        params,
    }
}

fn allowance() -> Allowance {
    Allowance {
        budget_ms: 10_000,
        bytes_left: RESULT_MAX_BYTES,
    }
}

#[test]
fn numbers_bind_as_d1_binds_them() {
    assert_eq!(Param::number(1.0), Param::Integer(1));
    assert_eq!(Param::number(-0.0), Param::Integer(0));
    assert_eq!(Param::number(1.5), Param::Real(1.5));
    assert_eq!(Param::number(f64::NAN), Param::Null);
    assert_eq!(Param::number(f64::INFINITY), Param::Null);
    assert_eq!(Param::number(1e300), Param::Real(1e300));
}

#[test]
fn values_round_trip_with_their_sqlite_types() {
    let (conn, fence, dir) = open("types");
    let mut a = allowance();
    let params = vec![
        Param::Null,
        Param::Integer(42),
        Param::Real(1.5),
        Param::Text("héllo \"q\"".into()),
        Param::Blob(vec![0, 255, 7]),
    ];
    let sql =
        "SELECT ?1 AS n, ?2 AS i, ?3 AS r, ?4 AS t, ?5 AS b, typeof(?2), typeof(?3), typeof(?5)";
    let out = statement(&conn, &fence, &q(sql, params), &mut a).expect("select");
    assert_eq!(out.columns[..5], ["n", "i", "r", "t", "b"]);
    assert_eq!(
        out.rows,
        vec![vec![
            Value::Null,
            Value::Integer(42),
            Value::Real(1.5),
            Value::Text("héllo \"q\"".into()),
            Value::Blob(vec![0, 255, 7]),
            Value::Text("integer".into()),
            Value::Text("real".into()),
            Value::Text("blob".into()),
        ]]
    );
    assert!(!out.meta.changed_db);
    assert!(a.bytes_left < RESULT_MAX_BYTES, "results are counted");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn writes_report_changes_and_the_last_row_id() {
    let (conn, fence, dir) = open("meta");
    let mut a = allowance();
    let create = q(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)",
        vec![],
    );
    let made = statement(&conn, &fence, &create, &mut a).expect("create");
    assert_eq!((made.meta.changes, made.meta.changed_db), (0, true));
    let insert = q(
        "INSERT INTO t (name) VALUES (?), (?)",
        vec![Param::Text("a".into()), Param::Text("b".into())],
    );
    let ins = statement(&conn, &fence, &insert, &mut a).expect("insert");
    assert_eq!((ins.meta.changes, ins.meta.last_row_id), (2, 2));
    assert_eq!(ins.meta.rows_written, 2);
    assert!(ins.meta.size_after >= 4096, "{:?}", ins.meta);
    let select = q("SELECT count(*) AS n FROM t", vec![]);
    let sel = statement(&conn, &fence, &select, &mut a).expect("select");
    assert_eq!(sel.meta.changes, 0, "a read changes nothing after a write");
    assert_eq!(sel.rows, vec![vec![Value::Integer(2)]]);
    assert_eq!(sel.meta.rows_written, 0);
    // A trigger's writes are rows written too (`changes` stays the statement's own).
    for sql in [
        "CREATE TABLE log (name TEXT)",
        "CREATE TRIGGER t_log AFTER UPDATE ON t BEGIN INSERT INTO log VALUES (new.name); END",
    ] {
        statement(&conn, &fence, &q(sql, vec![]), &mut a).expect("schema");
    }
    let update = q("UPDATE t SET name = name || '!'", vec![]);
    let up = statement(&conn, &fence, &update, &mut a).expect("update");
    assert_eq!(
        (up.meta.changes, up.meta.rows_written),
        (2, 4),
        "{:?}",
        up.meta
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_name_what_sqlite_said_and_its_code() {
    let (conn, fence, dir) = open("errors");
    let mut a = allowance();
    let err = |sql: &str, params: Vec<Param>, a: &mut Allowance| {
        statement(&conn, &fence, &q(sql, params), a)
            .expect_err(sql)
            .0
    };
    assert_eq!(
        err("SELECT * FROM nope", vec![], &mut a),
        "no such table: nope: SQLITE_ERROR"
    );
    assert!(err("SELEC 1", vec![], &mut a).ends_with("SQLITE_ERROR"));
    assert!(err("SELECT 1; SELECT 2", vec![], &mut a).contains("batch()"));
    let wrong = err("SELECT ?", vec![], &mut a);
    assert!(
        wrong.starts_with("Wrong number of parameter bindings"),
        "{wrong}"
    );
    conn.execute_batch("CREATE TABLE u (v TEXT UNIQUE); INSERT INTO u VALUES ('x')")
        .expect("setup");
    let dup = err("INSERT INTO u VALUES ('x')", vec![], &mut a);
    assert_eq!(dup, "UNIQUE constraint failed: u.v: SQLITE_CONSTRAINT");
    let attach = err("ATTACH 'x.db' AS x", vec![], &mut a);
    assert!(
        attach.contains("not authorized") && attach.contains("ATTACH"),
        "{attach}"
    );
    assert!(attach.ends_with("SQLITE_AUTH"), "{attach}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn results_past_the_cap_are_an_error_not_an_answer() {
    let (conn, fence, dir) = open("cap");
    let mut small = Allowance {
        budget_ms: 10_000,
        bytes_left: 1000,
    };
    let many = q(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000) SELECT x, 'text' FROM c",
        vec![],
    );
    let e = statement(&conn, &fence, &many, &mut small).expect_err("too large");
    assert!(
        e.0.contains("more than") && e.0.ends_with("SQLITE_TOOBIG"),
        "{e:?}"
    );
    let mut a = allowance();
    let fits = statement(&conn, &fence, &many, &mut a).expect("fits the real cap");
    assert_eq!(fits.rows.len(), 10_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_batch_is_all_or_nothing() {
    let (conn, fence, dir) = open("batch");
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .expect("create");
    let mut a = allowance();
    let ok = vec![
        q(
            "INSERT INTO t (v) VALUES (?)",
            vec![Param::Text("a".into())],
        ),
        q("SELECT count(*) FROM t", vec![]),
    ];
    let results = batch(&conn, &fence, &ok, &mut a).expect("batch");
    assert_eq!(
        results[1].rows,
        vec![vec![Value::Integer(1)]],
        "sees its own write"
    );
    let failing = vec![
        q("INSERT INTO t (v) VALUES ('b')", vec![]),
        q("INSERT INTO t (v) VALUES (NULL)", vec![]),
    ];
    let e = batch(&conn, &fence, &failing, &mut a).expect_err("NOT NULL");
    assert!(e.0.contains("NOT NULL"), "{e:?}");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 1, "the first insert of the failed batch was rolled back");
    assert!(conn.is_autocommit());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exec_runs_line_by_line_and_names_the_failing_line() {
    let (conn, fence, dir) = open("exec");
    let (count, _) = exec(
        &conn,
        &fence,
        "CREATE TABLE t (v);\nINSERT INTO t VALUES (1); INSERT INTO t VALUES (2);\n\nSELECT * FROM t;\n",
        10_000,
    )
    .expect("exec");
    // D1's count is the statements run: two on a line are two, the blank line none.
    assert_eq!(count, 4);
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 2);
    let e = exec(
        &conn,
        &fence,
        "INSERT INTO t VALUES (3);\nINSERT INTO nope VALUES (1);",
        10_000,
    )
    .expect_err("line 2");
    assert_eq!(
        e.0,
        "Error in line 2: INSERT INTO nope VALUES (1);: no such table: nope: SQLITE_ERROR"
    );
    let e = exec(&conn, &fence, "BEGIN;", 10_000).expect_err("no transactions");
    assert!(e.0.contains("batch()"), "{e:?}");
    close_transaction(&conn, &fence);
    assert!(conn.is_autocommit());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refusal_names_the_fences_reason() {
    let (conn, fence, dir) = open("refusal");
    let mut a = allowance();
    let e = statement(
        &conn,
        &fence,
        &q("SELECT load_extension('x')", vec![]),
        &mut a,
    )
    .expect_err("refused");
    assert!(e.0.contains("load_extension() is not allowed"), "{e:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
