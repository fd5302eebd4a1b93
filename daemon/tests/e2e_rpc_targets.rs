//! `RpcTarget`s over RPC end to end (a real daemon, jailed workers): an RPC method that returns
//! an `RpcTarget` instance or a function hands its caller a stub whose calls run on that very
//! object in the callee's request, which stays alive until the caller disposes every stub or its
//! own request ends; targets may return targets; errors cross typed; the caller's functions and
//! `RpcTarget`s in the arguments are callbacks the callee calls while the call waits; a stub
//! passed on crosses as the passer's own target, served through it; a callee whose request
//! ended fails its stubs' calls clearly; a Durable Object's method may return one too.
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const CALLEE: &str = r#"
import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";
class Counter extends RpcTarget {
  constructor(n) { super(); this.n = n; this.own = () => "an own field"; }
  increment(by = 1) { this.n += by; return this.n; }
  get count() { return this.n; }
  twice() { return new Counter(this.n * 2); }
  fail() { throw new RangeError(`too far at ${this.n}`); }
}
export default class extends WorkerEntrypoint {
  counter(start) { return new Counter(start); }
  adder(x) { return (y) => x + y; }
  nested() { return { a: new Counter(10), list: [new Counter(20)], plain: 1 }; }
  plain() { return 42; }
  async apply(f, x) { return (await f(x)) + 1; }
  keep(f) {
    this.ctx.waitUntil((async () => {
      await new Promise((r) => setTimeout(r, 50));
      try { await f(1); console.log("late: called"); } catch (e) { console.log(`late: ${e.name}: ${e.message}`); }
    })());
    return "kept";
  }
  async visit(t) {
    let own; try { await t.secret(); own = "called"; } catch (e) { own = e.name; }
    return `${await t.hello("callee")} / ${own}`;
  }
}
"#;

const CALLER: &str = r#"
export default { async fetch(req, env) {
  const out = {};
  const c = await env.S.counter(5);
  out.first = await c.increment();
  out.second = await c.increment(2);
  const d = await c.twice();
  out.doubled = await d.increment(0);
  out.same = await c.increment(0);
  const add = await env.S.adder(3);
  out.added = await add(4);
  const n = await env.S.nested();
  out.nested = [await n.a.increment(), await n.list[0].increment(), n.plain];
  out.plain = await env.S.plain();
  out.kept = await env.S.keep(() => "too late");
  try { await c.fail(); } catch (e) { out.failed = `${e.name}: ${e.message}`; }
  try { await c.nothing(); } catch (e) { out.missing = e.name; }
  try { await c.own(); out.own = "called"; } catch (e) { out.own = e.name; }
  // A call that brings new stubs holds the session: disposing the others meanwhile keeps them.
  const pending = c.twice();
  c[Symbol.dispose](); d[Symbol.dispose](); n.a[Symbol.dispose](); n.list[0][Symbol.dispose]();
  const late = await pending;
  out.late = await late.increment(0);
  late[Symbol.dispose]();
  // A stub passed back to its own worker: its calls come back here and go on through it.
  out.stubBack = await env.S.apply(add, 10);
  // Callbacks: the callee calls the caller's function and RpcTarget while the call waits.
  const { RpcTarget } = await import("cloudflare:workers");
  out.applied = await env.S.apply((y) => y * 10, 4);
  class Greeter extends RpcTarget { constructor() { super(); this.secret = 1; } hello(who) { return `hi ${who}`; } }
  out.visited = await env.S.visit(new Greeter());
  try { await env.S.apply(() => { throw new RangeError("nope"); }, 1); } catch (e) { out.callbackThrew = `${e.name}: ${e.message}`; }
  out.thenable = typeof c.then;
  try { await c.increment(); } catch (e) { out.disposed = e.name; }
  return Response.json(out);
} };
"#;

/// A caller worker whose `env.S` is a service binding to `callee`.
fn caller_of(d: &Daemon, t: &str, callee: &str, code: &str) -> String {
    load_with_env(
        d,
        t,
        code,
        json!({ "S": { "binding": "service", "worker": callee } }),
    )
}

/// `caller`'s answer as JSON (a 200), and its text for messages.
fn answer_of(d: &Daemon, t: &str, caller: &str) -> (Value, String) {
    let (status, text) = fetch(d, t, caller);
    assert_eq!(status, 200, "{text}");
    (serde_json::from_str(&text).expect("json"), text)
}

fn config() -> String {
    format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    )
}

/// Requests in flight in the worker processes, as the admin API counts them.
fn in_flight(d: &Daemon) -> u64 {
    d.admin()["workers"].as_array().map_or(0, |all| {
        all.iter().filter_map(|w| w["inFlight"].as_u64()).sum()
    })
}

fn until_idle(d: &Daemon, what: &str) {
    let since = Instant::now();
    while in_flight(d) != 0 {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "{what}: {:#}",
            d.admin()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_rpc_target_is_a_stub_of_the_callees_own_object_until_the_caller_lets_go() {
    let d = Daemon::start_raw("rpc-targets", 1, &config(), &[]);
    let t = tenant_token(0);
    let callee = load(&d, &t, CALLEE);
    let caller = caller_of(&d, &t, &callee, CALLER);
    let (got, text) = answer_of(&d, &t, &caller);
    assert_eq!(
        got,
        json!({
            "first": 6, "second": 8, "doubled": 16, "same": 8, "added": 7,
            "nested": [11, 21, 1], "plain": 42, "kept": "kept",
            "failed": "RangeError: too far at 8", "missing": "TypeError", "own": "TypeError",
            "late": 16,
            "stubBack": 14, "applied": 41, "visited": "hi callee / TypeError",
            "callbackThrew": "RangeError: nope",
            "thenable": "undefined", "disposed": "InvalidStateError",
        }),
        "{text}"
    );
    // Every session was released or ended with the caller's request: no callee request is left.
    until_idle(&d, "a callee still serves");
    // A callback called after its call was answered fails clearly.
    let since = Instant::now();
    loop {
        let (_, logs) = get_json(&d, Some(&t), &format!("/v1/workers/{callee}/logs"));
        let text = logs.to_string();
        if text.contains("late:") {
            assert!(
                text.contains("late: OperationError") && text.contains("was answered"),
                "{text}"
            );
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(10), "{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_callee_serves_until_the_callers_request_ends_and_not_past_its_own_wall_limit() {
    let d = Daemon::start_raw("rpc-targets-life", 1, &config(), &[]);
    let t = tenant_token(0);
    // A callee whose requests end at 1 s of wall time.
    let (status, v) = create_worker(
        &d,
        &t,
        &json!({ "mainModule": "main.js", "modules": { "main.js": CALLEE },
                 "limits": { "wallMs": 1000 } }),
    );
    assert_eq!(status, 201, "{v}");
    let callee = v["id"].as_str().expect("id").to_owned();
    // And one with the default 30 s.
    let long = load(&d, &t, CALLEE);
    let caller = load_with_env(
        &d,
        &t,
        r#"export default { async fetch(req, env) {
          const path = new URL(req.url).pathname;
          const c = await (path === "/" ? env.S : env.LONG).counter(1);
          const before = await c.increment();
          if (path === "/keep") return new Response(`kept ${before}`);
          if (path === "/dispose") {
            await new Promise((r) => setTimeout(r, 1500)); // both requests in flight a while
            c[Symbol.dispose]();
            await new Promise((r) => setTimeout(r, 6000));
            return new Response("disposed");
          }
          await new Promise((r) => setTimeout(r, 2000));
          try { await c.increment(); return new Response("served past its wall limit"); }
          catch (e) { return new Response(`${e.name}: ${e.message}`); }
        } };"#,
        json!({ "S": { "binding": "service", "worker": callee },
                "LONG": { "binding": "service", "worker": long } }),
    );
    // Not disposed: the caller's request ending ends the session, and the callee's request.
    let r = client()
        .get(format!("{}/v1/workers/{caller}/fetch/keep", d.base()))
        .bearer_auth(&t)
        .send()
        .expect("fetch");
    assert_eq!(r.text().expect("text"), "kept 2");
    until_idle(&d, "the callee outlived its caller");
    // Disposed while the caller goes on (sleeping 6 s): the callee's request ends at once.
    let h = d.handle();
    let (c, token) = (caller.clone(), t.clone());
    let disposing = std::thread::spawn(move || {
        let r = client()
            .get(format!("{}/v1/workers/{c}/fetch/dispose", h.base))
            .bearer_auth(token)
            .send()
            .expect("fetch");
        (r.status().as_u16(), r.text().expect("text"))
    });
    // Both requests in flight (the session open: the stub's first call was answered), then the
    // caller's alone.
    let since = Instant::now();
    let mut seen_both = false;
    loop {
        let now = in_flight(&d);
        seen_both |= now == 2;
        if seen_both && now == 1 {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "the callee still serves after its stubs were disposed (both seen: {seen_both}): {:#}",
            d.admin()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!disposing.is_finished(), "the caller is still sleeping");
    assert_eq!(disposing.join().expect("thread"), (200, "disposed".into()));
    // The callee's wall limit ends its session: the stub's next call fails clearly.
    let (status, text) = fetch(&d, &t, &caller);
    assert_eq!(status, 200, "{text}");
    assert!(
        text.starts_with("OperationError") && text.contains("is gone"),
        "{text}"
    );
    until_idle(&d, "a request is left");
}

#[test]
fn a_durable_objects_method_may_return_an_rpc_target() {
    let d = Daemon::start_raw("rpc-targets-do", 1, &config(), &[]);
    let t = tenant_token(0);
    let code = r#"
import { DurableObject, RpcTarget } from "cloudflare:workers";
class Tally extends RpcTarget {
  constructor(storage) { super(); this.storage = storage; }
  add(n) { const v = (this.storage.kv.get("v") ?? 0) + n; this.storage.kv.put("v", v); return v; }
}
export class Room extends DurableObject {
  tally() { return new Tally(this.ctx.storage); }
  read() { return this.ctx.storage.kv.get("v") ?? 0; }
}
export default { async fetch(req, env) {
  const room = env.ROOMS.getByName("a");
  const tally = await room.tally();
  const a = await tally.add(2);
  const b = await tally.add(3);
  tally[Symbol.dispose]();
  return Response.json([a, b, await room.read()]);
} };
"#;
    let id = load_with_env(
        &d,
        &t,
        code,
        json!({ "ROOMS": { "binding": "durable_object_namespace", "class_name": "Room" } }),
    );
    assert_eq!(fetch(&d, &t, &id), (200, "[2,5,5]".into()));
    assert_eq!(fetch(&d, &t, &id), (200, "[7,10,10]".into()));
}

/// A Durable Object's target calls run concurrently but through the object's input gate, as
/// its own calls do: a call that arrives while another holds `blockConcurrencyWhile` waits for
/// it, and a call on the object itself too (last note: concurrent target calls through
/// `durable.deliver`'s gates were untested).
#[test]
fn a_durable_objects_target_calls_wait_at_its_input_gate() {
    let d = Daemon::start_raw("rpc-targets-do-gate", 1, &config(), &[]);
    let t = tenant_token(0);
    let code = r#"
import { DurableObject, RpcTarget } from "cloudflare:workers";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
class Door extends RpcTarget {
  constructor(room) { super(); this.room = room; }
  hold() {
    return this.room.ctx.blockConcurrencyWhile(async () => {
      this.room.log.push("hold");
      await sleep(300);
      this.room.log.push("held");
      return "held";
    });
  }
  quick() { this.room.log.push("quick"); this.room.quickRan?.(); return "quick"; }
  // Waits (10 s at most) for a quick() to run meanwhile: none can while a gate is held.
  async slow() {
    this.room.log.push("slow");
    await Promise.race([new Promise((r) => { this.room.quickRan = r; }), sleep(10000)]);
    this.room.log.push("slept");
    return "slept";
  }
}
export class Room extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.log = []; }
  door() { return new Door(this); }
  own() { this.log.push("own"); return "own"; }
  read() { return this.log; }
}
export default { async fetch(req, env) {
  const room = env.ROOMS.getByName(new URL(req.url).pathname);
  const door = await room.door();
  // Calls on one target start in the order made: hold() holds the gate first.
  const answers = await Promise.all([door.hold(), door.quick(), room.own()]);
  // Without a gate held, two calls interleave at their awaits.
  answers.push(...(await Promise.all([door.slow(), door.quick()])));
  door[Symbol.dispose]();
  return Response.json({ answers, log: await room.read() });
} };
"#;
    let id = load_with_env(
        &d,
        &t,
        code,
        json!({ "ROOMS": { "binding": "durable_object_namespace", "class_name": "Room" } }),
    );
    let got: Value = serde_json::from_str(&fetch(&d, &t, &id).1).expect("json");
    assert_eq!(
        got["answers"],
        json!(["held", "quick", "own", "slept", "quick"]),
        "{got}"
    );
    let log: Vec<&str> = got["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Nothing between hold and held: quick (made after hold on the same target) after them,
    // own (the object's own call, by another road) before or after them.
    let (first, rest) = log.split_at(4);
    let at = |name: &str| first.iter().position(|l| *l == name);
    let hold = at("hold").unwrap_or_else(|| panic!("{got}"));
    assert_eq!(first.get(hold + 1), Some(&"held"), "{got}");
    assert!(at("quick").is_some_and(|q| q > hold + 1), "{got}");
    assert!(at("own").is_some(), "{got}");
    assert_eq!(rest, ["slow", "quick", "slept"], "{got}");
}

/// Frames a binding host call's payload (head, then `rest` text) as a script expression.
const FRAME: &str = "const frame = (head, rest = '') => { const h = new TextEncoder().encode(JSON.stringify(head)); const r = new TextEncoder().encode(rest); const out = new Uint8Array(4 + h.length + r.length); new DataView(out.buffer).setUint32(0, h.length, true); out.set(h, 4); out.set(r, 4 + h.length); return out; };
const ask = (name, head, rest) => __stockadeTestHostCall(name, frame(head, rest)).then((b) => { const n = new DataView(b.buffer, b.byteOffset).getUint32(0, true); const h = JSON.parse(new TextDecoder().decode(b.subarray(4, 4 + n))); return h && h.error ? 'refused: ' + h.error.message : 'answered'; }, (e) => 'refused: ' + e.message);";

#[test]
fn another_request_reaches_no_session_by_forged_host_calls() {
    // CPU is not what this tests: the holder's first RPC in a fresh process compiles the RPC
    // parts, which on a loaded CI machine once passed the 50 ms default (cpu_limit, not a breach).
    let d = Daemon::start_with(
        "rpc-targets-forged",
        &["normal"; 2],
        1,
        CPU_NOT_TESTED,
        TEST_HOOKS,
    );
    let t = tenant_token(0);
    let callee = load(&d, &t, CALLEE);
    let holder = caller_of(
        &d,
        &t,
        &callee,
        r#"export default { async fetch(req, env) {
          const c = await env.S.counter(1);
          await c.increment();
          await new Promise((r) => setTimeout(r, 8000)); // the attacks run meanwhile
          return new Response(String(await c.increment()));
        } };"#,
    );
    let h = d.handle();
    let (id, token) = (holder.clone(), t.clone());
    let holding = std::thread::spawn(move || fetch(&h, &token, &id));
    let since = Instant::now();
    while in_flight(&d) < 2 {
        assert!(since.elapsed() < Duration::from_secs(20), "no session open");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The same tenant's other request, and another tenant's, forge every session call.
    let attack = format!(
        "{FRAME}
export default {{ async fetch(req, env) {{
  const out = [];
  for (let n = 1; n <= 4; n++) {{
    out.push(await ask('service.target', {{ session: n, target: 0, method: 'increment' }}, '[]'));
    out.push(await ask('service.release', {{ session: n }}));
  }}
  out.push(await ask('service.export', {{}}, '{{\"ok\": 1}}'));
  out.push(await ask('service.next', {{}}, '{{\"ok\": 1}}'));
  out.push(await ask('service.wait', {{}}));
  out.push(await ask('service.callback', {{ target: 0, method: '' }}, '[]'));
  for (let n = 1; n <= 2; n++) out.push(await ask('service.resume', {{ pending: n, key: '' }}));
  for (let n = 1; n <= 2; n++) out.push(await ask('service.reply', {{ pending: n, key: '', reply: 0 }}, '{{\"ok\": 1}}'));
  return Response.json(out);
}} }};"
    );
    for token in [t.clone(), tenant_token(1)] {
        let attacker = load(&d, &token, &attack);
        let (status, text) = fetch(&d, &token, &attacker);
        assert_eq!(status, 200, "{text}");
        let answers: Vec<String> = serde_json::from_str(&text).expect("json");
        assert_eq!(answers.len(), 16, "{text}");
        for (i, answer) in answers.iter().enumerate() {
            assert!(answer.starts_with("refused"), "{i}: {text}");
        }
    }
    // The holder's target was neither called nor released by them.
    assert_eq!(holding.join().expect("thread"), (200, "3".into()));
}

#[test]
fn a_stub_kept_past_its_request_reaches_nothing_of_a_later_one() {
    let d = Daemon::start_raw("rpc-targets-stale", 1, &config(), &[]);
    let t = tenant_token(0);
    let callee = load(&d, &t, CALLEE);
    let caller = caller_of(
        &d,
        &t,
        &callee,
        r#"let kept = null;
        export default { async fetch(req, env) {
          if (new URL(req.url).pathname === "/first") {
            kept = await env.S.counter(100);
            return new Response(String(await kept.increment()));
          }
          // This request's own first session has the number the first request's had.
          const mine = await env.S.counter(1);
          let stale;
          try { await kept.increment(); stale = "reached"; } catch (e) { stale = e.name; }
          try { kept[Symbol.dispose](); } catch (e) {}
          return Response.json({ stale, mine: await mine.increment(0) });
        } };"#,
    );
    let get = |path: &str| {
        let r = client()
            .get(format!("{}/v1/workers/{caller}/fetch/{path}", d.base()))
            .bearer_auth(&t)
            .send()
            .expect("fetch");
        (r.status().as_u16(), r.text().expect("text"))
    };
    assert_eq!(get("first"), (200, "101".into()));
    let (status, text) = get("second");
    assert_eq!(status, 200, "{text}");
    let got: Value = serde_json::from_str(&text).expect("json");
    // The kept stub's call and its disposal reached neither the first callee (gone) nor this
    // request's session (its counter is untouched, and still answers).
    assert_eq!(
        got,
        json!({ "stale": "OperationError", "mine": 1 }),
        "{text}"
    );
    until_idle(&d, "a callee still serves");
}

#[test]
fn a_process_that_dies_while_a_callback_runs_is_replaced_and_the_daemon_serves_on() {
    let d = Daemon::start_raw("rpc-callback-death", 1, &config(), &[]);
    let t = tenant_token(0);
    let callee = load(&d, &t, CALLEE);
    // The callback sleeps: meanwhile the call is parked among the caller's resources.
    let caller = caller_of(
        &d,
        &t,
        &callee,
        r#"export default { async fetch(req, env) {
          const v = await env.S.apply(async (x) => { await new Promise((r) => setTimeout(r, 3000)); return x; }, 1);
          return new Response(String(v));
        } };"#,
    );
    let h = d.handle();
    let (c, token) = (caller.clone(), t.clone());
    let parked = std::thread::spawn(move || fetch(&h, &token, &c));
    let since = Instant::now();
    while in_flight(&d) < 2 {
        assert!(since.elapsed() < Duration::from_secs(20), "never in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let pid = d.admin()["workers"][0]["pid"].as_i64().expect("pid") as i32;
    // SAFETY: kill(2) on the worker's pid, which the admin API reported.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let (status, _) = parked.join().expect("thread");
    assert_eq!(status, 502, "the caller's request died with its process");
    // The supervisor handled the death (no lock taken twice while the parked call went): a
    // replacement serves the same call, callback and all.
    let (status, text) = fetch(&d, &t, &caller);
    assert_eq!((status, text.as_str()), (200, "2"), "{text}");
}

#[test]
fn a_targets_methods_take_the_callers_functions_and_targets_as_callbacks() {
    let d = Daemon::start_raw("rpc-targets-callbacks", 1, &config(), &[]);
    let t = tenant_token(0);
    let callee = load(
        &d,
        &t,
        r#"import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";
class Tally extends RpcTarget {
  constructor() { super(); this.n = 0; }
  async each(f) { for (let i = 1; i <= 3; i++) this.n += await f(i); return this.n; }
  async greet(visitor) { return `${await visitor.hello("tally")} / ${await visitor.name}`; }
  async fails(f) { try { await f(); return "no throw"; } catch (e) { return `${e.name}: ${e.message}`; } }
  keep(f) { this.kept = f; return "kept"; }
  async useKept(g) { try { return await this.kept(); } catch (e) { return `${e.name}: ${e.message}`; } }
}
export default class extends WorkerEntrypoint { tally() { return new Tally(); } }"#,
    );
    let caller = caller_of(
        &d,
        &t,
        &callee,
        r#"import { RpcTarget } from "cloudflare:workers";
class Visitor extends RpcTarget { hello(who) { return `hi ${who}`; } get name() { return "visitor"; } }
export default { async fetch(req, env) {
  const tally = await env.S.tally();
  const seen = [];
  const out = {
    each: await tally.each((i) => { seen.push(i); return i * 10; }),
    again: await tally.each(async (i) => i),
    greet: await tally.greet(new Visitor()),
    fails: await tally.fails(() => { throw new RangeError("no"); }),
    kept: await tally.keep(() => "F"),
    // A callback kept past its call reaches nothing (not the function of the call now served).
    stale: await tally.useKept(() => "G"),
  };
  out.seen = seen;
  tally[Symbol.dispose]();
  return Response.json(out);
} };"#,
    );
    let (got, text) = answer_of(&d, &t, &caller);
    assert_eq!(
        got,
        json!({
            "each": 60, "again": 66, "greet": "hi tally / visitor",
            "fails": "RangeError: no", "seen": [1, 2, 3], "kept": "kept",
            "stale": "OperationError: RPC: the callback's caller is gone: its call was answered",
        }),
        "{text}"
    );
    until_idle(&d, "a callee still serves");
}

#[test]
fn a_callback_stub_refuses_another_requests_code() {
    // One isolate thread: both requests' calls run in one isolate of the callee, so a global can
    // carry the first call's stub into the second's code.
    let config = format!("worker_threads = 1\n{}", config());
    let d = Daemon::start_raw("rpc-callback-other-request", 1, &config, &[]);
    let t = tenant_token(0);
    let callee = load(
        &d,
        &t,
        r#"import { WorkerEntrypoint } from "cloudflare:workers";
let held = null, release = null;
export default class extends WorkerEntrypoint {
  async hold(f) {
    held = f;
    await new Promise((r) => { release = r; setTimeout(r, 10000); });
    return await f("own");
  }
  async useHeld(g) {
    if (held === null) return "none held";
    let out;
    try { out = `reached ${await held("other")}`; } catch (e) { out = `${e.name}: ${e.message}`; }
    release();
    return `${out} / mine ${await g("mine")}`;
  }
}"#,
    );
    let caller = caller_of(
        &d,
        &t,
        &callee,
        r#"export default { async fetch(req, env) {
          const which = new URL(req.url).pathname.endsWith("/a") ? "A" : "B";
          const f = (x) => `${which}:${x}`;
          return new Response(which === "A" ? await env.S.hold(f) : await env.S.useHeld(f));
        } };"#,
    );
    let get = move |base: String, t: String, caller: String, path: &'static str| {
        let r = client()
            .get(format!("{base}/v1/workers/{caller}/fetch/{path}"))
            .bearer_auth(&t)
            .send()
            .expect("fetch");
        (r.status().as_u16(), r.text().expect("text"))
    };
    let first = {
        let (base, t, caller) = (d.base().to_owned(), t.clone(), caller.clone());
        std::thread::spawn(move || get(base, t, caller, "a"))
    };
    let since = Instant::now();
    while in_flight(&d) < 2 {
        assert!(since.elapsed() < Duration::from_secs(20), "never in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The second request's code calls the first's callback: refused, reaching neither the first
    // request's function nor (as the host would route it by the running request) its own.
    let (status, text) = get(d.base().to_owned(), t.clone(), caller.clone(), "b");
    assert_eq!(
        (status, text.as_str()),
        (
            200,
            "Error: Cannot perform I/O on behalf of a different request: this RPC callback stub \
             belongs to another request's call / mine B:mine"
        )
    );
    // The first request's own code still reaches its caller through it.
    assert_eq!(first.join().expect("thread"), (200, "A:own".to_owned()));
    until_idle(&d, "a callee still serves");
}

#[test]
fn a_targets_calls_run_concurrently_so_a_callback_may_call_it_again() {
    let d = Daemon::start_raw("rpc-targets-reentry", 1, &config(), &[]);
    let t = tenant_token(0);
    let callee = load(
        &d,
        &t,
        r#"import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";
class Tally extends RpcTarget {
  constructor() { super(); this.n = 0; this.log = []; }
  async each(f) { for (let i = 1; i <= 3; i++) { const v = await f(i); this.n += v; } return this.n; }
  bump(by) { this.n += by; this.log.push(`bump ${by}`); return this.n; }
  wait() { this.log.push("wait"); return new Promise((r) => { this.opened = r; }).then(() => "waited"); }
  open() { this.log.push("open"); this.opened("now"); return "opened"; }
  hold(f) { this.held = f; return new Promise((r) => { this.release = r; }).then(() => "held"); }
  async useHeld() { const got = await this.held("from B"); this.release(); return got; }
  get seen() { return this.log; }
}
export default class extends WorkerEntrypoint { tally() { return new Tally(); } }"#,
    );
    let caller = caller_of(
        &d,
        &t,
        &callee,
        r#"export default { async fetch(req, env) {
  const tally = await env.S.tally();
  // Each callback calls the same target again while the call that brought it runs.
  const each = await tally.each(async (i) => { await tally.bump(100); return i; });
  // A call that waits for a later call on the same target: served at once, in order.
  const waiting = tally.wait();
  const opened = await tally.open();
  // Call B's code calls call A's callback (A still runs): it reaches A's function.
  const holding = tally.hold((x) => `A got ${x}`);
  const usedHeld = await tally.useHeld();
  const out = { each, opened, waited: await waiting, n: await tally.bump(0), seen: await tally.seen,
    usedHeld, held: await holding };
  tally[Symbol.dispose]();
  return Response.json(out);
} };"#,
    );
    let started = Instant::now();
    let (got, text) = answer_of(&d, &t, &caller);
    assert_eq!(
        got,
        json!({
            "each": 306, "opened": "opened", "waited": "waited", "n": 306,
            "seen": ["bump 100", "bump 100", "bump 100", "wait", "open", "bump 0"],
            "usedHeld": "A got from B", "held": "held",
        }),
        "{text}"
    );
    // Not the callee's wall limit (30 s) that a call served one at a time would wait for.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    until_idle(&d, "a callee still serves");
}

#[test]
fn a_session_serves_at_most_64_calls_at_once_and_the_rest_wait_for_a_slot() {
    let d = Daemon::start_raw("rpc-targets-serving-cap", 1, &config(), &[]);
    let t = tenant_token(0);
    let callee = load(
        &d,
        &t,
        r#"import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";
class Slow extends RpcTarget {
  constructor() { super(); this.now = 0; this.most = 0; }
  async call(i) {
    this.now++; this.most = Math.max(this.most, this.now);
    // Every call waits for one gate, opened 300 ms after the 64th call is running (time for a
    // 65th to come in, were it let), or after 20 s if 64 never run at once.
    this.gate ??= new Promise((r) => { this.open = r; setTimeout(r, 20000); });
    if (this.now === 64) setTimeout(this.open, 300);
    await this.gate;
    this.now--;
    return i * 2;
  }
  get most() { return this._most; }
  set most(v) { this._most = v; }
}
export default class extends WorkerEntrypoint { slow() { return new Slow(); } }"#,
    );
    let caller = caller_of(
        &d,
        &t,
        &callee,
        r#"export default { async fetch(req, env) {
  const slow = await env.S.slow();
  const results = await Promise.all(Array.from({ length: 80 }, (_, i) => slow.call(i)));
  const most = await slow.most;
  slow[Symbol.dispose]();
  return Response.json({ sum: results.reduce((a, b) => a + b, 0), most });
} };"#,
    );
    let (got, text) = answer_of(&d, &t, &caller);
    // Every call answered (2 * (0 + ... + 79)); exactly 64 ran at once (1 if served one at a
    // time), the other 16 once a slot was free. (Two bounds give 64 here: the session's
    // MAX_SERVING, unit-tested in rpc_targets.rs, and the caller's own 64 host calls in flight,
    // which alone keep a test with one caller from telling them apart.)
    assert_eq!(got["sum"], 6320, "{text}");
    assert_eq!(got["most"], 64, "{text}");
    until_idle(&d, "a callee still serves");
}

/// A call's callbacks run in the caller at once, as on Cloudflare: a callback that waits for
/// another callback of the same call is not stuck behind it, on an RPC call and on a call on a
/// target alike (last note: a caller ran one call's callbacks one at a time, so this waited
/// for the callee's wall limit). Each answer still reaches its own callback.
#[test]
fn a_calls_callbacks_run_at_once_so_one_may_wait_for_another() {
    let d = Daemon::start_raw("rpc-targets-callbacks-at-once", 1, &config(), &[]);
    let t = tenant_token(0);
    let callee = load(
        &d,
        &t,
        r#"import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";
const both = (first, second, n) => Promise.all([first(n), second(n + 1)]);
class Pair extends RpcTarget { both(first, second, n) { return both(first, second, n); } }
export default class extends WorkerEntrypoint {
  both(first, second, n) { return both(first, second, n); }
  pair() { return new Pair(); }
}"#,
    );
    let caller = caller_of(
        &d,
        &t,
        &callee,
        r#"export default { async fetch(req, env) {
  const started = Date.now();
  // The first callback waits until the second has run.
  const gated = () => {
    let open;
    const gate = new Promise((r) => { open = r; });
    return [async (n) => { await gate; return `first ${n}`; }, (n) => { open(); return `second ${n}`; }];
  };
  const out = { call: await env.S.both(...gated(1), 1) };
  const pair = await env.S.pair();
  out.target = await pair.both(...gated(10), 10);
  // Many at once: each answer goes to its own callback.
  out.many = await Promise.all(Array.from({ length: 8 }, (_, i) => env.S.both(...gated(100 * i), 100 * i)));
  pair[Symbol.dispose]();
  out.quick = Date.now() - started < 10000;
  return Response.json(out);
} };"#,
    );
    let (got, text) = answer_of(&d, &t, &caller);
    assert_eq!(got["call"], json!(["first 1", "second 2"]), "{text}");
    assert_eq!(got["target"], json!(["first 10", "second 11"]), "{text}");
    let many: Vec<Value> = (0..8)
        .map(|i| {
            json!([
                format!("first {}", 100 * i),
                format!("second {}", 100 * i + 1)
            ])
        })
        .collect();
    assert_eq!(got["many"], json!(many), "{text}");
    // Not the callee's wall limit (30 s) that one-at-a-time callbacks would wait for.
    assert_eq!(got["quick"], true, "{text}");
    until_idle(&d, "a callee still serves");
}

/// A callee that calls its caller's function without awaiting it and answers at once still has
/// every callback run, in order, before the caller's `await` returns, as Cloudflare's calls
/// arrive in the order they were made: for an RPC call answered with plain data (the job's
/// reply), one answered with a target (`service.export`) and a call on a target
/// (`service.next`). Before, the answer could overtake them and all but the first were lost.
#[test]
fn a_callee_that_does_not_await_its_callbacks_still_has_them_run_before_its_answer() {
    // Eighty callbacks, twenty of them carrying 70 KiB, in one request of a debug build.
    let limits = format!("[limits]\ncpu_ms = 5000\n{}", config());
    let d = Daemon::start_raw("rpc-targets-unawaited", 1, &limits, &[]);
    let t = tenant_token(0);
    let callee = load(
        &d,
        &t,
        r#"import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";
const fire = (cb, n) => { for (let i = 0; i < n; i++) cb(i).catch(() => {}); return n; };
class Fan extends RpcTarget { fire(cb, n) { return fire(cb, n); } }
export default class extends WorkerEntrypoint {
  fire(cb, n) { return fire(cb, n); }
  fireThenTarget(cb, n) { fire(cb, n); return new Fan(); }
  fan() { return new Fan(); }
  // Arguments past 64 KiB: the supervisor takes such a call's first steps in a task of its
  // own unless it keeps them in order.
  fireLarge(cb, n) { for (let i = 0; i < n; i++) cb(i, "x".repeat(70 * 1024)).catch(() => {}); return n; }
}"#,
    );
    let caller = caller_of(
        &d,
        &t,
        &callee,
        r#"export default { async fetch(req, env) {
  const seen = [];
  const cb = (i) => { seen.push(i); return i; };
  const out = {};
  out.answer = await env.S.fire(cb, 20);
  out.call = seen.splice(0);
  const exported = await env.S.fireThenTarget(cb, 20);
  out.exported = seen.splice(0);
  exported[Symbol.dispose]();
  const fan = await env.S.fan();
  await fan.fire(cb, 20);
  out.target = seen.splice(0);
  fan[Symbol.dispose]();
  await env.S.fireLarge(cb, 20);
  out.large = seen.splice(0);
  return Response.json(out);
} };"#,
    );
    let all: Vec<u32> = (0..20).collect();
    for round in 0..3 {
        let (got, text) = answer_of(&d, &t, &caller);
        assert_eq!(got["answer"], 20, "{text}");
        assert_eq!(
            got["call"],
            json!(all),
            "round {round}, plain answer: {text}"
        );
        assert_eq!(got["exported"], json!(all), "round {round}, export: {text}");
        assert_eq!(
            got["target"],
            json!(all),
            "round {round}, target call: {text}"
        );
        assert_eq!(
            got["large"],
            json!(all),
            "round {round}, 70 KiB each: {text}"
        );
    }
    until_idle(&d, "a callee still serves");
}

/// A stub passes on to another worker, as on Cloudflare: B gets a stub of A's counter from its
/// caller and calls it (each call goes back through the caller, on to A) and reads a property of
/// it. An argument is lent for the call (as a dup the call holds), not given: the caller's own
/// stub stays usable and may be disposed while B's call runs, and
/// B's, returned, fails clearly once B's call is answered. A stub B got itself, returned, is
/// given: the caller reaches A's counter through B until it disposes it (then B lets go of A's).
/// (Before, a stub was a DataCloneError as an argument. A callback's own arguments are still
/// plain data only.)
#[test]
fn a_stub_passes_on_to_another_worker_and_reaches_its_target_through_the_caller() {
    let d = Daemon::start_raw("rpc-targets-pass-on", 1, &config(), &[]);
    let t = tenant_token(0);
    let a = load(&d, &t, CALLEE);
    let b = load_with_env(
        &d,
        &t,
        r#"import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint {
  // A stub of its own, given away in its result: served through B, disposed with B's session.
  async relay() { return await this.env.A.counter(50); }
  async bump(counter, times) {
    let v;
    for (let i = 0; i < times; i++) v = await counter.increment();
    return v;
  }
  async peek(counter) { return [await counter.count, await counter.n, typeof (await counter.missing)]; }
  async give(counter) { return { counter }; }
}"#,
        json!({ "A": { "binding": "service", "worker": a } }),
    );
    let caller = load_with_env(
        &d,
        &t,
        r#"export default { async fetch(req, env) {
  const out = {};
  const c = await env.A.counter(5);
  out.bumped = await env.B.bump(c, 3);
  out.mine = await c.increment(0);
  out.peek = await env.B.peek(c);
  // Lent: the caller may dispose its own stub while B's call runs (here its only one, so its
  // session would end); B's goes on, through the dup the call holds.
  const own = await env.A.counter(7);
  const bumping = env.B.bump(own, 2);
  own[Symbol.dispose]();
  out.lentDisposed = await bumping;
  const { counter } = await env.B.give(c);
  try { await counter.increment(100); } catch (e) { out.given = e.name; }
  out.after = await c.increment(0);
  counter[Symbol.dispose]();
  c[Symbol.dispose]();
  try { await c.increment(); } catch (e) { out.disposed = e.name; }
  const r = await env.B.relay();
  out.relayed = [await r.increment(), await r.increment(5)];
  r[Symbol.dispose]();
  return Response.json(out);
} };"#,
        json!({ "A": { "binding": "service", "worker": a }, "B": { "binding": "service", "worker": b } }),
    );
    let (got, text) = answer_of(&d, &t, &caller);
    assert_eq!(
        got,
        json!({
            "bumped": 8, "mine": 8, "peek": [8, null, "undefined"], "lentDisposed": 9,
            "given": "OperationError", "after": 8, "disposed": "InvalidStateError",
            "relayed": [51, 56],
        }),
        "{text}"
    );
    until_idle(&d, "a callee still serves");
}

/// `new RpcStub(target)` and `stub.dup()`, as Cloudflare's: a stub of a local RpcTarget crosses
/// RPC as that target (the callee's calls run it here), disposing its last dup runs the target's
/// own `[Symbol.dispose]`, and a dup of a remote stub keeps the callee's session after the
/// original is disposed. (Before, `RpcStub` threw "not supported" and stubs had no `dup`.)
#[test]
fn rpc_stubs_of_local_targets_cross_and_dups_hold_their_session() {
    let d = Daemon::start_raw("rpc-targets-rpcstub", 1, &config(), &[]);
    let t = tenant_token(0);
    let callee = load(&d, &t, CALLEE);
    let caller = caller_of(
        &d,
        &t,
        &callee,
        r#"import { RpcStub, RpcTarget } from "cloudflare:workers";
let disposed = 0;
class Greeter extends RpcTarget {
  hello(who) { return `hello ${who}`; }
  secret() { return "mine"; }
  [Symbol.dispose]() { disposed++; }
}
export default { async fetch(req, env) {
  const out = {};
  const stub = new RpcStub(new Greeter());
  out.isStub = [stub instanceof RpcStub, {} instanceof RpcStub];
  out.local = await stub.hello("here");
  out.visited = await env.S.visit(stub);
  const twin = stub.dup();
  stub[Symbol.dispose]();
  out.disposedAfterOne = disposed;
  // A disposed stub refuses calls, though a dup of it holds the target.
  try { await stub.hello("gone"); out.afterDispose = "called"; } catch (e) { out.afterDispose = e.name; }
  out.twin = await twin.hello("twin");
  twin[Symbol.dispose]();
  out.disposedAfterBoth = disposed;
  // A remote stub's dup holds the session on its own.
  const c = await env.S.counter(1);
  const c2 = c.dup();
  c[Symbol.dispose]();
  out.dup = await c2.increment();
  c2[Symbol.dispose]();
  try { await c2.increment(); } catch (e) { out.afterBoth = e.name; }
  return Response.json(out);
} };"#,
    );
    let (got, text) = answer_of(&d, &t, &caller);
    assert_eq!(
        got,
        json!({
            "isStub": [true, false], "local": "hello here", "visited": "hello callee / called",
            "disposedAfterOne": 0, "afterDispose": "InvalidStateError",
            "twin": "hello twin", "disposedAfterBoth": 1, "dup": 2, "afterBoth": "InvalidStateError",
        }),
        "{text}"
    );
    until_idle(&d, "a callee still serves");
}

/// A callback still running when its call is answered still answers its callee (which may await
/// it later), and a request may have more calls with callbacks in flight than its 16 resources:
/// each of 24 concurrent calls calls back early and answers later. (A callback the callee makes
/// just before it answers may lose to the answer, which ends its callbacks: it then fails at
/// once, saying its call was answered.)
#[test]
fn callbacks_outlive_their_calls_answer_and_many_calls_call_back_at_once() {
    let d = Daemon::start_raw("rpc-targets-callbacks-late", 1, &config(), &[]);
    let t = tenant_token(0);
    let callee = load(
        &d,
        &t,
        r#"import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";
class Job extends RpcTarget {
  constructor(p) { super(); this.p = p; }
  async result() { return await this.p; }
}
// Resolved by the callback (through another call of this worker), so the call answers only once
// its callback runs in the caller: a callback made just before a call answers may lose to it.
let marked;
const mark = new Promise((r) => { marked = r; });
export default class extends WorkerEntrypoint {
  // Answers while its callback runs, holding the callback's promise: the callback's answer
  // comes after the call's.
  async start(cb) { const p = cb("x"); p.catch(() => {}); await mark; return new Job(p); }
  mark() { marked(); }
  async work(i, log) {
    await log(i);
    await new Promise((r) => setTimeout(r, 200));
    return i * 2;
  }
}"#,
    );
    let caller = caller_of(
        &d,
        &t,
        &callee,
        r#"export default { async fetch(req, env) {
  const job = await env.S.start(async (v) => { await env.S.mark(); await new Promise((r) => setTimeout(r, 100)); return `late ${v}`; });
  const late = await job.result();
  job[Symbol.dispose]();
  const logged = [];
  const results = await Promise.all(Array.from({ length: 24 }, (_, i) => env.S.work(i, (n) => { logged.push(n); })));
  return Response.json({ late, sum: results.reduce((a, b) => a + b, 0), logged: logged.length });
} };"#,
    );
    let (got, text) = answer_of(&d, &t, &caller);
    assert_eq!(
        got,
        json!({ "late": "late x", "sum": 552, "logged": 24 }),
        "{text}"
    );
    until_idle(&d, "a callee still serves");
}

/// The key of a call in flight is checked: code of the caller's own request that forges
/// `service.reply` and `service.resume` for its calls with callbacks (every number, a wrong
/// key) is refused, and the real callback's answer still reaches the callee.
#[test]
fn a_call_in_flight_refuses_forged_replies_without_its_key() {
    let d = Daemon::start_raw(
        "rpc-targets-forged-reply",
        1,
        &config(),
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let t = tenant_token(0);
    let callee = load(&d, &t, CALLEE);
    let caller = caller_of(
        &d,
        &t,
        &callee,
        &format!(
            "{FRAME}
export default {{ async fetch(req, env) {{
  const forged = [];
  // The callback forges answers for every call in flight while the real one waits.
  const applied = await env.S.apply(async (x) => {{
    for (let n = 1; n <= 8; n++) {{
      forged.push(await ask('service.reply', {{ pending: n, key: 'guess', reply: 0 }}, '{{\"ok\": 1000}}'));
      forged.push(await ask('service.resume', {{ pending: n, key: 'guess' }}));
    }}
    return x * 10;
  }}, 4);
  return Response.json({{ applied, refused: forged.every((f) => f.startsWith('refused')), n: forged.length }});
}} }};"
        ),
    );
    let (got, text) = answer_of(&d, &t, &caller);
    assert_eq!(
        got,
        json!({ "applied": 41, "refused": true, "n": 16 }),
        "{text}"
    );
}
