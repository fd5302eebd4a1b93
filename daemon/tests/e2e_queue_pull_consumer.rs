//! A queue's HTTP pull consumer settings end to end, on a real daemon and real HTTP
//! (`GET`/`PUT`/`DELETE /v1/queues/{name}/consumer`): a pull without a batch size or a visibility
//! timeout gets the settings'; a retry without a delay waits the settings' `retry_delay`; a
//! message out of its `max_retries` goes to the `dead_letter_queue`, where it is pulled afresh
//! (and counted as dead-lettered); bad settings are 400s naming the field; a queue has one
//! consumer (a worker consuming a queue with pull settings, and settings for a queue a worker
//! consumes, are 409s); another tenant's queue of the same name keeps the defaults; settings
//! survive a restart; forgotten, the queue is pulled with the defaults again.
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// `method` `path` with a JSON `body` (none: no body) as `token`: (status, JSON answer).
fn call(
    d: &impl Target,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut r = client()
        .request(method, format!("{}{path}", d.base()))
        .bearer_auth(token);
    if let Some(body) = body {
        r = r.json(body);
    }
    let r = r.send().expect("request");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn consumer(
    d: &impl Target,
    token: &str,
    method: reqwest::Method,
    body: Option<Value>,
) -> (u16, Value) {
    call(d, token, method, "/v1/queues/jobs/consumer", body.as_ref())
}

fn pulled(d: &impl Target, token: &str, queue: &str, body: Value) -> Vec<Value> {
    let (status, answer) = call(
        d,
        token,
        reqwest::Method::POST,
        &format!("/v1/queues/{queue}/messages/pull"),
        Some(&body),
    );
    assert_eq!(status, 200, "{answer}");
    answer["messages"].as_array().expect("messages").clone()
}

fn retry_all(d: &impl Target, token: &str, messages: &[Value]) -> Value {
    let retries: Vec<Value> = messages
        .iter()
        .map(|m| json!({ "lease_id": m["lease_id"] }))
        .collect();
    let (status, answer) = call(
        d,
        token,
        reqwest::Method::POST,
        "/v1/queues/jobs/messages/ack",
        Some(&json!({ "retries": retries })),
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

fn send(d: &impl Target, token: &str, bodies: &[&str]) {
    let messages: Vec<Value> = bodies.iter().map(|b| json!({ "body": b })).collect();
    let (status, answer) = call(
        d,
        token,
        reqwest::Method::POST,
        "/v1/queues/jobs/messages",
        Some(&json!({ "messages": messages })),
    );
    assert_eq!(status, 202, "{answer}");
}

fn bodies_and_attempts(messages: &[Value]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = messages
        .iter()
        .map(|m| {
            (
                m["body"].as_str().unwrap_or("").to_owned(),
                m["attempts"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn pull_settings_shape_pulls_retries_and_dead_letters_and_a_queue_has_one_consumer() {
    let tenants = format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[[tenants]]\nid = \"t1\"\ntoken = \"{}\"\n",
        tenant_token(0),
        tenant_token(1)
    );
    let d = Daemon::start_raw("queue-pull-consumer", 1, &tenants, &[]);
    let (t, other) = (tenant_token(0), tenant_token(1));
    use reqwest::Method;

    // None kept: the defaults a pull gets.
    let (status, got) = consumer(&d, &t, Method::GET, None);
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["type"], "http_pull");
    assert_eq!(got["configured"], false);
    assert_eq!(
        (
            got["settings"]["batch_size"].clone(),
            got["settings"]["max_retries"].clone()
        ),
        (json!(5), json!(3))
    );

    // Bad settings are named, and nothing is kept.
    for (bad, field) in [
        (json!({ "batch_size": 0 }), "batch_size"),
        (
            json!({ "visibility_timeout_ms": 0 }),
            "visibility_timeout_ms",
        ),
        (json!({ "max_retries": 101 }), "max_retries"),
        (json!({ "dead_letter_queue": "jobs" }), "dead_letter_queue"),
        (json!({ "batchSize": 2 }), "batchSize"),
        (json!({ "batch_size": "5" }), "batch_size"),
        (json!({ "dead_letter_queue": 5 }), "dead_letter_queue"),
    ] {
        let (status, got) = consumer(&d, &t, Method::PUT, Some(bad.clone()));
        assert_eq!(status, 400, "{bad}: {got}");
        assert!(got.to_string().contains(field), "{bad}: {got}");
    }
    assert_eq!(consumer(&d, &t, Method::GET, None).1["configured"], false);

    let settings = json!({
        "batch_size": 2,
        "visibility_timeout_ms": 4000,
        "max_retries": 1,
        "dead_letter_queue": "jobs-dlq",
    });
    let (status, got) = consumer(&d, &t, Method::PUT, Some(settings));
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["settings"]["retry_delay"], 0,
        "a default filled in: {got}"
    );

    // A pull without a batch size takes the settings' 2.
    send(&d, &t, &["a", "b", "c"]);
    let first = pulled(&d, &t, "jobs", json!({}));
    assert_eq!(first.len(), 2, "{first:?}");
    let third = pulled(&d, &t, "jobs", json!({}));
    assert_eq!(third.len(), 1, "{third:?}");
    // ... and its lease is the settings' 4 s: unsettled, they come back (attempt 2), without the
    // default 30 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut again = Vec::new();
    while again.len() < 3 {
        again.extend(pulled(&d, &t, "jobs", json!({ "batch_size": 10 })));
        assert!(
            Instant::now() < deadline,
            "the leases never ended: {again:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        bodies_and_attempts(&again),
        [("a".into(), 2), ("b".into(), 2), ("c".into(), 2)],
        "each back for its second delivery"
    );
    // Retried with no delay given: out of their one retry, all go to the dead-letter queue.
    let settled = retry_all(&d, &t, &again);
    assert_eq!(settled["retryCount"], 3, "{settled}");
    let dead = pulled(&d, &t, "jobs-dlq", json!({ "batch_size": 10 }));
    assert_eq!(
        bodies_and_attempts(&dead),
        [("a".into(), 1), ("b".into(), 1), ("c".into(), 1)],
        "in the dead-letter queue, afresh"
    );
    assert!(pulled(&d, &t, "jobs", json!({ "batch_size": 10 })).is_empty());
    let line = "stockade_queue_messages_total{outcome=\"dead_lettered\"} ";
    let counted = d
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix(line).map(str::to_owned))
        .unwrap_or_default();
    assert_eq!(counted, "3");

    // A retry within its retries, given no delay, waits the settings' retry_delay (5 s): the
    // message is not pulled at once, then comes back for its second delivery.
    let (status, got) = consumer(
        &d,
        &t,
        Method::PUT,
        Some(json!({ "retry_delay": 5, "visibility_timeout_ms": 60000 })),
    );
    assert_eq!(status, 200, "{got}");
    send(&d, &t, &["d"]);
    let d1 = pulled(&d, &t, "jobs", json!({}));
    assert_eq!(retry_all(&d, &t, &d1)["retryCount"], 1);
    assert!(
        pulled(&d, &t, "jobs", json!({})).is_empty(),
        "delayed by retry_delay"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let back = pulled(&d, &t, "jobs", json!({}));
        if !back.is_empty() {
            assert_eq!(back[0]["attempts"], 2, "{back:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the retry never came back");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Another tenant's queue of the same name: its own, with the defaults.
    let (_, theirs) = consumer(&d, &other, Method::GET, None);
    assert_eq!(theirs["configured"], false, "{theirs}");

    // One consumer per queue, both ways.
    let worker = |queue: &str| {
        json!({
            "mainModule": "main.js",
            "modules": { "main.js": "export default { async queue(batch) { batch.ackAll(); } };" },
            "triggers": { "queues": [{ "queue": queue }] },
        })
    };
    let (status, got) = call(&d, &t, Method::POST, "/v1/workers", Some(&worker("jobs")));
    assert_eq!(status, 409, "{got}");
    assert!(got.to_string().contains("pull consumer"), "{got}");
    let (status, got) = call(&d, &t, Method::POST, "/v1/workers", Some(&worker("busy")));
    assert_eq!(status, 201, "{got}");
    let (status, got) = call(
        &d,
        &t,
        Method::PUT,
        "/v1/queues/busy/consumer",
        Some(&json!({})),
    );
    assert_eq!(status, 409, "{got}");
    let (_, got) = call(&d, &t, Method::GET, "/v1/queues/busy/consumer", None);
    assert_eq!(got["type"], "worker", "{got}");

    // Kept across a restart; forgotten once, then the defaults again.
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &tenants, &[]);
    let (_, kept) = consumer(&d, &t, Method::GET, None);
    assert_eq!(
        (
            kept["configured"].clone(),
            kept["settings"]["retry_delay"].clone(),
            kept["settings"]["visibility_timeout_ms"].clone()
        ),
        (json!(true), json!(5), json!(60000)),
        "the last settings kept: {kept}"
    );
    assert_eq!(consumer(&d, &t, Method::DELETE, None).0, 204);
    assert_eq!(consumer(&d, &t, Method::DELETE, None).0, 404);
    let (_, got) = consumer(&d, &t, Method::GET, None);
    assert_eq!(got["configured"], false, "{got}");
}
