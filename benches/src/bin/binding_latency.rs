//! What worker-to-worker bindings cost, and the host call under them: one bare host call (a
//! `caches.default.match` miss, answered by the supervisor itself), one RPC call through a service binding (the caller's
//! isolate → its worker process → the supervisor → the target's worker process and isolate, and
//! back), and `env.LOADER.get` of a new child (its definition validated and stored, loaded into
//! an isolate, then called) and of a cached one.
//!
//!   cargo build --release -p stockade
//!   [STOCKADE_BENCH_CONFIG='worker_threads = 1'] cargo run --release -p stockade-benches --bin binding-latency -- [target/release/stockade] [rounds]
//!
//! The isolate's clocks are coarse (1 ms, on purpose), so one call is measured from outside: a
//! request that makes K sequential calls, minus the same worker's request that makes none,
//! divided by K (medians over `rounds` requests each, interleaved). One worker process. New
//! children are measured last (each stays loaded in the process: 500 and more at 100 rounds, over
//! the default process memory cap, which this bench therefore turns off).

use std::net::TcpListener;
use std::time::{Duration, Instant};

const TOKEN: &str = "binding-bench-token-0123456789";
const OPERATOR: &str = "binding-bench-operator-0123456789";
/// RPC calls (and cached gets) per measured request.
const K: usize = 100;
/// New children per measured request (each is a stored definition).
const K_NEW: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `(with - without) / n`, of the medians.
fn per_call(with: &[Duration], without: &[Duration], n: usize) -> Duration {
    median(with.to_vec()).saturating_sub(median(without.to_vec())) / n as u32
}

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/stockade".to_owned());
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(100);
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = std::env::temp_dir().join(format!("stockade-binding-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("stockade.toml");
    let max_workers = 64 + (rounds + 3) * K_NEW;
    // Top-level settings to measure under (e.g. `worker_threads = 1`), before the rest.
    let extra = std::env::var("STOCKADE_BENCH_CONFIG").map_or(String::new(), |c| c + "\n");
    std::fs::write(
        &config,
        format!(
            "{extra}listen = \"127.0.0.1:{port}\"\nworkers = 1\noperator_token = \"{OPERATOR}\"\n\
             data_dir = \"{}\"\n[limits]\ncpu_ms = 10000\nwall_ms = 60000\n\
             worker_process_memory_mb = 0\n\
             [quotas]\nmax_workers = {max_workers}\nrequests_per_second = 0\n\
             [[tenants]]\nid = \"bench\"\ntoken = \"{TOKEN}\"\n",
            dir.join("data").display()
        ),
    )
    .expect("config");
    let base = format!("http://127.0.0.1:{port}");
    let (daemon, client) =
        stockade_benches::start_daemon(&bin, &config, &base, OPERATOR, Duration::from_secs(120));
    let create = |code: &str, env: serde_json::Value| -> String {
        let created: serde_json::Value = client
            .post(format!("{base}/v1/workers"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({
                "mainModule": "main.js",
                "modules": { "main.js": code },
                "env": env,
                "limits": { "cpuMs": 10000, "wallMs": 60000 },
            }))
            .send()
            .and_then(|r| r.json())
            .expect("create a worker");
        created["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id: {created}"))
            .to_owned()
    };
    let target = create(
        "export default { ping(x) { return x; } };",
        serde_json::json!({}),
    );
    let caller = create(
        "export default { async fetch(req, env) {
  const q = new URL(req.url).searchParams;
  const n = Number(q.get('n')), mode = q.get('mode'), tag = q.get('tag');
  const child = (t) => async () => ({ mainModule: 'c.js', modules: { 'c.js': `export default { ping(x) { return x; } }; // ${t}` } });
  for (let i = 0; i < n; i++) {
    if (mode === 'rpc') await env.SVC.ping(i);
    else if (mode === 'cache') await caches.default.match('https://bench.invalid/miss');
    else if (mode === 'new') await env.LOADER.get(`${tag}-${i}`, child(`${tag}-${i}`)).getEntrypoint().ping(i);
    else await env.LOADER.get('cached', child('cached')).getEntrypoint().ping(i);
  }
  return new Response('done');
} };",
        serde_json::json!({
            "SVC": { "binding": "service", "worker": target },
            "LOADER": { "binding": "loader" },
        }),
    );
    let mut tags = 0usize;
    let mut call = |mode: &str, n: usize| {
        tags += 1;
        let start = Instant::now();
        let r = client
            .get(format!(
                "{base}/v1/workers/{caller}/fetch/?mode={mode}&n={n}&tag=t{tags}"
            ))
            .bearer_auth(TOKEN)
            .send()
            .expect("request");
        let status = r.status();
        let text = r.text().unwrap_or_default();
        assert!(
            status.is_success() && text == "done",
            "{mode}: {status} {text}"
        );
        start.elapsed()
    };
    // Two phases: every new child stays loaded in the worker process, so they come last and do
    // not weigh on the RPC figures.
    for _ in 0..10 {
        call("cache", K);
        call("rpc", K);
        call("cached", K);
        call("rpc", 0);
    }
    let (mut bare, mut rpc, mut cached, mut none) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        bare.push(call("cache", K));
        rpc.push(call("rpc", K));
        cached.push(call("cached", K));
        none.push(call("rpc", 0));
    }
    for _ in 0..3 {
        call("new", K_NEW);
    }
    let (mut new, mut none_new) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        new.push(call("new", K_NEW));
        none_new.push(call("rpc", 0));
    }
    let one_bare = per_call(&bare, &none, K);
    let one_rpc = per_call(&rpc, &none, K);
    let one_cached = per_call(&cached, &none, K);
    let one_new = per_call(&new, &none_new, K_NEW);
    println!("binding latency, {rounds} rounds, one worker process, loopback");
    println!(
        "  request with {K} RPC calls: p50 {:.0} us, p99 {:.0} us; with none: p50 {:.0} us",
        us(median(rpc.clone())),
        us(percentile(rpc, 0.99)),
        us(median(none))
    );
    println!(
        "  one bare host call (caches.default.match, a miss; isolate -> supervisor -> isolate): {:.0} us (p50 of the difference / {K})",
        us(one_bare)
    );
    println!(
        "  one service-binding RPC round trip (worker -> supervisor -> worker): {:.0} us (p50 of the difference / {K})",
        us(one_rpc)
    );
    println!(
        "  LOADER.get of a cached child + one RPC call: {:.0} us; the get alone (minus one RPC): {:.0} us",
        us(one_cached),
        us(one_cached.saturating_sub(one_rpc))
    );
    println!(
        "  LOADER.get of a new child (define, store, load) + its first call: {:.0} us (p50 of the difference / {K_NEW})",
        us(one_new)
    );
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
