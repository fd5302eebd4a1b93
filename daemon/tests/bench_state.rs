//! Benches of durable state (ignored by default; figures in README):
//!
//! ```sh
//! cargo test --release -p stockade --test bench_state -- --ignored --nocapture
//! ```
//!
//! - `readFile` / `writeFile` of 4 KiB through a workspace binding: a worker does them in
//!   batches of 50 (isolate clocks move in whole milliseconds, so one op is too short to time);
//!   the p50 over batches of the time per op, worker → supervisor → store → worker. Writes are
//!   durable (SQLite `synchronous=FULL`: one fsync per write);
//! - `search` of a regex over 10,000 files of 4 KiB, through `POST /v1/workspaces/{name}/search`
//!   (p50 of 10).
mod common;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const BENCH_WORKER: &str = "export default { async fetch(req, env) {
  const u = new URL(req.url);
  const op = u.searchParams.get('op'), n = Number(u.searchParams.get('n'));
  const base = Number(u.searchParams.get('base') || '0');
  const data = 'x'.repeat(4095) + '\\n';
  if (op === 'fill') {
    // At most 32 host calls in flight (a request may have 64).
    for (let at = base; at < base + n; at += 32) {
      const tasks = [];
      for (let i = at; i < Math.min(at + 32, base + n); i++) tasks.push(env.WS.writeFile('tree/d' + (i % 100) + '/f' + i + '.txt', (i % 997 === 0 ? 'needle ' : '') + data));
      await Promise.all(tasks);
    }
    return Response.json(n);
  }
  const start = Date.now();
  for (let i = 0; i < n; i++) {
    if (op === 'write') await env.WS.writeFile('bench/f' + (i % 10), data);
    else await env.WS.readFile('bench/f' + (i % 10));
  }
  return Response.json(Date.now() - start);
} };";

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ask(d: &Daemon, t: &str, id: &str, query: &str) -> Value {
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/?{query}", d.base))
        .bearer_auth(t)
        .send()
        .expect("fetch");
    let text = r.text().expect("text");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"))
}

#[test]
#[ignore = "a bench: run with --ignored --nocapture, in release"]
fn bench_workspace_binding_and_search() {
    let d = Daemon::start(
        "bench-state",
        1,
        1,
        "[limits]\ncpu_ms = 10000\nwall_ms = 120000\n",
    );
    let t = tenant_token(0);
    let body = json!({
        "mainModule": "main.js",
        "modules": { "main.js": BENCH_WORKER },
        "env": { "WS": { "binding": "workspace", "name": "bench" } },
    });
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(&t)
        .json(&body)
        .send()
        .expect("load");
    let id = r.json::<Value>().expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    const BATCH: f64 = 50.0;
    for op in ["write", "read"] {
        ask(&d, &t, &id, &format!("op={op}&n=50"));
        let per_op: Vec<f64> = (0..40)
            .map(|_| {
                ask(&d, &t, &id, &format!("op={op}&n=50"))
                    .as_f64()
                    .expect("ms")
                    / BATCH
            })
            .collect();
        eprintln!(
            "bench: 4 KiB {op}File through a binding: p50 {:.3} ms/op, p90 {:.3} ms/op (40 batches of 50)",
            percentile(per_op.clone(), 0.5),
            percentile(per_op, 0.9)
        );
    }
    let start = Instant::now();
    for chunk in 0..20 {
        ask(&d, &t, &id, &format!("op=fill&n=500&base={}", chunk * 500));
    }
    eprintln!(
        "bench: 10,000 files of 4 KiB written in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let mut took = Vec::new();
    let mut found = Value::Null;
    for _ in 0..10 {
        let start = Instant::now();
        found = client()
            .post(format!("{}/v1/workspaces/bench/search", d.base))
            .bearer_auth(&t)
            .json(&json!({ "pattern": "needle [x]+", "glob": "tree/**", "maxResults": 1000 }))
            .timeout(Duration::from_secs(120))
            .send()
            .expect("search")
            .json()
            .expect("json");
        took.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let matches = found["matches"].as_array().map_or(0, Vec::len);
    assert_eq!(matches, 11, "i % 997 == 0 for i < 10000: {found}");
    eprintln!(
        "bench: search over 10,000 files of 4 KiB (40 MB): p50 {:.1} ms, {matches} matches",
        percentile(took, 0.5)
    );
}
