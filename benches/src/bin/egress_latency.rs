//! What the egress gateway adds to an outbound request: tenant code's `fetch()` to a local HTTP
//! server, through the isolate's host call, the worker, the IPC, the supervisor's policy and its
//! HTTP client, against a direct request from this process to the same server.
//!
//!   cargo build --release -p stockade
//!   [STOCKADE_BENCH_CONFIG='worker_threads = 1'] [STOCKADE_BENCH_CHUNKED=1] cargo run --release -p stockade-benches --bin egress-latency -- [target/release/stockade] [rounds]
//!
//! The isolate's clocks are coarse (1 ms, on purpose), so the time of one `fetch()` is measured
//! from outside: a Loader worker's request that makes K sequential fetches, minus the same
//! worker's request that makes none, divided by K (medians over `rounds` requests each). The
//! direct figure is the median of single keep-alive requests from this process (reqwest, the
//! client the gateway uses too). Overhead = per-fetch median - direct median. Everything runs
//! interleaved in one process run, on loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const TOKEN: &str = "egress-bench-token-0123456789";
const OPERATOR: &str = "egress-bench-operator-0123456789";
/// Fetches per measured request (the per-invocation subrequest cap is 50).
const K: usize = 50;

/// A keep-alive HTTP/1.1 server answering `ok` to everything, a thread per connection; with
/// `STOCKADE_BENCH_CHUNKED` set, in chunked encoding (no length: an answer the gateway may stream).
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

fn serve(stream: TcpStream) {
    let chunked = std::env::var_os("STOCKADE_BENCH_CHUNKED").is_some();
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut out = stream;
    let mut line = String::new();
    loop {
        // A request: lines up to the blank one (no bodies are sent).
        let mut any = false;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            any = true;
        }
        if !any {
            continue;
        }
        let answer: &[u8] = if chunked {
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n\
              2\r\nok\r\n0\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
        };
        if out.write_all(answer).is_err() {
            return;
        }
    }
}

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

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/stockade".to_owned());
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(200);
    let up = upstream();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = std::env::temp_dir().join(format!("stockade-egress-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("stockade.toml");
    // Top-level settings to measure under (e.g. `worker_threads = 1`), before the rest.
    let extra = std::env::var("STOCKADE_BENCH_CONFIG").map_or(String::new(), |c| c + "\n");
    std::fs::write(
        &config,
        format!(
            "{extra}listen = \"127.0.0.1:{port}\"\nworkers = 1\noperator_token = \"{OPERATOR}\"\n\
             [limits]\ncpu_ms = 1000\n[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
             [[tenants]]\nid = \"bench\"\ntoken = \"{TOKEN}\"\n\
             [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{up}]\n"
        ),
    )
    .expect("config");
    let base = format!("http://127.0.0.1:{port}");
    let (daemon, client) =
        stockade_benches::start_daemon(&bin, &config, &base, OPERATOR, Duration::from_secs(60));
    let code = format!(
        "export default {{ async fetch(req) {{ const n = Number(new URL(req.url).searchParams.get('n')); for (let i = 0; i < n; i++) {{ const r = await fetch('http://127.0.0.1:{up}/x'); await r.text(); }} return new Response('done'); }} }};"
    );
    let created: serde_json::Value = client
        .post(format!("{base}/v1/workers"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "mainModule": "main.js",
            "modules": { "main.js": code },
            "limits": { "subRequests": K, "cpuMs": 1000 },
        }))
        .send()
        .and_then(|r| r.json())
        .expect("create the worker");
    let id = created["id"].as_str().expect("an id").to_owned();
    let call = |n: usize| {
        let start = Instant::now();
        let r = client
            .get(format!("{base}/v1/workers/{id}/fetch/?n={n}"))
            .bearer_auth(TOKEN)
            .send()
            .expect("request");
        let ok = r.status().is_success() && r.text().is_ok_and(|t| t == "done");
        assert!(ok, "the worker's request failed");
        start.elapsed()
    };
    let direct_client = reqwest::blocking::Client::new();
    let direct = || {
        let start = Instant::now();
        let r = direct_client
            .get(format!("http://127.0.0.1:{up}/x"))
            .send()
            .expect("direct");
        assert!(r.text().is_ok_and(|t| t == "ok"));
        start.elapsed()
    };
    // Warm everything (the isolate, both clients' connections).
    for _ in 0..20 {
        call(K);
        call(0);
        direct();
    }
    let (mut with, mut without, mut straight) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        with.push(call(K));
        without.push(call(0));
        for _ in 0..K {
            straight.push(direct());
        }
    }
    let per_fetch = median(with.clone()).saturating_sub(median(without.clone())) / K as u32;
    let direct_p50 = median(straight.clone());
    println!("egress gateway latency, {rounds} rounds of {K} sequential fetches, loopback");
    println!(
        "  request with {K} fetches: p50 {:.0} us, p99 {:.0} us; without: p50 {:.0} us",
        us(median(with.clone())),
        us(percentile(with, 0.99)),
        us(median(without))
    );
    println!(
        "  one fetch() through the gateway: {:.0} us (p50 of the difference / {K})",
        us(per_fetch)
    );
    println!(
        "  one direct request: p50 {:.0} us, p99 {:.0} us",
        us(direct_p50),
        us(percentile(straight, 0.99))
    );
    println!(
        "  overhead of the gateway: {:.0} us per request (p50)",
        us(per_fetch) - us(direct_p50)
    );
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
