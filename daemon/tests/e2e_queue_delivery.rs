//! Queue deliveries end to end, on a real daemon with jailed workers: a consumer's
//! `max_concurrency` really lets that many batches run at once (two handlers meet at a barrier in
//! KV) and `max_concurrency: 1` really keeps them one at a time; a daemon killed with `kill -9`
//! while a batch is in its handler delivers that batch again after the restart, once its lease
//! is over (one more attempt), and never again a message acknowledged before the kill; the
//! backlog gauge on `/metrics` shows messages in flight and waiting per (tenant, queue).
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// `queue`: each batch is one message; its handler records `seen:<queue>:<body>:<attempts>`, then
/// by the body's mode: "meet" waits (at most 8 s) until two messages of its queue have arrived
/// and records whether they met; "slow" sleeps 60 s on its first attempt; anything else is
/// acked at once. `fetch`: POST {body, options} sends; GET /<prefix> lists the KV keys.
const WORKER: &str = r#"
export default {
  async queue(batch, env) {
    const q = batch.queue;
    for (const m of batch.messages) {
      const { mode, n } = m.body;
      await env.KV.put(`seen:${q}:${n}:${m.attempts}`, "1");
      if (mode === "meet") {
        await env.KV.put(`arrived:${q}:${n}`, "1");
        let met = false;
        for (let i = 0; i < 80 && !met; i++) {
          met = (await env.KV.list({ prefix: `arrived:${q}:` })).keys.length >= 2;
          if (!met) await new Promise((r) => setTimeout(r, 100));
        }
        await env.KV.put(`met:${q}:${n}:${met}`, "1");
      }
      if (mode === "slow" && m.attempts === 1) await new Promise((r) => setTimeout(r, 60000));
      await env.KV.put(`done:${q}:${n}:${m.attempts}`, "1");
      m.ack();
    }
  },
  async fetch(request, env) {
    if (request.method === "GET") {
      const prefix = new URL(request.url).pathname.slice(1);
      return Response.json((await env.KV.list({ prefix })).keys.map((k) => k.name).sort());
    }
    const { queue, body, options } = await request.json();
    await env[queue].send(body, options);
    return Response.json({ ok: true });
  },
};"#;

fn consumer(queue: &str, concurrency: u32) -> Value {
    json!({ "queue": queue, "max_batch_size": 1, "max_batch_timeout": 0, "max_retries": 5,
            "max_concurrency": concurrency })
}

fn worker(consumers: Value, wall_ms: u32) -> Value {
    json!({
        "mainModule": "main.js",
        "modules": { "main.js": WORKER },
        "env": {
            "KV": { "binding": "kv", "namespace": "delivery" },
            "WIDE": { "binding": "queue", "queue": "wide" },
            "NARROW": { "binding": "queue", "queue": "narrow" },
            "SLOW": { "binding": "queue", "queue": "slow" },
        },
        "limits": { "wallMs": wall_ms },
        "triggers": { "queues": consumers },
    })
}

fn send(d: &impl Target, token: &str, id: &str, queue: &str, body: Value, options: Value) {
    let r = client()
        .post(format!("{}/v1/workers/{id}/fetch/", d.base()))
        .bearer_auth(token)
        .json(&json!({ "queue": queue, "body": body, "options": options }))
        .send()
        .expect("send");
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text());
}

/// The worker's KV keys under `prefix`.
fn keys(d: &impl Target, token: &str, id: &str, prefix: &str) -> Vec<String> {
    serde_json::from_value(fetch_json(d, token, id, prefix)).expect("keys")
}

/// Waits (up to `secs`, a hang guard) until `done` holds of the keys under `prefix`.
fn wait_keys(
    d: &impl Target,
    token: &str,
    id: &str,
    prefix: &str,
    secs: u64,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = keys(d, token, id, prefix);
        if done(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{prefix}: not within {secs} s: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits (up to 60 s) until `/metrics` has `line`.
fn wait_metric(d: &Daemon, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = d.metrics();
        if metrics.lines().any(|l| l == line) {
            return;
        }
        assert!(Instant::now() < deadline, "{line} not in {metrics}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn max_concurrency_runs_batches_at_once_or_one_at_a_time() {
    let d = Daemon::start("queue-concurrency", 1, 1, "[limits]\ncpu_ms = 2000\n");
    let t = tenant_token(0);
    let id = load_code(
        &d,
        &t,
        &worker(json!([consumer("wide", 2), consumer("narrow", 1)]), 30_000),
    );
    for queue in ["WIDE", "NARROW"] {
        for n in ["a", "b"] {
            send(
                &d,
                &t,
                &id,
                queue,
                json!({ "mode": "meet", "n": n }),
                json!({}),
            );
        }
    }
    // Two at once: each handler saw the other arrive while it waited.
    let wide = wait_keys(&d, &t, &id, "met:wide:", 60, |k| k.len() >= 2);
    assert_eq!(wide, ["met:wide:a:true", "met:wide:b:true"], "{wide:?}");
    // One at a time: the first waited alone (its 8 s ran out), the second found it had been.
    let narrow = wait_keys(&d, &t, &id, "met:narrow:", 60, |k| k.len() >= 2);
    let alone = narrow.iter().filter(|k| k.ends_with(":false")).count();
    assert_eq!(alone, 1, "{narrow:?}");
    // Each message once, acked.
    let seen = keys(&d, &t, &id, "seen:");
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.iter().all(|k| k.ends_with(":1")), "{seen:?}");
}

#[test]
fn a_batch_killed_mid_delivery_comes_back_and_an_acked_one_never_does() {
    let t = tenant_token(0);
    // A 15 s event wall limit: a batch's lease then ends 45 s after its claim (the consumer's
    // load under its 15 s wall limit, the batch's 15 s, and 15 s more).
    let tenants =
        format!("[limits]\nevent_wall_ms = 15000\n[[tenants]]\nid = \"t0\"\ntoken = \"{t}\"\n");
    let dir =
        std::env::temp_dir().join(format!("stockade-e2e-queue-midkill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = Daemon::start_in(dir.clone(), 1, &tenants, &[]);
    let id = load_code(&first, &t, &worker(json!([consumer("slow", 4)]), 15_000));

    // Acked before the kill.
    send(
        &first,
        &t,
        &id,
        "SLOW",
        json!({ "mode": "ack", "n": "acked" }),
        json!({}),
    );
    wait_keys(&first, &t, &id, "done:slow:acked:", 60, |k| !k.is_empty());
    // In its handler at the kill (it sleeps 60 s on its first attempt).
    send(
        &first,
        &t,
        &id,
        "SLOW",
        json!({ "mode": "slow", "n": "held" }),
        json!({}),
    );
    wait_keys(&first, &t, &id, "seen:slow:held:", 60, |k| !k.is_empty());
    wait_metric(
        &first,
        "stockade_queue_backlog{tenant=\"t0\",queue=\"slow\",state=\"in_flight\"} 1",
    );
    // One more, delayed past the test: stored, waiting.
    send(
        &first,
        &t,
        &id,
        "SLOW",
        json!({ "mode": "ack", "n": "later" }),
        json!({ "delaySeconds": 3600 }),
    );
    wait_metric(
        &first,
        "stockade_queue_backlog{tenant=\"t0\",queue=\"slow\",state=\"waiting\"} 1",
    );
    // Still in its first attempt (not ended by its wall limit and retried) at the kill.
    assert_eq!(
        keys(&first, &t, &id, "seen:slow:held:"),
        ["seen:slow:held:1"]
    );
    let dir = first.kill9();

    let d = Daemon::start_in(dir.clone(), 1, &tenants, &[]);
    // Delivered again once the lease is over: its second attempt, which finishes.
    let done = wait_keys(&d, &t, &id, "done:slow:held:", 90, |k| !k.is_empty());
    assert_eq!(done, ["done:slow:held:2"]);
    let seen = keys(&d, &t, &id, "seen:slow:");
    assert_eq!(
        seen,
        ["seen:slow:acked:1", "seen:slow:held:1", "seen:slow:held:2"],
        "the acked message was never delivered again"
    );
    wait_metric(
        &d,
        "stockade_queue_backlog{tenant=\"t0\",queue=\"slow\",state=\"in_flight\"} 0",
    );
    wait_metric(
        &d,
        "stockade_queue_backlog{tenant=\"t0\",queue=\"slow\",state=\"waiting\"} 1",
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}
