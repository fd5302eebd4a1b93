//! Cloudflare compatibility flags through the Loader API of a real daemon with jailed workers:
//! the flags wrangler projects carry whose behaviour Stockade already has are accepted (and the
//! behaviours only a daemon shows are checked here: fetch() refuses unknown schemes, global
//! fetch() never reaches a private address even when the tenant's rules name it, service
//! bindings take RPC calls, `get` included), while flags asking for what Stockade does not
//! have, or to turn off what it cannot, are a 400 naming the flag and why. The rest of the
//! accepted flags are checked in isolates (isolate/tests/compat_flags.rs).
mod common;
use common::*;
use serde_json::{json, Value};

fn create(d: &Daemon, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(0))
        .json(&body)
        .send()
        .expect("create");
    (r.status().as_u16(), r.json().expect("json"))
}

/// The flags a typical wrangler project carries (several implied by its date on Cloudflare).
const WRANGLER_FLAGS: &[&str] = &[
    "nodejs_compat",
    "nodejs_compat_v2",
    "url_standard",
    "streams_enable_constructors",
    "transformstream_enable_standard_constructor",
    "formdata_parser_supports_files",
    "export_commonjs_default",
    "global_fetch_strictly_public",
    "fetch_refuses_unknown_protocols",
    "rpc",
    "fetcher_no_get_put_delete",
];

const TARGET: &str = "export default {
  fetch() { return new Response('target fetch'); },
  add(a, b) { return a + b; },
  get(key) { return 'rpc get ' + key; },
};";

const MAIN: &str = "import lib from './lib.cjs';
const err = async (f) => { try { await f(); return 'no error'; } catch (e) { return [e.name, e.message]; } };
export default { async fetch(req, env) {
  return Response.json({
    cjs: lib.answer,
    ftp: await err(() => fetch('ftp://example.com/file')),
    private: await err(() => fetch('http://10.0.0.1/')),
    add: await env.SVC.add(2, 3),
    get: await env.SVC.get('k'),
  });
} };";

#[test]
fn wrangler_flags_stockade_already_honours_are_accepted_and_hold() {
    // The tenant's rules allow 10.0.0.1: only the gateway's address check stands between the
    // worker and a private address.
    let config = format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [[tenants.egress]]\nhost = \"10.0.0.1\"\nports = [80]\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("compat-flags", 1, &config, &[]);
    let (status, v) = create(
        &d,
        json!({ "mainModule": "main.js", "modules": { "main.js": TARGET }, "compatibilityDate": "2025-06-01" }),
    );
    assert_eq!(status, 201, "{v}");
    let target = v["id"].as_str().expect("id").to_string();
    let (status, v) = create(
        &d,
        json!({
            "mainModule": "main.js",
            "modules": { "main.js": MAIN, "lib.cjs": "exports.answer = 42;" },
            "env": { "SVC": { "binding": "service", "worker": target } },
            "compatibilityDate": "2025-06-01",
            "compatibilityFlags": WRANGLER_FLAGS,
        }),
    );
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("fetch");
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    assert_eq!(status, 200, "{text}");
    let got: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(got["cjs"], 42, "{got}");
    assert_eq!(got["ftp"][0], "TypeError", "{got}");
    assert!(
        got["ftp"][1]
            .as_str()
            .unwrap_or("")
            .contains("http and https only"),
        "{got}"
    );
    assert_eq!(got["private"][0], "TypeError", "{got}");
    assert!(
        got["private"][1].as_str().unwrap_or("").contains("private"),
        "{got}"
    );
    assert_eq!(got["add"], 5, "{got}");
    assert_eq!(got["get"], "rpc get k", "{got}");
    let (_, desc) = get_json(&d, Some(&tenant_token(0)), &format!("/v1/workers/{id}"));
    assert_eq!(desc["compatibilityFlags"], json!(WRANGLER_FLAGS));

    // What Stockade cannot do is refused by name, with why; an unknown flag stays unknown.
    for (flag, why) in [
        ("url_original", "WHATWG"),
        ("export_commonjs_namespace", "module.exports"),
        ("no_rpc", "cannot turn off"),
        ("web_socket_compression", "do not negotiate compression"),
        ("global_fetch_private_origin", "egress gateway"),
        ("warp_drive", "unknown compatibility flag"),
    ] {
        let (status, v) = create(
            &d,
            json!({
                "mainModule": "main.js",
                "modules": { "main.js": TARGET },
                "compatibilityFlags": ["nodejs_compat", flag],
            }),
        );
        assert_eq!(status, 400, "{flag}: {v}");
        assert_eq!(v["error"]["code"], "bad_request", "{v}");
        let message = v["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(flag) && message.contains(why),
            "{flag}: {message}"
        );
    }
}
