//! The daemon's MCP server (`POST /mcp`) end to end, driven by the official MCP client SDK
//! (`tests/mcp/client.mjs`, installed from npm at test time): initialize, list the tools, call
//! `execute` against the tenant's capabilities (an `http` one and an `mcp` one whose upstream, the
//! official SDK's server, keeps sessions) and `types`; authenticated per tenant.
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
