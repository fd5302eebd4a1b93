//! D1 end to end: a `{"binding": "d1"}` in real jailed isolates of a real daemon, through every
//! method of Cloudflare's client API, bind types and their round trip, batch atomicity, `exec`,
//! typed errors; tenants whose databases of the same name never meet; an acknowledged insert
//! that survives a `kill -9` of the daemon. The attacks are in `e2e_d1_attacks.rs`.
mod common;
use common::*;
use serde_json::{json, Value};

/// POST /v1/workers with one JavaScript module and `env`: (status, answer).
fn db_env(database: &str) -> Value {
    json!({ "DB": { "binding": "d1", "database": database } })
}

const CRUD_WORKER: &str = r#"
export default { async fetch(req, env) {
  const db = env.DB, out = {};
  const err = async (f) => { try { await f(); return 'no error'; } catch (e) { return [e.constructor.name, e.message, e.cause?.message ?? null]; } };
  out.tag = [Object.prototype.toString.call(db), Object.prototype.toString.call(db.prepare('SELECT 1'))];
  out.exec = await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n REAL, b BLOB, flag INTEGER);\nCREATE INDEX t_name ON t (name);");
  const info = await db.prepare('INSERT INTO t (name, n, b, flag) VALUES (?, ?, ?, ?)').bind('x', 1.5, new Uint8Array([1, 2, 255]), true).run();
  out.run = [info.success, info.meta.last_row_id, info.meta.changes, info.meta.changed_db, info.meta.rows_written,
    typeof info.meta.duration, info.meta.size_after > 0, Array.isArray(info.results)];
  await db.prepare('INSERT INTO t (name, n, b, flag) VALUES (?1, ?2, ?3, ?4)').bind('y', 2, new Uint8Array([7]).buffer, false).run();
  await db.prepare('INSERT INTO t (name, b) VALUES (?, ?)').bind('z', [0, 128, 255]).run();
  const { results } = await db.prepare('SELECT * FROM t WHERE id = ?').bind(1).all();
  out.all = results;
  out.firstCol = await db.prepare('SELECT name FROM t WHERE id = ?1').bind(2).first('name');
  out.firstRow = await db.prepare('SELECT id, name FROM t ORDER BY id DESC').first();
  out.firstNone = await db.prepare('SELECT * FROM t WHERE id = 99').first();
  out.raw = await db.prepare('SELECT id, name FROM t ORDER BY id').raw();
  out.rawCols = await db.prepare('SELECT id, name FROM t ORDER BY id').raw({ columnNames: true });
  out.blobs = (await db.prepare('SELECT b FROM t ORDER BY id').raw()).map((r) => r[0]);
  out.types = await db.prepare('SELECT typeof(?) AS a, typeof(?) AS b, typeof(?) AS c, typeof(?) AS d, typeof(?) AS e, typeof(?) AS f, ? AS g, ? AS h')
    .bind(null, 1, 1.25, 's', true, new Uint16Array([258]), 'é\u0000"', new DataView(new Uint8Array([5, 6]).buffer)).first();
  const long = 'ü'.repeat(50000);
  const back = await db.prepare('SELECT ? AS v, length(?) AS n').bind(long, long).first();
  out.long = [back.v === long, back.n];
  out.big = await db.prepare('SELECT 9007199254740993 AS v').first('v');
  out.update = (await db.prepare('UPDATE t SET n = n + 1 WHERE n IS NOT NULL').run()).meta.changes;
  out.del = (await db.prepare('DELETE FROM t WHERE name = ?').bind('z').run()).meta.changes;
  out.count = await db.prepare('SELECT count(*) AS c FROM t').first('c');
  const stmt = db.prepare('SELECT ? AS v');
  out.rebind = [await stmt.bind(1).first('v'), await stmt.bind(2).first('v')];
  const batch = await db.batch([db.prepare('INSERT INTO t (name) VALUES (?)').bind('b1'), db.prepare('SELECT name FROM t ORDER BY id')]);
  out.batch = [batch.length, batch[0].success, batch[0].meta.changes, batch[1].results.map((r) => r.name)];
  out.atomic = await err(() => db.batch([db.prepare("INSERT INTO t (name) VALUES ('b2')"), db.prepare('INSERT INTO t (name) VALUES (NULL)')]));
  out.afterAtomic = await db.prepare("SELECT count(*) AS c FROM t WHERE name = 'b2'").first('c');
  out.errors = [
    await err(() => db.prepare('SELECT * FROM nope').all()),
    await err(() => db.prepare('SELEC 1').run()),
    await err(() => db.prepare('SELECT ?').bind(undefined)),
    await err(() => db.prepare('SELECT ?').bind(1n)),
    await err(() => db.prepare('SELECT ?').bind({ a: 1 })),
    await err(() => db.prepare('SELECT 1 AS a').first('b')),
    await err(() => db.exec('SELECT 1;\nSELECT * FROM nope;')),
    await err(() => db.prepare('SELECT ?, ?').bind(1).all()),
    await err(() => db.batch('no')),
    await err(() => db.prepare("INSERT INTO t (id, name) VALUES (1, 'dup')").run()),
  ];
  return Response.json(out);
} };
"#;

#[test]
fn d1_binding_has_cloudflare_d1s_methods() {
    let d = Daemon::start("d1crud", 1, 1, CPU_NOT_TESTED);
    let t = tenant_token(0);
    let id = load_with_env(&d, &t, CRUD_WORKER, db_env("main"));
    let out = fetch_json(&d, &t, &id, "");
    assert_eq!(
        out["tag"],
        json!(["[object D1Database]", "[object D1PreparedStatement]"])
    );
    assert_eq!(out["exec"]["count"], 2, "{}", out["exec"]);
    assert!(out["exec"]["duration"].is_number());
    assert_eq!(
        out["run"],
        json!([true, 1, 1, true, 1, "number", true, true])
    );
    assert_eq!(
        out["all"],
        json!([{ "id": 1, "name": "x", "n": 1.5, "b": [1, 2, 255], "flag": 1 }])
    );
    assert_eq!(out["firstCol"], "y");
    assert_eq!(out["firstRow"], json!({ "id": 3, "name": "z" }));
    assert_eq!(out["firstNone"], Value::Null);
    assert_eq!(out["raw"], json!([[1, "x"], [2, "y"], [3, "z"]]));
    assert_eq!(
        out["rawCols"],
        json!([["id", "name"], [1, "x"], [2, "y"], [3, "z"]])
    );
    assert_eq!(out["blobs"], json!([[1, 2, 255], [7], [0, 128, 255]]));
    assert_eq!(
        out["types"],
        json!({ "a": "null", "b": "integer", "c": "real", "d": "text", "e": "integer",
                "f": "blob", "g": "é\u{0}\"", "h": [5, 6] })
    );
    assert_eq!(out["long"], json!([true, 50000]));
    assert_eq!(
        out["big"],
        json!(9007199254740992u64),
        "a number, as D1 gives it"
    );
    assert_eq!(out["update"], 2);
    assert_eq!(out["del"], 1);
    assert_eq!(out["count"], 2);
    assert_eq!(out["rebind"], json!([1, 2]));
    assert_eq!(out["batch"], json!([2, true, 1, ["x", "y", "b1"]]));
    let atomic = &out["atomic"];
    assert_eq!(atomic[0], "Error");
    assert!(
        atomic[1]
            .as_str()
            .unwrap_or("")
            .starts_with("D1_ERROR: NOT NULL constraint failed"),
        "{atomic}"
    );
    assert_eq!(out["afterAtomic"], 0, "the failed batch wrote nothing");
    let errors = out["errors"].as_array().expect("errors");
    let message = |i: usize| errors[i][1].as_str().unwrap_or("").to_owned();
    assert_eq!(
        errors[0],
        json!([
            "Error",
            "D1_ERROR: no such table: nope: SQLITE_ERROR",
            "no such table: nope: SQLITE_ERROR"
        ])
    );
    assert!(message(1).starts_with("D1_ERROR: ") && message(1).ends_with("SQLITE_ERROR"));
    assert_eq!(
        errors[2][1],
        "D1_TYPE_ERROR: Type 'undefined' not supported for value 'undefined'"
    );
    assert_eq!(
        errors[3][1],
        "D1_TYPE_ERROR: Type 'bigint' not supported for value '1'"
    );
    assert_eq!(
        errors[4][1],
        "D1_TYPE_ERROR: Type 'object' not supported for value '[object Object]'"
    );
    assert_eq!(errors[5][1], "D1_COLUMN_NOTFOUND: Column not found (b)");
    assert_eq!(
        errors[6][1],
        "D1_EXEC_ERROR: Error in line 2: SELECT * FROM nope;: no such table: nope: SQLITE_ERROR"
    );
    assert!(
        message(7).starts_with("D1_ERROR: Wrong number of parameter bindings"),
        "{}",
        errors[7]
    );
    assert_eq!(errors[8][0], "TypeError");
    assert_eq!(
        errors[9][1],
        "D1_ERROR: UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT"
    );
    // The database is the tenant's own file under the data folder.
    assert!(d.dir.join("data/d1/t0/main.sqlite3").is_file());
    // Its types are declared for the model.
    let (status, types) = {
        let r = client()
            .get(format!("{}/v1/workers/{id}/types", d.base))
            .bearer_auth(&t)
            .send()
            .expect("types");
        (r.status().as_u16(), r.text().expect("text"))
    };
    assert_eq!(status, 200);
    assert!(
        types.contains("DB: D1Database;") && types.contains("interface D1PreparedStatement"),
        "{types}"
    );
}

const NOTE_WORKER: &str = "export default { async fetch(req, env) {
  const u = new URL(req.url);
  await env.DB.exec('CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)');
  const put = u.searchParams.get('put');
  if (put !== null) {
    const r = await env.DB.prepare('INSERT INTO notes (body) VALUES (?)').bind(put).run();
    return Response.json(r.meta.last_row_id);
  }
  return Response.json((await env.DB.prepare('SELECT body FROM notes ORDER BY id').all()).results.map((r) => r.body));
} };";

#[test]
fn tenants_databases_of_the_same_name_never_meet() {
    let d = Daemon::start_with(
        "d1iso",
        &["normal", "normal"],
        1,
        "",
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let w0 = load_with_env(&d, &t0, NOTE_WORKER, db_env("main"));
    let w1 = load_with_env(&d, &t1, NOTE_WORKER, db_env("main"));
    assert_eq!(fetch_json(&d, &t0, &w0, "?put=zero"), json!(1));
    assert_eq!(fetch_json(&d, &t1, &w1, "?put=one"), json!(1));
    assert_eq!(fetch_json(&d, &t0, &w0, ""), json!(["zero"]));
    assert_eq!(fetch_json(&d, &t1, &w1, ""), json!(["one"]));
    assert!(d.dir.join("data/d1/t0/main.sqlite3").is_file());
    assert!(d.dir.join("data/d1/t1/main.sqlite3").is_file());
    // A name cannot reach another tenant's file.
    for bad in ["../t1/main", "t1/main", "..", "main.sqlite3", "/tmp/x", ""] {
        let (status, v) = create_with_env(&d, &t0, NOTE_WORKER, db_env(bad));
        assert_eq!(status, 400, "{bad}: {v}");
    }
    // Nor can a worker asking the host call directly, under any name or with a database of its
    // choosing in the request: only its own stored binding counts.
    let attacker = &[
        DIRECT_HOST_CALL,
        r#"
export default { async fetch(req, env) {
  return Response.json([
    await ask('d1.query', { binding: 'main', sql: 'SELECT body FROM notes' }),
    await ask('d1.query', { binding: 'OTHER', sql: 'SELECT body FROM notes' }),
    await ask('d1.exec', { binding: 'KV', sql: 'SELECT 1' }),
    await ask('d1.query', { binding: 'DB', database: '../t1/main', sql: 'SELECT body FROM notes' }),
  ]);
} };"#,
    ]
    .concat();
    let env = json!({ "DB": { "binding": "d1", "database": "own" }, "KV": { "binding": "kv", "namespace": "main" } });
    let a = load_with_env(&d, &t0, attacker, env);
    let out = fetch_json(&d, &t0, &a, "");
    for i in 0..3 {
        let s = out[i].as_str().unwrap_or("");
        assert!(
            s.starts_with("refused: ") && s.contains("no D1 binding"),
            "{i}: {s}"
        );
    }
    let own = out[3].as_str().unwrap_or("");
    assert!(
        own.contains("no such table: notes"),
        "its own empty database: {own}"
    );
    assert_eq!(fetch_json(&d, &t1, &w1, ""), json!(["one"]));
}

#[test]
fn an_acknowledged_insert_survives_kill_9() {
    let tenants = format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("d1durable", 1, &tenants, &[]);
    let t = tenant_token(0);
    let id = load_with_env(&d, &t, NOTE_WORKER, db_env("durable"));
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let body = format!("note-{i}");
        assert_eq!(
            fetch_json(&d, &t, &id, &format!("?put={body}")),
            json!(i + 1)
        );
        acknowledged.push(body);
    }
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &tenants, &[]);
    assert_eq!(fetch_json(&d, &t, &id, ""), json!(acknowledged));
}
