//! Creates, uses and disposes N isolates in a loop (default 20): a fixed workload for profilers
//! (`valgrind --tool=callgrind`, `perf`), whose instruction counts do not depend on machine load.
//!
//! `cargo run --release -p stockade-benches --bin isolate-churn -- [N] [--create-only]`

use std::time::Duration;

use stockade_isolate::{Engine, Limits, Module, ModuleSet, V8Profile, Worker};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let create_only = args.iter().any(|a| a == "--create-only");
    let Ok(engine) = Engine::init(V8Profile::Standard) else {
        eprintln!("engine failed");
        std::process::exit(1);
    };
    let limits = Limits {
        cpu: Duration::from_secs(5),
        ..Limits::default()
    };
    for _ in 0..n {
        let Ok(mut w) = Worker::new(engine, limits.clone()) else {
            std::process::exit(1);
        };
        if !create_only {
            let Ok(mut set) = ModuleSet::new([Module::new(
                "main.js",
                "export default (a) => ({ hello: a });",
            )]) else {
                std::process::exit(1);
            };
            if w.load("main.js", &mut set).result.is_err() || w.call("1").result.is_err() {
                std::process::exit(1);
            }
        }
    }
}
