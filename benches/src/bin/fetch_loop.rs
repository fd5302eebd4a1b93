//! One Loader-style worker's `fetch` called K times on one isolate, in this process: the
//! isolate's share of a cached-worker request (the head serialized for the runtime, the
//! `Request` built, the handler, the `Response` read back, CPU accounting), with no HTTP, IPC or
//! threads around it. A fixed workload for profilers (`valgrind --tool=callgrind`, `perf stat`),
//! and it prints the median time per fetch over ten rounds.
//!
//! `cargo run --release -p stockade-benches --bin fetch-loop -- [K]` (default 20,000 per round)
//!
//! The request carries the headers `hey` sends (host, user-agent, accept-encoding); the handler
//! is `benches/load`'s hello worker.

use std::time::{Duration, Instant};

use stockade_isolate::{
    Engine, FetchRequest, Limits, LoadOptions, Module, ModuleSet, V8Profile, Worker,
};

const HELLO: &str = "export default { fetch() { return new Response(\"hello\"); } };";

fn main() {
    let k: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000)
        .max(1);
    let run = || -> Result<Vec<f64>, String> {
        let engine = Engine::init(V8Profile::Standard).map_err(|e| e.to_string())?;
        // A round's CPU is the request's: under valgrind one call takes far more than the
        // default limit, so the limit is raised for the profilers this workload is for.
        let limits = Limits {
            cpu: Duration::from_secs(600),
            ..Limits::default()
        };
        let mut worker = Worker::new(engine, limits).map_err(|e| e.to_string())?;
        let mut set = ModuleSet::new([Module::new("main.js", HELLO)]).map_err(|e| e.to_string())?;
        worker
            .load_with("main.js", &mut set, &LoadOptions::default())
            .result
            .map_err(|e| e.to_string())?;
        let request = FetchRequest {
            method: "GET".into(),
            url: "http://127.0.0.1:8080/".into(),
            headers: vec![
                ("host".into(), "127.0.0.1:8080".into()),
                ("user-agent".into(), "hey/0.0.1".into()),
                ("accept-encoding".into(), "gzip".into()),
            ],
            env: serde_json::json!({}),
            ..FetchRequest::default()
        };
        let mut rounds = Vec::new();
        for _ in 0..10 {
            let start = Instant::now();
            for _ in 0..k {
                let (response, _) = worker.fetch(&request);
                response.map_err(|e| e.to_string())?;
            }
            rounds.push(start.elapsed().as_secs_f64() * 1e6 / k as f64);
        }
        Ok(rounds)
    };
    match run() {
        Ok(mut rounds) => {
            rounds.sort_by(f64::total_cmp);
            println!(
                "fetch on one isolate: median {:.2} us per call over 10 rounds of {k} (min {:.2}, max {:.2})",
                (rounds[4] + rounds[5]) / 2.0,
                rounds[0],
                rounds[9]
            );
        }
        Err(e) => {
            eprintln!("fetch-loop: {e}");
            std::process::exit(1);
        }
    }
}
