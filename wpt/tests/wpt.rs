//! The web-platform-tests run, part of `cargo test --workspace`: every collected WPT file in a
//! fresh Stockade isolate, compared with `wpt/expectations.toml` both ways (an unexpected failure
//! and an unexpected pass both fail the test). A missing WPT folder fails it too: a skipped run
//! must not pass.
//!
//! Environment:
//! - `STOCKADE_WPT_FILTER=url/,dom/abort/`: run only the files whose path contains one of these
//!   (comma-separated); the other files' expectations are left alone.
//! - `STOCKADE_WPT_UPDATE=1`: rewrite the expectations from this run (keeping reasons, marking new
//!   failures `TODO: reason`) and, unfiltered, the table in README.md; the test then passes.
//! - `STOCKADE_WPT_VERBOSE=1`: every file's subtests and console output.
//! - `STOCKADE_WPT_JSON=FILE`: also write every file's results there, as JSON.
//! - `STOCKADE_WPT_JOBS=N`: threads (default: the CPUs); `STOCKADE_WPT_DIR`: the WPT folder;
//!   `STOCKADE_WPT_WALL_SECS=N`: each file's wall limit (default 240: WebCrypto's PBKDF2 file, 8,632 subtests of up to
//!   100,000 iterations, takes about a minute on a loaded 2-core machine).

use std::path::Path;
use std::time::Instant;

use stockade_wpt::bundle::Scripts;
use stockade_wpt::collect::{self, TestFile};
use stockade_wpt::expect::{self, Expectations};
use stockade_wpt::run::{self, FileResult};
use stockade_wpt::{report, WptError};

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn print_file(r: &FileResult, verbose: bool) {
    let passed = r.subtests.iter().filter(|s| r.counts_as_passed(s)).count();
    let status = r.harness_error.as_deref().unwrap_or("OK");
    let status: String = status.chars().take(200).collect();
    println!(
        "{:>5}/{:<5} {:>6.1}s  {}  [{}]",
        passed,
        r.subtests.len(),
        r.elapsed.as_secs_f64(),
        r.test.path,
        status.replace('\n', " ")
    );
    if verbose {
        for s in &r.subtests {
            let message = s.message.as_deref().unwrap_or("").replace('\n', " ");
            let message: String = message.chars().take(200).collect();
            println!("    {:<8} {:?} {}", s.status_name(), s.name, message);
        }
        for line in &r.logs {
            println!("    | {line}");
        }
    }
}

/// For update mode: the failures still without a reason, grouped by file and failure message,
/// so that writing the reasons takes one look.
fn print_todo_messages(results: &[FileResult], expected: &Expectations) {
    for r in results {
        let todo = |name: &str| match expected.files.get(&r.test.path) {
            Some(expect::FileExpectation::All(reason)) => reason.starts_with("TODO"),
            Some(expect::FileExpectation::Subtests(m)) => {
                m.get(name).is_some_and(|reason| reason.starts_with("TODO"))
            }
            None => false,
        };
        let mut groups: Vec<(String, usize)> = Vec::new();
        if let Some(h) = &r.harness_error {
            if todo("") {
                groups.push((format!("harness: {h}"), 1));
            }
        }
        for s in r
            .subtests
            .iter()
            .filter(|s| !r.counts_as_passed(s) && todo(&s.name))
        {
            let message = s.message.as_deref().unwrap_or("").replace('\n', " ");
            let message: String = message.chars().take(120).collect();
            match groups.iter_mut().find(|(m, _)| *m == message) {
                Some((_, n)) => *n += 1,
                None => groups.push((message, 1)),
            }
        }
        if !groups.is_empty() {
            println!("TODO {}:", r.test.path);
            for (message, n) in groups {
                println!("  {n:>5} x {message}");
            }
        }
    }
}

#[test]
fn web_platform_tests_match_the_expectations() {
    let started = Instant::now();
    let root = collect::default_root();
    if !root.join(stockade_wpt::bundle::HARNESS).is_file() {
        panic!("{}", WptError::Missing(root));
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expectations_path = manifest.join("expectations.toml");
    let readme_path = manifest.join("../README.md");
    let filters: Vec<String> = std::env::var("STOCKADE_WPT_FILTER")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let update = env_set("STOCKADE_WPT_UPDATE");
    let verbose = env_set("STOCKADE_WPT_VERBOSE");
    let jobs = std::env::var("STOCKADE_WPT_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));

    let all = collect::collect(&root).unwrap_or_else(|e| panic!("{e}"));
    let tests: Vec<TestFile> = all
        .into_iter()
        .filter(|t| filters.is_empty() || filters.iter().any(|f| t.path.contains(f.as_str())))
        .collect();
    assert!(!tests.is_empty(), "no WPT file matches {filters:?}");
    let scripts = Scripts::new(&root);
    let wall = std::env::var("STOCKADE_WPT_WALL_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(run::WALL, std::time::Duration::from_secs);
    let results = run::run_all(&scripts, &tests, jobs, wall);

    for r in &results {
        print_file(r, verbose);
    }
    if let Some(path) = std::env::var_os("STOCKADE_WPT_JSON") {
        std::fs::write(&path, report::json(&results).to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", Path::new(&path).display()));
    }
    let table = report::table(&results);
    println!(
        "\n{table}\n{} files on {jobs} threads in {:.1}s",
        results.len(),
        started.elapsed().as_secs_f64()
    );

    let old = match std::fs::read_to_string(&expectations_path) {
        Ok(text) => Expectations::parse(&text).unwrap_or_else(|e| panic!("{e}")),
        Err(e) if update && e.kind() == std::io::ErrorKind::NotFound => Expectations::default(),
        Err(e) => panic!("{}: {e}", expectations_path.display()),
    };
    let readme = std::fs::read_to_string(&readme_path).unwrap_or_default();

    if update {
        let new = expect::update(&results, &old);
        std::fs::write(&expectations_path, expect::render(&new, &results))
            .unwrap_or_else(|e| panic!("{}: {e}", expectations_path.display()));
        println!("wrote {}", expectations_path.display());
        if filters.is_empty() {
            let spliced = report::splice(&readme, &table).unwrap_or_else(|| {
                panic!(
                    "README.md has no {} ... {} markers",
                    report::BEGIN,
                    report::END
                )
            });
            std::fs::write(&readme_path, spliced)
                .unwrap_or_else(|e| panic!("{}: {e}", readme_path.display()));
            println!("wrote the table into {}", readme_path.display());
        } else {
            println!("filtered run: README.md's table left alone");
        }
        let todos = new.todos();
        print_todo_messages(&results, &new);
        if !todos.is_empty() {
            println!(
                "{} failures have no reason yet (\"{}\"): write them before committing",
                todos.len(),
                expect::TODO
            );
        }
        return;
    }

    let mut problems = expect::compare(&results, &old, filters.is_empty());
    problems.extend(
        old.todos()
            .into_iter()
            .map(|t| format!("TODO reason in expectations.toml: {t}")),
    );
    if filters.is_empty() && report::current(&readme) != Some(table.as_str()) {
        println!(
            "note: README.md's WPT table differs from this run (STOCKADE_WPT_UPDATE=1 rewrites it)"
        );
    }
    if !problems.is_empty() {
        for p in &problems {
            println!("{p}");
        }
        panic!(
            "{} differences from wpt/expectations.toml (listed above). If the change is intended, \
             update the expectations: STOCKADE_WPT_UPDATE=1 cargo test -p stockade-wpt --test wpt, \
             then give every new failure a reason.",
            problems.len()
        );
    }
}
