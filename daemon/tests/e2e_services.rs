//! Worker-to-worker bindings end to end, through a real daemon and real jailed isolates: service
//! bindings (`fetch` and RPC to a plain object and to a `WorkerEntrypoint`, structured data both
//! ways, errors keeping their name and message), `env.LOADER` (`get` calls its callback only for
//! an id it has not cached, `load`), a child that asks for more than its parent, forged host calls
//! from a worker without the grant, two tenants, the depth and call budgets, and a service
//! fetch's bodies streaming both ways and its cancellation.
mod common;
use common::*;
use serde_json::{json, Value};

/// POST /v1/workers with one JavaScript module, `env` and the rest of a WorkerCode: the answer.
fn create(d: &impl Target, token: &str, code: &str, env: Value, extra: Value) -> (u16, Value) {
    let mut body = json!({ "mainModule": "main.js", "modules": { "main.js": code }, "env": env });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let r = client()
        .post(format!("{}/v1/workers", d.base()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("load");
    (r.status().as_u16(), r.json().expect("json"))
}

fn load(d: &impl Target, token: &str, code: &str, env: Value) -> String {
    let (status, v) = create(d, token, code, env, json!({}));
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().expect("id").to_string()
}

const TARGET: &str = r#"
import { WorkerEntrypoint } from "cloudflare:workers";
let calls = 0;
export class Api extends WorkerEntrypoint {
  async echo(v) { return v; }
  big(n) { return 'x'.repeat(n); }
  whoami() { return [this.env.NAME, typeof globalThis.callerMarker]; }
  async fail(kind) {
    if (kind === 'range') throw new RangeError('too far');
    if (kind === 'dom') throw new DOMException('gone', 'NotFoundError');
    const e = new Error('custom message'); e.name = 'MyError'; throw e;
  }
  giveFunction() { return () => 1; }
  fetch(req) { return new Response(`api fetch ${this.env.NAME} ${new URL(req.url).pathname}`); }
}
export const Obj = { fetch(req) { return new Response('obj fetch'); } };
export const NoFetch = { ping() { return 1; } };
export default {
  async fetch(req, env) {
    return new Response(`hello ${new URL(req.url).pathname} ${req.method} ${await req.text()}`, { status: 201, headers: { 'x-b': env.NAME } });
  },
  add(a, b) { return a + b; },
  count() { return ++calls; },
};
"#;

const CALLER: &str = r#"
globalThis.callerMarker = 1;
const err = async (f) => { try { await f(); return 'no error'; } catch (e) { return [e.name, e.message]; } };
export default { async fetch(req, env) {
  const out = {};
  const r = await env.SVC.fetch('http://b.example/path?q=1', { method: 'POST', body: 'payload' });
  out.fetch = [r instanceof Response, r.status, await r.text(), r.headers.get('x-b')];
  const r2 = await env.SVC.fetch(new Request('http://b.example/two'));
  out.fetch2 = await r2.text();
  // A binding's entrypoint names whose fetch is called: a WorkerEntrypoint class's, an object's;
  // one that names no export with a fetch fails, naming it.
  out.entrypointFetch = [await (await env.API.fetch('http://b.example/ep')).text(),
    await (await env.OBJ.fetch('http://b.example/')).text(),
    await err(async () => await (await env.NOFETCH.fetch('http://b.example/')).text()),
    await err(async () => await (await env.NOSUCH.fetch('http://b.example/')).text())];
  out.add = await env.SVC.add(2, 3);
  out.count = [await env.SVC.count(), await env.SVC.count()];
  const v = { u8: new Uint8Array([0, 1, 255]), d: new Date(86400000), m: new Map([['k', new Set([1, 'two'])], [2, null]]),
    s: new Set([3]), n: [NaN, -0, Infinity, undefined, null, true], big: 10n, nested: { $: 'dollar', deep: [{ a: 'x' }] },
    e: new TypeError('as a value') };
  const b = await env.API.echo(v);
  out.roundTrip = [b.u8 instanceof Uint8Array, Array.from(b.u8), b.d instanceof Date, b.d.getTime(),
    b.m instanceof Map, b.m.get('k') instanceof Set, [...b.m.get('k')], b.m.get(2), [...b.s],
    Number.isNaN(b.n[0]), Object.is(b.n[1], -0), b.n[2], b.n.length, 3 in b.n && b.n[3] === undefined, b.n[4], b.n[5],
    b.big === 10n, b.nested.$, b.nested.deep[0].a, b.e instanceof TypeError, b.e.message];
  // A string may hold a lone surrogate, in an argument and in the answer: kept both ways.
  const lone = await env.API.echo(['a\ud800', { ['k\udc00']: 'z' }]);
  out.lone = [lone[0].length, lone[0].charCodeAt(1), Object.keys(lone[1])[0].charCodeAt(1)];
  // Strings that cannot fit what crosses are refused before JSON.stringify would write them
  // (a builtin V8 does not interrupt): an answer, an argument; both workers serve on.
  out.bigAnswer = await err(() => env.API.big(1e8));
  out.bigArg = await err(() => env.API.echo('y'.repeat(2e7)));
  out.after = await env.API.echo('still here');
  out.whoami = await env.API.whoami();
  out.range = await err(() => env.API.fail('range'));
  out.rangeClass = await env.API.fail('range').catch((e) => e instanceof RangeError);
  out.dom = await err(() => env.API.fail('dom'));
  out.custom = await err(() => env.API.fail('custom'));
  out.noMethod = await err(() => env.API.nope());
  out.inherited = await err(() => env.API.hasOwnProperty('x'));
  out.ctxNotMethod = await err(() => env.API.env());
  // A function in a result crosses as a stub (an RpcTarget, e2e_rpc_targets.rs).
  { const f = await env.API.giveFunction(); out.resultFunction = [typeof f, await f()]; f[Symbol.dispose](); }
  out.fn = await err(() => env.SVC.add(() => 1));
  out.sym = await err(() => env.SVC.add(Symbol('s')));
  out.cls = await err(() => env.SVC.add(new (class Foo {})()));
  const cyc = {}; cyc.self = cyc;
  out.cycle = await err(() => env.SVC.add(cyc));
  out.thenable = [typeof env.SVC.then, typeof env.SVC.constructor];
  out.frozen = await err(() => { env.SVC.add = 1; });
  return Response.json(out);
} };
"#;

#[test]
fn a_service_binding_reaches_the_targets_fetch_and_methods_with_structured_data() {
    // One process: the target's module state is one isolate's.
    let d = Daemon::start("svc", 1, 1, "");
    let t = tenant_token(0);
    let target = load(&d, &t, TARGET, json!({ "NAME": "target" }));
    let caller = load(
        &d,
        &t,
        CALLER,
        json!({
            "SVC": { "binding": "service", "worker": target },
            "API": { "binding": "service", "worker": target, "entrypoint": "Api" },
            "OBJ": { "binding": "service", "worker": target, "entrypoint": "Obj" },
            "NOFETCH": { "binding": "service", "worker": target, "entrypoint": "NoFetch" },
            "NOSUCH": { "binding": "service", "worker": target, "entrypoint": "Nope" },
        }),
    );
    let out = fetch_json(&d, &t, &caller, "");
    assert_eq!(out["entrypointFetch"][0], "api fetch target /ep", "{out:#}");
    assert_eq!(out["entrypointFetch"][1], "obj fetch", "{out:#}");
    for (i, name) in [(2, "NoFetch"), (3, "Nope")] {
        let message = out["entrypointFetch"][i][1].as_str().unwrap_or("");
        assert!(
            message.contains(&format!(
                "the entrypoint {name} is not an export with a fetch"
            )),
            "{out:#}"
        );
    }
    assert_eq!(
        out["fetch"],
        json!([true, 201, "hello /path POST payload", "target"])
    );
    assert_eq!(out["fetch2"], "hello /two GET ");
    assert_eq!(out["add"], 5);
    assert_eq!(
        out["count"],
        json!([1, 2]),
        "the target keeps its own state"
    );
    assert_eq!(
        out["roundTrip"],
        json!([
            true,
            [0, 1, 255],
            true,
            86_400_000,
            true,
            true,
            [1, "two"],
            null,
            [3],
            true,
            true,
            null,
            6,
            true,
            null,
            true,
            true,
            "dollar",
            "x",
            true,
            "as a value"
        ])
    );
    assert_eq!(
        out["whoami"],
        json!(["target", "undefined"]),
        "the method runs in the target's isolate with the target's env"
    );
    assert_eq!(out["lone"], json!([2, 0xd800, 0xdc00]), "{}", out["lone"]);
    for key in ["bigAnswer", "bigArg"] {
        assert_eq!(out[key][0], "DataCloneError", "{key}: {}", out[key]);
        assert!(
            out[key][1]
                .as_str()
                .is_some_and(|m| m.contains("larger than 16 MiB")),
            "{key}: {}",
            out[key]
        );
    }
    assert_eq!(out["after"], "still here");
    assert_eq!(out["range"], json!(["RangeError", "too far"]));
    assert_eq!(out["rangeClass"], true);
    assert_eq!(out["dom"], json!(["NotFoundError", "gone"]));
    assert_eq!(out["custom"], json!(["MyError", "custom message"]));
    assert_eq!(out["noMethod"][0], "TypeError", "{}", out["noMethod"]);
    assert_eq!(out["inherited"][0], "TypeError", "{}", out["inherited"]);
    assert_eq!(
        out["ctxNotMethod"][0], "TypeError",
        "{}",
        out["ctxNotMethod"]
    );
    assert_eq!(out["resultFunction"], json!(["function", 1]));
    // A function argument is a callback now (e2e_rpc_targets.rs): it crosses.
    assert_eq!(out["fn"], "no error", "{}", out["fn"]);
    for key in ["sym", "cls", "cycle"] {
        assert_eq!(out[key][0], "DataCloneError", "{key}: {}", out[key]);
    }
    assert_eq!(out["thenable"], json!(["undefined", "undefined"]));
    assert_eq!(out["frozen"][0], "TypeError");
    // The target really ran each call: its logs are its own (none here), and it is alive.
    let again = fetch_json(&d, &t, &caller, "");
    assert_eq!(again["count"], json!([3, 4]));
}

const PARENT: &str = r#"
const CHILD = (tag) => `export default { fetch() { return new Response('child ${tag}'); }, hi(x) { return 'hi ' + x + ' from ${tag}'; } };
export class Named { ping() { return 'pong ${tag}'; } }`;
export default { async fetch(req, env) {
  const code = (tag) => async () => {
    const n = (+(await env.KV.get('calls')) || 0) + 1;
    await env.KV.put('calls', String(n));
    return { mainModule: 'c.js', modules: { 'c.js': CHILD(tag) } };
  };
  const out = {};
  const a = env.LOADER.get('child-a', code('a'));
  out.tag = Object.prototype.toString.call(a);
  out.fetch = await (await a.getEntrypoint().fetch('http://c/')).text();
  out.direct = await (await a.fetch('http://c/')).text();
  out.hi = await a.getEntrypoint().hi('there');
  out.named = await a.getEntrypoint('Named').ping();
  const again = env.LOADER.get('child-a', code('a2'));
  out.again = await again.getEntrypoint().hi('again');
  out.callsAfterGets = await env.KV.get('calls');
  const b = env.LOADER.get('child-b', code('b'));
  out.b = await b.getEntrypoint().hi('b');
  out.calls = await env.KV.get('calls');
  const l = env.LOADER.load({ mainModule: 'l.js', modules: { 'l.js': "export default { v(x) { return ['loaded', x]; } }" } });
  out.load = await l.getEntrypoint().v(new Date(5).getTime());
  let threw = 0;
  const bad = env.LOADER.get('child-bad', () => { threw++; throw new RangeError('no code today'); });
  out.badCallback = await bad.getEntrypoint().hi().catch((e) => [e.name, e.message]);
  return Response.json(out);
} };
"#;

#[test]
fn loader_get_calls_back_only_for_an_id_it_has_not_cached_and_load_makes_a_worker() {
    let d = Daemon::start("loader", 1, 2, "");
    let t = tenant_token(0);
    let parent = load(
        &d,
        &t,
        PARENT,
        json!({ "LOADER": { "binding": "loader" }, "KV": { "binding": "kv", "namespace": "counts" } }),
    );
    let out = fetch_json(&d, &t, &parent, "");
    assert_eq!(out["tag"], "[object WorkerStub]");
    assert_eq!(out["fetch"], "child a");
    assert_eq!(out["direct"], "child a");
    assert_eq!(out["hi"], "hi there from a");
    assert_eq!(out["named"], "pong a");
    assert_eq!(
        out["again"], "hi again from a",
        "a cached id keeps its worker; the new callback was not called"
    );
    assert_eq!(
        out["callsAfterGets"], "1",
        "the callback ran once for child-a"
    );
    assert_eq!(out["b"], "hi b from b");
    assert_eq!(out["calls"], "2");
    assert_eq!(out["load"], json!(["loaded", 5]));
    assert_eq!(out["badCallback"], json!(["RangeError", "no code today"]));
    // A later request finds both children cached: no callback at all.
    let out = fetch_json(&d, &t, &parent, "");
    assert_eq!(out["callsAfterGets"], "2");
    assert_eq!(out["calls"], "2");
    assert_eq!(out["hi"], "hi there from a");
}

const NARROW: &str = r#"
const child = (env, extra = {}) => ({ mainModule: 'c.js', modules: { 'c.js': `
export default {
  async net() { try { await fetch('http://127.0.0.1:9/'); return 'reached'; } catch (e) { return e.message; } },
  burn() { const end = Date.now() + 3000; let x = 0; while (Date.now() < end) x++; return x; },
};
export class WithEnv { constructor(ctx, env) { this.e = env; } async get() { return await this.e.K.get('k'); } }` }, env, ...extra });
const err = async (f) => { try { await f(); return 'no error'; } catch (e) { return [e.name, e.message]; } };
export default { async fetch(req, env) {
  await env.KV.put('k', 'parent value');
  const out = {};
  let n = 0;
  const get = (code) => env.LOADER.get('c' + (n++), async () => code).getEntrypoint();
  out.otherKv = await err(() => get(child({ K: { binding: 'kv', namespace: 'not-the-parents' } })).net());
  out.workspace = await err(() => get(child({ W: { binding: 'workspace', name: 'w' } })).net());
  out.service = await err(() => get(child({ S: { binding: 'service', worker: 'ab'.repeat(32) } })).net());
  out.renamed = await env.LOADER.get('renamed', async () => child({ K: { binding: 'kv', namespace: 'mine' } })).getEntrypoint('WithEnv').get();
  out.passed = await env.LOADER.load(child({ K: env.KV })).getEntrypoint('WithEnv').get();
  out.loader = await get(child({ L: { binding: 'loader' } })).net();
  out.net = await get(child({})).net();
  out.netAsked = await err(() => get(child({}, { globalOutbound: { worker: 'ab'.repeat(32) } })).net());
  out.cpu = await err(() => get(child({}, { limits: { cpuMs: 60000, wallMs: 60000 } })).burn());
  return Response.json(out);
} };
"#;

#[test]
fn a_child_never_gets_more_than_its_parent() {
    let d = Daemon::start("narrow", 1, 2, "");
    let t = tenant_token(0);
    let (status, v) = create(
        &d,
        &t,
        NARROW,
        json!({ "LOADER": { "binding": "loader" }, "KV": { "binding": "kv", "namespace": "mine" } }),
        json!({ "globalOutbound": null, "limits": { "cpuMs": 200, "wallMs": 20000 } }),
    );
    assert_eq!(status, 201, "{v}");
    let parent = v["id"].as_str().expect("id").to_string();
    let out = fetch_json(&d, &t, &parent, "");
    for key in ["otherKv", "workspace", "service"] {
        assert_eq!(out[key][0], "NotAllowedError", "{key}: {}", out[key]);
    }
    assert_eq!(
        out["renamed"], "parent value",
        "the parent's own grant, under another name"
    );
    assert_eq!(
        out["passed"], "parent value",
        "the parent's binding object itself"
    );
    assert!(
        out["loader"]
            .as_str()
            .is_some_and(|s| s.contains("no network")),
        "{}",
        out["loader"]
    );
    assert!(
        out["net"]
            .as_str()
            .is_some_and(|s| s.contains("globalOutbound is null")),
        "a child of a parent without network has none: {}",
        out["net"]
    );
    assert!(out["netAsked"][0].is_string(), "{}", out["netAsked"]);
    assert_ne!(out["netAsked"], "no error");
    assert_eq!(out["cpu"][0], "OperationError", "{}", out["cpu"]);
    assert!(
        out["cpu"][1]
            .as_str()
            .is_some_and(|s| s.contains("cpu_limit")),
        "the child runs under the parent's 200 ms, not its own 60 s: {}",
        out["cpu"]
    );
}

/// Frames a binding host call's payload (head, then `rest` text) as a script expression.
const FRAME: &str = "const frame = (head, rest = '') => { const h = new TextEncoder().encode(JSON.stringify(head)); const r = new TextEncoder().encode(rest); const out = new Uint8Array(4 + h.length + r.length); new DataView(out.buffer).setUint32(0, h.length, true); out.set(h, 4); out.set(r, 4 + h.length); return out; };
const ask = (name, head, rest) => __stockadeTestHostCall(name, frame(head, rest)).then((b) => new TextDecoder().decode(b), (e) => 'refused: ' + e.message);";

#[test]
fn a_worker_without_the_grant_reaches_no_worker_by_any_name() {
    let d = Daemon::start_with(
        "svcgrant",
        &["normal"],
        1,
        "",
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let t = tenant_token(0);
    let target = load(&d, &t, TARGET, json!({ "NAME": "target" }));
    let attacker = format!(
        "{FRAME}
const T = '{target}';
export default {{ async fetch(req, env) {{
  return Response.json([
    await ask('service.call', {{ binding: 'SVC', method: 'add' }}, '[1,2]'),
    await ask('service.call', {{ binding: 'KV', method: 'add', worker: T }}, '[1,2]'),
    await ask('service.call', {{ binding: T, method: 'add' }}, '[1,2]'),
    await ask('service.call', {{ binding: 'LOADER', method: 'add', worker: T }}, '[1,2]'),
    await ask('service.fetch', {{ binding: 'LOADER', worker: T }}, ''),
    await ask('loader.get', {{ binding: 'KV', name: 'x' }}),
    await ask('loader.create', {{ binding: 'KV' }}, JSON.stringify({{ mainModule: 'a.js', modules: {{ 'a.js': 'export default {{}}' }} }})),
    await ask('service.call', {{ method: 'add', worker: T }}, '[1,2]'),
    typeof env.SVC,
  ]);
}} }};"
    );
    // It holds a key-value binding and a loader, but no service binding to the target.
    let id = load(
        &d,
        &t,
        &attacker,
        json!({ "KV": { "binding": "kv", "namespace": "n" }, "LOADER": { "binding": "loader" } }),
    );
    let out = fetch_json(&d, &t, &id, "");
    let out = out.as_array().expect("array");
    for (i, v) in out[..8].iter().enumerate() {
        let v = v.as_str().expect("text");
        assert!(v.starts_with("refused: "), "call {i}: {v}");
    }
    assert_eq!(out[8], "undefined");
    // Code Mode has no bindings at all.
    let (status, body) = run(
        &d,
        &t,
        &format!("{FRAME}\nexport default async () => [await ask('service.call', {{ binding: 'SVC', method: 'add', worker: '{target}' }}, '[1,2]'), await ask('loader.get', {{ binding: 'LOADER', name: 'x' }})];"),
    );
    assert_eq!(status, 200, "{body}");
    assert_all_refused(&body);
}

#[test]
fn two_tenants_never_reach_each_others_workers() {
    let d = Daemon::start("svctenants", 2, 1, "");
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let target = load(&d, &t0, TARGET, json!({ "NAME": "t0" }));
    // At creation: a service binding to another tenant's worker names no worker of this one.
    let (status, v) = create(
        &d,
        &t1,
        "export default {}",
        json!({ "SVC": { "binding": "service", "worker": target } }),
        json!({}),
    );
    assert_eq!(status, 400, "{v}");
    // Through a loader: a child naming the other tenant's worker is refused too.
    let code = format!(
        "export default {{ async fetch(req, env) {{
  const child = env.LOADER.get('x', async () => ({{ mainModule: 'c.js', modules: {{ 'c.js': 'export default {{ f() {{ return 1; }} }}' }}, env: {{ S: {{ binding: 'service', worker: '{target}' }} }} }}));
  try {{ await child.getEntrypoint().f(); return Response.json('reached'); }} catch (e) {{ return Response.json([e.name, e.message]); }}
}} }};"
    );
    let id = load(&d, &t1, &code, json!({ "LOADER": { "binding": "loader" } }));
    let out = fetch_json(&d, &t1, &id, "");
    assert_eq!(out[0], "NotAllowedError", "{out}");
}

#[test]
fn nesting_and_the_call_budget_are_bounded() {
    // The default depth (8), a budget of 300 calls (the default is 1000), and CPU enough for
    // them in a debug build.
    let d = Daemon::start(
        "svcdepth",
        1,
        2,
        "[limits]\ncpu_ms = 20000\nwall_ms = 60000\nmax_binding_calls = 300\n",
    );
    let t = tenant_token(0);
    // A child that calls itself through its own loader (the same code is the same worker).
    let recursive = r#"
import SRC from './src.txt';
import { env } from 'cloudflare:workers';
const code = async () => ({ mainModule: 'c.js', modules: { 'c.js': SRC, 'src.txt': { text: SRC } }, env: { LOADER: { binding: 'loader' } } });
export default {
  async down(n) {
    try { return await env.LOADER.get('self', code).getEntrypoint().down(n + 1); }
    catch (e) { if (e.name === 'RangeError') return [n, e.name, e.message]; throw e; }
  },
};
"#;
    let parent = format!(
        "const SRC = {src};
export default {{ async fetch(req, env) {{
  const out = {{}};
  const c = env.LOADER.get('self', async () => ({{ mainModule: 'c.js', modules: {{ 'c.js': SRC, 'src.txt': {{ text: SRC }} }}, env: {{ LOADER: {{ binding: 'loader' }} }} }}));
  out.depth = await c.getEntrypoint().down(0);
  return Response.json(out);
}} }};",
        src = serde_json::to_string(&recursive).expect("json")
    );
    let id = load(
        &d,
        &t,
        &parent,
        json!({ "LOADER": { "binding": "loader" } }),
    );
    let out = fetch_json(&d, &t, &id, "");
    assert_eq!(out["depth"][0], 7, "{out}");
    assert_eq!(out["depth"][1], "RangeError");
    assert!(out["depth"][2]
        .as_str()
        .is_some_and(|s| s.contains("8 deep")));

    let target = load(&d, &t, TARGET, json!({ "NAME": "target" }));
    let spender = "export default { async fetch(req, env) {
  for (let i = 0; i < 1100; i++) {
    try { await env.SVC.add(i, 1); } catch (e) { return Response.json([i, e.name, e.message]); }
  }
  return Response.json('no limit');
} };";
    let (status, v) = create(
        &d,
        &t,
        spender,
        json!({ "SVC": { "binding": "service", "worker": target } }),
        json!({ "limits": { "cpuMs": 20000, "wallMs": 60000 } }),
    );
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let out = fetch_json(&d, &t, &id, "");
    assert_eq!(out[0], 300, "{out}");
    assert_eq!(out[1], "QuotaExceededError");
}

/// A fan-out wider than the host calls a request may have in flight (64): 300 concurrent RPC
/// calls all get their answers (before, the 65th and later failed with "the host refused the
/// call"): the calls past 64 wait in the caller's isolate and leave as earlier ones are answered.
#[test]
fn a_fan_out_of_300_concurrent_service_calls_gets_every_answer() {
    let d = Daemon::start(
        "svcwide",
        1,
        2,
        "[limits]\ncpu_ms = 20000\nwall_ms = 60000\n",
    );
    let t = tenant_token(0);
    let target = load(&d, &t, TARGET, json!({ "NAME": "target" }));
    let caller = "export default { async fetch(req, env) {
  const out = await Promise.all(Array.from({ length: 300 },
    (_, i) => env.S.add(i, 1).catch((e) => `${e.name}: ${e.message}`)));
  return Response.json(out);
} };";
    let (status, v) = create(
        &d,
        &t,
        caller,
        json!({ "S": { "binding": "service", "worker": target } }),
        json!({ "limits": { "cpuMs": 20000, "wallMs": 60000 } }),
    );
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let out = fetch_json(&d, &t, &id, "");
    let expected: Vec<Value> = (1..=300).map(|n| json!(n)).collect();
    assert_eq!(out, Value::Array(expected), "{out}");
}

/// Service fetches at once, each uploading a stream its target reads whole before it answers,
/// beside sixty slow calls that hold most of the request's places for host calls: the uploads'
/// `fetch.write` calls continue streams the request holds and take no place (they do not wait
/// behind the slow calls), and a request streams at most 16 bodies at once: past that a fetch
/// fails saying so (before: "no such response body stream").
#[test]
fn streamed_uploads_beside_slow_calls_complete_and_past_sixteen_fail_saying_why() {
    // CPU is not what this tests: 80 calls and 20 streamed bodies in one request came near the
    // 50 ms default, and passed it on a loaded machine (also at the session-37 code: 2 runs in 4).
    let d = Daemon::start(
        "svcuploads",
        1,
        2,
        &format!("{CPU_NOT_TESTED}wall_ms = 60000\n"),
    );
    let t = tenant_token(0);
    let target = load(
        &d,
        &t,
        "export default {
  async fetch(req) { return new Response(String((await req.text()).length)); },
  async slow() { await new Promise((r) => setTimeout(r, 6000)); return 'slow'; },
};",
        json!({}),
    );
    // Uploads that waited behind the slow calls would take their 6 s: a second's margin on a
    // loaded machine.
    let caller = "export default { async fetch(req, env) {
  const n = Number(new URL(req.url).pathname.slice(1));
  const body = () => new ReadableStream({ start(c) {
    c.enqueue(new TextEncoder().encode('x'.repeat(1000)));
    c.enqueue(new TextEncoder().encode('y'.repeat(500)));
    c.close();
  } });
  const slow = Array.from({ length: 60 }, () => env.S.slow());
  const started = Date.now();
  const uploads = await Promise.all(Array.from({ length: n }, () =>
    env.S.fetch('http://t.example/', { method: 'POST', body: body(), duplex: 'half' })
      .then((r) => r.text(), (e) => `${e.name}: ${e.message}`)));
  const took = Date.now() - started;
  await Promise.all(slow);
  return Response.json({ uploads, beforeTheSlowCalls: took < 5000 });
} };";
    let (status, v) = create(
        &d,
        &t,
        caller,
        json!({ "S": { "binding": "service", "worker": target } }),
        json!({ "limits": { "wallMs": 20000 } }),
    );
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/4", d.base))
        .bearer_auth(&t)
        .send()
        .expect("fetch");
    let out: Value = r.json().expect("json");
    assert_eq!(
        out["uploads"],
        json!(["1500", "1500", "1500", "1500"]),
        "{out}"
    );
    assert_eq!(
        out["beforeTheSlowCalls"], true,
        "the uploads waited behind the slow calls: {out}"
    );
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/20", d.base))
        .bearer_auth(&t)
        .send()
        .expect("fetch");
    let out: Value = r.json().expect("json");
    let uploads = out["uploads"].as_array().unwrap_or_else(|| panic!("{out}"));
    let done = uploads.iter().filter(|u| *u == "1500").count();
    assert!((1..=16).contains(&done), "{out}");
    for refused in uploads.iter().filter(|u| *u != "1500") {
        assert!(
            refused
                .as_str()
                .is_some_and(|m| m.contains("streams 16 request bodies at once already")),
            "{out}"
        );
    }
}

/// Callers waiting on their callees never starve them: with two requests at a time per process,
/// two requests of a worker each calling another worker (the one process holds both) both
/// finish, because a call waits for a place among the calls of its own depth only (before, both
/// callers held the two places and their calls queued behind them until the wall limit).
#[test]
fn callers_filling_every_place_of_a_process_do_not_starve_their_callees() {
    let d = Daemon::start(
        "svcnested",
        1,
        1,
        "max_in_flight_per_worker = 2\n[cordon]\nstandard_min_processes = 1\n",
    );
    let t = tenant_token(0);
    let target = load(&d, &t, TARGET, json!({ "NAME": "target" }));
    let caller = "export default { async fetch(req, env) {
        await new Promise((r) => setTimeout(r, 300));
        return Response.json(await env.SVC.add(20, 22));
    } };";
    let (status, v) = create(
        &d,
        &t,
        caller,
        json!({ "SVC": { "binding": "service", "worker": target } }),
        json!({ "limits": { "wallMs": 5000 } }),
    );
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (h, t, id) = (d.handle(), t.clone(), id.clone());
            std::thread::spawn(move || fetch_json(&h, &t, &id, ""))
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().expect("caller"), json!(42));
    }
}

/// A service binding's `fetch` honours its request's `AbortSignal`: aborted before the call,
/// nothing reaches the target; aborted while the target works, the fetch rejects with the
/// signal's reason instead of waiting for the answer.
#[test]
fn a_service_fetch_honours_its_abort_signal() {
    let d = Daemon::start("svcabort", 1, 1, "");
    let t = tenant_token(0);
    let slow = "let calls = 0;
      export default {
        async fetch(req) {
          calls++;
          if (new URL(req.url).pathname === '/slow') await new Promise((r) => setTimeout(r, 3000));
          return new Response('late');
        },
        calls() { return calls; },
      };";
    let target = load(&d, &t, slow, json!({}));
    let caller = "export default { async fetch(req, env) {
        const out = {};
        try { await env.SVC.fetch('http://b/x', { signal: AbortSignal.abort() }); out.before = 'sent'; }
        catch (e) { out.before = e.name; }
        out.callsAfterBefore = await env.SVC.calls();
        // Aborted once the target has the request (it counted it), while it waits 3 s.
        const c = new AbortController();
        const during = env.SVC.fetch('http://b/slow', { signal: c.signal })
          .then((r) => r.text(), (e) => [e.name, e.message]);
        while ((await env.SVC.calls()) < 1) await new Promise((r) => setTimeout(r, 10));
        c.abort(new RangeError('stop'));
        out.during = await during;
        out.callsAfterDuring = await env.SVC.calls();
        return Response.json(out);
    } };";
    let id = load(
        &d,
        &t,
        caller,
        json!({ "SVC": { "binding": "service", "worker": target } }),
    );
    assert_eq!(
        fetch_json(&d, &t, &id, ""),
        json!({
            "before": "AbortError",
            "callsAfterBefore": 0,
            "during": ["RangeError", "stop"],
            "callsAfterDuring": 1,
        })
    );
}

/// A caller that switches off its own runtime's header checks (by replacing
/// `RegExp.prototype.test`, which only its isolate sees) and sends a service fetch with a header
/// `Headers.append` would refuse: the target's host refuses the request before its handler runs
/// (`isolate/src/tasks/head.rs`), naming the header, and the caller's fetch rejects.
#[test]
fn a_service_fetch_with_headers_a_subverted_caller_made_is_refused_before_the_target_runs() {
    let d = Daemon::start("svchdr", 1, 1, "");
    let t = tenant_token(0);
    let target = "let calls = 0;
      export default {
        fetch(req) { calls++; return new Response([...req.headers].join(';')); },
        calls() { return calls; },
      };";
    let target = load(&d, &t, target, json!({}));
    let caller = r#"export default { async fetch(req, env) {
        const test = RegExp.prototype.test;
        RegExp.prototype.test = function (s) {
          if (this.source.startsWith('^[!#')) return true;   // header names
          if (this.source === '[\\0\\r\\n]') return false;   // header values
          return test.call(this, s);
        };
        const out = {};
        const attempt = async (headers) => {
          try { return await (await env.SVC.fetch('http://b/', { headers })).text(); }
          catch (e) { return [e.name, e.message]; }
        };
        out.name = await attempt([['bad name', 'v']]);
        out.value = await attempt([['x-b', 'a\r\nx-c: d']]);
        RegExp.prototype.test = test;
        out.fine = await attempt([['X-Fine', ' yes ']]);
        out.calls = await env.SVC.calls();
        return Response.json(out);
    } };"#;
    let id = load(
        &d,
        &t,
        caller,
        json!({ "SVC": { "binding": "service", "worker": target } }),
    );
    let out = fetch_json(&d, &t, &id, "");
    for (key, says) in [
        ("name", "header name \"bad name\""),
        ("value", "request header \"x-b\""),
    ] {
        let message = out[key][1].as_str().unwrap_or_default();
        assert!(
            message.contains("invalid_input") && message.contains(says),
            "{key}: {}",
            out[key]
        );
    }
    assert_eq!(out["fine"], "x-fine,yes");
    assert_eq!(
        out["calls"], 1,
        "the target's handler ran only for the valid request"
    );
}

/// Limits roomy enough for multi-MiB bodies hashed on both sides (the daemon's and the workers').
const ROOMY: &str = "[limits]\ncpu_ms = 20000\nwall_ms = 60000\nmemory_mb = 256\n";

fn roomy() -> Value {
    json!({ "limits": { "cpuMs": 20000, "wallMs": 60000, "memoryMb": 256 } })
}

/// A worker that streams: `/gate` writes `one;`, then waits (at most 5 s) for its `release()` RPC
/// method before it writes the second chunk; `/big?mib=N` streams N MiB (and 12345 bytes) of a
/// pattern and keeps their SHA-256; `/hash` reads its request body whole and answers its length
/// and SHA-256; `/forever` writes a chunk every 50 ms (400 at most) and records when its stream
/// is cancelled; `/slow` ticks every 50 ms for 2 s before it answers.
const STREAMER: &str = r#"
const enc = new TextEncoder();
let release = null;
let sentHash = null;
const forever = { written: 0, cancelled: null };
let slowTicks = 0;
export default {
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === '/gate') {
      const gate = new Promise((r) => { release = r; setTimeout(() => r('timeout'), 5000); });
      const { readable, writable } = new TransformStream();
      const w = writable.getWriter();
      (async () => { await w.write(enc.encode('one;')); await w.write(enc.encode(await gate)); await w.close(); })();
      return new Response(readable);
    }
    if (url.pathname === '/big') {
      const mib = Number(url.searchParams.get('mib'));
      const all = new Uint8Array(mib * (1 << 20) + 12345);
      for (let i = 0; i < all.length; i++) all[i] = (i * 31 + (i >>> 13)) & 255;
      sentHash = await digest(all);
      let at = 0;
      return new Response(new ReadableStream({
        pull(c) {
          if (at >= all.length) { c.close(); return; }
          const n = Math.min(256 * 1024 + 7, all.length - at);
          c.enqueue(all.slice(at, at + n));
          at += n;
        },
      }));
    }
    if (url.pathname === '/hash') {
      const b = await req.arrayBuffer();
      return Response.json({ len: b.byteLength, hash: await digest(b) });
    }
    if (url.pathname === '/forever') {
      let n = 0;
      forever.written = 0;
      forever.cancelled = null;
      return new Response(new ReadableStream({
        async pull(c) {
          if (n > 0) await new Promise((r) => setTimeout(r, 50));
          n++;
          forever.written = n;
          c.enqueue(enc.encode(`tick${n};`));
          if (n >= 400) c.close();
        },
        cancel(reason) { forever.cancelled = String(reason?.message ?? reason); },
      }));
    }
    if (url.pathname === '/slow') {
      for (let i = 0; i < 40; i++) { await new Promise((r) => setTimeout(r, 50)); slowTicks++; }
      return new Response('slow done');
    }
    return new Response('?', { status: 404 });
  },
  release() { if (release !== null) release('released'); },
  sentHash() { return sentHash; },
  forever() { return forever; },
  slowTicks() { return slowTicks; },
};
"#;

/// A streaming target and a caller running `caller` with `env.SVC` bound to it.
fn streaming_pair(d: &Daemon, t: &str, caller: &str) -> String {
    let (status, v) = create(
        d,
        t,
        &format!("{}{STREAMER}", hashing::DIGEST_JS),
        json!({}),
        roomy(),
    );
    assert_eq!(status, 201, "{v}");
    let target = v["id"].as_str().expect("id").to_string();
    let env = json!({ "SVC": { "binding": "service", "worker": target } });
    let (status, v) = create(
        d,
        t,
        &format!("{}{caller}", hashing::DIGEST_JS),
        env,
        roomy(),
    );
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().expect("id").to_string()
}

/// A target's streamed answer reaches the caller as the target writes it: the caller reads the
/// first chunk and only then releases the target to write the second (gathered whole, the first
/// read would wait for the target's 5 s fallback and say `timeout`). A streamed answer larger
/// than one host call's 16 MiB arrives intact, by its length and hash on both sides.
#[test]
fn a_service_fetch_streams_the_targets_answer_as_it_is_written() {
    let d = Daemon::start("svcstream", 1, 1, ROOMY);
    let t = tenant_token(0);
    let caller = r#"
      export default { async fetch(req, env) {
        if (new URL(req.url).pathname.endsWith('/proxy')) return env.SVC.fetch('http://b/big?mib=3');
        const out = {};
        const dec = new TextDecoder();
        const r = await env.SVC.fetch('http://b/gate');
        const reader = r.body.getReader();
        out.first = dec.decode((await reader.read()).value);
        await env.SVC.release();
        out.rest = '';
        for (;;) { const { done, value } = await reader.read(); if (done) break; out.rest += dec.decode(value); }
        const big = await env.SVC.fetch('http://b/big?mib=17');
        const reads = big.body.getReader();
        const parts = [];
        let len = 0;
        for (;;) { const { done, value } = await reads.read(); if (done) break; parts.push(value); len += value.length; }
        const all = new Uint8Array(len);
        let at = 0;
        for (const p of parts) { all.set(p, at); at += p.length; }
        out.big = { len, reads: parts.length, hash: await digest(all) };
        out.sentHash = await env.SVC.sentHash();
        return Response.json(out);
      } };"#;
    let id = streaming_pair(&d, &t, caller);
    let out = fetch_json(&d, &t, &id, "");
    assert_eq!(out["first"], "one;", "{out}");
    assert_eq!(
        out["rest"], "released",
        "the caller read the first chunk before the target wrote the second: {out}"
    );
    assert_eq!(out["big"]["len"], 17 * (1 << 20) + 12345, "{out}");
    assert!(
        out["big"]["reads"].as_u64().unwrap_or(0) > 1,
        "read in pieces: {out}"
    );
    assert_eq!(out["big"]["hash"], out["sentHash"], "{out}");
    assert_eq!(out["sentHash"].as_str().map(str::len), Some(64), "{out}");

    // A caller that answers with the service's response streams it on to its client.
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/proxy", d.base))
        .bearer_auth(&t)
        .send()
        .expect("proxy");
    assert_eq!(r.status().as_u16(), 200);
    let body = r.bytes().expect("body");
    let want: Vec<u8> = (0..3 * (1u32 << 20) + 12345)
        .map(|i| (i.wrapping_mul(31).wrapping_add(i >> 13) & 255) as u8)
        .collect();
    assert_eq!(body.len(), want.len());
    assert!(body[..] == want[..], "the proxied body differs");
}

/// A caller's request body that is a stream, or larger than what rides in the call, reaches the
/// target intact (length and SHA-256 on both sides), one larger than one host call included.
#[test]
fn a_service_fetch_streams_the_callers_request_body() {
    let d = Daemon::start("svcupload", 1, 1, ROOMY);
    let t = tenant_token(0);
    let caller = r#"
      const pattern = (n, seed) => { const a = new Uint8Array(n); for (let i = 0; i < n; i++) a[i] = (i * seed + (i >>> 11)) & 255; return a; };
      export default { async fetch(req, env) {
        const out = {};
        // A ReadableStream of uneven chunks, 17 MiB and a bit in all.
        const streamed = pattern(17 * (1 << 20) + 4321, 7);
        let at = 0;
        const body = new ReadableStream({
          pull(c) {
            if (at >= streamed.length) { c.close(); return; }
            const n = Math.min(300 * 1024 + 1, streamed.length - at);
            c.enqueue(streamed.slice(at, at + n));
            at += n;
          },
        });
        const r = await env.SVC.fetch('http://b/hash', { method: 'POST', body, duplex: 'half' });
        out.streamed = [await r.json(), { len: streamed.length, hash: await digest(streamed) }];
        // Known whole but larger than what rides in the call.
        const whole = pattern(3 * (1 << 20) + 5, 13);
        const r2 = await env.SVC.fetch('http://b/hash', { method: 'PUT', body: whole });
        out.whole = [await r2.json(), { len: whole.length, hash: await digest(whole) }];
        const r3 = await env.SVC.fetch('http://b/hash', { method: 'POST', body: 'small' });
        out.small = (await r3.json()).len;
        return Response.json(out);
      } };"#;
    let id = streaming_pair(&d, &t, caller);
    let out = fetch_json(&d, &t, &id, "");
    assert_eq!(out["streamed"][0], out["streamed"][1], "{out}");
    assert_eq!(out["streamed"][0]["len"], 17 * (1 << 20) + 4321, "{out}");
    assert_eq!(out["whole"][0], out["whole"][1], "{out}");
    assert_eq!(out["whole"][0]["len"], 3 * (1 << 20) + 5, "{out}");
    assert_eq!(out["small"], 5, "{out}");
}

/// A caller that aborts, or stops reading and ends, cancels the target's request: aborted while
/// the target streams, the target's stream is cancelled and it writes no more; a caller's request
/// that ends with the body unread does the same; aborted before the target answered, or ended
/// before then, the target's handler stops.
#[test]
fn a_callers_abort_or_end_cancels_the_targets_request() {
    let d = Daemon::start("svccancel", 1, 1, ROOMY);
    let t = tenant_token(0);
    let caller = r#"
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      export default { async fetch(req, env) {
        const path = new URL(req.url).pathname;
        const dec = new TextDecoder();
        if (path.endsWith('/leave')) {
          const r = await env.SVC.fetch('http://b/forever');
          return new Response(dec.decode((await r.body.getReader().read()).value));
        }
        if (path.endsWith('/state')) return Response.json(await env.SVC.forever());
        if (path.endsWith('/ticks')) return Response.json(await env.SVC.slowTicks());
        if (path.endsWith('/fire')) {
          // Left once the target's handler has ticked.
          const start = await env.SVC.slowTicks();
          env.SVC.fetch('http://b/slow').catch(() => {});
          while ((await env.SVC.slowTicks()) <= start) await sleep(10);
          return new Response('left');
        }
        const out = {};
        const c = new AbortController();
        const r = await env.SVC.fetch('http://b/forever', { signal: c.signal });
        const reader = r.body.getReader();
        out.first = dec.decode((await reader.read()).value);
        c.abort(new RangeError('enough'));
        try { await reader.read(); out.afterAbort = 'read'; } catch (e) { out.afterAbort = [e.name, e.message]; }
        await sleep(600);
        const s1 = await env.SVC.forever();
        await sleep(400);
        const s2 = await env.SVC.forever();
        out.cancelled = s1.cancelled;
        out.written = [s1.written, s2.written];
        const slow = new AbortController();
        setTimeout(() => slow.abort(new RangeError('too slow')), 300);
        try { out.slow = await (await env.SVC.fetch('http://b/slow', { signal: slow.signal })).text(); }
        catch (e) { out.slow = [e.name, e.message]; }
        await sleep(400);
        const t1 = await env.SVC.slowTicks();
        await sleep(500);
        out.slowTicks = [t1, await env.SVC.slowTicks()];
        return Response.json(out);
      } };"#;
    let id = streaming_pair(&d, &t, caller);
    let out = fetch_json(&d, &t, &id, "");
    assert_eq!(out["first"], "tick1;", "{out}");
    assert_eq!(out["afterAbort"], json!(["RangeError", "enough"]), "{out}");
    assert!(
        out["cancelled"].is_string(),
        "the target's stream was cancelled: {out}"
    );
    let written = &out["written"];
    assert_eq!(written[0], written[1], "the target wrote on: {out}");
    assert!(written[0].as_u64().unwrap_or(400) < 40, "{out}");
    assert_eq!(out["slow"], json!(["RangeError", "too slow"]), "{out}");
    let ticks = &out["slowTicks"];
    assert_eq!(ticks[0], ticks[1], "the aborted handler ran on: {out}");
    assert!(ticks[0].as_u64().unwrap_or(40) < 40, "{out}");

    // A caller whose request ends with the body unread takes the target's request with it.
    let (status, first) = {
        let r = client()
            .get(format!("{}/v1/workers/{id}/fetch/leave", d.base))
            .bearer_auth(&t)
            .send()
            .expect("leave");
        (r.status().as_u16(), r.text().expect("text"))
    };
    assert_eq!((status, first.as_str()), (200, "tick1;"));
    // The end reaches the target on its own time: what it wrote stops moving (two reads 500 ms
    // apart agree), long before it would have written 40.
    let s1 = until_still(|| fetch_json(&d, &t, &id, "state"), "written");
    assert!(s1["written"].as_u64().unwrap_or(400) < 40, "{s1}");
    assert!(s1["cancelled"].is_string(), "{s1}");

    // A caller whose request ends before its target answered takes the target's request along.
    let before = fetch_json(&d, &t, &id, "ticks");
    let (status, left) = {
        let r = client()
            .get(format!("{}/v1/workers/{id}/fetch/fire", d.base))
            .bearer_auth(&t)
            .send()
            .expect("fire");
        (r.status().as_u16(), r.text().expect("text"))
    };
    assert_eq!((status, left.as_str()), (200, "left"));
    let t1 = until_still(
        || json!({ "ticks": fetch_json(&d, &t, &id, "ticks") }),
        "ticks",
    );
    let (before, t1) = (
        before.as_u64().unwrap_or(0),
        t1["ticks"].as_u64().unwrap_or(0),
    );
    assert!(t1 > before, "the target's handler ran: {before} {t1}");
    assert!(
        t1 - before < 40,
        "the target's handler ran on after its caller ended: {before} {t1}"
    );
}

/// `read()` once `field` of it stops moving: two reads 500 ms apart agree (at most 15 s).
fn until_still(read: impl Fn() -> Value, field: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let first = read();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let second = read();
        if first[field] == second[field] {
            return second;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{field} never stopped moving: {second}"
        );
    }
}

/// Code Mode's `env` is checked as a worker's is: a service binding must name a worker of the
/// tenant when the request arrives (a 400 naming the key), not fail only when it is called.
#[test]
fn a_snippets_service_binding_is_checked_when_the_request_arrives() {
    let d = Daemon::start("svc-snippet", 2, 1, "");
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let theirs = load(&d, &t1, TARGET, json!({ "NAME": "t1" }));
    let mine = load(&d, &t0, TARGET, json!({ "NAME": "t0" }));
    let run = |worker: &str| {
        let r = client()
            .post(format!("{}/v1/run", d.base))
            .bearer_auth(&t0)
            .json(&json!({
                "code": "export default async (arg: unknown, env: any) => env.S.add(1, 2)",
                "env": { "S": { "binding": "service", "worker": worker } },
            }))
            .send()
            .expect("run");
        (r.status().as_u16(), r.json::<Value>().expect("json"))
    };
    for worker in [theirs.as_str(), &"0".repeat(64)] {
        let (status, body) = run(worker);
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!("bad_request")),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("env.S: no worker")),
            "{body}"
        );
    }
    let (status, body) = run(&mine);
    assert_eq!((status, &body["result"]), (200, &json!(3)), "{body}");
}
