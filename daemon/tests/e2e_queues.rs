//! Queues end to end, on a real daemon with jailed workers: a producer worker's sends reach the
//! consumer's `queue` handler in batches of at most `max_batch_size` with their bodies and content
//! types; explicit ack, retry and a throw decide each message's fate, attempts count up, and a
//! message out of retries goes to the dead-letter queue; a delay is honoured; a tenant's consumer
//! never sees another tenant's messages of the same queue name; sizes, types and a second
//! consumer are refused clearly; a message sent before a `kill -9` is delivered after the restart.
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Records every delivery in KV (`log:<queue>`: [{size, seen: [...]}]); a message's body decides
/// what the handler does with it. `fetch` sends (POST {op, args}) or reads the log (GET /<queue>).
const WORKER: &str = r#"
export default {
  async queue(batch, env) {
    const key = "log:" + batch.queue;
    const log = JSON.parse((await env.KV.get(key)) ?? "[]");
    const now = Date.now();
    const seen = batch.messages.map((m) => ({
      id: m.id,
      body: m.body instanceof ArrayBuffer ? [...new Uint8Array(m.body)]
        : m.body instanceof Map ? { map: [...m.body] } : m.body,
      type: m.body instanceof ArrayBuffer ? "ArrayBuffer" : m.body instanceof Map ? "Map" : typeof m.body,
      attempts: m.attempts,
      waited: now - m.timestamp.getTime(),
    }));
    log.push({ size: batch.messages.length, seen });
    await env.KV.put(key, JSON.stringify(log));
    console.log(`delivered ${batch.messages.length} of ${batch.queue}`);
    let fail = false;
    for (const m of batch.messages) {
      const mode = m.body?.mode;
      if (mode === "ack") m.ack();
      if (mode === "retry-once" && m.attempts === 1) m.retry();
      if (mode === "throw") fail = true;
    }
    if (fail) throw new Error("the batch failed");
  },
  async fetch(request, env) {
    if (request.method === "GET") {
      const queue = new URL(request.url).pathname.slice(1);
      return new Response((await env.KV.get("log:" + queue)) ?? "[]");
    }
    const { op, args } = await request.json();
    try {
      if (op === "bytes") await env.Q.send(new Uint8Array(args), { contentType: "bytes" });
      else if (op === "map") await env.Q.send(new Map(args), { contentType: "v8" });
      else if (op === "mapDefault") await env.Q.send(new Map(args));
      else if (op === "undefined") await env.Q.send(undefined);
      else if (op === "big") await env.Q.send("x".repeat(args), { contentType: "text" });
      else if (op === "many") await env.Q.sendBatch(Array.from({ length: args }, (_, i) => ({ body: i })));
      else if (op === "heavy") await env.Q.sendBatch(Array.from({ length: 3 }, () => ({ body: "y".repeat(args), contentType: "text" })));
      else await env.Q[op](...args);
      return Response.json({ ok: true });
    } catch (e) {
      return Response.json({ error: `${e.name}: ${e.message}` });
    }
  },
};"#;

fn worker(queue_binding: &str, consumes: Value) -> Value {
    json!({
        "mainModule": "main.js",
        "modules": { "main.js": WORKER },
        "env": {
            "KV": { "binding": "kv", "namespace": "queues" },
            "Q": { "binding": "queue", "queue": queue_binding },
        },
        "triggers": { "queues": consumes },
    })
}

/// POSTs `{op, args}` to the worker: its JSON answer.
fn op(d: &impl Target, token: &str, id: &str, op: &str, args: Value) -> Value {
    let r = client()
        .post(format!("{}/v1/workers/{id}/fetch/", d.base()))
        .bearer_auth(token)
        .json(&json!({ "op": op, "args": args }))
        .send()
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    r.json().expect("json")
}

/// The deliveries `id` recorded for `queue`.
fn log(d: &impl Target, token: &str, id: &str, queue: &str) -> Vec<Value> {
    fetch_json(d, token, id, queue)
        .as_array()
        .expect("log")
        .clone()
}

/// Every message seen in `queue`'s deliveries, in order.
fn seen(d: &impl Target, token: &str, id: &str, queue: &str) -> Vec<Value> {
    log(d, token, id, queue)
        .iter()
        .flat_map(|b| b["seen"].as_array().expect("seen").clone())
        .collect()
}

/// Waits (up to 60 s, a hang guard) until `done` holds of `queue`'s seen messages.
fn wait_for(
    d: &impl Target,
    token: &str,
    id: &str,
    queue: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = seen(d, token, id, queue);
        if done(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered within 60 s: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One batch at a time: the handler's log in KV is a read-modify-write, which batches delivered
/// at once (the default `max_concurrency`) would race on.
fn consumer(queue: &str, size: u32) -> Value {
    json!({ "queue": queue, "max_batch_size": size, "max_batch_timeout": 0, "max_retries": 2,
            "dead_letter_queue": "dead", "retry_delay": 0, "max_concurrency": 1 })
}

#[test]
fn batches_fates_retries_dead_letters_and_delays() {
    let d = Daemon::start("queues-main", 2, 1, "");
    let t = tenant_token(0);
    let id = load_code(
        &d,
        &t,
        &worker(
            "jobs",
            json!([consumer("jobs", 3), { "queue": "dead", "max_batch_timeout": 0, "max_concurrency": 1 }]),
        ),
    );
    let (_, described) = get_json(&d, Some(&t), &format!("/v1/workers/{id}"));
    assert_eq!(
        described["triggers"]["queues"][0]["max_retries"], 2,
        "{described}"
    );

    // Seven messages in one send: batches of at most 3, each body once, as sent.
    assert_eq!(op(&d, &t, &id, "many", json!(7)), json!({ "ok": true }));
    let got = wait_for(&d, &t, &id, "jobs", |s| s.len() >= 7);
    let mut bodies: Vec<i64> = got.iter().map(|m| m["body"].as_i64().expect("n")).collect();
    bodies.sort();
    assert_eq!(bodies, [0, 1, 2, 3, 4, 5, 6], "{got:?}");
    let batches = log(&d, &t, &id, "jobs");
    assert!(
        batches
            .iter()
            .all(|b| b["size"].as_u64().expect("size") <= 3),
        "{batches:?}"
    );
    assert!(
        batches.iter().any(|b| b["size"] == 3),
        "grouped: {batches:?}"
    );
    assert!(got
        .iter()
        .all(|m| m["attempts"] == 1 && m["type"] == "number"));

    // The four content types.
    assert_eq!(
        op(
            &d,
            &t,
            &id,
            "send",
            json!(["hello", { "contentType": "text" }])
        ),
        json!({ "ok": true })
    );
    assert_eq!(
        op(&d, &t, &id, "bytes", json!([1, 2, 255])),
        json!({ "ok": true })
    );
    assert_eq!(
        op(&d, &t, &id, "map", json!([["k", 1]])),
        json!({ "ok": true })
    );
    assert_eq!(
        op(&d, &t, &id, "send", json!([{ "deep": [true, null] }])),
        json!({ "ok": true })
    );
    // No contentType: a structured clone, as on Cloudflare (a Map stays a Map).
    assert_eq!(
        op(&d, &t, &id, "mapDefault", json!([["d", 2]])),
        json!({ "ok": true })
    );
    let got = wait_for(&d, &t, &id, "jobs", |s| s.len() >= 12);
    let typed: Vec<(Value, Value)> = got[7..]
        .iter()
        .map(|m| (m["type"].clone(), m["body"].clone()))
        .collect();
    for expected in [
        (json!("string"), json!("hello")),
        (json!("ArrayBuffer"), json!([1, 2, 255])),
        (json!("Map"), json!({ "map": [["k", 1]] })),
        (json!("object"), json!({ "deep": [true, null] })),
        (json!("Map"), json!({ "map": [["d", 2]] })),
    ] {
        assert!(typed.contains(&expected), "{expected:?} in {typed:?}");
    }

    // One batch: an explicit ack survives the throw; the thrown one is retried until it is out
    // of retries (3 deliveries), then dead-lettered; an explicit retry comes back once.
    let sent = op(
        &d,
        &t,
        &id,
        "sendBatch",
        json!([[
            { "body": { "mode": "ack", "n": "a" } },
            { "body": { "mode": "throw", "n": "t" } },
        ]]),
    );
    assert_eq!(sent, json!({ "ok": true }));
    let got = wait_for(&d, &t, &id, "dead", |s| !s.is_empty());
    assert_eq!(got[0]["body"], json!({ "mode": "throw", "n": "t" }));
    assert_eq!(got[0]["attempts"], 1, "a dead letter starts again");
    let jobs = seen(&d, &t, &id, "jobs");
    let attempts = |n: &str| -> Vec<Value> {
        jobs.iter()
            .filter(|m| m["body"]["n"] == n)
            .map(|m| m["attempts"].clone())
            .collect()
    };
    assert_eq!(attempts("t"), [json!(1), json!(2), json!(3)]);
    assert_eq!(attempts("a"), [json!(1)], "acked explicitly, never again");
    assert_eq!(
        op(
            &d,
            &t,
            &id,
            "send",
            json!([{ "mode": "retry-once", "n": "r" }])
        ),
        json!({ "ok": true })
    );
    wait_for(&d, &t, &id, "jobs", |s| {
        s.iter().filter(|m| m["body"]["n"] == "r").count() >= 2
    });

    // A delay: not delivered before it (30 s: still waiting when looked at), delivered after it
    // (2 s: the consumer saw it at least 2 s after it was sent).
    assert_eq!(
        op(
            &d,
            &t,
            &id,
            "send",
            json!([{ "n": "later" }, { "delaySeconds": 30 }])
        ),
        json!({ "ok": true })
    );
    assert_eq!(
        op(
            &d,
            &t,
            &id,
            "send",
            json!([{ "n": "soon" }, { "delaySeconds": 2 }])
        ),
        json!({ "ok": true })
    );
    let got = wait_for(&d, &t, &id, "jobs", |s| {
        s.iter().any(|m| m["body"]["n"] == "soon")
    });
    let soon = got.iter().find(|m| m["body"]["n"] == "soon").expect("soon");
    assert!(soon["waited"].as_i64().expect("waited") >= 2000, "{soon}");
    assert!(
        !got.iter().any(|m| m["body"]["n"] == "later"),
        "not before its delay"
    );
    // The batch is acknowledged after its handler ran (the handler's record is seen first):
    // the backlog counts "soon" until then.
    let deadline = Instant::now() + Duration::from_secs(20);
    let q = loop {
        let (status, q) = get_json(&d, Some(&t), "/v1/queues/jobs");
        assert_eq!(status, 200);
        if (&q["backlog"], &q["ready"]) == (&json!(1), &json!(0)) {
            break q;
        }
        assert!(Instant::now() < deadline, "only \"later\" stays: {q}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(q["consumer"], json!(id));

    // The batches are in the worker's logs; the outcomes are counted.
    let (_, logs) = get_json(&d, Some(&t), &format!("/v1/workers/{id}/logs"));
    assert!(logs.to_string().contains("delivered 3 of jobs"), "{logs}");
    assert!(logs.to_string().contains("the batch failed"), "{logs}");
    let metrics = d.metrics();
    for line in [
        "stockade_queue_messages_total{outcome=\"dead_lettered\"} 1",
        "stockade_queue_messages_total{outcome=\"sent\"} 17",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

#[test]
fn tenants_queues_are_their_own_and_limits_are_clear() {
    let d = Daemon::start("queues-apart", 2, 1, "");
    let (a, b) = (tenant_token(0), tenant_token(1));
    let mine = load_code(&d, &a, &worker("jobs", json!([consumer("jobs", 10)])));
    let theirs = load_code(&d, &b, &worker("jobs", json!([consumer("jobs", 10)])));
    assert_eq!(
        op(&d, &a, &mine, "send", json!([{ "from": "a" }])),
        json!({ "ok": true })
    );
    // Through the API too, as tenant b, to its own queue of the same name.
    let r = client()
        .post(format!("{}/v1/queues/jobs/messages", d.base()))
        .bearer_auth(&b)
        .json(&json!({ "messages": [{ "body": "from b", "contentType": "text" }] }))
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    let got_a = wait_for(&d, &a, &mine, "jobs", |s| !s.is_empty());
    let got_b = wait_for(&d, &b, &theirs, "jobs", |s| !s.is_empty());
    // Anything more would have come with them (one send each, batches of 10, no delay).
    std::thread::sleep(Duration::from_secs(1));
    let got_a2 = seen(&d, &a, &mine, "jobs");
    let got_b2 = seen(&d, &b, &theirs, "jobs");
    assert_eq!(got_a2.len(), 1, "{got_a2:?}");
    assert_eq!(got_b2.len(), 1, "{got_b2:?}");
    assert_eq!(got_a[0]["body"], json!({ "from": "a" }));
    assert_eq!(got_b[0]["body"], json!("from b"));

    // A second consumer of a tenant's queue is a conflict; a bad consumer a 400.
    let mut other = worker("jobs", json!([consumer("jobs", 5)]));
    other["env"]["N"] = json!(1);
    let (status, body) = create_worker(&d, &a, &other);
    assert_eq!(status, 409, "{body}");
    assert!(
        body.to_string().contains("already has a consumer"),
        "{body}"
    );
    for bad in [
        json!([{ "queue": "a.b" }]),
        json!([{ "queue": "x", "max_batch_size": 101 }]),
        json!([{ "queue": "x", "dead_letter_queue": "x" }]),
        json!([{ "queue": "x", "max_concurrency": 0 }]),
        json!([{ "queue": "x", "max_concurrency": 251 }]),
    ] {
        let (status, body) = create_worker(&d, &a, &worker("jobs", bad.clone()));
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = create_with_env(
        &d,
        &a,
        "export default {}",
        json!({ "Q": { "binding": "queue", "queue": "../x" } }),
    );
    assert_eq!(status, 400);

    // Sizes, counts, types and delays: clear errors, nothing stored.
    for (what, args, expected) in [
        (
            "big",
            json!(128_000 + 1),
            "RangeError: Queue.send: a message is at most 128000 bytes",
        ),
        (
            "many",
            json!(101),
            "RangeError: Queue.sendBatch: a batch is at most 100 messages",
        ),
        (
            "heavy",
            json!(90_000),
            "RangeError: Queue.sendBatch: a batch is at most 256000 bytes",
        ),
        (
            "send",
            json!([1, { "contentType": "xml" }]),
            "TypeError: Queue.send: contentType must be",
        ),
        (
            "send",
            json!([1, { "delaySeconds": 43201 }]),
            "RangeError: Queue.send: delaySeconds must be",
        ),
        (
            "send",
            json!(["x", { "contentType": "bytes" }]),
            "TypeError: Queue.send: a \"bytes\" body",
        ),
        (
            "undefined",
            json!(null),
            "TypeError: Queue.send: the message body cannot be undefined",
        ),
    ] {
        let answer = op(&d, &a, &mine, what, args);
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.starts_with(expected), "{what}: {answer}");
    }
    let r = client()
        .post(format!("{}/v1/queues/jobs/messages", d.base()))
        .bearer_auth(&a)
        .json(&json!({ "messages": [{ "body": "z".repeat(128_000 + 1), "contentType": "text" }] }))
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().expect("text").contains("at most 128000 bytes"));
    let (status, q) = get_json(&d, Some(&a), "/v1/queues/jobs");
    assert_eq!((status, q["backlog"].clone()), (200, json!(0)), "{q}");
}

#[test]
fn a_message_sent_before_a_kill_9_is_delivered_after_the_restart() {
    let t = tenant_token(0);
    let tenants = format!("[[tenants]]\nid = \"t0\"\ntoken = \"{t}\"\n");
    let dir = std::env::temp_dir().join(format!("stockade-e2e-queues-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = Daemon::start_in(dir.clone(), 1, &tenants, &[]);
    let id = load_code(&first, &t, &worker("jobs", json!([consumer("jobs", 10)])));
    // Delayed past the kill: it cannot have been delivered before.
    let sent = op(
        &first,
        &t,
        &id,
        "send",
        json!([{ "n": "survivor" }, { "delaySeconds": 3 }]),
    );
    assert_eq!(sent, json!({ "ok": true }));
    let dir = first.kill9();
    let d = Daemon::start_in(dir.clone(), 1, &tenants, &[]);
    let got = wait_for(&d, &t, &id, "jobs", |s| !s.is_empty());
    assert_eq!(got[0]["body"], json!({ "n": "survivor" }));
    assert_eq!(got[0]["attempts"], 1);
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}
