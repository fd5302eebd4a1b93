//! The API's edge through a real daemon: request JSON holding a lone UTF-16 surrogate escape is
//! refused with a message that says so (and the escape written in the code itself works), and the
//! types of an `env` do not wait on an `mcp` capability's server that never answers.
mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// POST `body` (raw text) to `path` as tenant t0: (status, JSON answer).
fn post(d: &Daemon, path: &str, body: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}{path}", d.base))
        .bearer_auth(tenant_token(0))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_owned())
        .send()
        .expect("post");
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, v)
}

fn t0_only(tag: &str) -> Daemon {
    let tail = format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    Daemon::start_raw(tag, 1, &tail, &[])
}

#[test]
fn a_lone_surrogate_escape_is_refused_with_a_clear_message() {
    let d = t0_only("surrogate");
    // Code Mode and the Loader API: a 400 naming the escape, where it is, and what to send.
    for (path, body, escape, column) in [
        (
            "/v1/run",
            r#"{"code": "export default () => '\ud800'.length"}"#,
            r"\ud800",
            33,
        ),
        (
            "/v1/workers",
            r#"{"mainModule": "m.js", "modules": {"m.js": "export default { fetch() { return new Response('\udc00') } }"}}"#,
            r"\udc00",
            93,
        ),
    ] {
        let (status, v) = post(&d, path, body);
        assert_eq!(status, 400, "{path}: {v}");
        assert_eq!(v["error"]["code"], "bad_request", "{v}");
        let message = v["error"]["message"].as_str().expect("message");
        assert!(
            message.contains(&format!(
                "the escape {escape} at line 1 column {column} is a lone UTF-16 surrogate"
            )),
            "{path}: {message}"
        );
        assert!(
            message.contains(&format!(r"\{escape} in the JSON")),
            "{message}"
        );
    }
    // What the message says to send instead: the escape in the code, the same string once it
    // runs. A surrogate pair is a character, fine either way.
    let (status, v) = post(
        &d,
        "/v1/run",
        r#"{"code": "export default () => ['\\ud800'.length, '\\ud800'.charCodeAt(0), '\ud83d\ude00'.codePointAt(0)]"}"#,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"], json!([1, 0xD800, 0x1F600]), "{v}");

    // MCP's `execute`: the same words, as the JSON-RPC error of the params.
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute","arguments":{"code":"export default () => '\ud800'"}}}"#;
    let (status, v) = post(&d, "/mcp", call);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let message = v["error"]["message"].as_str().expect("message");
    assert!(
        message.contains(r"the escape \ud800 at line 1 column ")
            && message.contains("is a lone UTF-16 surrogate"),
        "{message}"
    );
}

/// A TCP server on 127.0.0.1 that accepts connections and never answers (nor closes them).
struct Hung {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Hung {
    fn start() -> Hung {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut open = Vec::new();
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::Relaxed);
                open.push(stream);
            }
        });
        Hung { port, accepted }
    }
}

/// Three `mcp` capabilities whose servers never answer and an `http` one: the `.d.ts` comes
/// within the types' bound (5 s, the servers asked at once, not one after another), with the
/// `http` capability typed and each silent server named in a `TimeoutError`.
#[test]
fn types_do_not_wait_on_an_mcp_server_that_never_answers() {
    let hung = [Hung::start(), Hung::start(), Hung::start()];
    let ports: Vec<String> = hung.iter().map(|h| h.port.to_string()).collect();
    let mut tail = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{}]\n\
         [[tenants.capabilities]]\nname = \"calc\"\nkind = \"http\"\n\
         url = \"http://127.0.0.1:9/rpc\"\n\
         types = \"interface Methods {{ add(a: number, b: number): Promise<number>; }}\"\n",
        tenant_token(0),
        ports.join(", "),
    );
    let mut env = json!({ "calc": { "binding": "capability", "name": "calc" } });
    for (i, h) in hung.iter().enumerate() {
        tail.push_str(&format!(
            "[[tenants.capabilities]]\nname = \"slow{i}\"\nkind = \"mcp\"\n\
             url = \"http://127.0.0.1:{}/mcp\"\n",
            h.port
        ));
        env[format!("slow{i}")] = json!({ "binding": "capability", "name": format!("slow{i}") });
    }
    let d = Daemon::start_raw("typeshung", 1, &tail, &[]);
    let started = Instant::now();
    let r = client()
        .post(format!("{}/v1/types", d.base))
        .bearer_auth(tenant_token(0))
        .json(&json!({ "env": env }))
        .send()
        .expect("types");
    let took = started.elapsed();
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    assert_eq!(status, 200, "{text}");
    // 5 s for all three; one after another would be 15 s, and without the bound 3 × 30 s.
    assert!(
        took >= Duration::from_millis(4500) && took < Duration::from_secs(10),
        "took {took:?}"
    );
    assert!(
        text.contains("add(a: number, b: number): Promise<number>"),
        "{text}"
    );
    for (i, h) in hung.iter().enumerate() {
        assert!(
            h.accepted.load(Ordering::Relaxed) >= 1,
            "slow{i}'s server was never asked"
        );
        let why = format!(
            "capability slow{i}: types unavailable (TimeoutError: the MCP server \
             http://127.0.0.1:{}/mcp did not answer tools/list within 5000 ms)",
            h.port
        );
        assert!(text.contains(&why), "{why}\n{text}");
    }
}
