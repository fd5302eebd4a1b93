//! `D1::run` on real files: the tenant's quota over all its databases, a new database refused
//! at it, the temporary-file cap of a hostile sort, and a call whose future is dropped stopped.

use super::*;
use std::time::Duration;

fn d1(tag: &str, max_bytes: u64, tenant_max_bytes: u64, query_ms: u64) -> (Arc<D1>, PathBuf) {
    let dir = std::env::temp_dir().join(format!("stockade-d1-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d1 = D1::new(D1Settings {
        dir: dir.clone(),
        max_bytes,
        tenant_max_bytes,
        query_ms,
    });
    (d1, dir)
}

fn sql(text: &str) -> Work {
    Work::Statement(Query {
        sql: text.into(),
        params: Vec::new(),
    })
}

async fn run(d1: &Arc<D1>, database: &str, text: &str) -> Result<Done, SqlError> {
    d1.run("t", database, sql(text)).await.map(|a| a.done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_databases_share_its_quota() {
    let (d1, dir) = d1("quota", 1 << 20, 2 << 20, 10_000);
    let mut full = Vec::new();
    for db in ["a", "b", "c", "d"] {
        run(&d1, db, "CREATE TABLE t (b BLOB)")
            .await
            .expect("create");
        for _ in 0..8 {
            if let Err(SqlError(e)) = run(&d1, db, "INSERT INTO t VALUES (zeroblob(150000))").await
            {
                full.push(e);
            }
        }
    }
    let used = bytes_in(&dir.join("t"));
    assert!(used <= (2 << 20) + (300 << 10), "{used}");
    assert!(
        full.iter()
            .any(|e| e.contains("[store] d1_max_bytes = 1048576 bytes: SQLITE_FULL")),
        "{full:?}"
    );
    assert!(
        full.iter()
            .any(|e| e.contains("[store] d1_tenant_max_bytes = 2097152 bytes: SQLITE_FULL")),
        "{full:?}"
    );
    // At the quota (a file the tenant's folder holds counts), a new database is refused; the
    // others still read.
    std::fs::write(dir.join("t/pad"), vec![0; 2 << 20]).expect("pad");
    let Err(SqlError(e)) = run(&d1, "new", "CREATE TABLE t (b BLOB)").await else {
        panic!("a new database past the quota");
    };
    assert!(
        e.contains("no room for a new one") && e.contains("d1_tenant_max_bytes"),
        "{e}"
    );
    assert!(!dir.join("t/new.sqlite3").exists());
    run(&d1, "a", "SELECT count(*) FROM t")
        .await
        .expect("reads");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sort_spills_into_the_temporary_file_cap_only() {
    let (d1, dir) = d1("temp", 1 << 20, 256 << 20, 20_000);
    let sort = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                SELECT randomblob(1000) AS b FROM c ORDER BY b";
    let Err(SqlError(e)) = run(&d1, "s", sort).await else {
        panic!("an endless sort ended");
    };
    assert!(
        e.contains("temporary files")
            && e.contains("d1_max_bytes = 1048576")
            && e.ends_with("SQLITE_FULL"),
        "{e}"
    );
    // Closed, the files give their bytes back; a sort that fits runs.
    assert_eq!(d1.temp_quota("t").used(), 0);
    let fits = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 300) \
                SELECT count(*) FROM (SELECT randomblob(1000) AS b FROM c ORDER BY b)";
    run(&d1, "s", fits).await.expect("a small sort");
    // A temporary table lives across calls, charged until dropped.
    run(&d1, "s", "CREATE TEMP TABLE x (b BLOB)")
        .await
        .expect("temp table");
    let fill = "INSERT INTO x SELECT zeroblob(100000) FROM (SELECT 1 UNION ALL SELECT 2)";
    let mut last = Ok(());
    for _ in 0..30 {
        last = run(&d1, "s", fill).await.map(|_| ());
        if last.is_err() {
            break;
        }
    }
    assert!(
        last.as_ref()
            .is_err_and(|SqlError(e)| e.contains("temporary files")),
        "{:?}",
        last.err()
    );
    assert!(d1.temp_quota("t").used() <= 1 << 20);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_request_is_over_frees_its_database() {
    let (d1, dir) = d1("abandon", 1 << 20, 256 << 20, 300_000);
    let runaway =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let started = tokio::spawn({
        let d1 = Arc::clone(&d1);
        async move { run(&d1, "r", runaway).await.is_ok() }
    });
    // Running: the database is open and its connection taken.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while lock(&d1.open)
        .get(&("t".to_owned(), "r".to_owned()))
        .is_none_or(|db| db.conn.try_lock().is_ok())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the query never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.abort(); // as the link does when the request ends
                     // The database takes one call at a time: this one runs once the runaway query stopped,
                     // which its own budget would have made 300 s.
    let next = tokio::time::timeout(Duration::from_secs(60), run(&d1, "r", "SELECT 1")).await;
    assert!(matches!(next, Ok(Ok(_))), "the database is still held");
    let _ = std::fs::remove_dir_all(&dir);
}
