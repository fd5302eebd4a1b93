//! What crosses a capability call, end to end: a real daemon, real jailed workers, the real HTTP
//! service on 127.0.0.1 behind the `http` capability `calc` (its `echo` answers its arguments as
//! they came, and it records every request's body) and the real MCP server (the official
//! TypeScript SDK, `tests/mcp/`) behind an `mcp` capability. Proves: structured-clone data (Map,
//! Set, Date, Uint8Array, ArrayBuffer, BigInt, undefined, NaN, -0, ±Infinity, an object owning a
//! "$" key) survives the round trip through the service, in the tagged encoding on the wire;
//! plain JSON reaches the service byte for byte as the worker's own `JSON.stringify` writes it;
//! what cannot be cloned is a `DataCloneError` before any request; an MCP tool gets JSON (a Date
//! as its ISO string, an undefined property left out) and a Map, Set, bytes, BigInt or NaN
//! argument is a `TypeError` naming the tool.
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

const WORKER: &str = "export default { async fetch(req, env) {
  const out = {};
  // Structured-clone data both ways: `echo` answers its arguments as they came.
  const big = 2n ** 70n;
  const sent = [new Map([[1, 'a'], ['k', [new Set([big])]]]), new Set(['x', 3]), new Date(86400000),
    new Uint8Array([0, 1, 255]), big, undefined, NaN, new Uint8Array([9, 8]).buffer,
    { $: 'own', when: new Date(-1), gone: undefined }, -0, -Infinity];
  const back = await env.CALC.echo(...sent);
  out.clone = {
    length: back.length,
    map: back[0] instanceof Map && back[0].size === 2 && back[0].get(1) === 'a'
      && back[0].get('k')[0] instanceof Set && back[0].get('k')[0].has(big),
    set: back[1] instanceof Set && back[1].size === 2 && back[1].has('x') && back[1].has(3),
    date: back[2] instanceof Date && back[2].getTime() === 86400000,
    bytes: back[3] instanceof Uint8Array && back[3].join() === '0,1,255',
    bigint: typeof back[4] === 'bigint' && back[4] === big,
    undef: 5 in back && back[5] === undefined,
    nan: typeof back[6] === 'number' && Number.isNaN(back[6]),
    buffer: back[7] instanceof ArrayBuffer && new Uint8Array(back[7]).join() === '9,8',
    object: Object.getPrototypeOf(back[8]) === Object.prototype && back[8].$ === 'own'
      && back[8].when instanceof Date && back[8].when.getTime() === -1
      && 'gone' in back[8] && back[8].gone === undefined,
    negzero: Object.is(back[9], -0),
    inf: back[10] === -Infinity,
  };
  // Plain JSON crosses as itself (keys in order, so the service's body can be compared as text).
  const plain = { a: [1, 'x', null, true, 2.5, -3], b: { deep: ['\\u00e9', {}] }, c: '' };
  out.plain = [JSON.stringify([plain, 7]), JSON.stringify(await env.CALC.echo(plain, 7))];
  // Errors keep their name and message.
  try { await env.CALC.fail(); } catch (e) { out.fail = [e.name, e.message, e instanceof Error]; }
  // An MCP tool's arguments are JSON: a Date as its ISO string, an undefined property left out,
  // and what JSON cannot hold a TypeError naming the tool.
  out.mcpUndefined = await env.WEATHER.forecast({ city: 'Oslo', days: undefined });
  try { await env.WEATHER.explode({ why: new Date(0) }); } catch (e) { out.mcpDate = e.message; }
  out.mcpBad = [];
  for (const bad of [new Map([['city', 'Oslo']]), new Set(), new Uint8Array(1), 1n, NaN]) {
    try { await env.WEATHER.forecast({ city: 'Oslo', bad }); out.mcpBad.push('sent'); }
    catch (e) { out.mcpBad.push([e.name, e.message]); }
  }
  return Response.json(out);
} };";

#[test]
fn capability_calls_carry_structured_clone_data_and_mcp_tools_get_json() {
    let WithCapabilities {
        d,
        service,
        t0,
        weather: _weather,
        ..
    } = with_capabilities("capdata", "stateless");
    let env = json!({
        "CALC": { "binding": "capability", "name": "calc" },
        "WEATHER": { "binding": "capability", "name": "weather" },
    });
    let (status, created) = create(&d, &t0, WORKER, env);
    assert_eq!(status, 201, "{created}");
    let out = fetch_json(&d, &t0, created["id"].as_str().expect("id"), "");

    assert_eq!(
        out["clone"],
        json!({
            "length": 11, "map": true, "set": true, "date": true, "bytes": true, "bigint": true,
            "undef": true, "nan": true, "buffer": true, "object": true, "negzero": true,
            "inf": true,
        }),
        "structured-clone data survives the round trip through the service"
    );
    assert_eq!(out["plain"][0], out["plain"][1], "{out}");
    assert_eq!(out["fail"], json!(["ValidationError", "bad input", true]));

    // On the wire: the tagged encoding, and plain JSON as the worker's JSON.stringify wrote it.
    let bodies: Vec<String> = service
        .requests()
        .iter()
        .map(|s| String::from_utf8_lossy(&s.body).into_owned())
        .collect();
    let plain = out["plain"][0].as_str().expect("plain");
    assert!(
        bodies
            .iter()
            .any(|b| b.contains(&format!("\"args\":{plain}"))),
        "plain JSON arguments cross byte for byte: {plain} in {bodies:?}"
    );
    let clone: Value = bodies
        .iter()
        .filter_map(|b| serde_json::from_str::<Value>(b).ok())
        .find(|b| b["method"] == "echo" && b["args"].as_array().map(Vec::len) == Some(11))
        .expect("the round trip's request");
    let big = json!({ "$": "b", "v": "1180591620717411303424" });
    assert_eq!(
        clone["args"],
        json!([
            { "$": "m", "v": [[1, "a"], ["k", [{ "$": "s", "v": [big] }]]] },
            { "$": "s", "v": ["x", 3] },
            { "$": "d", "v": 86400000 },
            { "$": "u8", "v": "AAH/" },
            big,
            { "$": "u" },
            { "$": "n", "v": "NaN" },
            { "$": "ab", "v": "CQg=" },
            { "$": "o", "v": { "$": "own", "when": { "$": "d", "v": -1 }, "gone": { "$": "u" } } },
            { "$": "n", "v": "-0" },
            { "$": "n", "v": "-Infinity" },
        ])
    );

    // MCP: JSON arguments.
    assert_eq!(
        out["mcpUndefined"],
        json!({ "city": "Oslo", "tempC": 12 }),
        "an undefined property is left out of an MCP tool's arguments"
    );
    assert_eq!(
        out["mcpDate"], "the weather service is down: 1970-01-01T00:00:00.000Z",
        "a Date reaches an MCP tool as its ISO string"
    );
    let mcp_bad = out["mcpBad"].as_array().expect("mcpBad");
    assert_eq!(mcp_bad.len(), 5, "{out}");
    for (bad, what) in mcp_bad
        .iter()
        .zip(["a Map", "a Set", "a Uint8Array", "a BigInt", "NaN"])
    {
        assert_eq!(bad[0], "TypeError", "{out}");
        let message = bad[1].as_str().unwrap_or("");
        assert!(
            message.starts_with("weather.forecast: ") && message.contains(what),
            "{message}"
        );
    }

    // What cannot be cloned is a DataCloneError thrown before anything is sent.
    let before = service.requests().len();
    let code = "export default async (arg, env) => {
      const cyclic = [1]; cyclic.push(cyclic);
      const out = [];
      for (const bad of [function f() {}, Symbol('s'), new (class X {})(), cyclic, new Int16Array(1), { deep: [() => 1] }]) {
        try { await env.C.echo(1, bad); out.push('sent'); }
        catch (e) { out.push([e.name, e instanceof DOMException, e.message]); }
      }
      return out;
    };";
    let (status, body) = run_env(
        &d,
        &t0,
        code,
        Value::Null,
        json!({ "C": { "binding": "capability", "name": "calc" } }),
    );
    assert_eq!(status, 200, "{body}");
    let refused = body["result"].as_array().expect("results");
    assert_eq!(refused.len(), 6, "{body}");
    for r in refused {
        assert_eq!(
            (&r[0], &r[1]),
            (&json!("DataCloneError"), &json!(true)),
            "{body}"
        );
        assert!(
            r[2].as_str().unwrap_or("").starts_with("C.echo: "),
            "{body}"
        );
    }
    assert_eq!(
        service.requests().len(),
        before,
        "nothing reached the service"
    );
}
