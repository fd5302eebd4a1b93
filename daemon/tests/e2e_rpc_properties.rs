//! Reading properties through RPC stubs end to end (a real daemon, jailed workers), as
//! Cloudflare's stubs allow: every stub member is a method that is also a thenable, so
//! `await stub.name` reads the remote property instead of calling it. What is read is what the
//! remote class offers: a getter (run on the callee's own object; a Durable Object's as one of its
//! calls, so it may read its storage) or a value of its prototypes; a method read comes back as a
//! function stub bound to the object; its own fields (set in the constructor) are not offered and
//! read as `undefined`; a getter's throw reaches the caller typed. The same holds for a service
//! binding's `WorkerEntrypoint`, a Durable Object's stub, an `RpcTarget` a method returned, and
//! an `RpcTarget` the caller passed as an argument (read by the callee while the call waits).
//! A call's pending result is usable before it settles (promise pipelining): its members are
//! methods and properties of the result to come, through stubs and plain objects alike.
mod common;

use common::*;
use serde_json::{json, Value};

const CALLEE: &str = r#"
import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";
class Counter extends RpcTarget {
  constructor(n) { super(); this.n = n; this.secret = "own field"; }
  get value() { return this.n; }
  get later() { return new Promise((r) => setTimeout(() => r(this.n * 10), 20)); }
  increment() { return ++this.n; }
}
export default class Api extends WorkerEntrypoint {
  constructor(ctx, env) { super(ctx, env); this.token = "own field"; }
  get version() { return "v2"; }
  get broken() { throw new RangeError("no version here"); }
  add(a, b) { return a + b; }
  counter(n) { return new Counter(n); }
  nested() { return { inner: new Counter(7), list: [new Counter(8)], data: { deep: 9 } }; }
  async inspect(visitor) { return `${await visitor.name} / ${await visitor.hidden} / ${await visitor.greet("callee")}`; }
}
Api.prototype.label = "a prototype value";
"#;

const CALLER: &str = r#"
import { RpcTarget } from "cloudflare:workers";
class Visitor extends RpcTarget {
  constructor() { super(); this.hidden = "own field"; }
  get name() { return "visitor"; }
  greet(who) { return `hi ${who}`; }
}
export default { async fetch(req, env) {
  const out = {};
  out.version = await env.S.version;
  out.label = await env.S.label;
  out.token = String(await env.S.token);
  out.missing = String(await env.S.nothing);
  try { await env.S.broken; } catch (e) { out.broken = `${e.name}: ${e.message}`; }
  const add = await env.S.add;
  out.addRead = typeof add;
  out.addCalled = await add(2, 3);
  out.called = await env.S.add(1, 1);
  out.viaThen = await env.S.version.then((v) => v.toUpperCase());
  out.viaCatch = await env.S.broken.catch((e) => e.name);
  let finished = false;
  out.viaFinally = await env.S.version.finally(() => { finished = true; });
  out.finished = finished;
  const c = await env.S.counter(4);
  out.value = await c.value;
  await c.increment();
  out.after = await c.value;
  out.later = await c.later;
  out.secret = String(await c.secret);
  // What the base classes keep (ctx, env) are own fields: never offered.
  out.hidden = [await env.S.ctx, await env.S.env, await c.n].map(String);
  c[Symbol.dispose]();
  out.inspected = await env.S.inspect(new Visitor());
  out.stubThenable = typeof env.S.then;
  // Pipelining: no await between the steps.
  out.piped = await env.S.counter(10).increment();
  out.pipedRead = await env.S.counter(3).value;
  out.pipedNested = [await env.S.nested().inner.increment(), await env.S.nested().list[0].increment(), await env.S.nested().data.deep];
  try { await env.S.counter(1).nothing(); } catch (e) { out.pipedMissing = e.name; }
  try { await env.S.broken.value; } catch (e) { out.pipedBroken = `${e.name}: ${e.message}`; }
  try { await env.S.add(1, 2).increment(); } catch (e) { out.pipedOnNumber = `${e.name}: ${e.message}`; }
  out.pipedThen = await env.S.add(1, 2).then((v) => v * 2);
  return Response.json(out);
} };
"#;

fn config() -> String {
    format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    )
}

#[test]
fn awaiting_a_stubs_member_reads_what_the_remote_class_offers_and_nothing_of_its_own_fields() {
    let d = Daemon::start_raw("rpc-properties", 1, &config(), &[]);
    let t = tenant_token(0);
    let callee = load(&d, &t, CALLEE);
    let caller = load_with_env(
        &d,
        &t,
        CALLER,
        json!({ "S": { "binding": "service", "worker": callee } }),
    );
    let (status, text) = fetch(&d, &t, &caller);
    assert_eq!(status, 200, "{text}");
    let got: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        got,
        json!({
            "version": "v2", "label": "a prototype value", "token": "undefined",
            "missing": "undefined", "secret": "undefined",
            "broken": "RangeError: no version here",
            "addRead": "function", "addCalled": 5, "called": 2,
            "viaThen": "V2", "viaCatch": "RangeError", "viaFinally": "v2", "finished": true,
            "value": 4, "after": 5, "later": 50,
            "inspected": "visitor / undefined / hi callee",
            "stubThenable": "undefined", "hidden": ["undefined", "undefined", "undefined"],
            "piped": 11, "pipedRead": 3, "pipedNested": [8, 9, 9],
            "pipedMissing": "TypeError", "pipedBroken": "RangeError: no version here",
            "pipedOnNumber": "TypeError: RPC: the result has no method \"increment\"",
            "pipedThen": 6,
        }),
        "{text}"
    );
}

#[test]
fn a_durable_objects_getter_runs_as_one_of_its_calls_and_reads_its_storage() {
    let d = Daemon::start_raw("rpc-properties-do", 1, &config(), &[]);
    let t = tenant_token(0);
    let code = r#"
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.mine = "own field"; }
  get total() { return this.ctx.storage.kv.get("v") ?? 0; }
  add(n) { const v = (this.ctx.storage.kv.get("v") ?? 0) + n; this.ctx.storage.kv.put("v", v); return v; }
}
export default { async fetch(req, env) {
  const room = env.ROOMS.getByName("a");
  await room.add(2);
  const total = await room.total;
  await room.add(3);
  return Response.json([total, await room.total, String(await room.mine), room.name, String(await room.ctx), String(await room.env)]);
} };
"#;
    let id = load_with_env(
        &d,
        &t,
        code,
        json!({ "ROOMS": { "binding": "durable_object_namespace", "class_name": "Room" } }),
    );
    let hidden = r#""undefined","a","undefined","undefined"]"#;
    assert_eq!(fetch(&d, &t, &id), (200, format!("[2,5,{hidden}")));
    assert_eq!(fetch(&d, &t, &id), (200, format!("[7,10,{hidden}")));
}
