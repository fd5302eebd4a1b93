//! Pull consumers end to end, on a real daemon with jailed workers and real HTTP: messages sent by
//! a worker's producer binding and by `POST /v1/queues/{name}/messages` are pulled in batches over
//! `POST /v1/queues/{name}/messages/pull`, with their bodies by content type; a leased message is
//! not pulled again while its lease lasts; acks delete, a retry comes back after its delay, a lease
//! left to end comes back with one attempt more; another tenant can neither pull the queue (its
//! own of that name is empty) nor settle it with a stolen lease_id; a queue a worker consumes is a
//! 409 (a lease taken before that worker came stays valid until it ends); bad fields are 400s
//! naming them; a lease survives a `kill -9` and a restart on the same data_dir.
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// `fetch`: POST {body, options, map?, bytes?} sends to Q; GET lists the KV keys under `seen:`.
/// `queue`: records `seen:<body>:<attempts>` and acks.
const WORKER: &str = r#"
export default {
  async queue(batch, env) {
    for (const m of batch.messages) {
      await env.KV.put(`seen:${JSON.stringify(m.body)}:${m.attempts}`, "1");
      m.ack();
    }
  },
  async fetch(request, env) {
    if (request.method === "GET") {
      return Response.json((await env.KV.list({ prefix: "seen:" })).keys.map((k) => k.name).sort());
    }
    const { body, options, map, bytes } = await request.json();
    if (map) await env.Q.send(new Map(map));
    else if (bytes) await env.Q.send(new Uint8Array(bytes), { contentType: "bytes" });
    else await env.Q.send(body, options);
    return Response.json({ ok: true });
  },
};"#;

fn worker(queue: &str, consumes: Value) -> Value {
    json!({
        "mainModule": "main.js",
        "modules": { "main.js": WORKER },
        "env": {
            "KV": { "binding": "kv", "namespace": "pull" },
            "Q": { "binding": "queue", "queue": queue },
        },
        "triggers": { "queues": consumes },
    })
}

/// POSTs `body` to `path` as `token`: (status, JSON answer).
fn post(d: &impl Target, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}{path}", d.base()))
        .bearer_auth(token)
        .json(body)
        .send()
        .expect("post");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn pull(d: &impl Target, token: &str, queue: &str, body: Value) -> (u16, Value) {
    post(
        d,
        token,
        &format!("/v1/queues/{queue}/messages/pull"),
        &body,
    )
}

fn ack(d: &impl Target, token: &str, queue: &str, body: Value) -> Value {
    let (status, answer) = post(d, token, &format!("/v1/queues/{queue}/messages/ack"), &body);
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The messages of a successful pull.
fn pulled(d: &impl Target, token: &str, queue: &str, body: Value) -> Vec<Value> {
    let (status, answer) = pull(d, token, queue, body);
    assert_eq!(status, 200, "{answer}");
    answer["messages"].as_array().expect("messages").clone()
}

/// The message of `list` whose body is `body`.
fn find<'a>(list: &'a [Value], body: &Value) -> &'a Value {
    list.iter()
        .find(|m| m["body"] == *body)
        .unwrap_or_else(|| panic!("{body} not in {list:?}"))
}

fn lease(m: &Value) -> Value {
    json!({ "lease_id": m["lease_id"] })
}

/// A worker send through its producer binding.
fn send(d: &impl Target, token: &str, id: &str, what: Value) {
    let (status, answer) = post(d, token, &format!("/v1/workers/{id}/fetch/"), &what);
    assert_eq!(status, 200, "{answer}");
}

/// Pulls (up to 60 s, a hang guard) until `done` holds of what was pulled so far.
fn pull_until(
    d: &impl Target,
    token: &str,
    queue: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    loop {
        got.extend(pulled(d, token, queue, json!({ "batch_size": 100 })));
        if done(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "not pulled within 60 s: {got:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn metric(d: &Daemon, outcome: &str) -> String {
    let line = format!("stockade_queue_messages_total{{outcome=\"{outcome}\"}} ");
    d.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(&line).map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn pulls_lease_acks_retries_and_expiries_per_tenant() {
    let d = Daemon::start("queue-pull", 2, 1, "");
    let (a, b) = (tenant_token(0), tenant_token(1));
    let producer = load_code(&d, &a, &worker("inbox", json!([])));

    // Six messages: four from the worker's binding (json, text, bytes, v8), two over HTTP.
    send(
        &d,
        &a,
        &producer,
        json!({ "body": { "n": 1 }, "options": { "contentType": "json" } }),
    );
    send(
        &d,
        &a,
        &producer,
        json!({ "body": "hello", "options": { "contentType": "text" } }),
    );
    send(&d, &a, &producer, json!({ "bytes": [1, 2, 255] }));
    send(&d, &a, &producer, json!({ "map": [["k", 7]] }));
    let (status, sent) = post(
        &d,
        &a,
        "/v1/queues/inbox/messages",
        &json!({ "messages": [{ "body": { "n": 2 } }, { "body": "plain", "contentType": "text" }] }),
    );
    assert_eq!((status, sent), (202, json!({ "sent": 2 })));

    // A batch of four, leased for a minute; the next pull gets the two others, then none.
    let (status, first) = pull(
        &d,
        &a,
        "inbox",
        json!({ "batch_size": 4, "visibility_timeout_ms": 60000 }),
    );
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["message_backlog_count"], 6, "{first}");
    let first = first["messages"].as_array().expect("messages").clone();
    assert_eq!(first.len(), 4);
    // The two others one at a time: the first leased for a minute (acked below), the second
    // for 3 s (left to end; a minute's lease leaves a loaded machine time for the requests
    // until the ack).
    let second: Vec<Value> = [60000, 3000]
        .iter()
        .flat_map(|ms| {
            pulled(
                &d,
                &a,
                "inbox",
                json!({ "batch_size": 1, "visibility_timeout_ms": ms }),
            )
        })
        .collect();
    assert_eq!(
        second.len(),
        2,
        "the leased four are not pulled again: {second:?}"
    );
    let all: Vec<Value> = first.iter().chain(&second).cloned().collect();
    assert!(
        pulled(&d, &a, "inbox", json!({})).is_empty(),
        "all six leased"
    );
    for m in &all {
        assert_eq!(m["attempts"], 1, "{m}");
        assert!(
            m["timestamp_ms"]
                .as_i64()
                .is_some_and(|t| t > 1_600_000_000_000),
            "{m}"
        );
        assert!(m["lease_id"].as_str().is_some_and(|l| l.len() > 40), "{m}");
        assert!(m["id"].as_str().is_some_and(|id| id.len() == 32), "{m}");
    }
    let by_type = |body: Value, ct: &str| {
        let m = find(&all, &body);
        assert_eq!(m["contentType"], ct, "{m}");
        m.clone()
    };
    by_type(json!({ "n": 1 }), "json");
    by_type(json!("hello"), "text");
    by_type(json!("AQL/"), "bytes");
    by_type(json!({ "n": 2 }), "json");
    by_type(json!("plain"), "text");
    let v8 = all
        .iter()
        .find(|m| m["contentType"] == "v8")
        .expect("the Map");
    assert!(
        v8["body"].is_object() || v8["body"].is_array(),
        "tagged JSON: {v8}"
    );
    assert!(v8["body"].to_string().contains("\"k\""), "{v8}");

    // Tenant b: its own "inbox" is empty; a's lease_ids settle nothing of a's.
    let (status, theirs) = pull(&d, &b, "inbox", json!({}));
    assert_eq!(
        (status, theirs.clone()),
        (200, json!({ "messages": [], "message_backlog_count": 0 }))
    );
    let stolen: Vec<Value> = all.iter().map(lease).collect();
    let answer = ack(
        &d,
        &b,
        "inbox",
        json!({ "acks": stolen[..3], "retries": [stolen[3]] }),
    );
    assert_eq!(
        (answer["ackCount"].clone(), answer["retryCount"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(
        answer["warnings"].as_array().map(Vec::len),
        Some(4),
        "{answer}"
    );
    let (_, q) = get_json(&d, Some(&a), "/v1/queues/inbox");
    assert_eq!(q["backlog"], 6, "nothing of a's acked: {q}");

    // a acks three of the first batch and retries the fourth after 2 s; a second ack of a
    // settled lease is a warning.
    let answer = ack(
        &d,
        &a,
        "inbox",
        json!({ "acks": [lease(&first[0]), lease(&first[1]), lease(&first[2])],
                "retries": [{ "lease_id": first[3]["lease_id"], "delay_seconds": 2 }] }),
    );
    assert_eq!(
        answer,
        json!({ "ackCount": 3, "retryCount": 1, "warnings": [] })
    );
    let again = ack(&d, &a, "inbox", json!({ "acks": [lease(&first[0])] }));
    assert_eq!(again["ackCount"], 0);
    assert!(
        again["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("acks[0]")),
        "{again}"
    );
    // Of the other two, the one leased for a minute acked now, the other left to end.
    let answer = ack(&d, &a, "inbox", json!({ "acks": [lease(&second[0])] }));
    assert_eq!(answer["ackCount"], 1, "{answer}");

    // Back: the retried one after its delay, the other once its lease ended, each a second
    // attempt, with new lease_ids.
    let back = pull_until(&d, &a, "inbox", |got| got.len() >= 2);
    let mut ids: Vec<(String, i64)> = back
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or("").to_owned(),
                m["attempts"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    ids.sort();
    let mut expected = vec![
        (first[3]["id"].as_str().unwrap_or("").to_owned(), 2),
        (second[1]["id"].as_str().unwrap_or("").to_owned(), 2),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(back
        .iter()
        .all(|m| m["lease_id"] != first[3]["lease_id"] && m["lease_id"] != second[1]["lease_id"]));
    // The ended lease settles nothing now; the new ones do.
    let stale = ack(&d, &a, "inbox", json!({ "acks": [lease(&second[1])] }));
    assert_eq!(stale["ackCount"], 0, "{stale}");
    let answer = ack(
        &d,
        &a,
        "inbox",
        json!({ "acks": back.iter().map(lease).collect::<Vec<_>>() }),
    );
    assert_eq!(answer["ackCount"], 2, "{answer}");
    let (_, q) = get_json(&d, Some(&a), "/v1/queues/inbox");
    assert_eq!(q["backlog"], 0, "{q}");

    assert_eq!(metric(&d, "pulled"), "8");
    assert_eq!(metric(&d, "acked"), "6");
    assert_eq!(metric(&d, "retried"), "1");
}

#[test]
fn a_consumed_queue_is_refused_and_bad_fields_are_named() {
    let d = Daemon::start("queue-pull-refusals", 1, 1, "");
    let t = tenant_token(0);

    // Leased before a worker consumes the queue: the lease stays valid until it ends (an ack
    // works), then the worker gets the message; the queue is no longer pulled.
    let (status, _) = post(
        &d,
        &t,
        "/v1/queues/jobs/messages",
        &json!({ "messages": [{ "body": "kept" }, { "body": "handed" }] }),
    );
    assert_eq!(status, 202);
    // One leased for a minute (acked below, after the worker's load), one for 3 s.
    let leased: Vec<Value> = [60000, 3000]
        .iter()
        .flat_map(|ms| {
            pulled(
                &d,
                &t,
                "jobs",
                json!({ "batch_size": 1, "visibility_timeout_ms": ms }),
            )
        })
        .collect();
    assert_eq!(leased.len(), 2);
    let consumer = load_code(
        &d,
        &t,
        &worker("jobs", json!([{ "queue": "jobs", "max_batch_timeout": 0 }])),
    );
    let (status, refused) = pull(&d, &t, "jobs", json!({}));
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused.to_string().contains(&consumer),
        "names the worker: {refused}"
    );
    let answer = ack(&d, &t, "jobs", json!({ "acks": [lease(&leased[0])] }));
    assert_eq!(answer["ackCount"], 1, "{answer}");
    // The other one's lease ends; the worker then gets it, its second delivery.
    let other = format!("seen:{}:2", leased[1]["body"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = fetch_json(&d, &t, &consumer, "");
        if seen == json!([other]) {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {seen}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The worker gone, the queue is pulled again.
    let r = client()
        .delete(format!("{}/v1/workers/{consumer}", d.base))
        .bearer_auth(&t)
        .send()
        .expect("delete");
    assert!(r.status().is_success(), "{:?}", r.text());
    assert_eq!(pull(&d, &t, "jobs", json!({})).0, 200);

    // Bad fields: 400s naming them.
    for (body, named) in [
        (json!({ "batch_size": 0 }), "batch_size"),
        (json!({ "batch_size": 101 }), "batch_size"),
        (json!({ "batch_size": "5" }), "batch_size"),
        (json!({ "batch_size": 2.5 }), "batch_size"),
        (
            json!({ "visibility_timeout_ms": 0 }),
            "visibility_timeout_ms",
        ),
        (
            json!({ "visibility_timeout_ms": 43_200_001 }),
            "visibility_timeout_ms",
        ),
        (
            json!({ "visibility_timeout_ms": -1 }),
            "visibility_timeout_ms",
        ),
        (json!({ "batchSize": 5 }), "batchSize"),
        (json!([1]), "must be an object"),
    ] {
        let (status, answer) = pull(&d, &t, "jobs", body.clone());
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(named), "{body}: {answer}");
    }
    for (body, named) in [
        (json!({ "acks": "x" }), "acks"),
        (json!({ "acks": [{}] }), "acks[0].lease_id"),
        (json!({ "acks": [{ "lease_id": 5 }] }), "acks[0].lease_id"),
        (
            json!({ "acks": [{ "lease_id": "x", "delay_seconds": 1 }] }),
            "acks[0].delay_seconds",
        ),
        (
            json!({ "retries": [{ "lease_id": "x", "delay_seconds": 43_201 }] }),
            "retries[0].delay_seconds",
        ),
        (
            json!({ "retries": [{ "lease_id": "x" }, "y"] }),
            "retries[1]",
        ),
        (
            json!({ "acks": vec![json!({ "lease_id": "x" }); 101] }),
            "acks",
        ),
        (json!({ "nacks": [] }), "nacks"),
    ] {
        let (status, answer) = post(&d, &t, "/v1/queues/jobs/messages/ack", &body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(named), "{body}: {answer}");
    }
    let (status, answer) = pull(&d, &t, "a.b", json!({}));
    assert_eq!(status, 400, "{answer}");
    let answer = ack(
        &d,
        &t,
        "jobs",
        json!({ "acks": [{ "lease_id": "nonsense" }] }),
    );
    assert_eq!(
        answer["ackCount"], 0,
        "an unknown lease is a warning: {answer}"
    );
    let r = client()
        .post(format!("{}/v1/queues/jobs/messages/pull", d.base))
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
}

#[test]
fn a_pull_lease_survives_a_kill_and_a_restart() {
    let t = tenant_token(0);
    let tenants = format!("[[tenants]]\nid = \"t0\"\ntoken = \"{t}\"\n");
    let dir = std::env::temp_dir().join(format!(
        "stockade-e2e-queue-pull-kill-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let first = Daemon::start_in(dir.clone(), 1, &tenants, &[]);
    let (status, _) = post(
        &first,
        &t,
        "/v1/queues/held/messages",
        &json!({ "messages": [{ "body": "long" }, { "body": "short" }, { "body": "free" }] }),
    );
    assert_eq!(status, 202);
    // "long" leased for 10 minutes, "short" for 3 s (oldest first: sent in that order, so
    // pulled one at a time until each is leased as it should be).
    let mut long = None;
    let mut short = None;
    while long.is_none() || short.is_none() {
        let vt = if long.is_none() { 600_000 } else { 3_000 };
        let got = pulled(
            &first,
            &t,
            "held",
            json!({ "batch_size": 1, "visibility_timeout_ms": vt }),
        );
        let m = got.first().expect("one").clone();
        match m["body"].as_str() {
            Some("long") if long.is_none() => long = Some(m),
            Some("short") if long.is_some() => short = Some(m),
            _ => {
                // Sent in one batch, the three may share a timestamp: put back what came out of
                // order (a 0 s retry) and pull again.
                let r = ack(&first, &t, "held", json!({ "retries": [lease(&m)] }));
                assert_eq!(r["retryCount"], 1, "{r}");
            }
        }
    }
    let (long, short) = (long.expect("long"), short.expect("short"));
    let dir = first.kill9();

    let d = Daemon::start_in(dir.clone(), 1, &tenants, &[]);
    // The restarted daemon released no lease: "long" (9+ minutes left) is not pulled again;
    // only "free" is, or "short" if its 3 s have passed.
    let now = pulled(
        &d,
        &t,
        "held",
        json!({ "batch_size": 10, "visibility_timeout_ms": 600_000 }),
    );
    assert!(now.iter().any(|m| m["body"] == "free"), "{now:?}");
    assert!(
        now.iter().all(|m| m["body"] != "long"),
        "a lease released at restart: {now:?}"
    );
    // Its lease_id, given before the kill, still settles it.
    let answer = ack(&d, &t, "held", json!({ "acks": [lease(&long)] }));
    assert_eq!(answer["ackCount"], 1, "{answer}");
    // "short" comes back once its own lease ends, one attempt more (it may have been pulled out
    // of order and put back before: counted too).
    let back = if now.iter().any(|m| m["body"] == "short") {
        now
    } else {
        pull_until(&d, &t, "held", |got| {
            got.iter().any(|m| m["body"] == "short")
        })
    };
    let again = find(&back, &json!("short"));
    assert_eq!(
        (again["id"].clone(), again["attempts"].clone()),
        (
            short["id"].clone(),
            json!(short["attempts"].as_i64().unwrap_or(0) + 1)
        )
    );
    let log = d.stderr();
    assert!(
        log.contains("queues: no lease of a previous daemon on this data_dir to release"),
        "{log}"
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}
