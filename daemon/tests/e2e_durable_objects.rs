//! Durable Objects end to end: a `{"binding": "durable_object_namespace"}` in real jailed
//! isolates of a real daemon. One instance per object under concurrent requests (its in-memory
//! field and its storage agree), two names two objects, RPC and fetch, an object calling itself,
//! `sql.exec` fenced as D1 is, the live cap, tenants that never meet (also by a direct host
//! call), eviction (memory gone, storage kept), ids stable across a restart and a put that
//! survives `kill -9`; an object's console output in its worker's logs.
mod common;
use common::*;
use serde_json::{json, Value};

fn ns_env() -> Value {
    json!({ "NS": { "binding": "durable_object_namespace", "class_name": "Counter" } })
}

const COUNTER: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.hits = 0;
    ctx.blockConcurrencyWhile(async () => { this.n = (await ctx.storage.get("n")) ?? 0; });
  }
  async fetch(req) {
    // Atomic only if no other call runs between the get and the put (the input gate).
    const stored = (await this.ctx.storage.get("n")) ?? 0;
    this.n++;
    await this.ctx.storage.put("n", stored + 1);
    return Response.json({ n: this.n });
  }
  touch() { console.log(`touched ${this.ctx.id.name}`); return ++this.hits; }
  async peek() {
    return { mem: this.n, stored: (await this.ctx.storage.get("n")) ?? null, id: this.ctx.id.toString(), name: this.ctx.id.name ?? null };
  }
  async self(depth) {
    if (depth === 0) return "bottom";
    return `${depth}>` + (await this.env.NS.get(this.ctx.id).self(depth - 1));
  }
  async kv() {
    const s = this.ctx.storage;
    await s.put({ a1: 1, a2: new Map([[1, new Uint8Array([7])]]), b1: { deep: [new Date(5), 2n] } });
    const many = await s.get(["a1", "b1", "zz"]);
    const list = await s.list({ prefix: "a", reverse: true });
    const deleted = [await s.delete("a1"), await s.delete(["a2", "zz"])];
    let bad;
    try { await s.put("f", () => 1); } catch (e) { bad = e.name; }
    return { many: [...many.keys()], b1: many.get("b1").deep[1] === 2n, list: [...list.keys()],
      map: list.get("a2").get(1)[0], deleted, bad, after: [...(await s.list()).keys()] };
  }
  async sql(q) {
    const sql = this.ctx.storage.sql;
    if (q) {
      try { await sql.exec(q); return "ran"; } catch (e) { return `${e.name}: ${e.message}`; }
    }
    await sql.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT, b BLOB)");
    const ins = await sql.exec("INSERT INTO t (v, b) VALUES (?, ?), (?, ?)", "x", new Uint8Array([1, 2]), "y", null);
    const c = await sql.exec("SELECT id, v, b FROM t ORDER BY id");
    const cols = c.columnNames;
    const rows = c.toArray();
    return { written: ins.rowsWritten, cols, v: rows.map((r) => r.v), blob: new Uint8Array(rows[0].b)[1],
      one: (await sql.exec("SELECT count(*) AS n FROM t")).one().n, raw: (await sql.exec("SELECT v FROM t ORDER BY id")).raw().toArray() };
  }
}
export default { async fetch(req, env) {
  const url = new URL(req.url);
  const name = url.searchParams.get("name") ?? "a";
  const op = url.pathname.split("/").pop();
  const stub = env.NS.getByName(name);
  try {
    switch (op) {
      case "inc": return await stub.fetch("http://object/inc");
      case "peek": return Response.json(await stub.peek());
      case "touch": return Response.json(await stub.touch());
      case "self": return Response.json(await stub.self(4));
      case "kv": return Response.json(await stub.kv());
      case "sql": return Response.json(await stub.sql(url.searchParams.get("q")));
      case "ids": {
        const id = env.NS.idFromName(name);
        let bad;
        try { env.NS.idFromString("xyz"); } catch (e) { bad = e.name; }
        return Response.json({ id: id.toString(), same: id.equals(env.NS.idFromString(id.toString())),
          other: id.equals(env.NS.idFromName(name + "!")), unique: env.NS.newUniqueId().toString().length, bad,
          stubId: stub.id.toString(), stubName: stub.name });
      }
    }
  } catch (e) {
    return Response.json({ error: e.name, message: e.message });
  }
  return new Response("no such op", { status: 404 });
} };
"#;

/// GET `op` of the counter worker for the object named `name`: the JSON it answers.
fn call(d: &Daemon, token: &str, id: &str, op: &str, name: &str) -> Value {
    let sep = if op.contains('?') { '&' } else { '?' };
    fetch_json(d, token, id, &format!("{op}{sep}name={}", urlencode(name)))
}

#[test]
fn one_instance_per_object_with_rpc_fetch_sql_and_caps() {
    let config =
        "[limits]\ncpu_ms = 2000\n[durable_objects]\nmax_live_per_tenant = 5\nquery_ms = 500\n";
    let d = Daemon::start_with(
        "do-main",
        &["normal", "normal"],
        1,
        config,
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let w0 = load_with_env(&d, &t0, COUNTER, ns_env());
    // 50 concurrent increments through the data plane: one instance, no lost update.
    let handle = d.handle();
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let (h, t, w) = (handle.clone(), t0.clone(), w0.clone());
            std::thread::spawn(move || fetch_json(&h, &t, &w, "inc?name=a"))
        })
        .collect();
    let mut seen: Vec<u64> = threads
        .into_iter()
        .map(|t| t.join().expect("thread")["n"].as_u64().expect("n"))
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=50).collect::<Vec<u64>>(),
        "each call saw the one instance's field"
    );
    let a = call(&d, &t0, &w0, "peek", "a");
    assert_eq!(
        (a["mem"].clone(), a["stored"].clone()),
        (json!(50), json!(50)),
        "{a}"
    );
    assert_eq!(a["name"], "a");
    // Another name is another object.
    call(&d, &t0, &w0, "inc", "b");
    let b = call(&d, &t0, &w0, "peek", "b");
    assert_eq!(
        (b["mem"].clone(), b["stored"].clone()),
        (json!(1), json!(1)),
        "{b}"
    );
    assert_ne!(a["id"], b["id"]);
    // Ids: 64 hex digits, stable, checked.
    let ids = call(&d, &t0, &w0, "ids", "a");
    assert_eq!(ids["id"], a["id"]);
    assert_eq!(ids["stubId"], a["id"]);
    assert_eq!(ids["stubName"], "a");
    assert_eq!(
        (ids["same"].clone(), ids["other"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        (ids["unique"].clone(), ids["bad"].clone()),
        (json!(64), json!("TypeError"))
    );
    // An object calling itself (as another call of its one instance) does not deadlock.
    assert_eq!(call(&d, &t0, &w0, "self", "a"), json!("4>3>2>1>bottom"));
    // The key-value API with structured values.
    let kv = call(&d, &t0, &w0, "kv", "a");
    assert_eq!(kv["many"], json!(["a1", "b1"]), "{kv}");
    assert_eq!(kv["b1"], true);
    assert_eq!(kv["list"], json!(["a2", "a1"]));
    assert_eq!(kv["map"], 7);
    assert_eq!(kv["deleted"], json!([true, 1]));
    assert_eq!(kv["bad"], "DataCloneError");
    assert_eq!(kv["after"], json!(["b1", "n"]));
    // SQL, and SQL fenced as D1's.
    let sql = call(&d, &t0, &w0, "sql", "a");
    assert_eq!(sql["written"], 2, "{sql}");
    assert_eq!(sql["cols"], json!(["id", "v", "b"]));
    assert_eq!(sql["v"], json!(["x", "y"]));
    assert_eq!(
        (sql["blob"].clone(), sql["one"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(sql["raw"], json!([["x"], ["y"]]));
    for (q, want) in [
        ("ATTACH DATABASE '/tmp/x.db' AS x", "not authorized"),
        ("SELECT * FROM _cf_KV", "names starting _cf_ are reserved"),
        (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            "SQLITE_INTERRUPT",
        ),
    ] {
        let out = call(&d, &t0, &w0, &format!("sql?q={}", urlencode(q)), "a");
        let text = out.as_str().unwrap_or_default().to_owned();
        assert!(text.contains(want), "{q}: {out}");
    }
    // Tenant t1's object of the same name is its own.
    let w1 = load_with_env(&d, &t1, COUNTER, ns_env());
    let other = call(&d, &t1, &w1, "peek", "a");
    assert_eq!(other["stored"], Value::Null, "{other}");
    assert_eq!(other["mem"], 0);
    // Direct host calls: no storage outside an object, no namespace not granted.
    let attacker = [
        DIRECT_HOST_CALL,
        &format!(
            r#"export default {{ async fetch(req, env) {{
  return Response.json([
    await ask('do.get', {{ keys: ['n'] }}),
    await ask('do.call', {{ binding: 'OTHER', id: '{id}', method: 'peek' }}),
    await ask('do.call', {{ binding: 'NS', id: '../x', method: 'peek' }}),
  ]);
}} }};"#,
            id = a["id"].as_str().expect("id")
        ),
    ]
    .concat();
    let w2 = load_with_env(&d, &t1, &attacker, ns_env());
    let out = fetch_json(&d, &t1, &w2, "");
    assert!(
        out[0]
            .as_str()
            .unwrap_or("")
            .contains("belongs to a live Durable Object"),
        "{out}"
    );
    assert!(
        out[1]
            .as_str()
            .unwrap_or("")
            .contains("no Durable Object namespace binding"),
        "{out}"
    );
    assert!(
        out[2].as_str().unwrap_or("").contains("64 lowercase hex"),
        "{out}"
    );
    // The live cap: t1 has "a" live; four more fill its five, the next is refused.
    for name in ["x1", "x2", "x3", "x4"] {
        assert_eq!(call(&d, &t1, &w1, "touch", name), json!(1));
    }
    let refused = call(&d, &t1, &w1, "touch", "x5");
    assert_eq!(refused["error"], "QuotaExceededError", "{refused}");
    assert!(refused["message"]
        .as_str()
        .unwrap_or("")
        .contains("max_live_per_tenant"));
}

#[test]
fn an_idle_object_is_evicted_and_its_storage_kept() {
    // CPU enough for a first construction's storage on a loaded machine (a storage wait, fsync
    // included, counts as CPU: the default 50 ms is not always enough there).
    // Idle time: 2 s, so two calls in a row reach the same instance on a loaded machine too.
    let config = "[limits]\ncpu_ms = 2000\n[durable_objects]\nidle_ms = 2000\n";
    let d = Daemon::start("do-evict", 1, 1, config);
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, COUNTER, ns_env());
    assert_eq!(call(&d, &t, &w, "inc", "e"), json!({ "n": 1 }));
    assert_eq!(call(&d, &t, &w, "touch", "e"), json!(1));
    assert_eq!(
        call(&d, &t, &w, "touch", "e"),
        json!(2),
        "the same instance"
    );
    // Each call keeps it live; four seconds of quiet are more than its idle time. Up to 60 s.
    let mut evicted = false;
    for _ in 0..15 {
        std::thread::sleep(std::time::Duration::from_secs(4));
        if call(&d, &t, &w, "touch", "e") == json!(1) {
            evicted = true;
            break;
        }
    }
    assert!(evicted, "the object was never evicted");
    // An object's console output is its worker's (an object runs as a definition of its own).
    let (status, logs) = get_json(&d, Some(&t), &format!("/v1/workers/{w}/logs"));
    assert_eq!(status, 200, "{logs}");
    let touched = logs["logs"].as_array().map_or(0, |l| {
        l.iter().filter(|x| x["message"] == "touched e").count()
    });
    assert!(
        touched >= 3,
        "the object's lines are in its worker's logs: {logs}"
    );
    let e = call(&d, &t, &w, "peek", "e");
    assert_eq!(
        (e["mem"].clone(), e["stored"].clone()),
        (json!(1), json!(1)),
        "storage survives, memory reloads from it: {e}"
    );
}

#[test]
fn ids_are_stable_and_a_put_survives_kill_9() {
    let tenants = format!(
        "[limits]\ncpu_ms = 2000\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("do-durable", 1, &tenants, &[]);
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, COUNTER, ns_env());
    for _ in 0..3 {
        call(&d, &t, &w, "inc", "k");
    }
    let before = call(&d, &t, &w, "ids", "k");
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &tenants, &[]);
    let after = call(&d, &t, &w, "ids", "k");
    assert_eq!(before["id"], after["id"]);
    let k = call(&d, &t, &w, "peek", "k");
    assert_eq!(
        (k["mem"].clone(), k["stored"].clone()),
        (json!(3), json!(3)),
        "{k}"
    );
}
