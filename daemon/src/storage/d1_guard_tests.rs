//! The fence against real attacks on a real SQLite connection.

use super::*;
use rusqlite::hooks::TransactionOperation;

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("stockade-d1-guard-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn open(dir: &std::path::Path, max_bytes: u64) -> (Connection, Arc<Fence>) {
    let mut conn = Connection::open(dir.join("db.sqlite3")).expect("open");
    let fence = harden(&mut conn, max_bytes).expect("harden");
    (conn, fence)
}

/// The tenant-visible refusal of `sql`: its error text and the fence's reason.
fn refusal(conn: &Connection, fence: &Fence, sql: &str) -> String {
    fence.arm(10_000);
    let err = conn
        .execute_batch(sql)
        .expect_err(&format!("{sql} must be refused"));
    format!("{err} / {:?}", fence.denied())
}

#[test]
fn the_authorizer_allows_schema_reads_and_refuses_the_rest() {
    let pragma = |name, value| AuthAction::Pragma {
        pragma_name: name,
        pragma_value: value,
    };
    for ok in [
        pragma("table_info", Some("t")),
        pragma("TABLE_LIST", None),
        pragma("foreign_keys", Some("off")),
        pragma("defer_foreign_keys", Some("1")),
        AuthAction::Read {
            table_name: "pragma_table_info",
            column_name: "name",
        },
        AuthAction::Read {
            table_name: "t",
            column_name: "a",
        },
        AuthAction::Function {
            function_name: "json_extract",
        },
        AuthAction::Select,
        AuthAction::Recursive,
    ] {
        assert_eq!(authorize(&ok, false), Ok(()), "{ok:?}");
    }
    for bad in [
        AuthAction::Attach {
            filename: "/etc/passwd",
        },
        AuthAction::Detach {
            database_name: "main",
        },
        pragma("writable_schema", Some("1")),
        pragma("journal_mode", Some("off")),
        pragma("synchronous", Some("0")),
        pragma("max_page_count", Some("999999999")),
        pragma("page_count", None),
        pragma("database_list", None),
        AuthAction::Read {
            table_name: "pragma_database_list",
            column_name: "file",
        },
        AuthAction::Function {
            function_name: "LOAD_EXTENSION",
        },
        AuthAction::Transaction {
            operation: TransactionOperation::Begin,
        },
        AuthAction::Savepoint {
            operation: TransactionOperation::Begin,
            savepoint_name: "s",
        },
        AuthAction::Unknown {
            code: 99,
            arg1: None,
            arg2: None,
        },
    ] {
        assert!(authorize(&bad, false).is_err(), "{bad:?}");
    }
    // The supervisor's own transactions and size reads pass; an ATTACH never does.
    let begin = AuthAction::Transaction {
        operation: TransactionOperation::Begin,
    };
    assert_eq!(authorize(&begin, true), Ok(()));
    assert_eq!(authorize(&pragma("page_count", None), true), Ok(()));
    // Its size cap too (`cap_pages`), and only that with a value.
    assert_eq!(
        authorize(&pragma("max_page_count", Some("9")), true),
        Ok(())
    );
    assert!(authorize(&pragma("journal_mode", Some("off")), true).is_err());
    let attach = AuthAction::Attach { filename: "x" };
    assert!(authorize(&attach, true).is_err());
}

#[test]
fn attacks_on_a_hardened_connection_are_refused() {
    let dir = temp_dir("attacks");
    let (conn, fence) = open(&dir, 1 << 20);
    fence.arm(10_000);
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        .expect("create");
    let outside = dir.join("outside.db");
    let outside_sql = outside.display().to_string();
    for (sql, why) in [
        (format!("ATTACH '{outside_sql}' AS x"), "ATTACH"),
        (format!("VACUUM INTO '{outside_sql}'"), "ATTACH"),
        ("VACUUM".to_owned(), "ATTACH"),
        ("PRAGMA writable_schema = 1".to_owned(), "writable_schema"),
        ("PRAGMA journal_mode = OFF".to_owned(), "journal_mode"),
        (
            "PRAGMA max_page_count = 99999999".to_owned(),
            "max_page_count",
        ),
        (
            "SELECT file FROM pragma_database_list".to_owned(),
            "pragma_database_list",
        ),
        (
            format!("SELECT load_extension('{outside_sql}')"),
            "load_extension",
        ),
        ("BEGIN".to_owned(), "BEGIN"),
        ("SAVEPOINT s".to_owned(), "SAVEPOINT"),
    ] {
        let text = refusal(&conn, &fence, &sql);
        assert!(text.contains(why), "{sql}: {text}");
    }
    assert!(
        !outside.exists(),
        "nothing was written outside the database"
    );
    assert!(conn.is_autocommit(), "no transaction was left open");
    // What stays allowed: schema reads, foreign keys.
    fence.arm(10_000);
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('t')")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("pragma_table_info");
    assert_eq!(columns, ["id", "name"]);
    conn.execute_batch("PRAGMA table_info(t); PRAGMA foreign_keys = OFF; PRAGMA foreign_keys = ON")
        .expect("allowed pragmas");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_runaway_query_is_interrupted_and_the_next_one_runs() {
    let dir = temp_dir("runaway");
    let (conn, fence) = open(&dir, 1 << 20);
    fence.arm(200);
    let err = conn
        .query_row(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            [],
            |r| r.get::<_, i64>(0),
        )
        .expect_err("interrupted");
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::OperationInterrupted)
    );
    assert!(fence.interrupted());
    fence.arm(10_000);
    let one: i64 = conn.query_row("SELECT 1", [], |r| r.get(0)).expect("next");
    assert_eq!(one, 1);
    assert!(!fence.interrupted());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_size_cap_and_limits_hold() {
    let dir = temp_dir("full");
    let (conn, fence) = open(&dir, 1 << 20);
    fence.arm(10_000);
    conn.execute_batch("CREATE TABLE b (v BLOB)")
        .expect("create");
    let mut full = None;
    for _ in 0..40 {
        if let Err(e) = conn.execute("INSERT INTO b VALUES (zeroblob(100000))", []) {
            full = Some(e);
            break;
        }
    }
    let full = full.expect("a 1 MiB database fills up");
    assert_eq!(
        full.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DiskFull),
        "{full}"
    );
    let size = std::fs::metadata(dir.join("db.sqlite3"))
        .expect("file")
        .len();
    assert!(size <= 1 << 20, "{size}");
    for sql in [
        format!("SELECT length(zeroblob({}))", MAX_LENGTH + 1),
        format!("SELECT '{}'", "x".repeat(MAX_SQL_LENGTH as usize)),
        format!("SELECT {}", vec!["1"; MAX_COLUMNS as usize + 1].join(", ")),
        format!("SELECT {}", vec!["?"; MAX_PARAMS as usize + 1].join(", ")),
        format!("SELECT {}1{}", "abs(".repeat(200), ")".repeat(200)),
    ] {
        assert!(
            conn.prepare(&sql)
                .and_then(|mut s| s.query([])?.next().map(|_| ()))
                .is_err(),
            "{}",
            &sql[..40.min(sql.len())]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
