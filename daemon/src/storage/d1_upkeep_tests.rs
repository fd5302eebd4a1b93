//! The commit counter, the freed space returned and the WAL emptied, and a dump that is the
//! database, on real files through `D1::run`.

use std::sync::Arc;

use super::*;
use crate::storage::d1::{Answered, D1Settings, Done, Work, D1};
use crate::storage::d1_exec::Query;

fn d1(tag: &str, max_bytes: u64, tenant_max_bytes: u64) -> (Arc<D1>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("stockade-d1u-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d1 = D1::new(D1Settings {
        dir: dir.clone(),
        max_bytes,
        tenant_max_bytes,
        query_ms: 20_000,
    });
    (d1, dir)
}

async fn run(d1: &Arc<D1>, db: &str, text: &str) -> Result<Answered, SqlError> {
    let work = Work::Statement(Query {
        sql: text.into(),
        params: Vec::new(),
    });
    d1.run("t", db, work).await
}

fn len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[test]
fn bookmarks_are_checked() {
    assert!(valid_bookmark("0000019a1b2c3d4e-0000000000000003"));
    for bad in [
        "",
        "first-primary",
        "0000019a1b2c3d4e-000000000000000",
        "0000019a1b2c3d4e_0000000000000003",
        "0000019A1B2C3D4E-0000000000000003",
        "0000019a1b2c3d4e-00000000000000g3",
        "0000019a1b2c3d4e-0000000000000003 ",
    ] {
        assert!(!valid_bookmark(bad), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bookmark_grows_with_each_write_and_only_then() {
    let (d1, dir) = d1("bookmark", 1 << 20, 16 << 20);
    let first = run(&d1, "b", "CREATE TABLE t (v)").await.expect("create");
    let read = run(&d1, "b", "SELECT * FROM t").await.expect("read");
    assert_eq!(read.bookmark, first.bookmark, "a read is no write");
    let wrote = run(&d1, "b", "INSERT INTO t VALUES (1)")
        .await
        .expect("insert");
    assert!(wrote.bookmark > first.bookmark, "{wrote:?}");
    assert!(valid_bookmark(&wrote.bookmark), "{}", wrote.bookmark);
    // A batch rolled back wrote nothing.
    let batch = Work::Batch(vec![
        Query {
            sql: "INSERT INTO t VALUES (2)".into(),
            params: Vec::new(),
        },
        Query {
            sql: "INSERT INTO nope VALUES (3)".into(),
            params: Vec::new(),
        },
    ]);
    assert!(d1.run("t", "b", batch).await.is_err());
    let after = run(&d1, "b", "SELECT * FROM t").await.expect("read");
    assert_eq!(after.bookmark, wrote.bookmark);
    let _ = std::fs::remove_dir_all(&dir);
}

impl std::fmt::Debug for Answered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Answered({})", self.bookmark)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_rows_give_their_bytes_back_and_the_wal_is_emptied() {
    let (d1, dir) = d1("shrink", 8 << 20, 64 << 20);
    let file = dir.join("t/s.sqlite3");
    let wal = dir.join("t/s.sqlite3-wal");
    run(&d1, "s", "CREATE TABLE t (b BLOB)")
        .await
        .expect("create");
    for _ in 0..10 {
        run(&d1, "s", "INSERT INTO t VALUES (zeroblob(200000))")
            .await
            .expect("insert");
    }
    let full = len(&file);
    assert!(full >= 2_000_000, "{full}");
    // Between calls the WAL is folded in: the file holds the pages, once.
    assert_eq!(len(&wal), 0);
    run(&d1, "s", "DELETE FROM t").await.expect("delete");
    let emptied = len(&file);
    assert!(emptied < 100_000, "{full} -> {emptied} bytes");
    assert_eq!(len(&wal), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_is_the_database_and_stays_under_its_cap() {
    let (d1, dir) = d1("dump", 1 << 20, 64 << 20);
    run(&d1, "d", "CREATE TABLE t (v TEXT)")
        .await
        .expect("create");
    run(&d1, "d", "INSERT INTO t VALUES ('hello'), ('dump')")
        .await
        .expect("insert");
    let Ok(Answered {
        done: Done::Dump(bytes),
        ..
    }) = d1.run("t", "d", Work::Dump).await
    else {
        panic!("no dump");
    };
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    // The bytes open as the same database.
    let copy = dir.join("copy.sqlite3");
    std::fs::write(&copy, &bytes).expect("write");
    let conn = rusqlite::Connection::open(&copy).expect("open");
    let rows: Vec<String> = conn
        .prepare("SELECT v FROM t ORDER BY rowid")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("read");
    assert_eq!(rows, ["hello", "dump"]);
    // Past the cap, refused with its reason (the database, not the supervisor, is too big).
    let Err(SqlError(e)) = dump(
        &mut rusqlite::Connection::open(&copy).expect("open"),
        &Fence::default(),
        4096,
    ) else {
        panic!("a dump past its cap");
    };
    assert!(
        e.contains("more than dump() returns") && e.ends_with("SQLITE_TOOBIG"),
        "{e}"
    );
    // A database that has nothing yet dumps as such.
    let empty = d1.run("t", "e", Work::Dump).await.expect("empty dump");
    assert!(matches!(empty.done, Done::Dump(ref b) if b.len() <= 4096));
    let _ = std::fs::remove_dir_all(&dir);
}
