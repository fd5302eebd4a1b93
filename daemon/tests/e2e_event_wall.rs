//! The wall-clock limit of events end to end, on a real daemon with jailed workers: a cron run
//! (`scheduled()`) and a queue batch (`queue()`) run under `[limits] event_wall_ms`, not the
//! worker's `wallMs`, as Cloudflare gives them 15 minutes while a fetch gets its client's
//! patience; past `event_wall_ms` they end `exceededWall`; a fetch of the same worker keeps its
//! `wallMs`; and a queue batch that runs longer than the worker's `wallMs` plus the old lease
//! margin is not delivered again while its handler still runs (its lease outlasts the event
//! limit).
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// `scheduled`: logs, then awaits `env.FIRST` ms, logs "still running", awaits `env.THEN` ms
/// more, logs "done". `fetch`: the same waits, then answers "done". `queue`: records each
/// delivery (`seen:<body>:<random>`), awaits `env.FIRST` ms, records `still:<body>:<attempts>`,
/// awaits `env.THEN` ms, records `done:<body>:<attempts>` and acks; a retried message (attempts
/// above 1) is acked at once. `GET /keys/<prefix>` lists the KV keys.
const WORKER: &str = r#"
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export default {
  async scheduled(controller, env) {
    console.log("started");
    await sleep(env.FIRST);
    console.log("still running");
    await sleep(env.THEN);
    console.log("done");
  },
  async queue(batch, env) {
    for (const m of batch.messages) {
      await env.KV.put(`seen:${m.body}:${crypto.randomUUID()}`, "1");
      if (m.attempts > 1) { m.ack(); continue; }
      await sleep(env.FIRST);
      await env.KV.put(`still:${m.body}:${m.attempts}`, "1");
      await sleep(env.THEN);
      await env.KV.put(`done:${m.body}:${m.attempts}`, "1");
      m.ack();
    }
  },
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/keys/")) {
      const prefix = url.pathname.slice("/keys/".length);
      return Response.json((await env.KV.list({ prefix })).keys.map((k) => k.name).sort());
    }
    if (request.method === "POST") {
      await env.Q.send(await request.text());
      return Response.json({ ok: true });
    }
    await sleep(env.FIRST);
    await sleep(env.THEN);
    return new Response("done");
  },
};"#;

/// A worker with a 1 s `wallMs` whose handlers wait `first` then `then` ms; its queue `q`'s
/// consumer takes one message a batch (a tenant's queue has one consumer: see [`cron_worker`]).
fn worker(namespace: &str, first: u32, then: u32) -> Value {
    json!({
        "mainModule": "main.js",
        "modules": { "main.js": WORKER },
        "env": {
            "KV": { "binding": "kv", "namespace": namespace },
            "Q": { "binding": "queue", "queue": "q" },
            "FIRST": first,
            "THEN": then,
        },
        "limits": { "wallMs": 1000 },
        "triggers": { "queues": [{ "queue": "q", "max_batch_size": 1, "max_batch_timeout": 0,
                                     "max_retries": 3 }] },
    })
}

/// [`worker`] without the queue consumer.
fn cron_worker(namespace: &str, first: u32, then: u32) -> Value {
    let mut w = worker(namespace, first, then);
    w.as_object_mut().expect("object").remove("triggers");
    w
}

/// Runs the worker's scheduled handler now: (status, JSON).
fn run_scheduled(d: &impl Target, token: &str, id: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/workers/{id}/scheduled", d.base()))
        .bearer_auth(token)
        .send()
        .expect("scheduled");
    (r.status().as_u16(), r.json().expect("json"))
}

fn messages(body: &Value) -> Vec<String> {
    body["logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|line| line["message"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn send(d: &impl Target, token: &str, id: &str, body: &str) {
    let r = client()
        .post(format!("{}/v1/workers/{id}/fetch/", d.base()))
        .bearer_auth(token)
        .body(body.to_owned())
        .send()
        .expect("send");
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text());
}

fn keys(d: &impl Target, token: &str, id: &str, prefix: &str) -> Vec<String> {
    serde_json::from_value(fetch_json(d, token, id, &format!("keys/{prefix}"))).expect("keys")
}

/// Waits (up to `secs`, a hang guard) until some KV key starts with `prefix`.
fn wait_key(d: &impl Target, token: &str, id: &str, prefix: &str, secs: u64) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = keys(d, token, id, prefix);
        if !got.is_empty() {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "no {prefix}* key within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_cron_run_has_event_wall_ms_and_a_fetch_keeps_the_workers_wall() {
    let d = Daemon::start("event-wall-cron", 1, 1, "[limits]\nevent_wall_ms = 10000\n");
    let t = tenant_token(0);

    // 7.5 s in all, within the event's 10 s, past the worker's 1 s, and past the 1 s + 5 s of
    // silence after which the supervisor would declare a process running a 1 s call hung (no
    // other request talks to the process meanwhile): the run ends ok.
    let id = load_code(&d, &t, &cron_worker("cron-ok", 1500, 6000));
    let (status, body) = run_scheduled(&d, &t, &id);
    assert_eq!((status, &body["outcome"]), (200, &json!("ok")), "{body}");
    assert_eq!(
        messages(&body),
        ["started", "still running", "done"],
        "{body}"
    );

    // The same worker's fetch awaiting the same timers is ended at its own 1 s wall limit.
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base()))
        .bearer_auth(&t)
        .send()
        .expect("fetch");
    let status = r.status().as_u16();
    let body: Value = r.json().expect("json");
    assert_eq!(body["error"]["code"], "wall_limit", "{status} {body}");

    // Past the event's 10 s (2 s, then 60 s more): exceededWall, the worker's answer, after it
    // ran past the worker's 1 s.
    let long = load_code(&d, &t, &cron_worker("cron-long", 2000, 60_000));
    let (status, body) = run_scheduled(&d, &t, &long);
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("exceededWall")),
        "{body}"
    );
    assert_eq!(messages(&body), ["started", "still running"], "{body}");
}

#[test]
fn a_queue_batch_has_event_wall_ms_and_is_not_delivered_again_while_it_runs() {
    // A 30 s event limit; the batch's handler runs 20 s: longer than the worker's 1 s wall limit
    // plus the 15 s a lease used to outlast it by, so a lease still sized by the worker's limit
    // would end mid-run and deliver the batch again.
    let d = Daemon::start(
        "event-wall-queue",
        1,
        1,
        "[limits]\nevent_wall_ms = 30000\n",
    );
    let t = tenant_token(0);
    let id = load_code(&d, &t, &worker("queue-ok", 2000, 18_000));
    send(&d, &t, &id, "slow");
    let done = wait_key(&d, &t, &id, "done:slow:", 120);
    assert_eq!(done, ["done:slow:1"], "acked on its first attempt");
    assert_eq!(keys(&d, &t, &id, "still:"), ["still:slow:1"]);
    let seen = keys(&d, &t, &id, "seen:slow:");
    assert_eq!(
        seen.len(),
        1,
        "delivered once, not again while it ran: {seen:?}"
    );
}

#[test]
fn a_queue_batch_past_event_wall_ms_ends_at_it_and_is_retried() {
    let t = tenant_token(0);
    let tail =
        format!("[limits]\nevent_wall_ms = 4000\n[[tenants]]\nid = \"t0\"\ntoken = \"{t}\"\n");
    let d = Daemon::start_raw("event-wall-queue-past", 1, &tail, &[]);
    // 2 s (past the worker's 1 s), then 60 s more: past the event's 4 s.
    let id = load_code(&d, &t, &worker("queue-past", 2000, 60_000));
    send(&d, &t, &id, "long");
    // Its first attempt ran past the worker's wall limit and was ended at the event's; the
    // message came back (a retry is acked at once).
    wait_key(&d, &t, &id, "still:long:1", 60);
    let deadline = Instant::now() + Duration::from_secs(60);
    while keys(&d, &t, &id, "seen:long:").len() < 2 {
        assert!(Instant::now() < deadline, "the batch was not retried");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        keys(&d, &t, &id, "done:").is_empty(),
        "the first attempt never finished"
    );
    let log = d.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("a queue batch failed (WallLimit")),
        "{log}"
    );
}
