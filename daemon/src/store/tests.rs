//! The store's test suite, run against both backends: SQLite in a temporary folder, and
//! PostgreSQL at `$STOCKADE_TEST_PG_URL` (in a fresh schema of its own). Without that variable
//! the PostgreSQL run is skipped locally but fails in CI (`CI=true`), so CI cannot pass by
//! skipping it.

use std::sync::Arc;

use super::kv;
use super::migrations::{self, LATEST};
use super::paths::normalise;
use super::workspace::{self, Ws};
use super::workspace_ops::{self, Replace, SearchQuery};
use super::*;
use crate::supervisor::{Outbound, WorkerDef};

const QUOTAS: Quotas = Quotas {
    bytes: 10_000,
    files: 50,
};

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{tag}_{}_{nanos}", std::process::id())
}

async fn sqlite_backend(tag: &str) -> (Arc<dyn Backend>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(unique(&format!("stockade-store-{tag}")));
    let backend = Arc::new(sqlite::Sqlite::open(&dir.join("store.db")).expect("open sqlite"));
    (backend, dir)
}

/// A PostgreSQL backend in a fresh schema, or `None` when no server is configured (outside CI).
async fn postgres_backend(tag: &str) -> Option<(Arc<dyn Backend>, String)> {
    let Ok(url) = std::env::var("STOCKADE_TEST_PG_URL") else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI must run the store suite against PostgreSQL: set STOCKADE_TEST_PG_URL"
        );
        eprintln!("STOCKADE_TEST_PG_URL is not set: the PostgreSQL run is skipped");
        return None;
    };
    let schema = unique(&format!("s_{tag}"));
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("create schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{sep}options=-csearch_path%3D{schema}");
    let backend: Arc<dyn Backend> = Arc::new(
        postgres::Postgres::connect(&url)
            .await
            .expect("open postgres"),
    );
    Some((backend, schema))
}

/// Drops a schema `postgres_backend` made.
async fn drop_schema(schema: &str) {
    let url = std::env::var("STOCKADE_TEST_PG_URL").expect("url");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop schema");
}

async fn store(backend: Arc<dyn Backend>) -> Store {
    Store::with_backend(backend, Arc::new(Sealer::new([3; 32])), QUOTAS)
        .await
        .expect("migrated store")
}

pub(super) fn def(tenant: &str, env: Vec<(String, serde_json::Value)>) -> WorkerDef {
    let modules = vec![stockade_ipc::Module {
        name: "main.js".into(),
        kind: stockade_ipc::ModuleKind::Js,
        bytes: b"export default { fetch() { return new Response('\xce\xbb'); } };".to_vec(),
    }];
    WorkerDef {
        id: stockade_ipc::WorkerId([0xab; 32]),
        tenant: tenant.into(),
        name: None,
        main_module: "main.js".into(),
        features: crate::supervisor::CodeFeatures::of(&modules),
        modules,
        bindings: Arc::new(crate::supervisor::bindings::parse(&env).expect("bindings")),
        env,
        limits: stockade_ipc::Limits {
            cpu_ms: 1,
            wall_ms: 2,
            memory_mb: 3,
            stack_kb: 4,
            sub_requests: 5,
            result_bytes: 6,
            log_bytes: 7,
        },
        event_wall_ms: Some(4321),
        compatibility_date: Some("2025-01-01".into()),
        compatibility_flags: vec!["nodejs_compat".into()],
        // The stored form with an entrypoint and props (`worker:<id>:{...}`).
        outbound: Outbound::Worker(crate::supervisor::OutboundTarget {
            worker: "cd".repeat(32),
            entrypoint: Some("Gate".into()),
            props: Some(r#"{"key":"v"}"#.into()),
        }),
        crons: vec!["*/5 * * * *".into(), "0 0 * * MON".into()],
        queues: Vec::new(),
        deleted: Default::default(),
    }
}

const ID: &str = "abababababababababababababababababababababababababababababababab";

async fn migrations_are_versioned(backend: Arc<dyn Backend>) {
    let raw = Store {
        backend: Arc::clone(&backend),
        sealer: Arc::new(Sealer::new([3; 32])),
        quotas: QUOTAS,
        secrets_lock: Arc::default(),
    };
    assert_eq!(raw.tx(migrations::version).await.expect("version"), 0);
    raw.tx(|tx| migrations::migrate_to(tx, 1))
        .await
        .expect("v1");
    assert_eq!(raw.tx(migrations::version).await.expect("version"), 1);
    // Data written at version 1 survives the upgrade (a definition of then: no cron triggers,
    // whose table came with version 8).
    let mut d = def("t-mig", vec![]);
    d.crons.clear();
    raw.tx(move |tx| {
        // The row as version 1 wrote it (no name column yet).
        tx.exec(
            "INSERT INTO workers (tenant, id, def, created_ms) VALUES (?1, ?2, ?3, 1)",
            &[
                d.tenant.as_str().into(),
                ID.into(),
                workers::encode(&d)?.into(),
            ],
        )
    })
    .await
    .expect("put");
    let s = store(Arc::clone(&backend)).await;
    assert_eq!(s.tx(migrations::version).await.expect("version"), LATEST);
    let back = s.tx(|tx| workers::get(tx, "t-mig", ID)).await.expect("get");
    assert!(back.is_some(), "the v1 row survived the upgrade");
    // Opening again changes nothing.
    let s = store(Arc::clone(&backend)).await;
    assert_eq!(s.tx(migrations::version).await.expect("version"), LATEST);
    // A store from a newer daemon is refused.
    s.tx(|tx| tx.exec("UPDATE stockade_schema SET version = 99", &[]))
        .await
        .expect("bump");
    let refused = Store::with_backend(backend, Arc::new(Sealer::new([3; 32])), QUOTAS).await;
    assert!(matches!(
        refused.err(),
        Some(StoreError::TooNew { found: 99, .. })
    ));
}

async fn workers_round_trip(s: &Store) {
    let env = vec![
        ("S".to_string(), serde_json::json!("text")),
        ("N".to_string(), serde_json::json!({"deep": [1, 2.5, null]})),
        (
            "KV".to_string(),
            serde_json::json!({"binding": "kv", "namespace": "n"}),
        ),
    ];
    let d = def("t-a", env.clone());
    s.tx(move |tx| workers::put(tx, ID, &d)).await.expect("put");
    let back = s
        .tx(|tx| workers::get(tx, "t-a", ID))
        .await
        .expect("get")
        .expect("stored");
    let d = def("t-a", env);
    assert_eq!(back.modules, d.modules);
    assert_eq!(back.env, d.env);
    assert_eq!(back.bindings, d.bindings);
    assert_eq!(back.limits, d.limits);
    assert_eq!(back.event_wall_ms, Some(4321));
    assert_eq!(back.outbound, d.outbound);
    assert_eq!(back.id, d.id);
    assert_eq!(back.compatibility_date, d.compatibility_date);
    assert_eq!(back.compatibility_flags, d.compatibility_flags);
    assert_eq!(back.features, d.features);
    assert_eq!(back.crons, d.crons);
    let listed = s.tx(super::triggers::list).await.expect("triggers");
    let listed: Vec<_> = listed.into_iter().filter(|t| t.tenant == "t-a").collect();
    let crons: Vec<(&str, &str, &str)> = listed
        .iter()
        .map(|t| (t.tenant.as_str(), t.worker.as_str(), t.cron.as_str()))
        .collect();
    assert_eq!(
        crons,
        [("t-a", ID, "*/5 * * * *"), ("t-a", ID, "0 0 * * MON")],
        "the triggers are listed with the definition"
    );
    let first = listed[0].clone();
    let again = first.clone();
    assert!(s
        .tx(move |tx| super::triggers::claim(tx, &first, 60_000))
        .await
        .expect("claim"));
    assert!(
        !s.tx(move |tx| super::triggers::claim(tx, &again, 60_000))
            .await
            .expect("claim"),
        "a run is claimed once"
    );
    let other = s.tx(|tx| workers::get(tx, "t-b", ID)).await.expect("get");
    assert!(other.is_none(), "another tenant does not see it");
    let listed = s.tx(|tx| workers::list(tx, "t-a")).await.expect("list");
    let (held, bytes) = s.tx(|tx| workers::usage(tx, "t-a")).await.expect("usage");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id.as_str(), listed[0].bytes as u64), (ID, bytes));
    assert_eq!(held, 1);
    assert!(listed[0].created_ms > 0);
    assert!(s
        .tx(|tx| workers::list(tx, "t-b"))
        .await
        .expect("list")
        .is_empty());
    assert!(!s
        .tx(|tx| workers::delete(tx, "t-b", ID))
        .await
        .expect("del"));
    assert!(s
        .tx(|tx| workers::delete(tx, "t-a", ID))
        .await
        .expect("del"));
    assert!(
        !s.tx(super::triggers::list)
            .await
            .expect("triggers")
            .iter()
            .any(|t| t.tenant == "t-a"),
        "a deleted worker's triggers go with it"
    );
    assert!(s
        .tx(|tx| workers::get(tx, "t-a", ID))
        .await
        .expect("get")
        .is_none());
}

async fn secrets_are_sealed(s: &Store) {
    let before = s.tx(secrets::generation).await.expect("generation");
    let sealed = s.sealer.seal("t-a", "api", b"hunter2-value").expect("seal");
    s.tx(move |tx| secrets::put(tx, "t-a", "api", sealed))
        .await
        .expect("put");
    // Every change moves the counter other daemons poll; the snapshot reads it with the set.
    let (generation, all) = s.tx(secrets::snapshot).await.expect("snapshot");
    assert_eq!(generation, before + 1, "a put moves the counter");
    let (tenant, name, sealed) = all
        .iter()
        .find(|(t, n, _)| t == "t-a" && n == "api")
        .expect("stored");
    assert!(!sealed.windows(7).any(|w| w == b"hunter2"), "not in clear");
    assert_eq!(
        s.sealer.open(tenant, name, sealed).expect("open"),
        b"hunter2-value"
    );
    assert!(s
        .tx(|tx| secrets::delete(tx, "t-a", "api"))
        .await
        .expect("del"));
    let after_delete = s.tx(secrets::generation).await.expect("generation");
    assert_eq!(after_delete, before + 2, "a delete moves the counter");
    assert!(!s
        .tx(|tx| secrets::delete(tx, "t-a", "api"))
        .await
        .expect("del"));
    assert_eq!(
        s.tx(secrets::generation).await.expect("generation"),
        after_delete,
        "deleting nothing changes nothing"
    );
    // A put that fails later in its transaction leaves the counter where it was.
    let sealed = s.sealer.seal("t-a", "api", b"x").expect("seal");
    let failed = s
        .tx(move |tx| {
            secrets::put(tx, "t-a", "api", sealed)?;
            Err::<(), _>(StoreError::Invalid("rolled back".into()))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(
        s.tx(secrets::generation).await.expect("generation"),
        after_delete
    );
}

async fn kv_behaves(s: &Store) {
    let now = 1_000_000;
    s.tx(move |tx| {
        for k in ["a/1", "a/2", "a/3", "b", "é"] {
            kv::put(tx, "t-a", "ns", k, k.as_bytes().to_vec(), None, 0)?;
        }
        kv::put(
            tx,
            "t-a",
            "ns",
            "meta",
            b"m".to_vec(),
            Some("{\"x\":1}".into()),
            0,
        )?;
        kv::put(tx, "t-a", "ns", "soon", b"s".to_vec(), None, now + 5_000)?;
        kv::put(tx, "t-a", "other", "a/1", b"other ns".to_vec(), None, 0)?;
        kv::put(tx, "t-b", "ns", "a/1", b"other tenant".to_vec(), None, 0)
    })
    .await
    .expect("puts");
    let got = s
        .tx(move |tx| kv::get(tx, "t-a", "ns", "a/1", now))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.value, b"a/1");
    let meta = s
        .tx(move |tx| kv::get(tx, "t-a", "ns", "meta", now))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(meta.metadata.as_deref(), Some("{\"x\":1}"));
    let soon = s
        .tx(move |tx| kv::get(tx, "t-a", "ns", "soon", now))
        .await
        .expect("get")
        .expect("live");
    assert_eq!(soon.expiration, Some((now + 5_000) / 1000));
    let expired = s
        .tx(move |tx| kv::get(tx, "t-a", "ns", "soon", now + 5_000))
        .await
        .expect("get");
    assert!(expired.is_none(), "expired at its expiration");
    // Prefix and cursor.
    let page = s
        .tx(move |tx| kv::list(tx, "t-a", "ns", "a/", None, 2, now))
        .await
        .expect("list");
    let names: Vec<_> = page.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["a/1", "a/2"]);
    let cursor = page.cursor.expect("more");
    let page = s
        .tx(move |tx| kv::list(tx, "t-a", "ns", "a/", Some(&cursor), 2, now))
        .await
        .expect("list");
    let names: Vec<_> = page.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["a/3"]);
    assert!(page.cursor.is_none(), "complete");
    let all = s
        .tx(move |tx| kv::list(tx, "t-a", "ns", "", None, 1000, now + 10_000))
        .await
        .expect("list");
    let names: Vec<_> = all.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        ["a/1", "a/2", "a/3", "b", "meta", "é"],
        "bytewise order, expired gone"
    );
    let swept = s
        .tx(move |tx| kv::sweep(tx, now + 10_000))
        .await
        .expect("sweep");
    assert_eq!(swept, 1, "the expired entry, nothing else");
    s.tx(|tx| kv::delete(tx, "t-a", "ns", "b"))
        .await
        .expect("del");
    assert!(s
        .tx(move |tx| kv::get(tx, "t-a", "ns", "b", now))
        .await
        .expect("get")
        .is_none());
    let theirs = s
        .tx(move |tx| kv::get(tx, "t-b", "ns", "a/1", now))
        .await
        .expect("get")
        .expect("theirs");
    assert_eq!(theirs.value, b"other tenant");
    // Size limits: the largest value and key fit, one byte more does not; metadata likewise.
    let key = "k".repeat(kv::MAX_KEY_BYTES);
    s.tx(move |tx| {
        kv::put(
            tx,
            "t-a",
            "big",
            &key,
            vec![7; kv::MAX_VALUE_BYTES],
            None,
            0,
        )
    })
    .await
    .expect("the largest value");
    let e = s
        .tx(move |tx| {
            kv::put(
                tx,
                "t-a",
                "big",
                "v",
                vec![7; kv::MAX_VALUE_BYTES + 1],
                None,
                0,
            )
        })
        .await
        .expect_err("too big");
    assert!(matches!(e, StoreError::Invalid(_)));
    let meta = format!("\"{}\"", "m".repeat(kv::MAX_METADATA_BYTES - 1));
    let e = s
        .tx(move |tx| kv::put(tx, "t-a", "big", "m", vec![], Some(meta), 0))
        .await
        .expect_err("metadata too big");
    assert!(matches!(e, StoreError::Invalid(_)));
    let long = "k".repeat(kv::MAX_KEY_BYTES + 1);
    let e = s
        .tx(move |tx| kv::put(tx, "t-a", "ns", &long, vec![], None, 0))
        .await
        .expect_err("long key");
    assert!(matches!(e, StoreError::Invalid(_)));
}

async fn workspaces_behave(s: &Store) {
    let ws = Ws::new("t-a", "w1");
    let q = QUOTAS;
    let w = ws.clone();
    s.tx(move |tx| {
        workspace::write(
            tx,
            &w,
            "src/lib.rs",
            b"fn a() {}\nfn b() {}\n".to_vec(),
            q,
            1,
        )?;
        workspace::write(
            tx,
            &w,
            "src/x/deep.rs",
            b"// deep\nfn a() {}\n".to_vec(),
            q,
            1,
        )?;
        workspace::write(tx, &w, "README.md", b"hello\n".to_vec(), q, 1)?;
        workspace::mkdir(tx, &w, "empty/dir", q, 1)
    })
    .await
    .expect("writes");
    let w = ws.clone();
    let (bytes, entries) = s
        .tx(move |tx| workspace::usage(tx, &w))
        .await
        .expect("usage");
    assert_eq!(bytes, 20 + 18 + 6);
    assert_eq!(entries, 7, "3 files, src, src/x, empty, empty/dir");
    let w = ws.clone();
    let top = s
        .tx(move |tx| workspace::list(tx, &w, ""))
        .await
        .expect("list");
    let names: Vec<_> = top.iter().map(|e| (e.path.as_str(), e.dir)).collect();
    assert_eq!(
        names,
        [("README.md", false), ("empty", true), ("src", true)]
    );
    let w = ws.clone();
    let rs = s
        .tx(move |tx| workspace_ops::glob(tx, &w, "**/*.rs"))
        .await
        .expect("glob");
    assert_eq!(rs.len(), 2);
    let w = ws.clone();
    let (hits, cut) = s
        .tx(move |tx| {
            workspace_ops::search(
                tx,
                &w,
                &SearchQuery {
                    pattern: r"fn \w\(".into(),
                    glob: Some("src/**".into()),
                    ..SearchQuery::default()
                },
            )
        })
        .await
        .expect("search");
    assert!(!cut);
    let found: Vec<_> = hits.iter().map(|h| (h.path.as_str(), h.line)).collect();
    assert_eq!(
        found,
        [("src/lib.rs", 1), ("src/lib.rs", 2), ("src/x/deep.rs", 2)]
    );
    let w = ws.clone();
    let n = s
        .tx(move |tx| {
            let r = Replace {
                search: r"fn (\w)".into(),
                replacement: "pub fn ${1}_x".into(),
                regex: true,
                ignore_case: false,
                limit: None,
            };
            workspace_ops::replace(tx, &w, "src/lib.rs", &r, q, 2)
        })
        .await
        .expect("replace");
    assert_eq!(n, 2);
    let w = ws.clone();
    let text = s
        .tx(move |tx| workspace_ops::read_text(tx, &w, "src/lib.rs"))
        .await
        .expect("read");
    assert_eq!(text, "pub fn a_x() {}\npub fn b_x() {}\n");
    // Move a directory with its contents; the old names are gone.
    let w = ws.clone();
    s.tx(move |tx| workspace::rename(tx, &w, "src", "lib/src", q, 3))
        .await
        .expect("move");
    let w = ws.clone();
    let moved = s
        .tx(move |tx| workspace::read(tx, &w, "lib/src/x/deep.rs"))
        .await
        .expect("moved file");
    assert_eq!(moved.0, b"// deep\nfn a() {}\n");
    let w = ws.clone();
    assert!(s
        .tx(move |tx| workspace::stat(tx, &w, "src"))
        .await
        .expect("stat")
        .is_none());
    // A move that would take an entry past the path rules (1024 bytes) is refused; nothing
    // moved, no parent made.
    let (a, b, c) = ("a".repeat(250), "b".repeat(250), "c".repeat(250));
    let deep = format!("x/{a}/{b}/{c}/f.txt");
    let to = format!("{}/{}/y", "p".repeat(250), "q".repeat(250));
    let (w, file) = (ws.clone(), deep.clone());
    s.tx(move |tx| workspace::write(tx, &w, &file, b"deep".to_vec(), q, 3))
        .await
        .expect("deep file");
    let w = ws.clone();
    let e = s
        .tx(move |tx| workspace::rename(tx, &w, "x", &to, q, 3))
        .await
        .expect_err("too long once moved");
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("longer than 1024 bytes")),
        "{e}"
    );
    let w = ws.clone();
    let (data, _) = s
        .tx(move |tx| workspace::read(tx, &w, &deep))
        .await
        .expect("still there");
    assert_eq!(data, b"deep");
    let w = ws.clone();
    assert!(s
        .tx(move |tx| workspace::stat(tx, &w, &"p".repeat(250)))
        .await
        .expect("stat")
        .is_none());
    let w = ws.clone();
    s.tx(move |tx| workspace::delete(tx, &w, "x", true))
        .await
        .expect("delete");
    // Conflicts and refusals.
    let w = ws.clone();
    let e = s
        .tx(move |tx| workspace::write(tx, &w, "README.md/x", vec![], q, 4))
        .await
        .expect_err("under a file");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let w = ws.clone();
    let e = s
        .tx(move |tx| workspace::delete(tx, &w, "lib", false))
        .await
        .expect_err("not empty");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let w = ws.clone();
    assert!(s
        .tx(move |tx| workspace::delete(tx, &w, "lib", true))
        .await
        .expect("recursive delete"));
    // Quotas: bytes, then entries; a refused write changes nothing.
    let w = ws.clone();
    let e = s
        .tx(move |tx| workspace::write(tx, &w, "big", vec![0; 10_001], q, 5))
        .await
        .expect_err("over bytes");
    assert!(matches!(e, StoreError::Quota(_)), "{e}");
    let w = ws.clone();
    let e = s
        .tx(move |tx| {
            for i in 0..100 {
                workspace::write(tx, &w, &format!("many/{i}"), vec![], q, 5)?;
            }
            Ok(())
        })
        .await
        .expect_err("over entries");
    assert!(matches!(e, StoreError::Quota(_)), "{e}");
    let w = ws.clone();
    let usage = s
        .tx(move |tx| workspace::usage(tx, &w))
        .await
        .expect("usage");
    assert_eq!(
        usage,
        (6, 3),
        "README.md, empty, empty/dir: the refused writes left nothing"
    );
    // Another tenant's workspace of the same name is another workspace.
    let theirs = Ws::new("t-b", "w1");
    let e = s
        .tx(move |tx| workspace::read(tx, &theirs, "README.md"))
        .await
        .expect_err("not theirs");
    assert!(matches!(e, StoreError::NotFound(_)));
    assert!(normalise("../t-b/w1/README.md").is_err());
}

async fn concurrent_writers_respect_quotas(s: &Store) {
    let ws = Ws::new("t-c", "race");
    let q = Quotas {
        bytes: 1000,
        files: 1000,
    };
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (s, w) = (s.clone(), ws.clone());
        tasks.push(tokio::spawn(async move {
            s.tx(move |tx| workspace::write(tx, &w, &format!("f{i}"), vec![b'x'; 100], q, 1))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(()) => ok += 1,
            Err(StoreError::Quota(_)) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(ok, 10, "exactly the quota's worth of writes succeeded");
    let w = ws.clone();
    assert_eq!(
        s.tx(move |tx| workspace::usage(tx, &w))
            .await
            .expect("usage"),
        (1000, 10)
    );
}

async fn capabilities_are_per_tenant(s: &Store) {
    use crate::capabilities::{Capability, Kind};
    use crate::store::capabilities as caps;
    let cap = |url: &str| Capability {
        kind: Kind::Mcp,
        url: url.into(),
        types: None,
    };
    let (a, b) = (cap("http://a/"), cap("http://b/"));
    s.tx(move |tx| caps::put(tx, "t-a", "svc", &a))
        .await
        .expect("put");
    s.tx(move |tx| caps::put(tx, "t-b", "svc", &b))
        .await
        .expect("put");
    let got = s.tx(|tx| caps::get(tx, "t-a", "svc")).await.expect("get");
    assert_eq!(got.map(|c| c.url), Some("http://a/".into()));
    let replaced = cap("http://a2/");
    s.tx(move |tx| caps::put(tx, "t-a", "svc", &replaced))
        .await
        .expect("put");
    let listed = s.tx(|tx| caps::list(tx, "t-a")).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1.url, "http://a2/");
    assert!(s
        .tx(|tx| caps::delete(tx, "t-a", "svc"))
        .await
        .expect("del"));
    assert!(!s
        .tx(|tx| caps::delete(tx, "t-a", "svc"))
        .await
        .expect("del"));
    let other = s.tx(|tx| caps::get(tx, "t-b", "svc")).await.expect("get");
    assert_eq!(
        other.map(|c| c.url),
        Some("http://b/".into()),
        "t-b's is its own"
    );
}

/// The commit setting a transaction runs under: `(relaxed, what the backend says)`.
fn commit_setting(tx: &mut dyn Tx) -> Result<(bool, String), StoreError> {
    Ok(match tx.dialect() {
        Dialect::Sqlite => {
            // 1 NORMAL (the log written, not fsynced), 2 FULL.
            let level = tx.query("PRAGMA synchronous", &[])?[0].int(0)?;
            (level < 2, level.to_string())
        }
        Dialect::Postgres => {
            let setting = tx.query("SHOW synchronous_commit", &[])?[0].text(0)?;
            (setting == "off", setting)
        }
    })
}

/// A relaxed transaction runs relaxed and commits; the next ordinary one is fully durable again.
async fn relaxed_commits_stay_confined(s: &Store) {
    let d = def("t-relaxed", vec![]);
    let (relaxed, _) = s
        .tx_relaxed(move |tx| {
            workers::put(tx, "relaxed-child", &d)?;
            commit_setting(tx)
        })
        .await
        .expect("relaxed tx");
    assert!(relaxed, "a relaxed transaction waits for the disk");
    let ((relaxed, setting), found) = s
        .tx(|tx| {
            Ok((
                commit_setting(tx)?,
                workers::exists(tx, "t-relaxed", "relaxed-child")?,
            ))
        })
        .await
        .expect("tx");
    assert!(
        !relaxed,
        "the relaxation outlived its transaction: {setting}"
    );
    assert!(found, "the relaxed commit is there");
}

async fn suite(backend: Arc<dyn Backend>) {
    let s = store(backend).await;
    relaxed_commits_stay_confined(&s).await;
    workers_round_trip(&s).await;
    super::queues_tests::queues_behave(&s).await;
    super::triggers_tests::triggers_behave(&s).await;
    super::worker_names_tests::names_behave(&s).await;
    super::worker_names_tests::name_crons_and_versions_beyond(&s).await;
    super::worker_names_tests::gradual_deployments(&s).await;
    capabilities_are_per_tenant(&s).await;
    secrets_are_sealed(&s).await;
    kv_behaves(&s).await;
    workspaces_behave(&s).await;
    concurrent_writers_respect_quotas(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_store_suite() {
    let (backend, mig) = sqlite_backend("mig").await;
    migrations_are_versioned(backend).await;
    let (backend, dir) = sqlite_backend("suite").await;
    suite(backend).await;
    let _ = std::fs::remove_dir_all(mig);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_store_suite() {
    let Some((backend, mig)) = postgres_backend("mig").await else {
        return;
    };
    migrations_are_versioned(backend).await;
    let Some((backend, schema)) = postgres_backend("suite").await else {
        return;
    };
    suite(backend).await;
    drop_schema(&mig).await;
    drop_schema(&schema).await;
}

/// A PostgreSQL server that cannot be reached says why, not only "error connecting to server".
#[tokio::test]
async fn an_unreachable_postgresql_says_why() {
    let err = postgres::Postgres::connect("postgres://stockade@127.0.0.1:1/none")
        .await
        .err()
        .expect("nothing listens on port 1");
    let text = err.to_string();
    assert!(text.contains("error connecting to server"), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
}
