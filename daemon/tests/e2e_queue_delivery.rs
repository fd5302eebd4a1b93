//! Queue deliveries end to end, on a real daemon with jailed workers: a consumer's
//! `max_concurrency` really lets that many batches run at once (two handlers meet at a barrier in
//! KV) and `max_concurrency: 1` really keeps them one at a time; a daemon killed with `kill -9`
//! while a batch is in its handler delivers that batch again right after its restart on the same
//! data_dir, though the batch's lease (the default, about 16 minutes) is far from over (one more
//! attempt), and never again a message acknowledged before the kill, while a daemon sharing its
//! PostgreSQL store (a data_dir of its own) never releases a live neighbour's lease; the
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
fn a_batch_killed_mid_delivery_comes_back_at_the_restart_and_an_acked_one_never_does() {
    let t = tenant_token(0);
    // The default event wall limit (15 minutes): a batch's lease ends about 16 minutes after its
    // claim (the consumer's load under its 15 s wall limit, the batch's 15 minutes, and 15 s
    // more), so only the restarted daemon's release of its predecessor's leases brings it back
    // within the minute waited below.
    let tenants = format!("[[tenants]]\nid = \"t0\"\ntoken = \"{t}\"\n");
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
    // Delivered again at the restart, its lease long from over: its second attempt, which
    // finishes (60 s: a hang guard, a small part of the lease).
    let done = wait_keys(&d, &t, &id, "done:slow:held:", 60, |k| !k.is_empty());
    assert_eq!(done, ["done:slow:held:2"]);
    // The successor said what it released: the one held message, not the delayed one.
    let log = d.stderr();
    assert!(
        log.contains("queues: 1 message(s) in flight when this data_dir's previous daemon"),
        "{log}"
    );
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

#[test]
fn a_daemon_sharing_postgresql_never_releases_a_live_neighbours_lease() {
    let Some(pg) = pg_schema("e2e_queue_leases") else {
        return;
    };
    let t = tenant_token(0);
    let shared =
        std::env::temp_dir().join(format!("stockade-e2e-queue-leases-{}", std::process::id()));
    std::fs::create_dir_all(&shared).expect("mkdir");
    let key = shared.join("secret.key");
    std::fs::write(&key, "ef".repeat(32)).expect("key");
    let tail = format!(
        "[store]\nurl = \"{}\"\nsecret_key_file = \"{}\"\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{t}\"\n",
        pg.url,
        key.display()
    );
    // A holds a batch in its handler (60 s on its first attempt), under the default lease.
    let a = Daemon::start_raw("queue-leases-a", 1, &tail, &[]);
    let id = load_code(&a, &t, &worker(json!([consumer("slow", 4)]), 15_000));
    send(
        &a,
        &t,
        &id,
        "SLOW",
        json!({ "mode": "slow", "n": "held" }),
        json!({}),
    );
    wait_keys(&a, &t, &id, "seen:slow:held:", 60, |k| !k.is_empty());

    // B, with a data_dir of its own on the same store, starts, is killed, starts again: neither
    // start releases A's lease (A is alive), and the batch stays in A's first attempt.
    let b = Daemon::start_raw("queue-leases-b", 1, &tail, &[]);
    let b = Daemon::start_in(b.kill9(), 1, &tail, &[]);
    let log = b.stderr();
    assert_eq!(
        log.matches("queues: no lease of a previous daemon on this data_dir to release")
            .count(),
        2,
        "{log}"
    );
    assert!(!log.contains("message(s) in flight"), "{log}");
    assert_eq!(keys(&b, &t, &id, "seen:slow:held:"), ["seen:slow:held:1"]);

    // A killed and started again on its own data_dir releases its batch: delivered again now
    // (by whichever daemon claims it first), its second attempt.
    let a = Daemon::start_in(a.kill9(), 1, &tail, &[]);
    let done = wait_keys(&a, &t, &id, "done:slow:held:", 60, |k| !k.is_empty());
    assert_eq!(done, ["done:slow:held:2"]);
    let log = a.stderr();
    assert!(
        log.contains("queues: 1 message(s) in flight when this data_dir's previous daemon"),
        "{log}"
    );
    let dirs = [a.kill9(), b.kill9()];
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
    let _ = std::fs::remove_dir_all(&shared);
}
