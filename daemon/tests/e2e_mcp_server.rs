//! The daemon's MCP server (`POST /mcp`) end to end, driven by the official MCP client SDK
//! (`tests/mcp/client.mjs`, installed from npm at test time): initialize, list the tools, call
//! `execute` against the tenant's capabilities (an `http` one and an `mcp` one whose upstream, the
//! official SDK's server, keeps sessions) and `types`; authenticated per tenant. And, by raw HTTP,
//! the JSON-RPC 2.0 details a client may lean on: ids echoed as they came, batches, and the
//! `Origin` check against DNS rebinding.
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
    // A browser page elsewhere (an `Origin` not the server's own) is refused, token or not.
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    let post = |origin: &str| {
        text(
            client()
                .post(format!("{}/mcp", d.base))
                .bearer_auth(&t0)
                .header("Origin", origin)
                .json(&list),
        )
        .0
    };
    assert_eq!(post("http://evil.example"), 403);
    assert_eq!(post(&d.base), 200, "the server's own origin is fine");

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
    // This upstream keeps sessions: the tenant's uses (the tool list for the description, the
    // call, the types) shared one, kept open for the next use.
    let stats = || -> Value {
        client()
            .get(format!("http://127.0.0.1:{mcp_port}/stats"))
            .header("X-Weather-Key", WEATHER_KEY)
            .send()
            .expect("stats")
            .json()
            .expect("json")
    };
    assert_eq!(stats(), json!({ "opened": 1, "open": 1 }));
    // The server ends it (a restart, an expiry): the next call opens a new one and succeeds.
    let forgot = client()
        .post(format!("http://127.0.0.1:{mcp_port}/forget"))
        .header("X-Weather-Key", WEATHER_KEY)
        .send()
        .expect("forget");
    assert_eq!(forgot.status().as_u16(), 204);
    assert_eq!(stats()["open"], 0);
    let forecast = |token: &str| {
        run_env(
            &d,
            token,
            "export default async (arg: unknown, env: any) => env.weather.forecast({ city: 'Oslo' });",
            json!(null),
            json!({ "weather": { "binding": "capability", "name": "weather" } }),
        )
    };
    let (status, body) = forecast(&t0);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"],
        json!({ "city": "Oslo", "tempC": 12 }),
        "{body}"
    );
    assert_eq!(stats(), json!({ "opened": 2, "open": 1 }));

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

/// A daemon whose tenant t0 has no capabilities, for the raw JSON-RPC tests.
fn plain_daemon(tag: &str) -> Daemon {
    let tail = format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    Daemon::start_raw(tag, 1, &tail, &[])
}

/// `POST /mcp` with `body` as it is (and `headers`): status, `Content-Type`, body.
fn post_raw(d: &Daemon, body: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut request = client()
        .post(format!("{}/mcp", d.base))
        .bearer_auth(tenant_token(0))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.send().expect("post /mcp");
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, kind, r.text().expect("text"))
}

/// Whether the reply `text` holds `"id":` and then `id`'s very text.
fn echoes(text: &str, id: &str) -> bool {
    text.contains(&format!(r#""id":{id},"#)) || text.contains(&format!(r#""id":{id}}}"#))
}

#[test]
fn request_ids_are_echoed_byte_for_byte() {
    let d = plain_daemon("mcpids");
    // Integers past 2^64 (and 2^53), an exponent past f64, a negative zero: all as they came.
    for id in [
        "123456789012345678901234567890",
        "18446744073709551616",
        "9007199254740993",
        "1e400",
        "-0.0",
        r#""\u0041b""#,
        "null",
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
        let (status, kind, text) = post_raw(&d, &body, &[]);
        assert_eq!((status, kind.as_str()), (200, "application/json"), "{text}");
        assert!(echoes(&text, id), "{id}: {text}");
        assert!(text.contains(r#""result":{}"#), "{text}");
        // An error is answered under the same id.
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"nope"}}"#);
        let (status, _, text) = post_raw(&d, &body, &[]);
        assert_eq!(status, 200, "{text}");
        assert!(echoes(&text, id), "{id}: {text}");
        assert!(text.contains(r#""code":-32601"#), "{text}");
    }
    // Only a string, a number or null is an id.
    for id in ["true", "{}", "[1]"] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
        let (status, _, text) = post_raw(&d, &body, &[]);
        assert_eq!(status, 400, "{text}");
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["id"], Value::Null, "{text}");
        assert_eq!(v["error"]["code"], -32600, "{text}");
    }
}

#[test]
fn batches_are_answered_as_json_rpc_2_0_says() {
    let d = plain_daemon("mcpbatch");
    let error_code = |v: &Value| v["error"]["code"].as_i64();
    // The protocol version that has batches is still agreed to, by an `initialize` sent alone:
    // 2025-03-26 says it "MUST NOT be part of a JSON-RPC batch", so a batch holding one is one
    // -32600 error (as the official SDK's server answers it), none of its messages run.
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    for body in [format!("[{init}]"), format!("[{ping},{init}]")] {
        let (status, _, text) = post_raw(&d, &body, &[]);
        assert_eq!(status, 400, "{body}: {text}");
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["id"], Value::Null, "{text}");
        assert_eq!(error_code(&v), Some(-32600), "{text}");
        let message = v["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("initialize must not be part of a JSON-RPC batch"),
            "{text}"
        );
    }
    let (status, _, text) = post_raw(&d, init, &[]);
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["result"]["protocolVersion"], "2025-03-26", "{text}");
    // A client speaking 2025-06-18 (which removed batches) gets no batch served; one speaking
    // 2025-03-26 does; a version this server does not speak is a 400 (2025-06-18's transport).
    let batch = format!("[{ping}]");
    let version = |v: &'static str| [("MCP-Protocol-Version", v)];
    let (status, _, text) = post_raw(&d, &batch, &version("2025-06-18"));
    assert_eq!(status, 400, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(error_code(&v), Some(-32600), "{text}");
    assert!(
        text.contains("MCP 2025-06-18 has no JSON-RPC batches"),
        "{text}"
    );
    assert_eq!(post_raw(&d, ping, &version("2025-06-18")).0, 200);
    assert_eq!(post_raw(&d, &batch, &version("2025-03-26")).0, 200);
    let (status, _, text) = post_raw(&d, ping, &version("1999-01-01"));
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains(r#"unsupported MCP-Protocol-Version \"1999-01-01\""#),
        "{text}"
    );
    // But an `initialize` alone negotiates the version in its body, whatever the header says.
    assert_eq!(post_raw(&d, init, &version("2099-01-01")).0, 200);

    // Requests, a notification, a response, invalid elements and a nested batch, in one batch:
    // each request answered in order under its own id (big ones intact), each invalid element
    // with its own error, nothing for the notification and the response. The two `execute`s
    // run one after the other.
    let sleep = "export default async (arg: string) => { const start = Date.now(); \
                 await new Promise((r) => setTimeout(r, 300)); return [arg, start, Date.now()]; };";
    let execute = |id: &str, arg: &str| {
        let call = json!({ "jsonrpc": "2.0", "id": 0, "method": "tools/call",
            "params": { "name": "execute", "arguments": { "code": sleep, "arg": arg } } });
        call.to_string()
            .replacen(r#""id":0"#, &format!(r#""id":{id}"#), 1)
    };
    let body = format!(
        r#"[
            {{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}},
            {{"jsonrpc":"2.0","method":"notifications/initialized"}},
            5,
            {{"jsonrpc":"2.0","id":"x","method":"nope"}},
            {{"jsonrpc":"2.0","id":9,"result":{{}}}},
            {e1},
            [{{"jsonrpc":"2.0","id":7,"method":"ping"}}],
            {e2},
            {{"jsonrpc":"2.0","id":true,"method":"ping"}}
        ]"#,
        e1 = execute("\"a\"", "first"),
        e2 = execute("18446744073709551616", "second"),
    );
    let (status, kind, text) = post_raw(&d, &body, &[]);
    assert_eq!((status, kind.as_str()), (200, "application/json"), "{text}");
    assert!(echoes(&text, "123456789012345678901234567890"), "{text}");
    assert!(echoes(&text, "18446744073709551616"), "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    let replies = v.as_array().expect("an array");
    assert_eq!(replies.len(), 7, "{text}");
    assert_eq!(replies[1]["id"], Value::Null);
    assert_eq!(error_code(&replies[1]), Some(-32600));
    assert_eq!(replies[2]["id"], "x");
    assert_eq!(error_code(&replies[2]), Some(-32601));
    assert_eq!(replies[3]["id"], "a");
    assert_eq!(replies[4]["id"], Value::Null);
    assert_eq!(error_code(&replies[4]), Some(-32600), "a nested batch");
    assert_eq!(replies[6]["id"], Value::Null);
    assert_eq!(error_code(&replies[6]), Some(-32600));
    let ran = |reply: &Value| -> Value {
        assert_eq!(reply["result"]["isError"], false, "{reply}");
        let out: Value = serde_json::from_str(
            reply["result"]["content"][0]["text"]
                .as_str()
                .expect("text"),
        )
        .expect("json");
        out["result"].clone()
    };
    let (first, second) = (ran(&replies[3]), ran(&replies[5]));
    assert_eq!((&first[0], &second[0]), (&json!("first"), &json!("second")));
    let at = |v: &Value, i: usize| v[i].as_f64().expect("a time");
    for run in [&first, &second] {
        assert!(at(run, 2) - at(run, 1) >= 250.0, "{run}: did not sleep");
    }
    assert!(
        at(&second, 1) >= at(&first, 2),
        "the batch's executes overlapped: {first} {second}"
    );

    // Only notifications and responses: 202, no body.
    let (status, _, text) = post_raw(
        &d,
        r#"[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":1,"result":{}}]"#,
        &[],
    );
    assert_eq!((status, text.as_str()), (202, ""));
    // An empty batch, and one over 64 messages: one error, not an array.
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    for n in [0, 65] {
        let body = format!("[{}]", vec![ping; n].join(","));
        let (status, _, text) = post_raw(&d, &body, &[]);
        assert_eq!(status, 400, "{n}: {text}");
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["id"], Value::Null, "{text}");
        assert_eq!(error_code(&v), Some(-32600), "{text}");
    }
    let body = format!("[{}]", vec![ping; 64].join(","));
    let (status, _, text) = post_raw(&d, &body, &[]);
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(64), "{text}");
}

#[test]
fn origins_a_dns_rebinding_could_forge_are_refused() {
    let d = plain_daemon("mcporigin");
    let port = d.base.rsplit(':').next().expect("port").to_owned();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let status = |headers: &[(&str, &str)]| post_raw(&d, ping, headers).0;
    // No Origin (not a browser), and the server's own loopback origin: fine.
    assert_eq!(status(&[]), 200);
    assert_eq!(status(&[("Origin", &d.base)]), 200);
    let localhost = format!("localhost:{port}");
    let localhost_origin = format!("http://{localhost}");
    assert_eq!(
        status(&[("Origin", &localhost_origin), ("Host", &localhost)]),
        200
    );
    // A page of evil.example whose name now points at this daemon: its Origin and Host agree,
    // but a name can be rebound.
    let evil = format!("evil.example:{port}");
    let evil_origin = format!("http://{evil}");
    assert_eq!(status(&[("Origin", &evil_origin), ("Host", &evil)]), 403);
    // An https page is not this plain-HTTP server's, nor is `null` (a sandboxed page, a file).
    let https = d.base.replacen("http://", "https://", 1);
    assert_eq!(status(&[("Origin", &https)]), 403);
    assert_eq!(status(&[("Origin", "null")]), 403);
    // Another port of the same host is another origin.
    assert_eq!(status(&[("Origin", "http://127.0.0.1:1")]), 403);
}

/// A batch is admitted as one request, and each of its requests after the first takes a token
/// of the tenant's rate as a request of its own: a batch cannot buy 64 calls for one token.
#[test]
fn a_batchs_requests_are_charged_to_the_tenants_rate() {
    let tail = format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[tenants.quotas]\nrequests_per_second = 0.01\nburst = 3\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("mcprate", 1, &tail, &[]);
    let pings: Vec<String> = (1..=5)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"ping"}}"#))
        .collect();
    let (status, _, text) = post_raw(&d, &format!("[{}]", pings.join(",")), &[]);
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    let answers = v.as_array().expect("an array");
    assert_eq!(answers.len(), 5, "{text}");
    // The burst of 3: the batch's admission and two more; the last two are over the rate.
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer["id"], i + 1, "{text}");
        if i < 3 {
            assert!(answer.get("result").is_some(), "{text}");
        } else {
            assert_eq!(answer["error"]["code"], -32029, "{text}");
        }
    }
    // The tenant's next request is over its rate too.
    assert_eq!(post_raw(&d, &pings[0], &[]).0, 429);
}
