//! Express from npm, unchanged, as a Worker: `daemon/tests/npm-express/app.js` (npm `express`
//! 5.1.0, installed by `npm ci` from the pinned lockfile and bundled as Wrangler bundles for
//! `nodejs_compat`, `npm/build.mjs`) listens with `app.listen(3000)` and exports
//! `httpServerHandler({ port: 3000 })` from `cloudflare:node`; loaded through `POST /v1/workers`
//! and called over real HTTP through `/v1/workers/{id}/fetch/...`: routing and `req.params`,
//! status codes, headers both ways (`res.set`, `req.get`), `req.query`, a 404 from Express's own
//! final handler, and a body written in parts; `express.json()` parsing a posted body (and its 400
//! for malformed JSON, `res.location`). Needs Node.js and npm (the tests fail, never skip, without
//! them).
mod common;
#[allow(dead_code)] // the framework apps' own bundling is e2e_frameworks.rs's
#[path = "frameworks/bundle.rs"]
mod npm;

use common::*;
use serde_json::json;

/// `npm-express/app.js` bundled (once per test binary: the tests run on threads of one process).
fn bundle() -> String {
    static BUILT: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        npm::built_by_folder("npm-express", &["app.js"]).map(|mut all| all.remove(0))
    });
    match built {
        Ok(code) => code.clone(),
        Err(why) => panic!("cannot bundle npm-express's app: {why}"),
    }
}

fn worker(d: &Daemon) -> String {
    let bundle = bundle();
    let (status, created) = create_worker(
        d,
        &tenant_token(0),
        &json!({
            "mainModule": "app.mjs",
            "modules": { "app.mjs": bundle },
            "compatibilityDate": "2026-11-01",
            "compatibilityFlags": ["nodejs_compat"],
            "limits": { "cpuMs": 5000, "wallMs": 30000 },
        }),
    );
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_string()
}

/// One request: status, headers, body text.
fn call(
    d: &Daemon,
    id: &str,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut r = client()
        .request(method, format!("{}/v1/workers/{id}/fetch/{path}", d.base))
        .bearer_auth(tenant_token(0));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(body) = body {
        r = r.body(body.to_owned());
    }
    let r = r.send().expect("fetch");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().expect("body"))
}

#[test]
fn an_express_app_serves_through_http_server_handler() {
    let d = Daemon::start(
        "npm-express",
        1,
        1,
        "[limits]\ncpu_ms = 5000\nwall_ms = 30000\n",
    );
    let id = worker(&d);
    let get = reqwest::Method::GET;

    let (status, headers, body) = call(&d, &id, get.clone(), "?a=1&b=two", &[], None);
    assert_eq!(status, 200, "{body}");
    assert!(headers["content-type"]
        .to_str()
        .is_ok_and(|v| v.starts_with("application/json")));
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["hello"], "express");
    assert_eq!(v["query"], json!({"a": "1", "b": "two"}));

    let (status, headers, body) = call(&d, &id, get.clone(), "users/1", &[], None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-user"], "1");
    assert!(headers.contains_key("etag"), "{headers:?}");
    assert_eq!(body, r#"{"id":"1","name":"Ada"}"#);

    let (status, _, body) = call(&d, &id, get.clone(), "users/9", &[], None);
    assert_eq!(status, 404);
    assert_eq!(body, r#"{"error":"no user 9"}"#);

    let (status, _, body) = call(
        &d,
        &id,
        get.clone(),
        "headers",
        &[("x-client", "c1"), ("accept", "text/plain")],
        None,
    );
    assert_eq!((status, body.as_str()), (200, "c1|text/plain"));

    let (status, _, body) = call(&d, &id, get.clone(), "stream", &[], None);
    assert_eq!((status, body.as_str()), (200, "a,b,c"));

    // Express's own final handler.
    let (status, _, body) = call(&d, &id, reqwest::Method::DELETE, "nowhere", &[], None);
    assert_eq!(status, 404);
    assert!(body.contains("Cannot DELETE /nowhere"), "{body}");
}

/// `express.json()` reads the body through raw-body, whose iconv-lite decoder takes `Buffer` from
/// safer-buffer, which copies `Buffer`'s statics with `for (key in Buffer)` (so they must be
/// enumerable, as Node's are: with the runtime's once non-enumerable ones every JSON body parsed
/// as `{}`).
#[test]
fn express_json_parses_posted_bodies() {
    let d = Daemon::start(
        "npm-express-json",
        1,
        1,
        "[limits]\ncpu_ms = 5000\nwall_ms = 30000\n",
    );
    let id = worker(&d);
    let get = reqwest::Method::GET;
    let json_type = [("content-type", "application/json")];
    let (status, headers, body) = call(
        &d,
        &id,
        reqwest::Method::POST,
        "users",
        &json_type,
        Some(r#"{"name":"Grace"}"#),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["location"], "/users/2");
    assert_eq!(body, r#"{"id":"2","name":"Grace"}"#);
    // The isolate (and its Express app) stays loaded: the user posted is there.
    let (status, _, body) = call(&d, &id, get.clone(), "users/2", &[], None);
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"id":"2","name":"Grace"}"#)
    );

    let (status, _, body) = call(
        &d,
        &id,
        reqwest::Method::POST,
        "users",
        &json_type,
        Some("{not json"),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body, r#"{"error":"entity.parse.failed"}"#);
}
