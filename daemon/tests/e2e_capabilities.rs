//! Tenant capabilities end to end: a real daemon, real jailed workers, a real HTTP service on
//! 127.0.0.1 behind an `http` capability and a real MCP server built with the official TypeScript
//! SDK behind an `mcp` capability (`tests/mcp/`, installed from npm at test time). Secrets
//! injected by the tenant's egress rules reach the services and never the worker; a worker
//! without the grant reaches no capability by any name (the host call forged directly); two
//! tenants' capabilities never meet; declarations are durable and reloadable. What crosses
//! (structured-clone data) is `e2e_capability_data.rs`'s; the daemon's own `/mcp` endpoint is
//! `e2e_mcp_server.rs`'s.
mod common;
#[path = "mcp/fixtures.rs"]
mod fixtures;
#[path = "mcp/install.rs"]
mod mcp;
#[path = "../src/egress/test_upstream.rs"]
mod upstream;

use common::*;
use fixtures::*;
use serde_json::{json, Value};
use upstream::Upstream;

const WORKER: &str = "export default { async fetch(req, env) {
  const out = {};
  out.sum = await env.CALC.add(2, 3);
  out.who = await env.CALC.whoami();
  try { await env.CALC.fail(); } catch (e) { out.fail = [e.name, e.message, e instanceof Error]; }
  out.forecast = await env.WEATHER.forecast({ city: 'Oslo', days: 1 });
  try { await env.WEATHER.explode({ why: 'storm' }); } catch (e) { out.explode = [e.name, e.message]; }
  try { await env.WEATHER.forecast('Oslo'); } catch (e) { out.badArg = e.name; }
  out.then = typeof env.CALC.then;
  out.greeting = env.GREETING;
  return Response.json(out);
} };";

#[test]
fn http_and_mcp_capabilities_work_through_the_egress_gateway_and_have_types() {
    let WithCapabilities {
        d,
        service,
        t0,
        weather: _weather,
        ..
    } = with_capabilities("caps", "stateless");
    let (status, list) = get_json(&d, Some(&t0), "/v1/tenants/t0/capabilities");
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["capabilities"][0]["name"], "calc");
    assert_eq!(list["capabilities"][0]["source"], "config");
    assert_eq!(list["capabilities"][1]["name"], "weather");
    assert_eq!(list["capabilities"][1]["source"], "api");
    // Declarations are checked before they are stored.
    for (name, bad) in [
        ("x", json!({ "kind": "http", "url": "ftp://127.0.0.1/" })),
        ("x", json!({ "kind": "smtp", "url": "http://127.0.0.1/" })),
        (
            "x",
            json!({ "kind": "mcp", "url": "http://127.0.0.1/", "types": "interface Methods {}" }),
        ),
        (
            "x",
            json!({ "kind": "http", "url": "http://u:p@127.0.0.1/" }),
        ),
        (
            "a%20b",
            json!({ "kind": "mcp", "url": "http://127.0.0.1/" }),
        ),
    ] {
        assert_eq!(declare(&d, &t0, "t0", name, bad.clone()).0, 400, "{bad}");
    }

    let env = json!({
        "CALC": { "binding": "capability", "name": "calc" },
        "WEATHER": { "binding": "capability", "name": "weather" },
        "GREETING": "hello",
    });
    let (status, created) = create(&d, &t0, WORKER, env);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let (_, described) = get_json(&d, Some(&t0), &format!("/v1/workers/{id}"));
    assert_eq!(
        described["bindings"]["CALC"],
        json!({ "binding": "capability", "name": "calc" })
    );
    let out = fetch_json(&d, &t0, &id, "");
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
    // Calls run concurrently within a request.
    let code = "export default async (arg, env) => (await Promise.all(Array.from({ length: 32 }, (_, i) => env.C.add(i, i)))).reduce((a, b) => a + b, 0);";
    let (status, body) = run_env(&d, &t0, code, Value::Null, env.clone());
    assert_eq!(
        (status, body["result"].clone()),
        (200, json!(992)),
        "{body}"
    );

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
    let out = fetch_json(&d, &t0, created["id"].as_str().expect("id"), "");
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
        fetch_json(&d, &t0, &id, ""),
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

#[test]
fn a_reload_that_reorders_tenants_keeps_every_call_with_its_own_tenant() {
    let service = Upstream::start(calc);
    let d = daemon("capreorder", service.port, 9, &[]);
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let url = format!("http://127.0.0.1:{}/rpc", service.port);
    // t1's own `calc`, to the same service: t1's egress has no rules, so its calls are refused.
    assert_eq!(
        declare(&d, &t1, "t1", "calc", json!({ "kind": "http", "url": url })).0,
        200
    );
    let env = json!({ "CALC": { "binding": "capability", "name": "calc" } });
    let code = "export default async (arg, env) => { try { return await env.CALC.add(1, 1); } catch (e) { return e.name; } };";
    // The same file with t1 first.
    let text = std::fs::read_to_string(d.config_path()).expect("config");
    let first = text.find("[[tenants]]").expect("t0");
    let second = text.rfind("[[tenants]]").expect("t1");
    let swapped = format!(
        "{}{}{}",
        &text[..first],
        &text[second..],
        &text[first..second]
    );
    std::fs::write(d.config_path(), swapped).expect("rewrite");
    // SAFETY: kill(2) on our own child, which is running.
    assert_eq!(unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !d.stderr().contains("reloaded") {
        assert!(
            std::time::Instant::now() < deadline,
            "never reloaded:\n{}",
            d.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (status, body) = run_env(&d, &t1, code, Value::Null, env.clone());
    assert_eq!(
        (status, body["result"].clone()),
        (200, json!("TypeError")),
        "{body}"
    );
    assert!(service.requests().is_empty(), "t1's call went out as t0's");
    let (status, body) = run_env(&d, &t0, code, Value::Null, env);
    assert_eq!((status, body["result"].clone()), (200, json!(2)), "{body}");
}
