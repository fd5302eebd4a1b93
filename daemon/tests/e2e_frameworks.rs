//! Real Workers frameworks from npm, end to end: a Hono app and an itty-router app (see
//! `daemon/tests/frameworks/`), bundled with esbuild, loaded through the Loader API
//! (`POST /v1/workers`) and called over real HTTP, the client authenticating with
//! `X-Stockade-Token` and sending its own `Authorization` header to the app. Hono's JWT
//! middleware needs `crypto.subtle`: its test is a function of its own.
mod common;
#[path = "frameworks/bundle.rs"]
mod frameworks;

use base64::Engine as _;
use common::*;
use reqwest::blocking::Response;
use sha2::{Digest, Sha256};

const TOKEN_HEADER: &str = "X-Stockade-Token";

/// Loads `app`'s bundle as one ES module; the worker id.
fn load_app(d: &Daemon, app: &str, env: serde_json::Value) -> String {
    let body = serde_json::json!({
        "mainModule": "app.mjs",
        "modules": { "app.mjs": frameworks::bundle(app) },
        "env": env,
        "limits": { "cpuMs": 2000, "wallMs": 30000 },
    });
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(0))
        .json(&body)
        .send()
        .expect("load");
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    assert_eq!(status, 201, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["id"].as_str().expect("id").to_string()
}

/// A request to the worker's `path`, authenticated the data-plane way.
fn call(
    d: &Daemon,
    id: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client()
        .request(method, format!("{}/v1/workers/{id}/fetch{path}", d.base))
        .header(TOKEN_HEADER, tenant_token(0));
    for (n, v) in headers {
        request = request.header(*n, *v);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    request.send().expect("call")
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn json(r: Response) -> serde_json::Value {
    let text = r.text().expect("text");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A multipart/form-data body with one text field and one file.
fn multipart() -> (String, Vec<u8>) {
    let boundary = "----stockade-boundary-7MA4YWxk";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nnaïve café\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"notes.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nline one\nline two\r\n--{boundary}--\r\n"
    );
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

#[test]
fn hono_app_runs_unchanged() {
    let d = Daemon::start("frameworks-hono", 1, 1, "");
    let id = load_app(&d, "hono-app.js", serde_json::json!({}));

    // Middleware rewrote the response after `await next()`: body intact, headers added.
    let r = call(&d, &id, "GET", "/hello", &[], None);
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-rewritten"), "yes");
    assert_eq!(header(&r, "x-powered-by"), "hono-on-stockade");
    assert_eq!(r.text().expect("text"), "hello from hono");

    // Routing, params, query, JSON, CORS on a simple request.
    let origin = [("Origin", "https://app.example")];
    let r = call(&d, &id, "GET", "/api/users/42?q=x%20y", &origin, None);
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        "https://app.example"
    );
    assert_eq!(header(&r, "access-control-allow-credentials"), "true");
    assert_eq!(header(&r, "access-control-expose-headers"), "x-rewritten");
    assert!(header(&r, "content-type").starts_with("application/json"));
    assert_eq!(
        json(r),
        serde_json::json!({ "id": "42", "q": "x y", "ua": "Cloudflare-Workers" })
    );

    // A CORS preflight.
    let r = call(
        &d,
        &id,
        "OPTIONS",
        "/api/echo",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        None,
    );
    assert_eq!(r.status(), 204);
    assert!(header(&r, "access-control-allow-methods").contains("POST"));
    assert_eq!(header(&r, "access-control-max-age"), "600");
    assert!(header(&r, "access-control-allow-headers")
        .to_ascii_lowercase()
        .contains("authorization"));

    // A JSON body in and out.
    let r = call(
        &d,
        &id,
        "POST",
        "/api/echo",
        &[("Content-Type", "application/json")],
        Some(br#"{"items":[1,2,3],"name":"\u00e9t\u00e9"}"#.to_vec()),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(
        json(r),
        serde_json::json!({ "got": { "items": [1, 2, 3], "name": "été" }, "type": "application/json" })
    );

    // Forms: c.req.parseBody() over multipart (a file among the fields) and urlencoded.
    let (content_type, body) = multipart();
    let r = call(
        &d,
        &id,
        "POST",
        "/form",
        &[("Content-Type", &content_type)],
        Some(body),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(
        json(r),
        serde_json::json!({
            "title": "naïve café",
            "upload": { "name": "notes.txt", "type": "text/plain", "size": 17, "text": "line one\nline two" },
        })
    );
    let r = call(
        &d,
        &id,
        "POST",
        "/form",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"a=1&b=two+words&c=%26".to_vec()),
    );
    assert_eq!(
        json(r),
        serde_json::json!({ "a": "1", "b": "two words", "c": "&" })
    );

    // The client's own Authorization reaches the app; Stockade's token does not.
    for auth in ["Bearer client-own-token", "Basic dXNlcjpwYXNz"] {
        let r = call(&d, &id, "GET", "/whoami", &[("Authorization", auth)], None);
        assert_eq!(json(r), serde_json::json!({ "authorization": auth }));
    }

    // Server-sent events from hono/streaming, streamed through the middleware's rewrite.
    let r = call(&d, &id, "GET", "/sse", &[], None);
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    assert_eq!(header(&r, "x-rewritten"), "yes");
    let text = r.text().expect("text");
    let expected: String = (0..3)
        .map(|i| format!("event: tick\ndata: {{\"i\":{i}}}\nid: {i}\n\n"))
        .collect();
    assert_eq!(text, expected);

    // notFound and onError handlers.
    let r = call(&d, &id, "GET", "/nope", &[], None);
    assert_eq!(r.status(), 404);
    assert_eq!(
        json(r),
        serde_json::json!({ "error": "not found", "path": "/nope" })
    );
}

#[test]
fn itty_router_app_runs_unchanged() {
    let d = Daemon::start("frameworks-itty", 1, 1, "");
    let id = load_app(&d, "itty-app.js", serde_json::json!({}));
    let origin = ("Origin", "https://app.example");

    let r = call(&d, &id, "GET", "/items/abc?q=1", &[origin], None);
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        "https://app.example"
    );
    assert_eq!(header(&r, "access-control-allow-credentials"), "true");
    assert_eq!(json(r), serde_json::json!({ "id": "abc", "q": "1" }));

    let r = call(&d, &id, "GET", "/files/docs/report.pdf", &[], None);
    assert_eq!(
        json(r),
        serde_json::json!({ "dir": "docs", "name": "report", "ext": "pdf" })
    );

    // corsify rebuilds every response as `new Response(res.body, res)`: the body survives.
    let r = call(&d, &id, "GET", "/text", &[origin], None);
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        "https://app.example"
    );
    assert_eq!(r.text().expect("text"), "plain body, a few bytes long");

    let r = call(
        &d,
        &id,
        "POST",
        "/items",
        &[origin, ("Content-Type", "application/json")],
        Some(br#"{"name":"widget","n":3}"#.to_vec()),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(
        json(r),
        serde_json::json!({ "created": { "name": "widget", "n": 3 } })
    );

    let r = call(
        &d,
        &id,
        "OPTIONS",
        "/items",
        &[origin, ("Access-Control-Request-Method", "POST")],
        None,
    );
    assert_eq!(r.status(), 204);
    assert!(header(&r, "access-control-allow-methods").contains("POST"));
    assert_eq!(header(&r, "access-control-max-age"), "600");

    let r = call(
        &d,
        &id,
        "GET",
        "/auth",
        &[("Authorization", "Bearer app-user-7")],
        None,
    );
    assert_eq!(
        json(r),
        serde_json::json!({ "authorization": "Bearer app-user-7" })
    );

    let r = call(&d, &id, "GET", "/teapot", &[], None);
    assert_eq!(r.status(), 418);
    assert_eq!(
        json(r),
        serde_json::json!({ "status": 418, "error": "short and stout" })
    );
    let r = call(&d, &id, "GET", "/throws", &[], None);
    assert_eq!(r.status(), 400);
    assert_eq!(
        json(r),
        serde_json::json!({ "status": 400, "error": "bad input" })
    );
    let r = call(&d, &id, "GET", "/missing", &[], None);
    assert_eq!(r.status(), 404);
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// An HS256 JWT made here, independently of the worker.
fn jwt(secret: &str, payload: &serde_json::Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64.encode(payload.to_string());
    let signed = format!("{head}.{body}");
    let signature = b64.encode(hmac_sha256(secret.as_bytes(), signed.as_bytes()));
    format!("{signed}.{signature}")
}

/// Needs `crypto.subtle` (HMAC): fails until it exists, then must pass.
#[test]
fn hono_jwt_middleware_with_crypto_subtle() {
    let d = Daemon::start("frameworks-jwt", 1, 1, "");
    let secret = "a-jwt-secret-of-the-app-0123456789";
    let id = load_app(
        &d,
        "hono-jwt.js",
        serde_json::json!({ "JWT_SECRET": secret }),
    );
    let exp = 4_102_444_800u64; // 2100-01-01
    let good = jwt(secret, &serde_json::json!({ "sub": "alice", "exp": exp }));
    let r = call(
        &d,
        &id,
        "GET",
        "/secure/me",
        &[("Authorization", &format!("Bearer {good}"))],
        None,
    );
    let status = r.status();
    let text = r.text().expect("text");
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        v,
        serde_json::json!({ "payload": { "sub": "alice", "exp": exp } })
    );

    // A token signed with another key, an expired one, and none at all.
    let forged = jwt("not-the-secret", &serde_json::json!({ "sub": "mallory" }));
    let expired = jwt(secret, &serde_json::json!({ "sub": "alice", "exp": 1 }));
    for auth in [Some(forged), Some(expired), None] {
        let headers: Vec<(&str, String)> = auth
            .iter()
            .map(|t| ("Authorization", format!("Bearer {t}")))
            .collect();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = call(&d, &id, "GET", "/secure/me", &headers, None);
        assert_eq!(r.status(), 401);
    }

    // A token the worker signs verifies here, with the secret.
    let r = call(
        &d,
        &id,
        "POST",
        "/token",
        &[("Content-Type", "application/json")],
        Some(br#"{"sub":"bob"}"#.to_vec()),
    );
    assert_eq!(r.status(), 200);
    let token = json(r)["token"].as_str().expect("token").to_string();
    let (signed, signature) = token.rsplit_once('.').expect("three parts");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    assert_eq!(
        b64.decode(signature).expect("base64url"),
        hmac_sha256(secret.as_bytes(), signed.as_bytes())
    );
}

/// A module exporting `add(i32, i32) -> i32`.
const ADD_WASM: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01,
    0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, b'a', b'd', b'd', 0x00, 0x00, 0x0a, 0x09,
    0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b,
];

fn create(d: &Daemon, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(0))
        .json(body)
        .send()
        .expect("load");
    (r.status().as_u16(), r.json().expect("json"))
}

/// Cloudflare's WorkerCode module kinds `cjs` and `wasm` through the Loader API, and a wasm
/// module refused with a clear error once the tenant is quarantined (no WebAssembly there).
#[test]
fn loader_cjs_and_wasm_modules() {
    let d = Daemon::start("frameworks-kinds", 1, 1, "");
    let wasm = base64::engine::general_purpose::STANDARD.encode(ADD_WASM);
    let code = serde_json::json!({
        "mainModule": "main.js",
        "modules": {
            "main.js": "import calc from './calc.cjs'; export default { fetch(req) { const u = new URL(req.url); return Response.json(calc(+u.searchParams.get('a'), +u.searchParams.get('b'))); } };",
            "calc.cjs": { "cjs": "const add = new WebAssembly.Instance(require('./add.wasm')).exports.add; const { label } = require('./util.cjs'); module.exports = (a, b) => ({ sum: add(a, b), label });" },
            "util.cjs": "exports.label = 'from cjs';",
            "add.wasm": { "wasm": wasm },
        },
    });
    let (status, v) = create(&d, &code);
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let r = call(&d, &id, "GET", "/?a=40&b=2", &[], None);
    assert_eq!(r.status(), 200);
    assert_eq!(
        json(r),
        serde_json::json!({ "sum": 42, "label": "from cjs" })
    );

    // Not base64, and base64 of something else than WebAssembly.
    for bad in ["not base64!", "aGVsbG8="] {
        let mut broken = code.clone();
        broken["modules"]["add.wasm"] = serde_json::json!({ "wasm": bad });
        let (status, v) = create(&d, &broken);
        assert_eq!(status, 400, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("wasm"),
            "{v}"
        );
    }

    // Quarantined: the same worker is a clear error naming the module.
    let (status, v) = put_json(
        &d,
        Some(OPERATOR),
        "/v1/tenants/t0/risk",
        r#"{"tier": "quarantine"}"#,
    );
    assert_eq!(status, 200, "{v}");
    let r = call(&d, &id, "GET", "/?a=1&b=1", &[], None);
    let status = r.status().as_u16();
    let v = json(r);
    assert!(status >= 400, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("\"add.wasm\" is WebAssembly"), "{v}");
}

/// Console output of a successful fetch handler reaches its tenant at `GET /v1/workers/{id}/logs`
/// (and no other tenant); it is dropped with the worker.
#[test]
fn fetch_handler_console_output_is_readable_by_its_tenant() {
    let d = Daemon::start("frameworks-logs", 2, 1, "");
    let code = serde_json::json!({
        "mainModule": "main.js",
        "modules": { "main.js": "export default { fetch(req) { const p = new URL(req.url).pathname; console.log('handling', p); console.warn({ path: p }); return new Response('ok'); } };" },
    });
    let (status, v) = create(&d, &code);
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    for path in ["/one", "/two"] {
        let r = call(&d, &id, "GET", path, &[], None);
        assert_eq!(r.status(), 200);
    }
    let (status, v) = get_json(
        &d,
        Some(&tenant_token(0)),
        &format!("/v1/workers/{id}/logs"),
    );
    assert_eq!(status, 200, "{v}");
    let lines: Vec<(String, String)> = v["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| {
            (
                l["level"].as_str().unwrap_or("").to_string(),
                l["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("log".to_string(), "handling /one".to_string()),
            ("warn".to_string(), "{ path: '/one' }".to_string()),
            ("log".to_string(), "handling /two".to_string()),
            ("warn".to_string(), "{ path: '/two' }".to_string()),
        ]
    );
    assert!(v["logs"][0]["timeMs"].as_u64().is_some());
    let (_, v) = get_json(
        &d,
        Some(&tenant_token(0)),
        &format!("/v1/workers/{id}/logs?limit=1"),
    );
    assert_eq!(v["logs"].as_array().map(Vec::len), Some(1));
    // Another tenant cannot read them.
    let (status, _) = get_json(
        &d,
        Some(&tenant_token(1)),
        &format!("/v1/workers/{id}/logs"),
    );
    assert_eq!(status, 404);
    let r = client()
        .delete(format!("{}/v1/workers/{id}", d.base))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("delete");
    assert_eq!(r.status(), 204);
    let (status, _) = get_json(
        &d,
        Some(&tenant_token(0)),
        &format!("/v1/workers/{id}/logs"),
    );
    assert_eq!(status, 404);
}
