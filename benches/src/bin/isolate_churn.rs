//! Creates, uses and disposes N isolates in a loop (default 20): a fixed workload for profilers
//! (`valgrind --tool=callgrind`, `perf`), whose instruction counts do not depend on machine load.
//!
//! `cargo run --release -p stockade-benches --bin isolate-churn -- [N] [--create-only]
//! [--threads T] [--ts] [--node] [--maps]`
//!
//! `--threads T` splits the N isolates over T threads at once, as a worker process's isolate
//! threads do; `--ts` makes the module TypeScript (a helper thread per compile, as Code Mode
//! does); `--node` loads it with `nodejs_compat` and has it import `node:buffer` (which builds
//! the prelude's lazy node group, see isolate/src/lazy.rs); `--maps` prints the process's anonymous mappings by size at the end, to follow what
//! concurrent isolates leave behind. Created concurrently on two threads, V8 13.6 leaves mappings
//! behind (93 after 8,000 isolates, 126 after 16,000; one thread: about 44). A process-wide mutex
//! around `stk_isolate_new` stops it (45 and 47) but cost a third of the fresh-isolate throughput
//! (347 instead of about 520 req/s at c8), so it is not applied; see issue 9's notes.

use std::collections::BTreeMap;
use std::time::Duration;

use stockade_isolate::{Compat, Engine, Limits, LoadOptions, Module, ModuleSet, V8Profile, Worker};

fn flag_value(args: &[String], name: &str) -> Option<usize> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1)?.parse().ok()
}

/// One isolate: created, and unless `create_only`, loaded and called once.
fn churn_one(engine: &'static Engine, limits: &Limits, create_only: bool, ts: bool, node: bool) {
    let Ok(mut w) = Worker::new(engine, limits.clone()) else {
        std::process::exit(1);
    };
    if create_only {
        return;
    }
    let name = if ts { "main.ts" } else { "main.js" };
    let source = if node {
        "import { Buffer } from 'node:buffer'; export default (a) => ({ hello: Buffer.from(`${a}`).length });"
    } else {
        "export default (a) => ({ hello: a });"
    };
    let Ok(mut set) = ModuleSet::new([Module::new(name, source)]) else {
        std::process::exit(1);
    };
    let mut options = LoadOptions::default();
    if node {
        let Ok(compat) = Compat::parse("2025-06-01", &["nodejs_compat".to_string()]) else {
            std::process::exit(1);
        };
        options.compat = compat;
    }
    if w.load_with(name, &mut set, &options).result.is_err() || w.call("1").result.is_err() {
        std::process::exit(1);
    }
}

/// Anonymous mappings of this process, counted by (size in KiB, permissions).
fn anonymous_maps() -> BTreeMap<(u64, String), usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut by = BTreeMap::new();
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 5 {
            continue; // a named mapping (file, [heap], [stack], ...)
        }
        let Some((a, b)) = fields[0].split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        *by.entry(((b - a) >> 10, fields[1].to_string()))
            .or_insert(0) += 1;
    }
    by
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let create_only = args.iter().any(|a| a == "--create-only");
    let ts = args.iter().any(|a| a == "--ts");
    let node = args.iter().any(|a| a == "--node");
    let threads = flag_value(&args, "--threads").unwrap_or(1).max(1);
    let Ok(engine) = Engine::init(V8Profile::Standard) else {
        eprintln!("engine failed");
        std::process::exit(1);
    };
    let limits = Limits {
        cpu: Duration::from_secs(5),
        ..Limits::default()
    };
    if threads == 1 {
        for _ in 0..n {
            churn_one(engine, &limits, create_only, ts, node);
        }
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let limits = &limits;
                scope.spawn(move || {
                    for _ in 0..n / threads {
                        churn_one(engine, limits, create_only, ts, node);
                    }
                });
            }
        });
    }
    if args.iter().any(|a| a == "--maps") {
        let maps = anonymous_maps();
        println!("anonymous mappings: {}", maps.values().sum::<usize>());
        for ((kib, perm), count) in maps.iter().filter(|(_, c)| **c > 3) {
            println!("  {kib:>6} KiB {perm}: {count}");
        }
    }
}
