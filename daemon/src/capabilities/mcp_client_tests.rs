//! The session pool and the answer parsing of `mcp_client`, without a server.

use super::*;

fn idle(id: &str, age: Duration) -> Idle {
    Idle {
        id: Some(id.into()),
        next: 7,
        since: Instant::now()
            .checked_sub(age)
            .expect("an instant that long ago"),
    }
}

#[test]
fn the_pool_keeps_sessions_per_tenant_and_url_drops_expired_ones_and_caps_idle_ones() {
    let pool = SessionPool::default();
    assert!(pool.take("a", "u").0.is_none());
    assert!(pool.put("a", "u", idle("old", IDLE_TTL * 2)).is_none());
    assert!(pool.put("a", "u", idle("fresh", Duration::ZERO)).is_none());
    // Another tenant, or another URL, never gets a's sessions.
    assert!(pool.take("b", "u").0.is_none());
    assert!(pool.take("a", "v").0.is_none());
    let (taken, expired) = pool.take("a", "u");
    assert_eq!(taken.and_then(|s| s.id), Some("fresh".into()));
    assert_eq!(expired.len(), 1);
    assert!(
        pool.take("a", "u").0.is_none(),
        "each session serves one use at a time"
    );
    for i in 0..MAX_IDLE {
        assert!(pool
            .put("a", "u", idle(&i.to_string(), Duration::ZERO))
            .is_none());
    }
    let extra = pool.put("a", "u", idle("extra", Duration::ZERO));
    assert_eq!(
        extra.and_then(|s| s.id),
        Some("extra".into()),
        "beyond MAX_IDLE: ended"
    );
}

fn answer(content_type: &str, body: &str) -> Answer {
    Answer {
        status: 200,
        headers: vec![("content-type".into(), content_type.into())],
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn responses_are_found_by_id_in_json_and_event_streams() {
    let json = answer(
        "application/json",
        r#"{"jsonrpc":"2.0","id":2,"result":{"a":1}}"#,
    );
    assert_eq!(find_response(&json, 2).expect("found")["result"]["a"], 1);
    assert!(find_response(&json, 3).is_none(), "another id is not taken");
    let sse = answer(
        "text/event-stream",
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}\n\n\
         id: 7\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}\r\n\r\n",
    );
    assert!(find_response(&sse, 5).is_some());
    assert!(find_response(&sse, 6).is_none());
}

#[test]
fn tool_results_prefer_structured_content_and_errors_are_typed() {
    let r =
        json!({"content": [{"type": "text", "text": "{\"t\":3}"}], "structuredContent": {"t": 4}});
    assert_eq!(tool_result(r).expect("ok"), json!({"t": 4}));
    let r = json!({"content": [{"type": "text", "text": "{\"t\":3}"}]});
    assert_eq!(tool_result(r).expect("ok"), json!({"t": 3}));
    let r = json!({"content": [{"type": "text", "text": "plain"}]});
    assert_eq!(tool_result(r).expect("ok"), json!("plain"));
    let r = json!({"content": [{"type": "text", "text": "bad city"}], "isError": true});
    assert_eq!(tool_result(r), Err(CapError::new("ToolError", "bad city")));
}
