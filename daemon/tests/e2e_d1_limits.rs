//! D1's limits on what a tenant's SQL takes of the host, end to end from real jailed workers of a
//! real daemon: the tenant's databases together (`[store] d1_tenant_max_bytes`, WAL included),
//! its temporary files (a hostile sort: capped, the daemon's resident set watched), and a query
//! whose request ended (its wall-clock limit) stopped rather than left running in the supervisor
//! for `d1_query_ms`.
mod common;
use common::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs each SQL text of the request's `q` (JSON array of [binding, sql]) with `all()`; the
/// answer lists, per text, 'ok' or the error's message.
const WORKER: &str = r#"
export default { async fetch(req, env) {
  const u = new URL(req.url);
  const out = [];
  for (const [db, sql] of JSON.parse(u.searchParams.get('q'))) {
    try { await env[db].prepare(sql).all(); out.push('ok'); } catch (e) { out.push(String(e.message)); }
  }
  return Response.json(out);
} };
"#;

fn load_worker(d: &impl Target, token: &str, databases: &[&str], limits: Value) -> String {
    let env: serde_json::Map<String, Value> = databases
        .iter()
        .map(|db| {
            (
                db.to_uppercase(),
                json!({ "binding": "d1", "database": db }),
            )
        })
        .collect();
    let body = json!({
        "mainModule": "main.js",
        "modules": { "main.js": WORKER },
        "env": env,
        "limits": limits,
    });
    load_code(d, token, &body)
}

/// The worker's request with `sql` ([binding, sql] pairs): (status, body text).
fn ask(d: &impl Target, t: &str, id: &str, sql: &[(&str, &str)]) -> (u16, String) {
    let q = serde_json::to_string(sql).expect("json");
    let r = client()
        .get(format!(
            "{}/v1/workers/{id}/fetch/?q={}",
            d.base(),
            urlencode(&q)
        ))
        .bearer_auth(t)
        .send()
        .expect("fetch");
    (r.status().as_u16(), r.text().expect("text"))
}

fn answers(d: &impl Target, t: &str, id: &str, sql: &[(&str, &str)]) -> Vec<String> {
    let (status, text) = ask(d, t, id, sql);
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    v.as_array()
        .expect("array")
        .iter()
        .map(|a| a.as_str().unwrap_or("").to_owned())
        .collect()
}

/// Bytes of the files in `dir`.
fn bytes_in(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_tenants_databases_together_stay_within_its_quota() {
    const MIB: u64 = 1 << 20;
    let d = Daemon::start(
        "d1quota",
        1,
        1,
        "[store]\nd1_max_bytes = 1048576\nd1_tenant_max_bytes = 3145728\n",
    );
    let t = tenant_token(0);
    let names = ["a", "b", "c", "d", "e", "f"];
    let id = load_worker(&d, &t, &names, json!({}));
    let mut errors = Vec::new();
    for db in names {
        let binding = db.to_uppercase();
        let create = "CREATE TABLE IF NOT EXISTS t (b BLOB)";
        let fill = "INSERT INTO t VALUES (zeroblob(200000))";
        let mut sql = vec![(binding.as_str(), create)];
        sql.extend(std::iter::repeat_n((binding.as_str(), fill), 8));
        errors.extend(answers(&d, &t, &id, &sql).into_iter().filter(|a| a != "ok"));
    }
    let dir = d.dir.join("data/d1/t0");
    let used = bytes_in(&dir);
    // Without a tenant quota, six databases of 1 MiB each take 6 MiB (and more, WAL included).
    assert!(used <= 3 * MIB + MIB, "{used} bytes in {}", dir.display());
    assert!(
        errors.iter().any(|e| e.starts_with("D1_ERROR: ")
            && e.contains("d1_tenant_max_bytes")
            && e.ends_with("SQLITE_FULL")),
        "{errors:?}"
    );
    // The per-database cap is still named as such.
    assert!(
        errors.iter().any(|e| e.contains("d1_max_bytes =")),
        "{errors:?}"
    );
    // Reads and deletes go on at the quota (the freed pages are written again, not added).
    let after = answers(
        &d,
        &t,
        &id,
        &[
            ("A", "SELECT count(*) FROM t"),
            ("A", "DELETE FROM t"),
            ("A", "INSERT INTO t VALUES (zeroblob(200000))"),
        ],
    );
    assert_eq!(after, ["ok", "ok", "ok"]);
}

/// The sizes of the files the daemon `pid` holds open that have no name (unlinked, or opened
/// with `O_TMPFILE`): SQLite's temporary files.
fn unnamed_open_bytes(pid: u32) -> u64 {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.to_string_lossy().ends_with(" (deleted)"))
        })
        .filter_map(|fd| std::fs::metadata(fd.path()).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// The daemon's resident set, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

#[test]
fn a_hostile_sort_spills_no_more_than_the_temporary_file_cap() {
    const MIB: u64 = 1 << 20;
    let d = Daemon::start(
        "d1temp",
        1,
        1,
        "[store]\nd1_max_bytes = 4194304\nd1_query_ms = 3000\n",
    );
    let t = tenant_token(0);
    let id = load_worker(&d, &t, &["s"], json!({}));
    let pid = d.pid();
    let (before_rss, stop) = (rss_kib(pid), Arc::new(AtomicBool::new(false)));
    let watch = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut disk, mut rss) = (0, 0);
            while !stop.load(Ordering::SeqCst) {
                disk = disk.max(unnamed_open_bytes(pid));
                rss = rss.max(rss_kib(pid));
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (disk, rss)
        })
    };
    // An endless sort: every row goes to the sorter, which spills to temporary files.
    let sort = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                SELECT randomblob(1000) AS b FROM c ORDER BY b";
    let out = answers(&d, &t, &id, &[("S", sort), ("S", "SELECT 1")]);
    stop.store(true, Ordering::SeqCst);
    let (disk, rss) = watch.join().expect("watcher");
    eprintln!(
        "hostile sort: {:?}; largest temporary files seen {disk} bytes; daemon resident set {before_rss} KiB before, at most {rss} KiB during",
        out[0]
    );
    assert!(
        out[0].starts_with("D1_ERROR: ")
            && out[0].contains("temporary files")
            && out[0].ends_with("SQLITE_FULL"),
        "{out:?}"
    );
    assert_eq!(out[1], "ok");
    assert!(disk <= 4 * MIB + MIB, "{disk} bytes of temporary files");
    // The sorter keeps what it has not spilled in memory: bounded by the page cache's size.
    assert!(
        rss < before_rss + 256 * 1024,
        "{rss} KiB, from {before_rss}"
    );
}

#[test]
fn a_query_whose_request_ended_stops_and_frees_its_database() {
    // The time budget is the longest there is: only the request's end can stop the query soon.
    let d = Daemon::start("d1abandon", 1, 1, "[store]\nd1_query_ms = 300000\n");
    let t = tenant_token(0);
    let short = load_worker(&d, &t, &["r"], json!({ "wallMs": 2000 }));
    let next = load_worker(&d, &t, &["r"], json!({ "wallMs": 20000 }));
    let runaway =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let (status, text) = ask(&d, &t, &short, &[("R", runaway)]);
    assert_ne!(
        status, 200,
        "the wall-clock limit ended the request: {text}"
    );
    // The database takes one call at a time: this one runs only once the runaway query is over,
    // which, without the request's end stopping it, is 300 s away (past this request's 20 s).
    assert_eq!(
        answers(&d, &t, &next, &[("R", "SELECT 1")]),
        vec!["ok"],
        "the abandoned query freed the database"
    );
}
