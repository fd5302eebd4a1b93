//! `stockade`: the command line of the Stockade daemon.
//!
//! - `stockade serve`: the supervisor daemon (HTTP API, tenants, jailed worker processes).
//! - `stockade run FILE`: run one module's default export in a fresh isolate and print the result.
//! - `stockade check-config FILE`: check a `serve` configuration without starting anything.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api;
mod capabilities;
mod check_config;
mod config;
mod egress;
mod http;
mod metrics;
mod objects;
mod queues;
mod run;
mod run_jailed;
mod scheduled;
mod serve;
mod storage;
mod store;
mod supervisor;
mod worker;

/// `stockade --version`: this crate's version and the V8 it was built against.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (V8 ",
    env!("STOCKADE_V8_VERSION"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "stockade",
    version = VERSION,
    about = "Runs untrusted JavaScript/TypeScript in V8 isolates"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run FILE's default export as `await default(arg)`; print the JSON result on stdout and
    /// console output on stderr. Exit codes: 0 ok, 1 the script threw, 2 usage or invalid input,
    /// 3 a limit was hit, 4 internal error.
    Run(run::RunArgs),
    /// Run the supervisor daemon: the HTTP API on 127.0.0.1 and a pool of jailed workers.
    Serve(serve::ServeArgs),
    /// Check a `serve` configuration file as `serve` would, without starting anything: exit 0
    /// and a summary, or exit 2 and what is wrong.
    CheckConfig(check_config::CheckConfigArgs),
}

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let _program = argv.next();
    let rest: Vec<std::ffi::OsString> = argv.collect();
    if rest.first().is_some_and(|a| a == "worker") {
        // Before anything else runs: the worker's arguments belong to the worker (an internal
        // subcommand, spawned by the supervisor; see `worker.rs`), not to this parser.
        return worker::main(rest);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { run::EXIT_USAGE } else { 0 });
        }
    };
    match cli.command {
        Command::Run(args) => run::main(args),
        Command::Serve(args) => serve::main(args),
        Command::CheckConfig(args) => check_config::check_config(args),
    }
}

/// mimalloc, not glibc's malloc: the supervisor allocates and frees small buffers on many threads
/// for every request (HTTP heads, frames, futures), and glibc's spent about 9% of its CPU per
/// reused-worker request (`_int_malloc`, `_int_free`, `malloc_consolidate`; perf at c8). Measured
/// (three alternated pairs, `hey -z 8s -c 8`): a reused Loader worker 19,002 / 20,151 / 19,091 →
/// 21,068 / 20,519 / 21,681 req/s, fresh isolates 1,230 / 1,290 / 1,264 → 1,284 / 1,276 / 1,294;
/// idle RSS 13.3 → 13.9 MB. The worker processes run this binary too, but their work is in
/// `libstockade_worker.so`, which keeps its own (glibc) allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
