//! Tenant capabilities end to end: a real daemon, real jailed workers, a real HTTP service on
//! 127.0.0.1 behind an `http` capability, a real MCP server built with the official TypeScript
//! SDK behind an `mcp` capability (`tests/mcp/`, installed from npm at test time), and the
//! daemon's own `/mcp` endpoint driven by the official MCP client SDK. Secrets injected by the
//! tenant's egress rules reach the services and never the worker; a worker without the grant
//! reaches no capability by any name (the host call forged directly); two tenants' capabilities
//! never meet.
mod common;
#[path = "mcp/install.rs"]
mod mcp;
#[path = "../src/egress/test_upstream.rs"]
mod upstream;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use common::*;
use serde_json::{json, Value};
use upstream::{Answer, Seen, Upstream};

const RPC_SECRET: &str = "rpc-secret-value-4b1e9d";
const WEATHER_KEY: &str = "weather-key-value-8c2a7f";
const CALC_TYPES: &str = "interface Methods { add(a: number, b: number): Promise<number>; whoami(): Promise<{ auth: string }>; }";

/// The `http` capability's service: `add`, `whoami` (echoes the Authorization it received, so a
/// leak would show), `fail` (an error with a name of its own).
fn calc(seen: &Seen) -> Answer {
    let call: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
    let args = call["args"].as_array().cloned().unwrap_or_default();
    let out = match call["method"].as_str() {
        Some("add") => {
            json!({ "result": args[0].as_i64().unwrap_or(0) + args[1].as_i64().unwrap_or(0) })
        }
        Some("whoami") => json!({ "result": { "auth": seen.header("authorization") } }),
        Some("echo") => json!({ "result": args }),
        Some("fail") => json!({ "error": { "name": "ValidationError", "message": "bad input" } }),
        _ => json!({ "error": { "name": "TypeError", "message": "no such method" } }),
    };
    let mut answer = Answer::ok(out.to_string().as_bytes());
    answer
        .headers
        .push(("Content-Type".into(), "application/json".into()));
    answer
}

/// A child process killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The upstream MCP server on a free port (`stateless` or `stateful`), once it says it is ready.
fn weather_server(mode: &str) -> (Node, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut child = mcp::node("upstream.mjs", &[&port.to_string(), mode])
        .env("WEATHER_KEY", WEATHER_KEY)
        .stdout(Stdio::piped())
        .spawn()
        .expect("node upstream.mjs");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("ready");
    assert_eq!(line.trim(), "ready", "the MCP server did not start");
    (Node(child), port)
}

/// Tenant t0 may reach the calc service (its secret injected as `Authorization`) and the MCP
/// server (its key injected as `X-Weather-Key`) and declares `calc` in the config; t1 has no
/// network.
fn daemon(tag: &str, calc_port: u16, mcp_port: u16, env: &[(&str, &str)]) -> Daemon {
    Daemon::start_raw(tag, 1, &config(calc_port, mcp_port), env)
}

fn config(calc_port: u16, mcp_port: u16) -> String {
    format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{t0}\"\n\
         [tenants.secrets]\nrpc = \"Bearer {RPC_SECRET}\"\nweather = \"{WEATHER_KEY}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{calc_port}]\nmethods = [\"POST\"]\ninject_headers = {{ \"Authorization\" = \"rpc\" }}\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{mcp_port}]\ninject_headers = {{ \"X-Weather-Key\" = \"weather\" }}\n\
         [[tenants.capabilities]]\nname = \"calc\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{calc_port}/rpc\"\ntypes = \"{CALC_TYPES}\"\n\
         [[tenants]]\nid = \"t1\"\ntoken = \"{t1}\"\n",
        t0 = tenant_token(0),
        t1 = tenant_token(1),
    )
}

fn declare(d: &Daemon, token: &str, tenant: &str, name: &str, body: Value) -> (u16, Value) {
    let r = client()
        .put(format!(
            "{}/v1/tenants/{tenant}/capabilities/{name}",
            d.base
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("put");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn create(d: &Daemon, token: &str, code: &str, env: Value) -> (u16, Value) {
    let body = json!({ "mainModule": "main.js", "modules": { "main.js": code }, "env": env });
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("create");
    let status = r.status().as_u16();
    (status, r.json().expect("json"))
}

fn call(d: &Daemon, token: &str, id: &str) -> Value {
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(token)
        .send()
        .expect("fetch");
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

fn run_env(d: &Daemon, token: &str, code: &str, arg: Value, env: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(token)
        .json(&json!({ "code": code, "arg": arg, "env": env }))
        .send()
        .expect("run");
    (r.status().as_u16(), r.json().expect("json"))
}

fn text(r: reqwest::blocking::RequestBuilder) -> (u16, String) {
    let r = r.send().expect("send");
    (r.status().as_u16(), r.text().expect("text"))
}

const WORKER: &str = "export default { async fetch(req, env) {
  const out = {};
  out.sum = await env.CALC.add(2, 3);
  out.who = await env.CALC.whoami();
  try { await env.CALC.fail(); } catch (e) { out.fail = [e.name, e.message, e instanceof Error]; }
  out.forecast = await env.WEATHER.forecast({ city: 'Oslo', days: 1 });
  try { await env.WEATHER.explode({ why: 'storm' }); } catch (e) { out.explode = [e.name, e.message]; }
  try { await env.WEATHER.forecast('Oslo'); } catch (e) { out.badArg = e.name; }
  out.then = typeof env.CALC.then;
  out.echo = await env.CALC.echo({ d: new Date(0), n: [1, 'x', null, undefined], skip: undefined });
  out.bad = [];
  for (const bad of [new Map(), 1n, new Uint8Array(2), () => 1, NaN, new (class X {})()]) {
    try { await env.CALC.echo(bad); out.bad.push('sent'); } catch (e) { out.bad.push(e.name); }
  }
  out.greeting = env.GREETING;
  return Response.json(out);
} };";

#[test]
fn http_and_mcp_capabilities_work_through_the_egress_gateway_and_have_types() {
    let service = Upstream::start(calc);
    let (_weather, mcp_port) = weather_server("stateless");
    let d = daemon("caps", service.port, mcp_port, &[]);
    let t0 = tenant_token(0);
    let mcp_url = format!("http://127.0.0.1:{mcp_port}/mcp");
    let (status, body) = declare(
        &d,
        &t0,
        "t0",
        "weather",
        json!({ "kind": "mcp", "url": mcp_url }),
    );
    assert_eq!(status, 200, "{body}");
    let (status, list) = get_json(&d, Some(&t0), "/v1/tenants/t0/capabilities");
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["capabilities"][0]["name"], "calc");
    assert_eq!(list["capabilities"][0]["source"], "config");
    assert_eq!(list["capabilities"][1]["name"], "weather");
    assert_eq!(list["capabilities"][1]["source"], "api");

    let env = json!({
        "CALC": { "binding": "capability", "name": "calc" },
        "WEATHER": { "binding": "capability", "name": "weather" },
        "GREETING": "hello",
    });
    let (status, created) = create(&d, &t0, WORKER, env);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let out = call(&d, &t0, &id);
    assert_eq!(out["sum"], 5, "{out}");
    assert_eq!(
        out["who"]["auth"], "[redacted]",
        "the secret is scrubbed: {out}"
    );
    assert_eq!(out["fail"], json!(["ValidationError", "bad input", true]));
    assert_eq!(out["forecast"], json!({ "city": "Oslo", "tempC": 13 }));
    assert_eq!(out["explode"][0], "ToolError");
    assert!(
        out["explode"][1]
            .as_str()
            .unwrap_or("")
            .contains("down: storm"),
        "{out}"
    );
    assert_eq!(out["badArg"], "TypeError");
    assert_eq!(
        out["then"], "undefined",
        "awaiting a capability does not call it"
    );
    assert_eq!(out["greeting"], "hello");
    assert_eq!(
        out["echo"],
        json!([{ "d": "1970-01-01T00:00:00.000Z", "n": [1, "x", null, null] }]),
        "arguments cross as JSON (a Date as its ISO string)"
    );
    assert_eq!(
        out["bad"],
        json!(vec!["TypeError"; 6]),
        "anything else is a TypeError"
    );
    let leaked = out.to_string();
    assert!(
        !leaked.contains(RPC_SECRET) && !leaked.contains(WEATHER_KEY),
        "{out}"
    );
    let seen = service.requests();
    assert!(!seen.is_empty());
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(s.target, "/rpc");
        assert_eq!(
            s.header("authorization"),
            Some(format!("Bearer {RPC_SECRET}").as_str())
        );
    }

    // Types for the model: the worker's env, and an env given.
    let (status, dts) = text(
        client()
            .get(format!("{}/v1/workers/{id}/types", d.base))
            .bearer_auth(&t0),
    );
    assert_eq!(status, 200, "{dts}");
    for want in [
        "interface Env {",
        "CALC: Capability_calc.Methods;",
        "add(a: number, b: number): Promise<number>;",
        "WEATHER: Capability_weather.Methods;",
        "forecast(args: { /** The city */ city: string; days?: number }): Promise<{ city: string; tempC: number }>;",
        "Tomorrow's forecast for a city.",
        "GREETING: string;",
    ] {
        assert!(dts.contains(want), "missing {want:?} in:\n{dts}");
    }
    let (status, dts) = text(
        client()
            .post(format!("{}/v1/types", d.base))
            .bearer_auth(&t0)
            .json(&json!({ "env": { "KV": { "binding": "kv", "namespace": "n" }, "N": 3 } })),
    );
    assert_eq!(status, 200, "{dts}");
    assert!(
        dts.contains("interface KVNamespace")
            && dts.contains("KV: KVNamespace;")
            && dts.contains("N: number;"),
        "{dts}"
    );

    // Code Mode with env: TypeScript, `(arg, env)`.
    let code = "export default async (arg: { a: number }, env: any): Promise<unknown> => [await env.C.add(arg.a, 1), (await env.W.forecast({ city: 'Rome' })).tempC];";
    let env = json!({ "C": { "binding": "capability", "name": "calc" }, "W": { "binding": "capability", "name": "weather" } });
    let (status, body) = run_env(&d, &t0, code, json!({ "a": 41 }), env.clone());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!([42, 12]));

    // A per-request call budget: the 257th call of one request is refused.
    let code = "export default async (arg, env) => { let n = 0; try { for (;;) { await env.C.add(n, 0); n++; } } catch (e) { return [n, e.name]; } };";
    let (status, body) = run_env(&d, &t0, code, Value::Null, env);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!([256, "QuotaExceededError"]));

    // The egress policy applies: a capability on a port no rule allows is refused there.
    let elsewhere = Upstream::start(calc);
    let url = format!("http://127.0.0.1:{}/rpc", elsewhere.port);
    let (status, body) = declare(
        &d,
        &t0,
        "t0",
        "elsewhere",
        json!({ "kind": "http", "url": url }),
    );
    assert_eq!(status, 200, "{body}");
    let code = "export default async (arg, env) => { try { return await env.E.add(1, 1); } catch (e) { return [e.name, e.message]; } };";
    let (status, body) = run_env(
        &d,
        &t0,
        code,
        Value::Null,
        json!({ "E": { "binding": "capability", "name": "elsewhere" } }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"][0], "TypeError", "{body}");
    assert!(
        body["result"][1].as_str().unwrap_or("").contains("denied"),
        "{body}"
    );
    assert!(elsewhere.requests().is_empty());

    // Deleting a capability revokes it for workers bound to it already.
    let (status, _) = text(
        client()
            .delete(format!("{}/v1/tenants/t0/capabilities/weather", d.base))
            .bearer_auth(&t0),
    );
    assert_eq!(status, 204);
    let code = "export default async (arg, env) => { try { return await env.W.forecast({ city: 'x' }); } catch (e) { return e.name; } };";
    let (status, body) = run_env(
        &d,
        &t0,
        code,
        Value::Null,
        json!({ "W": { "binding": "capability", "name": "weather" } }),
    );
    assert_eq!(status, 400, "no such capability any more: {body}");
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t0)
        .send()
        .expect("fetch");
    assert_ne!(
        r.status().as_u16(),
        200,
        "the bound worker's call now fails"
    );
}

const FRAME: &str = "const frame = (head) => { const h = new TextEncoder().encode(JSON.stringify(head)); const out = new Uint8Array(4 + h.length); new DataView(out.buffer).setUint32(0, h.length, true); out.set(h, 4); return out; };
const ask = (head) => __stockadeTestHostCall('cap.call', frame(head)).then((b) => new TextDecoder().decode(b.subarray(4)), (e) => 'refused: ' + e.message);";

#[test]
fn a_worker_without_the_grant_cannot_reach_a_capability_by_any_name() {
    let service = Upstream::start(calc);
    let d = daemon("capgrant", service.port, 9, &[("STOCKADE_TEST_HOOKS", "1")]);
    let t0 = tenant_token(0);
    let forged = "[
      await ask({ binding: 'calc', method: 'add', args: [1, 2] }),
      await ask({ binding: 'CALC', method: 'add', args: [1, 2] }),
      await ask({ binding: 'KV', method: 'add', args: [1, 2] }),
      await ask({ binding: 'PLAIN', method: 'add', args: [1, 2] }),
      await ask({ binding: 'KV', name: 'calc', method: 'add', args: [1, 2] }),
    ]";
    let code = format!(
        "{FRAME}\nexport default {{ async fetch(req, env) {{ return Response.json([...{forged}, typeof env.PLAIN.add, typeof env.KV.add]); }} }};"
    );
    let env =
        json!({ "KV": { "binding": "kv", "namespace": "calc" }, "PLAIN": { "name": "calc" } });
    let (status, created) = create(&d, &t0, &code, env);
    assert_eq!(status, 201, "{created}");
    let out = call(&d, &t0, created["id"].as_str().expect("id"));
    let out = out.as_array().expect("array");
    for v in &out[..5] {
        assert!(
            v.as_str()
                .is_some_and(|s| s.starts_with("refused: ") && s.contains("no capability binding")),
            "{v}"
        );
    }
    assert_eq!(out[5], "undefined");
    assert_eq!(out[6], "undefined");
    // Code Mode with no env, and with an env granting something else.
    let code = format!("{FRAME}\nexport default async () => {forged};");
    for env in [
        json!({}),
        json!({ "KV": { "binding": "kv", "namespace": "calc" } }),
    ] {
        let (status, body) = run_env(&d, &t0, &code, Value::Null, env);
        assert_eq!(status, 200, "{body}");
        let results = body["result"].as_array().expect("results");
        assert!(
            results.iter().all(|r| {
                r.as_str().is_some_and(|s| {
                    s.starts_with("refused: ") && s.contains("no capability binding")
                })
            }),
            "{body}"
        );
    }
    assert!(service.requests().is_empty(), "nothing reached the service");
    // A binding the tenant has no capability for is refused when the worker is made.
    let (status, body) = create(
        &d,
        &t0,
        "export default {}",
        json!({ "X": { "binding": "capability", "name": "nope" } }),
    );
    assert_eq!(status, 400, "{body}");
}

#[test]
fn two_tenants_capabilities_never_meet() {
    let service = Upstream::start(calc);
    let d = daemon("captenants", service.port, 9, &[]);
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let env = json!({ "CALC": { "binding": "capability", "name": "calc" } });
    let code = "export default async (arg, env) => { try { return await env.CALC.add(1, 1); } catch (e) { return [e.name, e.message]; } };";
    // t1 has no `calc`: not in a worker, not in Code Mode, not in its list, not in t0's.
    let (status, body) = create(&d, &t1, "export default {}", env.clone());
    assert_eq!(status, 400, "{body}");
    assert_eq!(run_env(&d, &t1, code, Value::Null, env.clone()).0, 400);
    let (status, list) = get_json(&d, Some(&t1), "/v1/tenants/t1/capabilities");
    assert_eq!((status, list), (200, json!({ "capabilities": [] })));
    assert_eq!(
        get_json(&d, Some(&t1), "/v1/tenants/t0/capabilities").0,
        404
    );
    let url = format!("http://127.0.0.1:{}/rpc", service.port);
    let (status, _) = declare(&d, &t1, "t0", "mine", json!({ "kind": "http", "url": url }));
    assert_eq!(status, 404, "a tenant cannot declare for another");
    assert_eq!(
        text(
            client()
                .delete(format!("{}/v1/tenants/t0/capabilities/calc", d.base))
                .bearer_auth(&t1)
        )
        .0,
        404
    );
    // t1 declares its own `calc` (same URL): it goes out under t1's egress, which has no rules.
    let (status, body) = declare(&d, &t1, "t1", "calc", json!({ "kind": "http", "url": url }));
    assert_eq!(status, 200, "{body}");
    let (status, body) = run_env(&d, &t1, code, Value::Null, env.clone());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"][0], "TypeError", "{body}");
    assert!(
        service.requests().is_empty(),
        "t1 never reached t0's service"
    );
    let (status, body) = run_env(&d, &t0, code, Value::Null, env);
    assert_eq!((status, body["result"].clone()), (200, json!(2)));
    // The operator may manage any tenant's.
    let (status, list) = get_json(&d, Some(OPERATOR), "/v1/tenants/t1/capabilities");
    assert_eq!(status, 200);
    assert_eq!(list["capabilities"][0]["name"], "calc");
}

#[test]
fn the_mcp_endpoint_serves_the_official_client() {
    let service = Upstream::start(calc);
    let (_weather, mcp_port) = weather_server("stateful");
    let d = daemon("capmcp", service.port, mcp_port, &[]);
    let t0 = tenant_token(0);
    let mcp_url = format!("http://127.0.0.1:{mcp_port}/mcp");
    assert_eq!(
        declare(
            &d,
            &t0,
            "t0",
            "weather",
            json!({ "kind": "mcp", "url": mcp_url })
        )
        .0,
        200
    );
    // Unauthenticated: 401, as everywhere.
    let (status, _) = text(
        client()
            .post(format!("{}/mcp", d.base))
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" })),
    );
    assert_eq!(status, 401);

    let code = "export default async (arg: { city: string }, env: any) => ({ sum: await env.calc.add(1, 2), f: await env.weather.forecast({ city: arg.city }) });";
    let out = mcp::node("client.mjs", &[&format!("{}/mcp", d.base), &t0, code])
        .output()
        .expect("node client.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{stdout}"));
    assert_eq!(v["server"]["name"], "stockade");
    let names: Vec<&str> = v["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["execute", "types"]);
    let description = v["tools"][0]["description"].as_str().expect("description");
    assert!(
        description.contains("calc: Capability_calc.Methods;"),
        "{description}"
    );
    assert!(description.contains("forecast(args:"), "{description}");
    assert_eq!(v["result"]["isError"], false, "{v}");
    let result: Value =
        serde_json::from_str(v["result"]["content"][0]["text"].as_str().expect("text"))
            .expect("json");
    assert_eq!(
        result["result"],
        json!({ "sum": 3, "f": { "city": "Lisbon", "tempC": 18 } })
    );
    assert!(
        v["types"]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("interface Env {"),
        "{v}"
    );
    assert!(!stdout.contains(RPC_SECRET) && !stdout.contains(WEATHER_KEY));
    // This upstream keeps sessions: each use opened one and ended it with DELETE.
    let stats: Value = client()
        .get(format!("http://127.0.0.1:{mcp_port}/stats"))
        .header("X-Weather-Key", WEATHER_KEY)
        .send()
        .expect("stats")
        .json()
        .expect("json");
    assert!(stats["opened"].as_u64().unwrap_or(0) >= 3, "{stats}");
    assert_eq!(stats["open"], 0, "{stats}");

    // Another tenant's token runs as that tenant: no capabilities, so `calc` is not there.
    let code = "export default async (arg: unknown, env: any) => Object.keys(env);";
    let out = mcp::node(
        "client.mjs",
        &[&format!("{}/mcp", d.base), &tenant_token(1), code],
    )
    .output()
    .expect("node client.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{stdout}"));
    let result: Value =
        serde_json::from_str(v["result"]["content"][0]["text"].as_str().expect("text"))
            .expect("json");
    assert_eq!(result["result"], json!([]), "{v}");
}

#[test]
fn capabilities_declared_through_the_api_survive_a_restart() {
    let service = Upstream::start(calc);
    let d = daemon("caprestart", service.port, 9, &[]);
    let t0 = tenant_token(0);
    let url = format!("http://127.0.0.1:{}/rpc", service.port);
    let (status, body) = declare(
        &d,
        &t0,
        "t0",
        "sum",
        json!({ "kind": "http", "url": url, "types": CALC_TYPES }),
    );
    assert_eq!(status, 200, "{body}");
    let code = "export default async (arg, env) => env.S.add(20, 22);";
    let env = json!({ "S": { "binding": "capability", "name": "sum" } });
    let (status, created) = create(&d, &t0, "export default { async fetch(req, env) { return Response.json(await env.S.add(1, 2)); } };", env.clone());
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    // Acknowledged, then SIGKILL: no drain, no flush.
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &config(service.port, 9), &[]);
    let (status, list) = get_json(&d, Some(&t0), "/v1/tenants/t0/capabilities");
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["capabilities"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["calc", "sum"]);
    assert_eq!(list["capabilities"][1]["types"], CALC_TYPES);
    let (status, body) = run_env(&d, &t0, code, Value::Null, env);
    assert_eq!((status, body["result"].clone()), (200, json!(42)), "{body}");
    assert_eq!(
        call(&d, &t0, &id),
        json!(3),
        "the worker bound to it works again"
    );
}

#[test]
fn a_reloaded_config_brings_its_capabilities() {
    let service = Upstream::start(calc);
    let d = daemon("capreload", service.port, 9, &[]);
    let t1 = tenant_token(1);
    let env = json!({ "L": { "binding": "capability", "name": "late" } });
    let code = "export default async (arg, env) => typeof env.L.anything;";
    assert_eq!(run_env(&d, &t1, code, Value::Null, env.clone()).0, 400);
    // The file ends with t1: a capability appended is t1's.
    let text = std::fs::read_to_string(d.config_path()).expect("config");
    let next = format!("{text}[[tenants.capabilities]]\nname = \"late\"\nkind = \"mcp\"\nurl = \"https://late.example/mcp\"\n");
    std::fs::write(d.config_path(), next).expect("rewrite");
    // SAFETY: kill(2) on our own child, which is running.
    assert_eq!(unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, list) = get_json(&d, Some(&t1), "/v1/tenants/t1/capabilities");
        if list["capabilities"][0]["name"] == "late" {
            assert_eq!(list["capabilities"][0]["source"], "config");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reloaded: {list}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (status, body) = run_env(&d, &t1, code, Value::Null, env);
    assert_eq!(
        (status, body["result"].clone()),
        (200, json!("function")),
        "{body}"
    );
    let (_, list) = get_json(&d, Some(&tenant_token(0)), "/v1/tenants/t0/capabilities");
    assert_eq!(
        list["capabilities"].as_array().map(Vec::len),
        Some(1),
        "t0 still has calc only: {list}"
    );
}
