//! The Loader API, Code Mode and the admin view against a real daemon with jailed workers.
mod common;
use common::*;

#[test]
fn load_and_call_a_worker_with_modules_env_and_a_real_request() {
    let d = Daemon::start("load", 2, 2, "");
    let c = client();
    let body = serde_json::json!({
        "mainModule": "main.ts",
        "modules": {
            "main.ts": "import { shout } from './lib/util.js';\nimport cfg from './cfg.json';\nimport note from './note.txt';\nexport default { async fetch(req: Request, env: { GREETING: string }) {\n  const body = await req.text();\n  return Response.json({ m: req.method, path: new URL(req.url).pathname, q: new URL(req.url).searchParams.get('q'), body: shout(body), g: env.GREETING, cfg, note, auth: req.headers.get('authorization'), h: req.headers.get('x-test') }, { status: 203, headers: { 'x-worker': 'yes' } });\n} };",
            "lib/util.js": "export const shout = (s) => s.toUpperCase();",
            "cfg.json": { "json": { "n": 1 } },
            "note.txt": { "text": "hello" }
        },
        "env": { "GREETING": "hi" },
        "compatibilityDate": "2026-11-01",
        "limits": { "cpuMs": 50, "subRequests": 10 }
    });
    let r = c
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(0))
        .json(&body)
        .send()
        .expect("create");
    assert_eq!(r.status().as_u16(), 201);
    let created: serde_json::Value = r.json().expect("json");
    let id = created["id"].as_str().expect("id").to_string();
    // The answer says the limits as they apply: what was asked, the rest the daemon's defaults.
    assert_eq!(created["limits"]["cpuMs"], 50, "{created}");
    assert_eq!(created["limits"]["subRequests"], 10, "{created}");
    // The same definition gives the same id; another tenant gets another one.
    let again = c
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(0))
        .json(&body)
        .send()
        .expect("again");
    assert_eq!(
        again.json::<serde_json::Value>().expect("json")["id"],
        serde_json::json!(id)
    );
    let other = c
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(1))
        .json(&body)
        .send()
        .expect("other");
    assert_ne!(
        other.json::<serde_json::Value>().expect("json")["id"],
        serde_json::json!(id)
    );

    for _ in 0..3 {
        let r = c
            .post(format!("{}/v1/workers/{id}/fetch/a/b?q=1", d.base))
            .bearer_auth(tenant_token(0))
            .header("x-test", "t")
            .body("payload")
            .send()
            .expect("fetch");
        assert_eq!(r.status().as_u16(), 203);
        assert_eq!(
            r.headers().get("x-worker").and_then(|v| v.to_str().ok()),
            Some("yes")
        );
        let v: serde_json::Value = r.json().expect("json");
        assert_eq!(
            v,
            serde_json::json!({"m": "POST", "path": "/a/b", "q": "1", "body": "PAYLOAD", "g": "hi", "cfg": {"n": 1}, "note": "hello", "auth": null, "h": "t"})
        );
    }
    let desc: serde_json::Value = c
        .get(format!("{}/v1/workers/{id}", d.base))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("get")
        .json()
        .expect("json");
    assert_eq!(desc["mainModule"], "main.ts");
    assert_eq!(desc["limits"], created["limits"], "{desc}");
    // Asking for more than `[limits]` allows is lowered to it, and the creation answer says so.
    let mut greedy = body.clone();
    greedy["limits"] =
        serde_json::json!({ "cpuMs": 60000, "wallMs": 3600000, "subRequests": 100000 });
    let r = c
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(0))
        .json(&greedy)
        .send()
        .expect("greedy");
    assert_eq!(r.status().as_u16(), 201);
    let capped: serde_json::Value = r.json().expect("json");
    // The daemon's defaults: 50 ms of CPU, 30 s of wall clock, 50 subrequests.
    assert_eq!(capped["limits"]["cpuMs"], 50, "{capped}");
    assert_eq!(capped["limits"]["wallMs"], 30000, "{capped}");
    assert_eq!(capped["limits"]["subRequests"], 50, "{capped}");
    assert_eq!(
        c.delete(format!("{}/v1/workers/{id}", d.base))
            .bearer_auth(tenant_token(0))
            .send()
            .expect("delete")
            .status()
            .as_u16(),
        204
    );
    assert_eq!(
        c.get(format!("{}/v1/workers/{id}", d.base))
            .bearer_auth(tenant_token(0))
            .send()
            .expect("get")
            .status()
            .as_u16(),
        404
    );
}

#[test]
fn code_mode_runs_snippets_in_fresh_isolates() {
    let d = Daemon::start("run", 1, 1, "");
    let c = client();
    let run = |code: &str, arg: serde_json::Value| -> (u16, serde_json::Value) {
        let r = c
            .post(format!("{}/v1/run", d.base))
            .bearer_auth(tenant_token(0))
            .json(&serde_json::json!({"code": code, "arg": arg}))
            .send()
            .expect("run");
        (r.status().as_u16(), r.json().expect("json"))
    };
    let (s, v) = run("let n = 0;\nexport default (a: { x: number }) => { n++; console.log('x is', a.x); return { y: a.x * 2, n }; };", serde_json::json!({"x": 21}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"], serde_json::json!({"y": 42, "n": 1}));
    assert_eq!(
        v["logs"],
        serde_json::json!([{"level": "log", "message": "x is 21"}])
    );
    assert!(v["cpuMs"].as_f64().is_some() && v["wallMs"].as_f64().is_some());
    // A fresh isolate each time: module state does not carry over.
    let (_, v) = run(
        "let n = 0;\nexport default () => ({ n: ++n });",
        serde_json::Value::Null,
    );
    assert_eq!(v["result"], serde_json::json!({"n": 1}));
    let (s, v) = run(
        "export default () => { throw new TypeError('nope'); };",
        serde_json::Value::Null,
    );
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("script_threw")),
        "{v}"
    );
    let (s, v) = run(
        "export default () => { for (;;) {} };",
        serde_json::Value::Null,
    );
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("cpu_limit")),
        "{v}"
    );
    let (s, v) = run("export default ( => 1;", serde_json::Value::Null);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("compile_error")),
        "{v}"
    );
    // The process survived all of that.
    let (s, _) = run("export default () => 1;", serde_json::Value::Null);
    assert_eq!(s, 200);
}

#[test]
fn tenants_are_authenticated_and_see_only_their_own_workers() {
    let d = Daemon::start("auth", 2, 1, "");
    let c = client();
    let id = load(
        &d,
        &tenant_token(0),
        "export default { fetch() { return new Response('mine'); } };",
    );
    let url = format!("{}/v1/workers/{id}/fetch/", d.base);
    assert_eq!(c.get(&url).send().expect("no token").status().as_u16(), 401);
    assert_eq!(
        c.get(&url)
            .bearer_auth("wrong-token-0000000000")
            .send()
            .expect("bad token")
            .status()
            .as_u16(),
        401
    );
    let r = c
        .get(&url)
        .bearer_auth(tenant_token(1))
        .send()
        .expect("other tenant");
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        r.json::<serde_json::Value>().expect("json")["error"]["code"],
        "not_found"
    );
    // Describing it is a 404 too, the same answer as for an id nobody has.
    let describe = |token: String, id: &str| {
        let r = c
            .get(format!("{}/v1/workers/{id}", d.base))
            .bearer_auth(token)
            .send()
            .expect("describe");
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().expect("json"),
        )
    };
    let (status, theirs) = describe(tenant_token(1), &id);
    assert_eq!(status, 404, "{theirs}");
    assert_eq!(describe(tenant_token(1), &"0".repeat(64)), (404, theirs));
    assert_eq!(describe(tenant_token(0), &id).0, 200);
    assert_eq!(
        c.delete(format!("{}/v1/workers/{id}", d.base))
            .bearer_auth(tenant_token(1))
            .send()
            .expect("delete")
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        c.get(&url)
            .bearer_auth(tenant_token(0))
            .send()
            .expect("owner")
            .text()
            .expect("text"),
        "mine"
    );
    assert_eq!(
        c.get(format!("{}/v1/admin/workers", d.base))
            .bearer_auth(tenant_token(0))
            .send()
            .expect("admin")
            .status()
            .as_u16(),
        403
    );
    let admin = d.admin();
    let w = &admin["workers"][0];
    assert!(
        w["pid"].as_u64().unwrap_or(0) > 1 && w["rssBytes"].as_u64().unwrap_or(0) > 0,
        "{admin}"
    );
    assert_eq!(w["jailed"], true);
}

#[test]
fn hostile_bodies_and_headers_are_rejected_with_json_errors() {
    let d = Daemon::start("hostile", 1, 1, "[limits]\nmax_code_bytes = 100000\nmax_env_bytes = 10000\nmax_run_bytes = 10000\nmax_fetch_body_bytes = 1000\n");
    let c = client();
    let t = tenant_token(0);
    let post = |path: &str, body: Vec<u8>| {
        c.post(format!("{}{path}", d.base))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .expect("post")
    };
    for (path, body, status) in [
        ("/v1/workers", b"{not json".to_vec(), 400),
        (
            "/v1/workers",
            br#"{"mainModule":"main.js","modules":{}}"#.to_vec(),
            400,
        ),
        (
            "/v1/workers",
            br#"{"mainModule":"x.js","modules":{"main.js":"1"}}"#.to_vec(),
            400,
        ),
        (
            "/v1/workers",
            br#"{"mainModule":"../main.js","modules":{"../main.js":"1"}}"#.to_vec(),
            400,
        ),
        (
            "/v1/workers",
            br#"{"mainModule":"main.js","modules":{"main.js":{"js":"1","text":"2"}}}"#.to_vec(),
            400,
        ),
        (
            "/v1/workers",
            br#"{"mainModule":"main.js","modules":{"main.js":"1"},"bogus":1}"#.to_vec(),
            400,
        ),
        (
            "/v1/workers",
            // Any JSON value is a plain env value, but an unknown binding is refused.
            br#"{"mainModule":"main.js","modules":{"main.js":"1"},"env":{"A":{"binding":"disk"}}}"#
                .to_vec(),
            400,
        ),
        (
            "/v1/workers",
            format!(
                r#"{{"mainModule":"main.js","modules":{{"main.js":"{}"}}}}"#,
                "a".repeat(150_000)
            )
            .into_bytes(),
            413,
        ),
        ("/v1/workers", vec![b'['; 300_000], 413),
        (
            "/v1/run",
            format!(r#"{{"code":"{}"}}"#, "a".repeat(15_000)).into_bytes(),
            413,
        ),
        ("/v1/run", br#"{"code": 5}"#.to_vec(), 400),
        ("/v1/run", vec![0xff, 0xfe, 0x00], 400),
    ] {
        let r = post(path, body);
        assert_eq!(r.status().as_u16(), status, "{path}");
        let v: serde_json::Value = r.json().expect("errors are JSON");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
    let id = load(&d, &t, "export default { async fetch(r: Request) { return new Response(String((await r.arrayBuffer()).byteLength)); } };");
    let big = c
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .body(vec![1u8; 5000])
        .send()
        .expect("big");
    assert_eq!(big.status().as_u16(), 413);
    let bad_header = c
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .header(
            "x-bin",
            reqwest::header::HeaderValue::from_bytes(&[0xff, 0xfe]).expect("hv"),
        )
        .send()
        .expect("hdr");
    assert_eq!(bad_header.status().as_u16(), 400);
    let ok = c
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .body(vec![1u8; 500])
        .send()
        .expect("ok");
    assert_eq!(ok.text().expect("text"), "500");
    // A handler that logs, then throws or answers no Response: its error carries its logs.
    for (code, kind) in [
        (
            "export default { fetch() { console.warn('about to fail'); throw new Error('boom'); } };",
            "boom",
        ),
        (
            "export default { fetch() { console.warn('about to fail'); return 'text'; } };",
            "Response",
        ),
    ] {
        let id = load(&d, &t, code);
        let r = c
            .get(format!("{}/v1/workers/{id}/fetch/", d.base))
            .bearer_auth(&t)
            .send()
            .expect("fails");
        assert_eq!(r.status().as_u16(), 422, "{code}");
        let v: serde_json::Value = r.json().expect("errors are JSON");
        assert!(
            v["error"]["message"].as_str().is_some_and(|m| m.contains(kind)),
            "{v}"
        );
        assert_eq!(
            v["logs"],
            serde_json::json!([{"level": "warn", "message": "about to fail"}]),
            "{v}"
        );
    }
}
