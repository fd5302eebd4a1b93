//! The runner itself, on made-up test files in a temporary WPT folder (with the real
//! testharness.js): that it reports passes and failures as the harness does, turns top-level and
//! timer exceptions, hangs and runaway code into a failed file with the reason, and gives the
//! test the worker-like global it promises (self, location, META_TITLE, shared top-level
//! declarations, relative URLs, fetch() of the folder's files).

use std::path::{Path, PathBuf};
use std::time::Duration;

use stockade_wpt::bundle::{Scripts, HARNESS};
use stockade_wpt::collect::{self, TestFile};
use stockade_wpt::run::{self, FileResult};
use stockade_wpt::WptError;

const FILES: &[(&str, &str)] = &[
    ("url/resources/data.json", r#"{"answer": 42}"#),
    (
        "url/helper.js",
        "var shared = 1;\nfunction helper() { return shared + 1; }\nconst constant = 'c';\n\
         implicitGlobal = 'set';\n",
    ),
    (
        "url/globals.any.js",
        r#"// META: title=Globals title
// META: script=helper.js
test(() => {
  assert_equals(self, globalThis);
  assert_equals(location.href, "http://web-platform.test:8000/url/globals.any.js");
  assert_equals(location.search, "");
  assert_equals(String(location), location.href);
  assert_equals(helper(), 2);
  shared = 41;
  assert_equals(helper(), 42, "a write through the global reaches the script's binding");
  assert_equals(constant, "c");
  assert_equals(globalThis.implicitGlobal, "set");
  assert_equals(new Request("resources/data.json").url,
                "http://web-platform.test:8000/url/resources/data.json");
  assert_true(new Request("/x") instanceof Request);
});
promise_test(async () => {
  const r = await fetch("resources/data.json");
  assert_equals(r.status, 200);
  assert_equals((await r.json()).answer, 42);
  assert_equals((await fetch("/nothing.json")).status, 404);
  assert_equals((await fetch("../../outside.json")).status, 404);
}, "fetch serves the folder");
"#,
    ),
    (
        "url/mixed.any.js",
        r#"test(() => {}, "passes");
test(() => { assert_true(false, "on purpose"); }, "fails");
async_test((t) => { setTimeout(t.step_func_done(), 10); }, "async passes");
promise_test(() => Promise.reject(new Error("rejected on purpose")), "rejects");
"#,
    ),
    (
        "url/throws.any.js",
        "test(() => {}, \"before\");\nthrow new TypeError(\"top-level boom\");\n",
    ),
    (
        "url/timer-throws.any.js",
        "promise_test(() => new Promise((r) => setTimeout(r, 200)), \"waits\");\n\
         setTimeout(() => { throw new Error(\"timer boom\"); }, 0);\n",
    ),
    (
        "url/hangs.any.js",
        "promise_test(() => new Promise(() => { setInterval(() => {}, 50); }), \"hangs\");\n",
    ),
    (
        "url/never-settles.any.js",
        "promise_test(() => new Promise(() => {}), \"never\");\n",
    ),
    (
        "url/spins.any.js",
        "test(() => { for (;;) {} }, \"spins\");\n",
    ),
    (
        "url/single.any.js",
        "setup({ single_test: true });\nlet n = 0;\nconst i = setInterval(() => { if (++n === 5) { clearInterval(i); done(); } }, 1);\n",
    ),
    (
        "url/single-fails.any.js",
        "setup({ single_test: true });\nsetTimeout(done, 300);\nsetTimeout(assert_unreached, 10);\n",
    ),
];

fn folder() -> PathBuf {
    let real = collect::default_root();
    let harness = std::fs::read(real.join(HARNESS))
        .unwrap_or_else(|_| panic!("{}", WptError::Missing(real.clone())));
    let dir = std::env::temp_dir().join(format!("stockade-wpt-runner-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("resources")).expect("temp dir");
    std::fs::create_dir_all(dir.join("url/resources")).expect("temp dir");
    std::fs::write(dir.join(HARNESS), harness).expect("harness");
    for (path, text) in FILES {
        std::fs::write(dir.join(path), text).expect("test file");
    }
    dir
}

fn statuses(r: &FileResult) -> Vec<(&str, &str)> {
    r.subtests
        .iter()
        .map(|s| (s.name.as_str(), s.status_name()))
        .collect()
}

fn find<'a>(results: &'a [FileResult], path: &str) -> &'a FileResult {
    results
        .iter()
        .find(|r| r.test.path == path)
        .expect("a result per file")
}

#[test]
fn the_runner_reports_what_the_harness_and_the_engine_say() {
    let dir = folder();
    let tests: Vec<TestFile> = FILES
        .iter()
        .filter(|(p, _)| p.ends_with(".any.js"))
        .map(|(p, _)| collect::describe(&dir, p).expect("describes"))
        .collect();
    let scripts = Scripts::new(&dir);
    let results = run::run_all(&scripts, &tests, 2, Duration::from_secs(2));

    let globals = find(&results, "url/globals.any.js");
    assert_eq!(globals.harness_error, None, "{globals:#?}");
    assert_eq!(
        statuses(globals),
        [
            ("Globals title", "PASS"),
            ("fetch serves the folder", "PASS")
        ],
        "{globals:#?}"
    );

    let mixed = find(&results, "url/mixed.any.js");
    assert_eq!(mixed.harness_error, None);
    assert_eq!(
        statuses(mixed),
        [
            ("passes", "PASS"),
            ("fails", "FAIL"),
            ("rejects", "FAIL"),
            ("async passes", "PASS")
        ],
        "in the order they completed"
    );
    assert!(mixed.subtests[1]
        .message
        .as_deref()
        .is_some_and(|m| m.contains("on purpose")));

    let throws = find(&results, "url/throws.any.js");
    assert!(
        throws
            .harness_error
            .as_deref()
            .is_some_and(|h| h.starts_with("ERROR") && h.contains("top-level boom")),
        "{throws:#?}"
    );
    assert_eq!(statuses(throws), [("before", "PASS")]);
    assert!(!throws.counts_as_passed(&throws.subtests[0]));

    let timer = find(&results, "url/timer-throws.any.js");
    assert!(
        timer
            .harness_error
            .as_deref()
            .is_some_and(|h| h.contains("timer boom")),
        "{timer:#?}"
    );

    let hangs = find(&results, "url/hangs.any.js");
    assert!(
        hangs
            .harness_error
            .as_deref()
            .is_some_and(|h| h.contains("Wall")),
        "{hangs:#?}"
    );
    let never = find(&results, "url/never-settles.any.js");
    assert!(
        never
            .harness_error
            .as_deref()
            .is_some_and(|h| h.starts_with("TIMEOUT")),
        "{never:#?}"
    );
    let spins = find(&results, "url/spins.any.js");
    assert!(
        spins
            .harness_error
            .as_deref()
            .is_some_and(|h| h.starts_with("limit:")),
        "{spins:#?}"
    );

    let single = find(&results, "url/single.any.js");
    assert_eq!(single.harness_error, None, "{single:#?}");
    assert_eq!(statuses(single), [("single", "PASS")]);
    // An assertion thrown from a timer is an uncaught exception the runtime reports as an
    // "error" event, as a browser does: in a single-test file it fails that test.
    let single_fails = find(&results, "url/single-fails.any.js");
    assert_eq!(single_fails.harness_error, None, "{single_fails:#?}");
    assert_eq!(statuses(single_fails), [("single-fails", "FAIL")]);
    assert!(
        single_fails.subtests[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("assert_unreached")),
        "a single-test file runs until its own done(): {single_fails:#?}"
    );

    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_missing_wpt_folder_is_an_error_that_says_where_it_looked() {
    let missing = Path::new("/nonexistent/stockade/shared/wpt");
    let err = collect::collect(missing).expect_err("no folder, no tests");
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/stockade/shared/wpt/url"),
        "{text}"
    );
    assert!(text.contains("STOCKADE_WPT_DIR"), "{text}");
}
