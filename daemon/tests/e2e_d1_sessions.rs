//! D1's Sessions API, `dump()`, `exec`'s count and space freed by deletes, end to end from real
//! jailed workers of a real daemon: a session's bookmark grows with each write and only then, a
//! session started from a bookmark or a constraint, a malformed bookmark refused; a dump that
//! opens as the same database; and a tenant at its quota that writes again once it deleted rows.
mod common;
use common::*;
use serde_json::{json, Value};

const SESSION_WORKER: &str = r#"
export default { async fetch(req, env) {
  const db = env.DB, out = {};
  const err = (f) => { try { f(); return 'no error'; } catch (e) { return [e.constructor.name, e.message]; } };
  const s = db.withSession();
  out.tag = Object.prototype.toString.call(s);
  out.initial = s.getBookmark();
  await s.prepare('CREATE TABLE t (v INTEGER)').run();
  const b1 = s.getBookmark();
  const read = await s.prepare('SELECT count(*) AS n FROM t').all();
  const b2 = s.getBookmark();
  await s.prepare('INSERT INTO t VALUES (?)').bind(1).run();
  const b3 = s.getBookmark();
  const batch = await s.batch([s.prepare('INSERT INTO t VALUES (2)'), s.prepare('SELECT v FROM t ORDER BY v')]);
  const b4 = s.getBookmark();
  out.bookmarks = [typeof b1, b1 === b2, b3 > b2, b4 > b3];
  out.batch = batch[1].results.map((r) => r.v);
  out.meta = [read.meta.served_by_primary, read.meta.served_by_region];
  // A session started from a bookmark has it until an answer brings a later one.
  const from = db.withSession(b3);
  out.from = [from.getBookmark() === b3];
  out.fromRead = await from.prepare('SELECT count(*) AS n FROM t').first('n');
  out.from.push(from.getBookmark() === b4);
  out.constraints = [db.withSession('first-primary').getBookmark(), db.withSession('first-unconstrained').getBookmark()];
  // The database's own statements do not move a session's bookmark.
  await db.prepare('INSERT INTO t VALUES (3)').run();
  out.untouched = s.getBookmark() === b4;
  out.bad = [err(() => db.withSession('nonsense')), err(() => db.withSession(42)), err(() => db.withSession(b3.toUpperCase()))];
  out.exec = await db.exec('CREATE TABLE a (x); CREATE TABLE b (x);\n\nINSERT INTO a VALUES (1);');
  return Response.json(out);
} };
"#;

#[test]
fn a_session_tracks_its_bookmark_and_refuses_a_malformed_one() {
    let d = Daemon::start("d1session", 1, 1, "");
    let t = tenant_token(0);
    let env = json!({ "DB": { "binding": "d1", "database": "s" } });
    let id = load_with_env(&d, &t, SESSION_WORKER, env);
    let out = fetch_json(&d, &t, &id, "");
    assert_eq!(out["tag"], "[object D1DatabaseSession]");
    assert_eq!(out["initial"], Value::Null);
    assert_eq!(
        out["bookmarks"],
        json!(["string", true, true, true]),
        "{out}"
    );
    assert_eq!(out["batch"], json!([1, 2]));
    assert_eq!(out["meta"], json!([true, "local"]));
    assert_eq!(out["from"], json!([true, true]), "{out}");
    assert_eq!(out["fromRead"], 2);
    assert_eq!(out["constraints"], json!([null, null]));
    assert_eq!(out["untouched"], true);
    for bad in out["bad"].as_array().expect("bad") {
        assert_eq!(bad[0], "Error", "{bad}");
        assert!(
            bad[1]
                .as_str()
                .is_some_and(|m| m.starts_with("D1_SESSION_ERROR: invalid bookmark")),
            "{bad}"
        );
    }
    // D1's count is the statements run: two on the first line, none on the blank one.
    assert_eq!(out["exec"]["count"], 3, "{out}");
}

const DUMP_WORKER: &str = r#"
export default { async fetch(req, env) {
  const db = env.DB;
  await db.exec("CREATE TABLE IF NOT EXISTS t (v TEXT, b BLOB);\nDELETE FROM t;");
  await db.batch([db.prepare('INSERT INTO t VALUES (?, ?)').bind('hello', new Uint8Array([1, 2, 3])),
    db.prepare('INSERT INTO t VALUES (?, NULL)').bind('x'.repeat(100000))]);
  const dump = await db.dump();
  if (!(dump instanceof ArrayBuffer)) return new Response('not an ArrayBuffer', { status: 500 });
  return new Response(dump);
} };
"#;

#[test]
fn a_dump_opens_as_the_same_database() {
    let d = Daemon::start("d1dump", 1, 1, "");
    let t = tenant_token(0);
    let env = json!({ "DB": { "binding": "d1", "database": "d" } });
    let id = load_with_env(&d, &t, DUMP_WORKER, env);
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base()))
        .bearer_auth(&t)
        .send()
        .expect("fetch");
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().expect("bytes");
    assert!(
        bytes.starts_with(b"SQLite format 3\0"),
        "{} bytes",
        bytes.len()
    );
    let copy = d.dir.join("dump.sqlite3");
    std::fs::write(&copy, &bytes).expect("write");
    let conn = rusqlite::Connection::open(&copy).expect("open");
    let rows: Vec<(String, Option<Vec<u8>>)> = conn
        .prepare("SELECT v, b FROM t ORDER BY rowid")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("read");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], ("hello".to_owned(), Some(vec![1, 2, 3])));
    assert_eq!(rows[1].0.len(), 100_000);
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
}

/// Runs each [binding, sql] of the request's `q` with `run()`: 'ok' or the error's message.
const SQL_WORKER: &str = r#"
export default { async fetch(req, env) {
  const out = [];
  for (const [db, sql] of JSON.parse(new URL(req.url).searchParams.get('q'))) {
    try { await env[db].prepare(sql).run(); out.push('ok'); } catch (e) { out.push(String(e.message)); }
  }
  return Response.json(out);
} };
"#;

fn answers(d: &Daemon, t: &str, id: &str, sql: &[(&str, &str)]) -> Vec<String> {
    let q = serde_json::to_string(sql).expect("json");
    let out = fetch_json(d, t, id, &format!("?q={}", urlencode(&q)));
    out.as_array()
        .expect("array")
        .iter()
        .map(|a| a.as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn deleting_rows_lets_a_tenant_at_its_quota_write_again() {
    let d = Daemon::start(
        "d1shrink",
        1,
        1,
        "[store]\nd1_max_bytes = 2097152\nd1_tenant_max_bytes = 2097152\n",
    );
    let t = tenant_token(0);
    let env = json!({
        "A": { "binding": "d1", "database": "a" },
        "B": { "binding": "d1", "database": "b" },
    });
    let id = load_with_env(&d, &t, SQL_WORKER, env);
    let create = "CREATE TABLE t (b BLOB)";
    let fill = "INSERT INTO t VALUES (zeroblob(200000))";
    assert_eq!(
        answers(&d, &t, &id, &[("A", create), ("B", create)]),
        ["ok", "ok"]
    );
    // A takes the tenant's quota.
    let mut sql = vec![("A", fill); 12];
    sql.push(("B", fill));
    let filled = answers(&d, &t, &id, &sql);
    let last = filled.last().expect("B's insert");
    assert!(
        last.contains("d1_tenant_max_bytes") && last.ends_with("SQLITE_FULL"),
        "{filled:?}"
    );
    // A's rows deleted, their bytes are the tenant's again: B writes.
    let again = answers(
        &d,
        &t,
        &id,
        &[("A", "DELETE FROM t"), ("B", fill), ("B", fill)],
    );
    assert_eq!(again, ["ok", "ok", "ok"]);
    let dir = d.dir.join("data/d1/t0");
    let a = std::fs::metadata(dir.join("a.sqlite3")).map_or(0, |m| m.len());
    assert!(
        a < 100_000,
        "a.sqlite3 is {a} bytes after its rows were deleted"
    );
}
