//! The web-platform basics worker code expects, exercised inside real V8 isolates.
mod common;
use common::*;
use stockade_isolate::{FetchRequest, Module, ModuleSet, RunError, Worker};

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!("export default async () => {{ {body} }};")))
}

#[test]
fn url_and_search_params() {
    let v = eval("const u = new URL('../a/./b?x=1&y=%20z#frag', 'https://User:pw@Example.COM:443/p/q/r'); u.searchParams.append('k', 'v w'); return [u.href, u.host, u.pathname, u.searchParams.get('y'), String(new URLSearchParams({a: '1', b: '2'})), URL.canParse('nope')];");
    assert_eq!(
        v,
        serde_json::json!([
            "https://User:pw@example.com/p/a/b?x=1&y=+z&k=v+w#frag",
            "example.com",
            "/p/a/b",
            " z",
            "a=1&b=2",
            false
        ])
    );
}

#[test]
fn text_encoding_and_base64() {
    let v = eval("const e = new TextEncoder().encode('héllo €'); const d = new TextDecoder().decode(new Uint8Array([0x68, 0xff, 0x69])); let fatal; try { new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xc3])); } catch (x) { fatal = x.name; } return [Array.from(e), d, btoa('hi!'), atob('aGkh'), fatal];");
    assert_eq!(
        v,
        serde_json::json!([
            [104, 195, 169, 108, 108, 111, 32, 226, 130, 172],
            "h\u{fffd}i",
            "aGkh",
            "hi!",
            "TypeError"
        ])
    );
}

#[test]
fn structured_clone_keeps_types_and_cycles() {
    let v = eval("const a = { d: new Date(5), m: new Map([[1, 'x']]), s: new Set([2]), b: new Uint8Array([1, 2]) }; a.self = a; const c = structuredClone(a); let err; try { structuredClone({ f() {} }); } catch (x) { err = x.name; } return [c !== a, c.self === c, c.d.getTime(), c.m.get(1), c.s.has(2), Array.from(c.b), err];");
    assert_eq!(
        v,
        serde_json::json!([true, true, 5, "x", true, [1, 2], "DataCloneError"])
    );
}

#[test]
fn crypto_random_values_and_uuids() {
    let v = eval("const a = crypto.getRandomValues(new Uint8Array(32)); const b = crypto.getRandomValues(new Uint8Array(32)); let q; try { crypto.getRandomValues(new Uint8Array(65537)); } catch (x) { q = [x.name, x instanceof QuotaExceededError, x instanceof DOMException, x.quota, x.requested, x.code]; } const u = crypto.randomUUID(); return [a.some((x, i) => x !== b[i]), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(u), q];");
    assert_eq!(
        v,
        serde_json::json!([
            true,
            true,
            ["QuotaExceededError", true, true, null, null, 22]
        ])
    );
}

#[test]
fn request_response_and_headers() {
    let v = eval("const h = new Headers({ 'Content-Type': 'text/plain' }); h.append('X-A', '1'); const r = new Request('https://x.test/p', { method: 'post', body: 'abc', headers: h }); const res = Response.json({ ok: 1 }, { status: 201 }); const t = await r.text(); let used; try { await r.text(); } catch (x) { used = x.name; } return [r.method, h.get('content-type'), t, used, res.status, await res.json(), new Response(new Uint8Array([104, 105])).ok];");
    assert_eq!(
        v,
        serde_json::json!(["POST", "text/plain", "abc", "TypeError", 201, {"ok": 1}, true])
    );
}

#[test]
fn fetch_without_a_host_fails_with_a_clear_type_error() {
    // A bare engine has no supervisor to ask: the host call is refused (worker processes forward
    // it to the egress gateway instead; see daemon/tests).
    match err(run("export default () => fetch('https://example.com/');")) {
        RunError::Threw { message, .. } => {
            assert!(
                message.contains("TypeError: fetch failed: host calls need a worker process"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn console_formats_objects_and_survives_hostile_ones() {
    let inv = run("export default () => { const p = new Proxy({}, { get() { throw new Error('trap'); }, ownKeys() { throw new Error('trap'); } }); console.log({ a: [1, 'two'], m: new Map([[1, 2]]) }); console.log(p); return 1; };");
    let logs: Vec<String> = inv.logs.iter().map(|l| l.text.clone()).collect();
    assert_eq!(ok(inv), serde_json::json!(1));
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(
        logs[0].contains("two") && logs[0].contains("Map"),
        "{logs:?}"
    );
}

/// An isolate that loaded `src` as its main module.
fn loaded(src: &str) -> Worker {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    assert!(worker.load("main.js", &mut set).result.is_ok());
    worker
}

#[test]
fn fetch_handlers_get_a_real_request_and_return_a_response() {
    let mut worker = loaded("export default { async fetch(request, env, ctx) { const body = await request.text(); return new Response(JSON.stringify({ m: request.method, u: request.url, h: request.headers.get('x-test'), body, env: env.NAME }), { status: 202, headers: { 'content-type': 'application/json' } }); } };");
    let request = FetchRequest {
        method: "POST".into(),
        url: "https://worker.test/path?q=1".into(),
        headers: vec![("X-Test".into(), "yes".into())],
        body: b"payload".to_vec(),
        body_streamed: false,
        encode_body: false,
        env: serde_json::json!({"NAME": "value"}),
    };
    let (response, _inv) = worker.fetch(&request);
    let response = response.expect("a response");
    assert_eq!(response.status, 202);
    assert!(response
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/json"));
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("json body");
    assert_eq!(
        body,
        serde_json::json!({"m": "POST", "u": "https://worker.test/path?q=1", "h": "yes", "body": "payload", "env": "value"})
    );
}

/// The request's headers reach the handler as `Headers.append` would have stored them (the host
/// normalizes them, `tasks/head.rs`); one append would refuse fails the request before the
/// handler runs, with an InvalidInput error naming it.
#[test]
fn a_fetch_s_headers_are_normalized_and_an_invalid_one_is_refused_before_the_handler() {
    let mut worker = loaded("let calls = 0; export default { fetch(request) { calls++; return new Response(JSON.stringify({ calls, all: [...request.headers], a: request.headers.get('x-a') })); } };");
    let with = |headers: &[(&str, &str)]| FetchRequest {
        method: "GET".into(),
        url: "https://worker.test/".into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ..FetchRequest::default()
    };
    let (response, _) = worker.fetch(&with(&[("X-A", " 1\t"), ("x-a", "2"), ("Accept", "*/*")]));
    let body: serde_json::Value =
        serde_json::from_slice(&response.expect("a response").body).expect("json body");
    assert_eq!(
        body,
        serde_json::json!({"calls": 1, "all": [["accept", "*/*"], ["x-a", "1, 2"]], "a": "1, 2"})
    );
    for bad in [
        ("bad name", "v"),
        ("x-b", "a\r\nx-c: d"),
        ("x-b", "\u{20ac}"),
    ] {
        let (response, _) = worker.fetch(&with(&[("x-a", "1"), bad]));
        match response {
            Err(RunError::InvalidInput(message)) => {
                assert!(message.contains("header"), "{message}")
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    // The handler did not run for them.
    let (response, _) = worker.fetch(&with(&[]));
    let body: serde_json::Value =
        serde_json::from_slice(&response.expect("a response").body).expect("json body");
    assert_eq!(body["calls"], 2);
}

/// structuredClone of a Float16Array (which V8 installs after the snapshot: the worker's
/// configuration hands it over) and of a resizable ArrayBuffer, which stays resizable with its
/// maximum, as the HTML standard's serialization keeps it. Both failed before: a TypeError, and a
/// fixed-length copy.
#[test]
fn structured_clone_takes_float16_arrays_and_keeps_a_buffer_resizable() {
    let v = eval(
        "const f = structuredClone(new Float16Array([1.5, -2]));
         const ab = new ArrayBuffer(4, { maxByteLength: 16 }); new Uint8Array(ab).set([1, 2, 3, 4]);
         const c = structuredClone(ab); c.resize(8);
         return [f.constructor.name, [...f], c.resizable, c.maxByteLength, [...new Uint8Array(c)], ab.byteLength];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "Float16Array",
            [1.5, -2],
            true,
            16,
            [1, 2, 3, 4, 0, 0, 0, 0],
            4
        ])
    );
}
