//! The `mcp` capability's client against a real MCP server on 127.0.0.1, through a real daemon:
//! a server that opens a session and then never answers `tools/list` gets the types'
//! `TimeoutError`, and the session the daemon gave up on is still ended on the server with a
//! `DELETE` naming it (as a session ended normally is), without the types waiting for it.
mod common;
#[path = "../src/egress/test_upstream.rs"]
mod upstream;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use upstream::{Answer, Seen, Upstream};

const SESSION: &str = "hung-session-5f0c2a";

/// A streamable-HTTP MCP server that opens sessions and hangs every `tools/list` (for longer
/// than the daemon waits for it); a `DELETE` is answered at once.
fn hanging_server(seen: &Seen) -> Answer {
    if seen.method == "DELETE" {
        return Answer::ok(b"");
    }
    let message: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
    let id = message["id"].clone();
    let reply = |result: Value| {
        let mut answer = Answer::ok(
            json!({"jsonrpc": "2.0", "id": id, "result": result})
                .to_string()
                .as_bytes(),
        );
        answer
            .headers
            .push(("Content-Type".into(), "application/json".into()));
        answer
    };
    match message["method"].as_str() {
        Some("initialize") => {
            let mut answer = reply(json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "hanging", "version": "1"},
            }));
            answer
                .headers
                .push(("Mcp-Session-Id".into(), SESSION.into()));
            answer
        }
        Some("notifications/initialized") => Answer {
            status: 202,
            ..Answer::ok(b"")
        },
        Some("tools/list") => Answer {
            delay: Duration::from_secs(30),
            ..reply(json!({"tools": []}))
        },
        _ => Answer {
            status: 400,
            ..Answer::ok(b"")
        },
    }
}

#[test]
fn a_session_whose_tools_list_timed_out_is_ended_on_the_server() {
    let up = Upstream::start(hanging_server);
    let tail = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{port}]\n\
         [[tenants.capabilities]]\nname = \"hung\"\nkind = \"mcp\"\n\
         url = \"http://127.0.0.1:{port}/mcp\"\n",
        tenant_token(0),
        port = up.port,
    );
    let d = Daemon::start_raw("mcphung", 1, &tail, &[]);
    let env = json!({ "hung": { "binding": "capability", "name": "hung" } });
    let r = client()
        .post(format!("{}/v1/types", d.base))
        .bearer_auth(tenant_token(0))
        .json(&json!({ "env": env }))
        .send()
        .expect("types");
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("did not answer tools/list within 5000 ms"),
        "{text}"
    );
    let methods = |seen: &[Seen]| -> Vec<String> {
        seen.iter()
            .map(|s| {
                let m: Value = serde_json::from_slice(&s.body).unwrap_or(Value::Null);
                format!("{} {}", s.method, m["method"].as_str().unwrap_or(""))
            })
            .collect()
    };
    // The session was opened and its tools/list sent: the one the daemon gave up on.
    let seen = up.requests();
    assert!(
        methods(&seen).contains(&"POST tools/list".to_string()),
        "{:?}",
        methods(&seen)
    );
    // Its DELETE comes in the background (bounded here against a hang only).
    let deadline = Instant::now() + Duration::from_secs(20);
    let delete = loop {
        let seen = up.requests();
        if let Some(delete) = seen.iter().find(|s| s.method == "DELETE") {
            break delete.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the session was never ended: the server saw {:?}",
            methods(&seen)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(delete.header("mcp-session-id"), Some(SESSION));
    assert_eq!(delete.target, "/mcp");
    assert_eq!(
        delete.header("mcp-protocol-version"),
        Some("2025-06-18"),
        "{delete:?}"
    );
}
