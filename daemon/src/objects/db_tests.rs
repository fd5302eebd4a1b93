use super::*;

/// A fresh folder of this test's (no tempfile crate in the daemon: as d1_tests does).
fn folder(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stockade-do-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn db(dir: &Path, max_bytes: u64, query_ms: u64) -> Arc<ObjectDb> {
    ObjectDb::new(DbSettings {
        dir: dir.to_path_buf(),
        max_bytes,
        tenant_max_bytes: 1 << 30,
        query_ms,
    })
}

fn key(id: char) -> ObjectKey {
    ObjectKey {
        tenant: "t1".into(),
        worker: "a".repeat(64),
        class: "Counter".into(),
        id: id.to_string().repeat(64),
    }
}

fn sql(text: &str) -> Work {
    Work::Sql(Query {
        sql: text.into(),
        params: Vec::new(),
    })
}

#[tokio::test]
async fn key_values_are_kept_in_order_and_listed() {
    let dir = folder("kv");
    let db = db(dir.as_path(), 1 << 20, 5_000);
    let k = key('b');
    // Queued before any is awaited: they run in this order.
    let puts: Vec<_> = (0..20)
        .map(|i| {
            db.submit(
                &k,
                Work::Put(vec![("n".into(), format!("{i}").into_bytes())]),
            )
        })
        .collect();
    for p in puts {
        p.await.expect("put");
    }
    let Done::Entries(got) = db
        .submit(&k, Work::Get(vec!["n".into(), "none".into()]))
        .await
        .expect("get")
    else {
        panic!("entries")
    };
    assert_eq!(
        got,
        vec![("n".to_owned(), b"19".to_vec())],
        "the last put wins"
    );
    let entries = ["a1", "a2", "b1"].map(|k| (k.to_owned(), k.as_bytes().to_vec()));
    db.submit(&k, Work::Put(entries.to_vec()))
        .await
        .expect("put");
    let list = |o: ListOptions| db.submit(&k, Work::List(o));
    let Done::Entries(a) = list(ListOptions {
        prefix: Some("a".into()),
        reverse: true,
        ..Default::default()
    })
    .await
    .expect("list") else {
        panic!("entries")
    };
    assert_eq!(
        a.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a2", "a1"]
    );
    let Done::Entries(b) = list(ListOptions {
        start: Some("a2".into()),
        end: Some("n".into()),
        limit: Some(5),
        ..Default::default()
    })
    .await
    .expect("list") else {
        panic!("entries")
    };
    assert_eq!(
        b.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a2", "b1"]
    );
    let Done::Count(n) = db
        .submit(&k, Work::Delete(vec!["a1".into(), "zz".into()]))
        .await
        .expect("delete")
    else {
        panic!("count")
    };
    assert_eq!(n, 1);
    assert!(dir
        .as_path()
        .join("t1")
        .join("a".repeat(64))
        .join("Counter")
        .join(format!("{}.sqlite3", "b".repeat(64)))
        .is_file());
}

#[tokio::test]
async fn tenant_sql_is_fenced() {
    let dir = folder("fence");
    let db = db(dir.as_path(), 1 << 20, 300);
    let k = key('c');
    db.submit(&k, sql("CREATE TABLE t (x)"))
        .await
        .expect("create");
    db.submit(&k, sql("INSERT INTO t VALUES (1)"))
        .await
        .expect("insert");
    let Done::Sql(o) = db.submit(&k, sql("SELECT x FROM t")).await.expect("select") else {
        panic!("sql")
    };
    assert_eq!(o.rows.len(), 1);
    for hostile in [
        "SELECT * FROM _cf_KV",
        "DELETE FROM _cf_kv",
        "CREATE TABLE _cf_mine (x)",
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "PRAGMA journal_mode = OFF",
    ] {
        let e = db
            .submit(&k, sql(hostile))
            .await
            .err()
            .unwrap_or_else(|| panic!("{hostile} ran"));
        assert!(
            e.0.contains("not authorized")
                || e.0.contains("not allowed")
                || e.0.contains("reserved"),
            "{hostile}: {}",
            e.0
        );
    }
    let runaway =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let e = db.submit(&k, sql(runaway)).await.err().expect("stopped");
    assert!(e.0.contains("SQLITE_INTERRUPT"), "{}", e.0);
    // The key-value table still works after the refusals.
    db.submit(&k, Work::Put(vec![("k".into(), b"v".to_vec())]))
        .await
        .expect("put");
}

#[tokio::test]
async fn the_size_cap_holds_and_bad_names_are_refused() {
    let dir = folder("cap");
    let db = db(dir.as_path(), 1 << 20, 5_000);
    let k = key('d');
    let big = vec![7u8; 600 << 10];
    db.submit(&k, Work::Put(vec![("a".into(), big.clone())]))
        .await
        .expect("fits");
    let e = db
        .submit(&k, Work::Put(vec![("b".into(), big)]))
        .await
        .err()
        .expect("full");
    assert!(e.0.contains("max_bytes"), "{}", e.0);
    let mut bad = key('e');
    bad.class = "../x".into();
    assert!(db.path(&bad).is_err());
    bad = key('e');
    bad.id = "../../etc".into();
    assert!(db.path(&bad).is_err());
}

/// The rows of `SELECT v FROM t ORDER BY v` as text.
async fn rows(db: &Arc<ObjectDb>, k: &ObjectKey) -> Vec<String> {
    let Done::Sql(o) = db
        .submit(k, sql("SELECT v FROM t ORDER BY v"))
        .await
        .expect("select")
    else {
        panic!("sql")
    };
    o.rows
        .into_iter()
        .map(|r| match &r[0] {
            rusqlite::types::Value::Text(t) => t.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn transactions_nest_and_one_whose_request_ended_is_rolled_back_before_anything_else() {
    let dir = folder("txn");
    let db = db(dir.as_path(), 1 << 20, 5_000);
    let k = key('c');
    let request: Arc<()> = Arc::new(());
    let me = txn::owner(&request, stockade_ipc::WorkerId([1; 32]));
    let ours = |work: Work| db.submit_as(&k, work, Some(me.clone()), None);
    ours(sql("CREATE TABLE t (v TEXT)")).await.expect("create");
    // Committed, and a nested level rolled back alone.
    ours(Work::Txn(TxnOp::Begin)).await.expect("begin");
    ours(sql("INSERT INTO t VALUES ('a')"))
        .await
        .expect("insert");
    ours(Work::Txn(TxnOp::Begin)).await.expect("begin inner");
    ours(sql("INSERT INTO t VALUES ('b')"))
        .await
        .expect("insert");
    ours(Work::Txn(TxnOp::Rollback))
        .await
        .expect("roll back inner");
    ours(Work::Txn(TxnOp::Commit)).await.expect("commit");
    assert_eq!(rows(&db, &k).await, ["a"]);
    assert!(
        ours(Work::Txn(TxnOp::Commit)).await.is_err(),
        "nothing to commit"
    );
    // Several statements in one exec: all of them or none.
    let failed = ours(sql(
        "INSERT INTO t VALUES ('c'); INSERT INTO nowhere VALUES (1)",
    ))
    .await;
    assert!(failed.is_err());
    assert_eq!(rows(&db, &k).await, ["a"]);

    // An open transaction: the supervisor's own work waits for it; the holder's joins it.
    ours(Work::Txn(TxnOp::Begin)).await.expect("begin");
    ours(sql("INSERT INTO t VALUES ('x')"))
        .await
        .expect("insert");
    let alarm = db.submit(&k, Work::GetAlarm);
    let waited = tokio::time::timeout(std::time::Duration::from_millis(200), alarm).await;
    assert!(
        waited.is_err(),
        "the supervisor's work waits while the transaction is live"
    );
    // The request ends with it open: the next call of the same incarnation (a reloaded isolate)
    // finds it rolled back; so does the work that waited.
    drop(request);
    db.nudge(&k);
    let next: Arc<()> = Arc::new(());
    let after = db.submit_as(
        &k,
        sql("SELECT v FROM t ORDER BY v"),
        Some(txn::owner(&next, stockade_ipc::WorkerId([1; 32]))),
        None,
    );
    let Done::Sql(o) = after.await.expect("select") else {
        panic!("sql")
    };
    assert_eq!(o.rows.len(), 1, "only 'a': the abandoned 'x' is gone");
    assert!(matches!(
        db.submit(&k, Work::GetAlarm).await,
        Ok(Done::Alarm(None))
    ));
    // Another incarnation's call also ends a live holder's transaction (its isolate is gone).
    let holder: Arc<()> = Arc::new(());
    let old = txn::owner(&holder, stockade_ipc::WorkerId([1; 32]));
    db.submit_as(&k, Work::Txn(TxnOp::Begin), Some(old.clone()), None)
        .await
        .expect("begin");
    db.submit_as(&k, sql("INSERT INTO t VALUES ('y')"), Some(old), None)
        .await
        .expect("insert");
    let fresh = txn::owner(&holder, stockade_ipc::WorkerId([2; 32]));
    db.submit_as(&k, sql("INSERT INTO t VALUES ('z')"), Some(fresh), None)
        .await
        .expect("insert");
    assert_eq!(rows(&db, &k).await, ["a", "z"]);
}

/// A request's operation runs under the CPU its request has left: a query that would run for
/// ever (here only `query_ms`, a minute, would stop it) is interrupted once its thread has
/// spent that, and what it spent, opening the file included, is counted for the request; a
/// write's CPU is counted too, and an operation with no allowance is not limited by one.
#[tokio::test]
async fn an_operation_is_stopped_at_its_requests_cpu_and_what_it_spent_is_counted() {
    use crate::supervisor::Spent;
    use std::time::Duration;
    let dir = folder("cpu");
    let db = db(dir.as_path(), 1 << 20, 60_000);
    let k = key('d');
    let charged = |left: Option<Duration>| {
        let spent = Spent::measured();
        let charge = Charge {
            cpu_left: left,
            spent: spent.clone(),
        };
        (spent, Some(charge))
    };
    let (spent, charge) = charged(Some(Duration::from_millis(100)));
    let forever =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let stopped = db.submit_as(&k, sql(forever), None, charge).await;
    let Err(SqlError(why)) = stopped else {
        panic!("the query ran to an end")
    };
    assert!(
        why.contains("used the CPU time its request had left"),
        "{why}"
    );
    let spent = Duration::from_micros(u64::from(spent.micros()));
    assert!(spent >= Duration::from_millis(100), "{spent:?}");

    let (spent, charge) = charged(Some(Duration::from_secs(5)));
    db.submit_as(
        &k,
        Work::Put(vec![("k".into(), vec![b'v'; 1 << 16])]),
        None,
        charge,
    )
    .await
    .expect("put");
    assert!(spent.micros() > 0, "a write spends CPU");

    // No allowance (an asynchronous call): the query's own time budget alone.
    let (_, charge) = charged(None);
    let done = db
        .submit_as(&k, sql("SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 200000) SELECT x FROM c)"), None, charge)
        .await;
    assert!(matches!(done, Ok(Done::Sql(_))), "{:?}", done.err());
}
