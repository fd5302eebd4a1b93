//! D1 attacks end to end: tenant SQL runs in the supervisor, so each way out a SQLite
//! connection offers is tried from a real jailed worker of a real daemon (`[store]` caps set
//! small): ATTACH and VACUUM INTO a host path, PRAGMAs that would undo the fence, the file's
//! path through `pragma_database_list`, `load_extension`, a transaction left open, a full
//! database, oversized values and results, and a runaway recursive query (interrupted, the
//! daemon unaffected, the next query served).
mod common;
use common::*;
use serde_json::json;

const CAPS: &str = "[store]\nd1_max_bytes = 1048576\nd1_query_ms = 500\n";

fn load_db(d: &impl Target, token: &str, code: &str) -> String {
    let body = json!({
        "mainModule": "main.js",
        "modules": { "main.js": code },
        "env": { "DB": { "binding": "d1", "database": "attacked" } },
    });
    load_code(d, token, &body)
}

/// Runs each SQL text of the request's `q` (JSON) with `exec`; the answer lists, per text,
/// 'ok' or the error's message.
const WORKER: &str = r#"
export default { async fetch(req, env) {
  const u = new URL(req.url);
  const out = [];
  for (const sql of JSON.parse(u.searchParams.get('q'))) {
    try { await env.DB.prepare(sql).all(); out.push('ok'); } catch (e) { out.push(String(e.message)); }
  }
  return Response.json(out);
} };
"#;

fn attempt(d: &Daemon, t: &str, id: &str, sql: &[String]) -> Vec<String> {
    attempt_on(d, t, id, sql)
}

#[test]
fn the_ways_out_of_a_sqlite_connection_are_closed() {
    let d = Daemon::start("d1attack", 1, 1, CAPS);
    let t = tenant_token(0);
    let id = load_db(&d, &t, WORKER);
    let outside = d.dir.join("escaped.db");
    let path = outside.display().to_string();
    let attacks = [
        (format!("ATTACH '{path}' AS x"), "ATTACH"),
        (format!("VACUUM INTO '{path}'"), "ATTACH"),
        (format!("ATTACH 'file:{path}?mode=rwc' AS x"), "ATTACH"),
        ("PRAGMA writable_schema = 1".into(), "PRAGMA writable_schema is not allowed"),
        ("PRAGMA journal_mode = DELETE".into(), "PRAGMA journal_mode is not allowed"),
        ("PRAGMA synchronous = OFF".into(), "PRAGMA synchronous is not allowed"),
        ("PRAGMA max_page_count = 999999999".into(), "PRAGMA max_page_count is not allowed"),
        ("PRAGMA database_list".into(), "PRAGMA database_list is not allowed"),
        ("SELECT file FROM pragma_database_list".into(), "pragma_database_list is not allowed"),
        (format!("SELECT load_extension('{path}')"), "load_extension() is not allowed"),
        ("BEGIN".into(), "batch()"),
        ("SAVEPOINT s".into(), "batch()"),
        (format!("SELECT length(zeroblob({}))", 2_000_001), "too big"),
        (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10) SELECT randomblob(1000000) FROM c".into(),
            "the results are more than",
        ),
    ];
    let sql: Vec<String> = attacks.iter().map(|(s, _)| s.clone()).collect();
    let answers = attempt(&d, &t, &id, &sql);
    for ((sql, why), answer) in attacks.iter().zip(&answers) {
        assert!(
            answer.starts_with("D1_ERROR: ") && answer.contains(why),
            "{sql}: {answer}"
        );
    }
    assert!(
        !outside.exists(),
        "nothing was written outside the database"
    );
    // What stays allowed: schema reads and foreign keys; the database is still usable, with no
    // transaction left open by the BEGIN above.
    let fine: Vec<String> = [
        "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)",
        "PRAGMA table_info(t)",
        "SELECT name FROM pragma_table_list WHERE name = 't'",
        "PRAGMA foreign_keys = ON",
        "INSERT INTO t (b) VALUES (zeroblob(400000))",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(attempt(&d, &t, &id, &fine), vec!["ok"; fine.len()]);
    // The size cap: 1 MiB fills up with a clear error.
    let fill = vec!["INSERT INTO t (b) VALUES (zeroblob(400000))".to_owned(); 3];
    let filled = attempt(&d, &t, &id, &fill);
    assert_eq!(filled[0], "ok");
    assert!(
        filled[1..]
            .iter()
            .any(|a| a == "D1_ERROR: database or disk is full: the database is at its size cap, [store] d1_max_bytes = 1048576 bytes: SQLITE_FULL"),
        "{filled:?}"
    );
    let file = d.dir.join("data/d1/t0/attacked.sqlite3");
    let size = std::fs::metadata(&file).expect("the database file").len();
    assert!(size <= 1 << 20, "{size}");
}

#[test]
fn a_runaway_query_is_interrupted_and_the_daemon_serves_on() {
    let d = Daemon::start("d1runaway", 1, 1, CAPS);
    let t = tenant_token(0);
    let id = load_db(&d, &t, WORKER);
    let runaway =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
            .to_owned();
    let answers = attempt(&d, &t, &id, &[runaway.clone(), "SELECT 1".into()]);
    assert_eq!(
        answers[0],
        "D1_ERROR: the query ran longer than its time budget of 500 ms and was interrupted: SQLITE_INTERRUPT"
    );
    assert_eq!(answers[1], "ok", "the next query on the same database runs");
    // Two at once (more than a tenant's turns wait), then the daemon answers as before.
    let handle = d.handle();
    let (t2, id2, r2) = (t.clone(), id.clone(), runaway.clone());
    let other = std::thread::spawn(move || attempt_on(&handle, &t2, &id2, &[r2]));
    let mine = attempt(&d, &t, &id, &[runaway]);
    let theirs = other.join().expect("thread");
    for a in mine.iter().chain(&theirs) {
        assert!(a.contains("SQLITE_INTERRUPT"), "{a}");
    }
    let health = client()
        .get(format!("{}/healthz", d.base))
        .send()
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(attempt(&d, &t, &id, &["SELECT 1".into()]), vec!["ok"]);
}

fn attempt_on(d: &impl Target, t: &str, id: &str, sql: &[String]) -> Vec<String> {
    let q = serde_json::to_string(sql).expect("json");
    let out = fetch_json(d, t, id, &format!("?q={}", urlencode(&q)));
    out.as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_owned())
        .collect()
}
