//! Durable Objects' synchronous storage end to end, in real jailed isolates of a real daemon:
//! Cloudflare-style code unchanged (`sql.exec(...).toArray()`, `.one()`, iteration, several
//! statements in one exec, `ctx.storage.kv`, `transactionSync` committed, rolled back and
//! nested, `transaction(async)` rolled back); a synchronous call past the CPU budget ends its
//! request with the CPU limit (the supervisor stops SQLite at what the request had left) and the
//! object works on; a wait that spends no CPU (a disk's) is free up to its allowance; an object waiting on its storage holds
//! up, but does not deadlock, a neighbour on the same isolate thread; an isolate that dies inside
//! `transactionSync` leaves nothing written; a committed `transactionSync` survives `kill -9`;
//! and a tenant reaching the synchronous host call directly cannot make a `fetch` with it.
mod common;
use common::*;
use serde_json::{json, Value};

fn ns_env() -> Value {
    json!({ "NS": { "binding": "durable_object_namespace", "class_name": "Store" } })
}

const STORE: &str = r#"
import { DurableObject } from "cloudflare:workers";
const SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 30000000) SELECT count(*) AS n FROM c";
export class Store extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)");
  }
  rows() { return this.ctx.storage.sql.exec("SELECT v FROM t ORDER BY id").toArray().map((r) => r.v); }
  async basics() {
    const sql = this.ctx.storage.sql;
    const ins = sql.exec("INSERT INTO t (v) VALUES (?), (?)", "a", "b");
    const cursor = sql.exec("SELECT id, v FROM t ORDER BY id");
    const cols = cursor.columnNames;
    const all = cursor.toArray().map((r) => r.v);
    const iterated = [];
    for (const r of sql.exec("SELECT v FROM t ORDER BY id")) iterated.push(r.v);
    const raw = sql.exec("SELECT v FROM t ORDER BY id").raw().toArray();
    const one = sql.exec("SELECT count(*) AS n FROM t").one().n;
    let notOne;
    try { sql.exec("SELECT v FROM t").one(); } catch (e) { notOne = e.message; }
    const multi = sql.exec("INSERT INTO t (v) VALUES ('c'); INSERT INTO t (v) VALUES ('d'); SELECT v FROM t WHERE v >= ? ORDER BY v", "c");
    const multiRows = multi.toArray().map((r) => r.v);
    const awaited = (await sql.exec("SELECT 7 AS x")).one().x;
    let begin;
    try { sql.exec("BEGIN"); } catch (e) { begin = e.message; }
    const kv = this.ctx.storage.kv;
    kv.put("k", { deep: [1, 2n] });
    kv.put("k2", "two");
    const got = kv.get("k");
    const asyncSees = await this.ctx.storage.get("k2");
    await this.ctx.storage.put("k3", 3);
    const listed = [...kv.list({ prefix: "k" })].map(([k, v]) => [k, typeof v === "object" ? "obj" : v]);
    const deleted = [kv.delete("k3"), kv.delete("nope")];
    return { written: ins.rowsWritten, read: cursor.rowsRead, cols, all, iterated, raw, one, notOne,
      multiRows, multiWritten: multi.rowsWritten, awaited, begin, thenable: typeof multi.then,
      got: got.deep[1] === 2n, asyncSees, listed, deleted, after: kv.get("k3") ?? null,
      size: this.ctx.storage.sql.databaseSize > 0 };
  }
  async txn(mode) {
    const s = this.ctx.storage;
    const insert = (v) => s.sql.exec("INSERT INTO t (v) VALUES (?)", v);
    let threw = null;
    try {
      if (mode === "commit") s.transactionSync(() => { insert("c1"); s.kv.put("tk", 1); });
      if (mode === "throw") s.transactionSync(() => { insert("x1"); s.kv.put("tk", 2); throw new RangeError("no"); });
      if (mode === "nested") {
        const out = s.transactionSync(() => {
          insert("n1");
          try { s.transactionSync(() => { insert("n2"); throw new Error("inner"); }); } catch {}
          s.transactionSync(() => insert("n3"));
          return "outer";
        });
        if (out !== "outer") throw new Error("transactionSync did not return fn's value");
      }
      if (mode === "async") {
        await s.transaction(async (txn) => { insert("a1"); await txn.put("tk", 3); throw new TypeError("async no"); });
      }
      if (mode === "async-rollback") {
        await s.transaction(async (txn) => { insert("a2"); await txn.put("tk", 4); txn.rollback(); });
      }
      if (mode === "async-commit") {
        await s.transaction(async (txn) => { insert("a3"); await txn.put("tk", 5); });
      }
    } catch (e) { threw = `${e.name}: ${e.message}`; }
    return { threw, rows: this.rows(), tk: s.kv.get("tk") ?? null };
  }
  slow() { return this.ctx.storage.sql.exec(SLOW).one().n; }
  many(n) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.ctx.storage.sql.exec("SELECT ? AS x", i).one().x;
    return sum;
  }
  crash() {
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("INSERT INTO t (v) VALUES ('crash')");
      this.ctx.storage.kv.put("crash", true);
      const hog = [];
      for (;;) hog.push(new Array(1 << 16).fill(hog.length));
    });
  }
}
export default { async fetch(req, env) {
  const url = new URL(req.url);
  const stub = env.NS.getByName(url.searchParams.get("name") ?? "a");
  const op = url.pathname.split("/").pop();
  try {
    switch (op) {
      case "basics": return Response.json(await stub.basics());
      case "txn": return Response.json(await stub.txn(url.searchParams.get("mode")));
      case "rows": return Response.json(await stub.rows());
      case "slow": return Response.json(await stub.slow());
      case "many": return Response.json(await stub.many(+url.searchParams.get("n")));
      case "crash": return Response.json(await stub.crash());
    }
  } catch (e) {
    return Response.json({ error: e.name, message: e.message });
  }
  return new Response("no such op", { status: 404 });
} };
"#;

fn call(d: &impl Target, token: &str, id: &str, op: &str, name: &str) -> Value {
    let sep = if op.contains('?') { '&' } else { '?' };
    fetch_json(d, token, id, &format!("{op}{sep}name={}", urlencode(name)))
}

#[test]
fn cloudflare_style_synchronous_storage_runs_unchanged() {
    let d = Daemon::start("do-sync", 1, 1, "[limits]\ncpu_ms = 2000\n");
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, STORE, ns_env());
    let b = call(&d, &t, &w, "basics", "a");
    assert_eq!(b["written"], 2, "{b}");
    assert_eq!(b["cols"], json!(["id", "v"]));
    assert_eq!(b["all"], json!(["a", "b"]));
    assert_eq!(b["read"], 2);
    assert_eq!(b["iterated"], json!(["a", "b"]));
    assert_eq!(b["raw"], json!([["a"], ["b"]]));
    assert_eq!(b["one"], 2);
    assert!(
        b["notOne"]
            .as_str()
            .unwrap_or("")
            .contains("multiple results"),
        "{b}"
    );
    // Several statements: all run, the last one's rows, the bindings the last one's.
    assert_eq!(b["multiRows"], json!(["c", "d"]));
    assert_eq!(b["multiWritten"], 2);
    assert_eq!(b["awaited"], 7);
    assert_eq!(b["thenable"], "undefined");
    assert!(
        b["begin"]
            .as_str()
            .unwrap_or("")
            .contains("transactionSync"),
        "an explicit BEGIN is refused, naming the way: {b}"
    );
    assert_eq!(b["got"], true);
    assert_eq!(
        b["asyncSees"], "two",
        "kv and the async API share one table"
    );
    assert_eq!(b["listed"], json!([["k", "obj"], ["k2", "two"], ["k3", 3]]));
    assert_eq!(b["deleted"], json!([true, false]));
    assert_eq!(b["after"], Value::Null);
    assert_eq!(b["size"], true);

    // transactionSync: committed; a throw leaves everything as it was; nested levels.
    let c = call(&d, &t, &w, "txn?mode=commit", "tx");
    assert_eq!(
        (c["threw"].clone(), c["rows"].clone(), c["tk"].clone()),
        (Value::Null, json!(["c1"]), json!(1)),
        "{c}"
    );
    let x = call(&d, &t, &w, "txn?mode=throw", "tx");
    assert_eq!(x["threw"], "RangeError: no", "{x}");
    assert_eq!(
        (x["rows"].clone(), x["tk"].clone()),
        (json!(["c1"]), json!(1)),
        "rolled back: {x}"
    );
    let n = call(&d, &t, &w, "txn?mode=nested", "tx");
    assert_eq!(n["threw"], Value::Null, "{n}");
    assert_eq!(
        n["rows"],
        json!(["c1", "n1", "n3"]),
        "the inner level alone rolled back: {n}"
    );
    // transaction(async): a throw and rollback() roll back; a resolution commits.
    let a = call(&d, &t, &w, "txn?mode=async", "tx");
    assert_eq!(a["threw"], "TypeError: async no", "{a}");
    assert_eq!(
        (a["rows"].clone(), a["tk"].clone()),
        (json!(["c1", "n1", "n3"]), json!(1)),
        "{a}"
    );
    let r = call(&d, &t, &w, "txn?mode=async-rollback", "tx");
    assert_eq!(
        (r["threw"].clone(), r["rows"].clone(), r["tk"].clone()),
        (Value::Null, json!(["c1", "n1", "n3"]), json!(1)),
        "{r}"
    );
    let ok = call(&d, &t, &w, "txn?mode=async-commit", "tx");
    assert_eq!(
        (ok["rows"].clone(), ok["tk"].clone()),
        (json!(["c1", "n1", "n3", "a3"]), json!(5)),
        "{ok}"
    );
}

#[test]
fn a_synchronous_call_past_the_cpu_budget_ends_its_request_and_the_object_works_on() {
    let config = "worker_threads = 1\n[limits]\ncpu_ms = 300\nwall_ms = 30000\n[durable_objects]\nquery_ms = 20000\n";
    let d = Daemon::start("do-sync-cpu", 1, 1, config);
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, STORE, ns_env());
    // Many quick synchronous calls within the budget.
    assert_eq!(call(&d, &t, &w, "many?n=50", "c"), json!(1225));
    // A query that takes seconds: the wait reaches the object's CPU budget.
    let slow = call(&d, &t, &w, "slow", "c");
    let message = slow["message"].as_str().unwrap_or("").to_lowercase();
    assert!(
        message.contains("cpu"),
        "the CPU limit ends the request: {slow}"
    );

    // The object answers its next call (a fresh isolate, the same storage).
    assert_eq!(call(&d, &t, &w, "rows", "c"), json!([]));
    assert_eq!(call(&d, &t, &w, "many?n=3", "c"), json!(3));
}

#[test]
fn a_neighbour_on_the_same_thread_completes_while_an_object_waits_on_its_storage() {
    // One process, one isolate thread: the waiting object's thread is every isolate's. The
    // query is about 10 s of CPU in a debug build's SQLite; the limits leave room for a loaded
    // machine (a wait past the host's CPU allowance counts as the object's CPU).
    let config = "worker_threads = 1\n[limits]\ncpu_ms = 50000\nwall_ms = 55000\n[durable_objects]\nquery_ms = 50000\n";
    let d = Daemon::start("do-sync-near", 1, 1, config);
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, STORE, ns_env());
    // Both objects live before the race.
    assert_eq!(call(&d, &t, &w, "rows", "slow"), json!([]));
    assert_eq!(call(&d, &t, &w, "rows", "quick"), json!([]));
    let (h, t2, w2) = (d.handle(), t.clone(), w.clone());
    let slow = std::thread::spawn(move || call(&h, &t2, &w2, "slow", "slow"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let quick: Vec<Value> = (0..3)
        .map(|_| call(&d, &t, &w, "many?n=5", "quick"))
        .collect();
    assert_eq!(
        quick,
        vec![json!(10); 3],
        "the neighbour's requests complete"
    );
    let slow = slow.join().expect("thread");
    assert_eq!(slow, json!(30_000_000), "the waiting object completes too");
}

#[test]
fn an_isolate_dying_inside_transaction_sync_leaves_nothing_and_a_commit_survives_kill_9() {
    let tenants = format!(
        "[limits]\ncpu_ms = 5000\nmemory_mb = 32\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("do-sync-crash", 1, &tenants, &[]);
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, STORE, ns_env());
    let crashed = call(&d, &t, &w, "crash", "k");
    let why = crashed["message"].as_str().unwrap_or("").to_lowercase();
    assert!(
        why.contains("memory") || why.contains("heap"),
        "the memory limit: {crashed}"
    );
    let after = call(&d, &t, &w, "txn?mode=commit", "k");
    assert_eq!(after["threw"], Value::Null, "{after}");
    assert_eq!(
        after["rows"],
        json!(["c1"]),
        "the crashed transaction's row is gone: {after}"
    );
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &tenants, &[]);
    let kept = call(&d, &t, &w, "txn?mode=throw", "k");
    assert_eq!(
        (kept["rows"].clone(), kept["tk"].clone()),
        (json!(["c1"]), json!(1)),
        "{kept}"
    );
}

/// A synchronous call's wait (here the debug build's `test.echo`, which sleeps without CPU, as a
/// disk's `fsync` does) costs no CPU up to the allowance, so a 250 ms wait passes on a 100 ms
/// budget (with room under the 500 ms allowance for a loaded machine's scheduling); a wait past the allowance counts as CPU and ends the request with the CPU limit, in
/// about the allowance and the budget, not the 3 s the host would have taken.
#[test]
fn a_storage_wait_is_wall_time_up_to_its_allowance() {
    let d = Daemon::start_with(
        "do-sync-wait",
        &["normal"],
        1,
        "[limits]\ncpu_ms = 100\nwall_ms = 20000\n",
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let t = tenant_token(0);
    let waiter = r#"
const wait = (ms) => JSON.parse(new TextDecoder().decode(__stockadeTestHostCallSync('test.echo', new TextEncoder().encode(JSON.stringify({ sleepMs: ms, echo: ms })))));
export default { async fetch(req) {
  const ms = +new URL(req.url).searchParams.get("ms");
  try { return Response.json({ echoed: wait(ms) }); }
  catch (e) { return Response.json({ error: `${e.name}: ${e.message}` }); }
} };
"#;
    let w = load_with_env(&d, &t, waiter, json!({}));
    let started = std::time::Instant::now();
    let quick = fetch_json(&d, &t, &w, "?ms=250");
    assert_eq!(quick["echoed"], json!(250), "{quick}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(250),
        "it did wait"
    );
    let (status, long) = get_json(&d, Some(&t), &format!("/v1/workers/{w}/fetch/?ms=3000"));
    assert!(
        status != 200 && long.to_string().to_lowercase().contains("cpu"),
        "the CPU limit ends it: {status} {long}"
    );
    // The worker serves on.
    assert_eq!(fetch_json(&d, &t, &w, "?ms=10")["echoed"], json!(10));
}

#[test]
fn only_storage_calls_may_be_synchronous() {
    let d = Daemon::start_with(
        "do-sync-direct",
        &["normal"],
        1,
        "",
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let t = tenant_token(0);
    let attacker = r#"
const frame = (head) => { const h = new TextEncoder().encode(JSON.stringify(head)); const out = new Uint8Array(4 + h.length); new DataView(out.buffer).setUint32(0, h.length, true); out.set(h, 4); return out; };
const askSync = (name, head) => { try { return new TextDecoder().decode(__stockadeTestHostCallSync(name, frame(head)).subarray(4)); } catch (e) { return 'refused: ' + e.message; } };
export default { async fetch() {
  return Response.json([
    askSync('fetch', { url: 'http://127.0.0.1:1/', method: 'GET', headers: [] }),
    askSync('service.call', { binding: 'X', method: 'm' }),
    askSync('do.get', { keys: ['n'] }),
  ]);
} };
"#;
    let w = load_with_env(&d, &t, attacker, json!({}));
    let out = fetch_json(&d, &t, &w, "");
    for i in 0..2 {
        let text = out[i].as_str().unwrap_or("");
        assert!(text.contains("cannot be made synchronously"), "{i}: {out}");
    }
    // A storage call goes through, and the supervisor refuses it outside an object.
    assert!(
        out[2]
            .as_str()
            .unwrap_or("")
            .contains("belongs to a live Durable Object"),
        "{out}"
    );
}
