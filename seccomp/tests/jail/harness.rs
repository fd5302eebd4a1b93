//! A minimal libtest stand-in.
//!
//! This test target is `harness = false` because the same binary doubles as
//! the jailed probe, and `enter_namespaces()` needs a single-threaded
//! process: libtest starts threads before any test runs. `main` dispatches
//! to the probe when `STOCKADE_JAIL_PROBE` is set, otherwise here.
//!
//! Supports what `cargo test` passes: name filters (substring, or exact with
//! `--exact`), `--list`, `--ignored`/`--include-ignored` (nothing is
//! ignored), and ignores other flags. Tests run one after another; each
//! spawns its own probe process, so there is no shared state to protect.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;

/// A named test.
pub type Test = (&'static str, fn());

/// Runs the selected tests and reports like libtest.
pub fn run(tests: &[Test]) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exact = args.iter().any(|a| a == "--exact");
    let list = args.iter().any(|a| a == "--list");
    let only_ignored = args.iter().any(|a| a == "--ignored");
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|(name, _)| {
            filters.is_empty()
                || filters
                    .iter()
                    .any(|f| if exact { name == f } else { name.contains(f) })
        })
        .filter(|_| !only_ignored)
        .collect();

    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }

    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let result = catch_unwind(AssertUnwindSafe(test));
        match result {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    let passed = selected.len() - failed.len();
    if failed.is_empty() {
        println!("\ntest result: ok. {passed} passed; 0 failed\n");
        ExitCode::SUCCESS
    } else {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
        println!(
            "\ntest result: FAILED. {passed} passed; {} failed\n",
            failed.len()
        );
        ExitCode::from(101)
    }
}
