//! Creates, uses and disposes N isolates in a loop (default 20): a fixed workload for profilers
//! (`valgrind --tool=callgrind`, `perf`), whose instruction counts do not depend on machine load.
//!
//! `cargo run --release -p stockade-benches --bin isolate-churn -- [N] [--create-only]
//! [--threads T] [--ts] [--node | --streams | --urlpattern | --rewriter | --rpc] [--warm-up] [--maps]
//! [--rss-every K] [--trim] [--hold H] [--renew]`
//!
//! `--threads T` splits the N isolates over T threads at once, as a worker process's isolate
//! threads do; `--ts` makes the module TypeScript (transformed on the churning thread, whose stack
//! is a worker isolate thread's, as Code Mode's are); `--node` loads it with `nodejs_compat` and
//! has it import `node:buffer` (which builds the prelude's lazy node group, see isolate/src/lazy);
//! `--streams` has it pipe a body through a `TransformStream` (which builds the lazy streams
//! group), `--urlpattern` match a `URLPattern`, `--rewriter` rewrite a body with `HTMLRewriter`
//! (the urlpattern and rewriter groups, the latter with the streams), `--rpc` call a local
//! `RpcStub` (the rpc group); `--warm-up` runs the module once first in a warm-up worker, as a worker process does
//! (`Worker::for_warm_up`), so that the code cache of the lazy group it builds holds the functions
//! its use compiled; `--maps` prints the process's anonymous mappings by size at the end, to follow
//! what concurrent isolates leave behind; `--rss-every K` prints, every K isolates, the seconds since
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
    Compat, Engine, Limits, LoadOptions, Module, ModuleSet, RunError, V8Profile, Worker,
    RENEW_SHARED_HEAP_AFTER,
};

fn flag_value(args: &[String], name: &str) -> Option<usize> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1)?.parse().ok()
}

/// What each isolate loads and calls: `--node`'s, `--streams`', `--urlpattern`'s, `--rewriter`'s
/// or the plain module.
struct Churn {
    create_only: bool,
    name: &'static str,
    source: &'static str,
    options: LoadOptions,
}

impl Churn {
    fn from_args(args: &[String]) -> Churn {
        let has = |flag: &str| args.iter().any(|a| a == flag);
        let node = has("--node");
        let source = if node {
            "import { Buffer } from 'node:buffer'; export default (a) => ({ hello: Buffer.from(`${a}`).length });"
        } else if has("--streams") {
            "export default async (a) => ({ hello: await new Response(new Response(`${a}`).body.pipeThrough(new TransformStream())).text() });"
        } else if has("--urlpattern") {
            "export default (a) => ({ hello: new URLPattern({ pathname: '/b/:id' }).exec(`https://x.test/b/${a}`).pathname.groups.id });"
        } else if has("--rpc") {
            "import { RpcStub, RpcTarget } from 'cloudflare:workers'; class T extends RpcTarget { m(a) { return a; } } export default async (a) => ({ hello: await new RpcStub(new T()).m(a) });"
        } else if has("--rewriter") {
            "export default async (a) => ({ hello: await new HTMLRewriter().on('p', { element(e) { e.setAttribute('a', `${a}`); } }).transform(new Response('<p>x</p>')).text() });"
        } else {
            "export default (a) => ({ hello: a });"
        };
        let mut options = LoadOptions::default();
        if node {
            let Ok(compat) = Compat::parse("2025-06-01", &["nodejs_compat".to_string()]) else {
                std::process::exit(1);
            };
            options.compat = compat;
        }
        Churn {
            create_only: has("--create-only"),
            name: if has("--ts") { "main.ts" } else { "main.js" },
            source,
            options,
        }
    }

    /// Loads the module into `w` and calls it once.
    fn run(&self, w: &mut Worker) -> Result<(), RunError> {
        let mut set = ModuleSet::new([Module::new(self.name, self.source)])?;
        w.load_with(self.name, &mut set, &self.options).result?;
        w.call("1").result.map(drop)
    }

    /// One isolate: created, and unless `create_only`, loaded and called once.
    fn one(&self, engine: &'static Engine, limits: &Limits) {
        let Ok(mut w) = Worker::new(engine, limits.clone()) else {
            std::process::exit(1);
        };
        if !self.create_only && self.run(&mut w).is_err() {
            std::process::exit(1);
        }
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
    let churn = Churn::from_args(&args);
    let threads = flag_value(&args, "--threads").unwrap_or(1).max(1);
    let engine = match Engine::init(V8Profile::Standard) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("engine failed: {e}");
            std::process::exit(1);
        }
    };
    if args.iter().any(|a| a == "--warm-up") {
        let warmed = Worker::for_warm_up(engine).and_then(|mut w| {
            churn.run(&mut w)?;
            Ok(w.leave_lazy_caches())
        });
        if let Err(e) = warmed {
            eprintln!("warm-up failed: {e}");
            std::process::exit(1);
        }
    }
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
            let (limits, sampler, churn) = (&limits, &sampler, &churn);
            std::thread::Builder::new()
                .stack_size(stockade_isolate::typescript::ROOMY_STACK_BYTES)
                .spawn_scoped(scope, move || {
                    for _ in 0..n / threads {
                        churn.one(engine, limits);
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
