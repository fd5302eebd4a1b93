//! Creates N idle isolates (default 200), each with a hello module loaded and called once, and
//! prints the process RSS before and after, and the RSS per idle isolate.
//!
//! `cargo run --release -p stockade-benches --bin idle-isolates -- [N]`

use std::time::Duration;

use stockade_isolate::{Engine, Limits, Module, ModuleSet, V8Profile, Worker};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let engine = match Engine::init(V8Profile::Standard) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("engine: {e}");
            std::process::exit(1);
        }
    };
    let limits = Limits {
        cpu: Duration::from_secs(1),
        ..Limits::default()
    };
    // One isolate first, so the shared read-only heap and code are mapped before measuring.
    let warm = Worker::new(engine, limits.clone());
    let before = rss_bytes();
    let mut workers = Vec::with_capacity(n);
    for _ in 0..n {
        let Ok(mut w) = Worker::new(engine, limits.clone()) else {
            eprintln!("isolate creation failed");
            std::process::exit(1);
        };
        let Ok(mut set) = ModuleSet::new([Module::new("main.js", "export default () => 'idle';")])
        else {
            std::process::exit(1);
        };
        let loaded = w.load("main.js", &mut set);
        let called = w.call("null");
        if loaded.result.is_err() || called.result.is_err() {
            eprintln!("hello module failed");
            std::process::exit(1);
        }
        workers.push(w);
    }
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    let heap: usize = workers.iter().map(|w| w.heap_stats().used_heap_bytes).sum();
    println!("idle isolates: {n}");
    println!(
        "rss before: {:.1} MiB, after: {:.1} MiB",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
    println!("rss per idle isolate: {:.3} MiB", per / 1048576.0);
    println!(
        "V8 used heap per isolate: {:.3} MiB",
        heap as f64 / n as f64 / 1048576.0
    );
    drop(workers);
    drop(warm);
}
