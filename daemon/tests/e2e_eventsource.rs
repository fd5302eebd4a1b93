//! `new EventSource(url)` through the egress gateway: a real daemon, a real jailed worker, a real
//! HTTP server on 127.0.0.1. The source asks with `Accept: text/event-stream`, gets its events,
//! reconnects when the server ends the stream (after the stream's `retry`), sending the last
//! event id as `Last-Event-ID`; a response that is not a 2xx or not an event stream fails it for
//! good; a host the tenant's egress rules do not allow fails it with the policy's refusal.
mod common;
#[path = "../src/egress/test_upstream.rs"]
mod upstream;

use common::*;
use upstream::{Answer, Upstream};

const ROOMY: &str = "[limits]\ncpu_ms = 2000\nwall_ms = 30000\n";

fn typed(content_type: &str, body: &str) -> Answer {
    let mut answer = Answer::ok(body.as_bytes());
    answer
        .headers
        .push(("Content-Type".into(), content_type.into()));
    answer
}

fn event_stream(body: &str) -> Answer {
    typed("text/event-stream", body)
}

#[test]
fn an_event_source_reads_reconnects_with_the_last_id_and_fails_on_a_wrong_answer() {
    let up = Upstream::start(|seen| match seen.target.as_str() {
        "/feed" if seen.header("last-event-id").is_none() => event_stream(
            ": hello\nretry: 1000\nid: 1\ndata: one\n\nid: 2\nevent: tick\ndata: two\n\n",
        ),
        "/feed" => event_stream(&format!(
            "data: three after {}\n\n",
            seen.header("last-event-id").unwrap_or("none")
        )),
        "/plain" => typed("text/plain; charset=utf-8", "data: not an event stream\n\n"),
        _ => {
            let mut answer = event_stream("data: missing\n\n");
            answer.status = 404;
            answer
        }
    });
    let tail = format!(
        "{ROOMY}[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{}]\n",
        tenant_token(0),
        up.port
    );
    let d = Daemon::start_raw("eventsource", 1, &tail, &[]);
    let base = format!("http://127.0.0.1:{}", up.port);
    let code = format!(
        r#"
const base = {base};
/** Every event `url`'s source fires until `stop(events)` says so or it fails; then closed. */
function listen(url, stop) {{
  return new Promise((resolve) => {{
    const es = new EventSource(url);
    const events = [];
    const end = () => {{ es.close(); resolve(events); }};
    es.onopen = () => events.push(["open", es.readyState]);
    es.onmessage = (e) => {{ events.push(["message", e.data, e.lastEventId, e.origin]); if (stop(events)) end(); }};
    es.addEventListener("tick", (e) => events.push(["tick", e.data, e.lastEventId]));
    es.onerror = (e) => {{
      events.push(["error", es.readyState, e.error?.message ?? e.message]);
      if (es.readyState === EventSource.CLOSED) end();
    }};
  }});
}}
export default async () => [
  await listen(base + "/feed", (events) => events[events.length - 1][1].startsWith("three")),
  await listen(base + "/plain", () => false),
  await listen(base + "/missing", () => false),
  await listen("http://127.0.0.2:9/feed", () => false),
];
"#,
        base = serde_json::Value::from(base.clone())
    );
    let (status, body) = run(&d, &tenant_token(0), &code);
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    assert_eq!(
        result[0],
        serde_json::json!([
            ["open", 1],
            ["message", "one", "1", base],
            ["tick", "two", "2"],
            ["error", 0, "The server disconnected."],
            ["open", 1],
            ["message", "three after 2", "2", base],
        ]),
        "{body}"
    );
    assert_eq!(
        result[1],
        serde_json::json!([[
            "error",
            2,
            "The content type 'text/plain; charset=utf-8' is invalid."
        ]]),
        "{body}"
    );
    assert_eq!(
        result[2],
        serde_json::json!([["error", 2, "The response status code was 404."]]),
        "{body}"
    );
    let refused = &result[3];
    assert_eq!(refused[0][0], "error", "{body}");
    assert_eq!(refused[0][1], 2, "{body}");
    assert!(
        refused[0][2].as_str().is_some_and(|m| m.contains("egress")),
        "the refusal names the egress policy: {body}"
    );

    let seen = up.requests();
    let feeds: Vec<_> = seen.iter().filter(|s| s.target == "/feed").collect();
    assert_eq!(feeds.len(), 2, "two connections, no third: {seen:?}");
    for s in &feeds {
        assert_eq!(s.method, "GET");
        assert_eq!(s.header("accept"), Some("text/event-stream"), "{s:?}");
        assert_eq!(s.header("cache-control"), Some("no-cache"), "{s:?}");
    }
    assert_eq!(feeds[0].header("last-event-id"), None);
    assert_eq!(feeds[1].header("last-event-id"), Some("2"));
}
