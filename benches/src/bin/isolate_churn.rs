//! Creates, uses and disposes N isolates in a loop (default 20): a fixed workload for profilers
//! (`valgrind --tool=callgrind`, `perf`), whose instruction counts do not depend on machine load.
//!
//! `cargo run --release -p stockade-benches --bin isolate-churn -- [N] [--create-only]
//! [--threads T] [--ts] [--node] [--maps] [--rss-every K] [--trim] [--hold H] [--renew]`
//!
//! `--threads T` splits the N isolates over T threads at once, as a worker process's isolate
//! threads do; `--ts` makes the module TypeScript (transformed on the churning thread, whose stack
//! is a worker isolate thread's, as Code Mode's are); `--node` loads it with `nodejs_compat` and has it import `node:buffer` (which builds
//! the prelude's lazy node group, see isolate/src/lazy); `--maps` prints the process's anonymous mappings by size at the end, to follow what
//! concurrent isolates leave behind; `--rss-every K` prints, every K isolates, the seconds since
//! start, RSS split by kind of mapping (`stockade_benches::memory::Smaps`) and malloc's view;
//! `--trim` runs `malloc_trim(0)` before each of those samples; `--hold H` keeps H more isolates
//! alive through the run (a worker process's spares and Loader isolates); `--renew [M]` asks the
//! engine to renew V8's shared heap after every isolate (it does when none lives and M, by
//! default `RENEW_SHARED_HEAP_AFTER`, were created since the last time), as a worker's idle
//! chores do.
//!
//! What it showed (issue 9): one thread, RSS grows about 450 bytes per isolate, all of it in one
//! anonymous mapping V8 commits 64 KiB at a time outside the platform's page allocator (its
//! JSDispatchTable, whose entries for each new isolate's builtins go to the shared read-only
//! heap's space and are freed only with that heap); malloc's in-use bytes stay flat. Without the
//! anchor isolate (so with no isolate alive between two) it is flat; `--hold 1` brings it back;
//! `benches/v8-repro` shows the same with bare V8. `--renew` keeps it below
//! `RENEW_SHARED_HEAP_AFTER` isolates' worth. Created concurrently on two threads, V8 13.6 leaves mappings
//! behind (93 after 8,000 isolates, 126 after 16,000; one thread: about 44). A process-wide mutex
//! around `stk_isolate_new` stops it (45 and 47) but cost a third of the fresh-isolate throughput
//! (347 instead of about 520 req/s at c8), so it is not applied; see issue 9's notes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stockade_benches::memory::{Malloc, Smaps};
use stockade_isolate::{
    Compat, Engine, Limits, LoadOptions, Module, ModuleSet, V8Profile, Worker,
    RENEW_SHARED_HEAP_AFTER,
};

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

/// Prints where the memory is, every `every` isolates done (0: never).
struct Sampler {
    engine: &'static Engine,
    renew: Option<u64>,
    every: usize,
    trim: bool,
    done: AtomicUsize,
    start: Instant,
    print: Mutex<()>,
}

impl Sampler {
    fn sample(&self, done: usize) {
        let _one_at_a_time = self.print.lock();
        if self.trim {
            // SAFETY: malloc_trim only returns free memory of malloc's arenas to the kernel.
            unsafe { libc::malloc_trim(0) };
        }
        let smaps = Smaps::of("self").unwrap_or_default();
        let elapsed = self.start.elapsed().as_secs_f64();
        let renewals = self.engine.memory().renewals;
        println!(
            "{done:>8} {elapsed:>7.1}s  {smaps}  | {} | renewals {renewals}",
            Malloc::now()
        );
    }

    fn one_done(&self) {
        if let Some(min_created) = self.renew {
            if self.engine.renew_shared_heap(min_created).is_err() {
                std::process::exit(1);
            }
        }
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if self.every > 0 && done.is_multiple_of(self.every) {
            self.sample(done);
        }
    }
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
    let sampler = Sampler {
        engine,
        renew: args
            .iter()
            .any(|a| a == "--renew")
            .then(|| flag_value(&args, "--renew").map_or(RENEW_SHARED_HEAP_AFTER, |m| m as u64)),
        every: flag_value(&args, "--rss-every").unwrap_or(0),
        trim: args.iter().any(|a| a == "--trim"),
        done: AtomicUsize::new(0),
        start: Instant::now(),
        print: Mutex::new(()),
    };
    // Isolates that live through the run, as a worker process's spares and Loader isolates do.
    let held: Vec<Worker> = (0..flag_value(&args, "--hold").unwrap_or(0))
        .filter_map(|_| Worker::new(engine, limits.clone()).ok())
        .collect();
    if sampler.every > 0 {
        println!("    done    time  {}", Smaps::header());
        sampler.sample(0);
    }
    // Each churning thread has a worker isolate thread's stack (so TypeScript is transformed on
    // it, as there).
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (limits, sampler) = (&limits, &sampler);
            std::thread::Builder::new()
                .stack_size(stockade_isolate::typescript::ROOMY_STACK_BYTES)
                .spawn_scoped(scope, move || {
                    for _ in 0..n / threads {
                        churn_one(engine, limits, create_only, ts, node);
                        sampler.one_done();
                    }
                })
                .expect("a churning thread");
        }
    });
    drop(held);
    if args.iter().any(|a| a == "--maps") {
        let maps = anonymous_maps();
        println!("anonymous mappings: {}", maps.values().sum::<usize>());
        for ((kib, perm), count) in maps.iter().filter(|(_, c)| **c > 3) {
            println!("  {kib:>6} KiB {perm}: {count}");
        }
    }
}
