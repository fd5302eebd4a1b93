//! The expectations logic on made-up results: both directions of a difference, update mode's
//! reasons, and a round trip through the file format.

use std::time::Duration;

use crate::collect::TestFile;
use crate::expect::{compare, render, update, Expectations, FileExpectation, TODO};
use crate::run::{FileResult, Subtest};

fn result(path: &str, harness_error: Option<&str>, subtests: &[(&str, u8)]) -> FileResult {
    FileResult {
        test: TestFile {
            path: path.into(),
            area: "url",
            title: None,
            scripts: Vec::new(),
        },
        harness_error: harness_error.map(str::to_string),
        subtests: subtests
            .iter()
            .map(|(name, status)| Subtest {
                name: (*name).into(),
                status: *status,
                message: Some("boom".into()),
            })
            .collect(),
        elapsed: Duration::ZERO,
        logs: Vec::new(),
    }
}

fn subtests(pairs: &[(&str, &str)]) -> FileExpectation {
    FileExpectation::Subtests(
        pairs
            .iter()
            .map(|(n, r)| ((*n).to_string(), (*r).to_string()))
            .collect(),
    )
}

fn expectations(files: Vec<(&str, FileExpectation)>) -> Expectations {
    Expectations {
        files: files.into_iter().map(|(f, e)| (f.to_string(), e)).collect(),
        order: Default::default(),
    }
}

#[test]
fn a_run_matching_its_expectations_has_no_differences() {
    let results = [
        result("url/a.any.js", None, &[("one", 0), ("two", 1)]),
        result("url/b.any.js", Some("ERROR: x"), &[("x", 0)]),
        result("url/c.any.js", None, &[("y", 0)]),
    ];
    let e = expectations(vec![
        ("url/a.any.js", subtests(&[("two", "no IDNA")])),
        ("url/b.any.js", FileExpectation::All("no streams".into())),
    ]);
    assert_eq!(compare(&results, &e, true), Vec::<String>::new());
}

#[test]
fn unexpected_failures_and_passes_are_both_differences() {
    let results = [
        result("url/a.any.js", None, &[("one", 1), ("two", 0)]),
        result("url/b.any.js", None, &[("x", 0), ("y", 1)]),
        result("url/c.any.js", Some("limit: Cpu"), &[]),
    ];
    let e = expectations(vec![
        ("url/a.any.js", subtests(&[("two", "r"), ("gone", "r")])),
        ("url/b.any.js", FileExpectation::All("r".into())),
        ("url/old.any.js", FileExpectation::All("r".into())),
    ]);
    let d = compare(&results, &e, true);
    let has = |p: &str| d.iter().any(|l| l.starts_with(p));
    assert!(has("UNEXPECTED FAIL url/a.any.js: \"one\""), "{d:#?}");
    assert!(has("UNEXPECTED PASS url/a.any.js: \"two\""), "{d:#?}");
    assert!(has("STALE url/a.any.js: \"gone\""), "{d:#?}");
    assert!(has("UNEXPECTED PASS url/b.any.js"), "{d:#?}");
    assert!(has("UNEXPECTED FAIL url/c.any.js: the harness"), "{d:#?}");
    assert!(has("STALE url/old.any.js"), "{d:#?}");
    assert_eq!(d.len(), 6, "{d:#?}");
    // A filtered run does not call files it did not run stale.
    assert_eq!(compare(&results, &e, false).len(), 5);
}

#[test]
fn a_harness_error_fails_a_file_listed_by_subtest() {
    let results = [result("url/a.any.js", Some("TIMEOUT"), &[("one", 0)])];
    let e = expectations(vec![("url/a.any.js", subtests(&[("two", "r")]))]);
    let d = compare(&results, &e, true);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(d[0].contains("TIMEOUT"));
}

#[test]
fn update_keeps_reasons_and_marks_new_failures() {
    let results = [
        result(
            "url/a.any.js",
            None,
            &[("one", 1), ("two", 1), ("three", 0)],
        ),
        result("url/b.any.js", Some("ERROR: y"), &[]),
        result("url/c.any.js", None, &[("p", 1), ("q", 0)]),
        result("url/d.any.js", None, &[("fine", 0)]),
    ];
    let old = expectations(vec![
        ("url/a.any.js", subtests(&[("one", "no IDNA")])),
        (
            "url/b.any.js",
            subtests(&[("z", "no streams"), ("w", "no streams")]),
        ),
        ("url/c.any.js", FileExpectation::All("no streams".into())),
        ("url/d.any.js", FileExpectation::All("no streams".into())),
        ("url/unrun.any.js", FileExpectation::All("kept".into())),
    ]);
    let new = update(&results, &old);
    assert_eq!(
        new.files["url/a.any.js"],
        subtests(&[("one", "no IDNA"), ("two", TODO)])
    );
    assert_eq!(
        new.files["url/b.any.js"],
        FileExpectation::All("no streams".into())
    );
    assert_eq!(
        new.files["url/c.any.js"],
        subtests(&[(
            "p",
            "TODO: reason (the whole file failed before: no streams)"
        )])
    );
    assert!(!new.files.contains_key("url/d.any.js"));
    assert_eq!(
        new.files["url/unrun.any.js"],
        FileExpectation::All("kept".into())
    );
    assert_eq!(new.todos().len(), 2);
    assert_eq!(compare(&results, &new, false), Vec::<String>::new());
}

#[test]
fn the_file_format_round_trips_awkward_names() {
    let names = [
        "quote \" and backslash \\",
        "line\nbreak\ttab\u{1}",
        "Parsing: <http://a\u{fffd}b> against <about:blank>",
        "all",
        "",
    ];
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (*n, "a reason \"quoted\"")).collect();
    let e = expectations(vec![
        ("url/a.any.js", subtests(&pairs)),
        ("url/b.any.js", FileExpectation::All("no streams".into())),
    ]);
    let text = render(&e, &[]);
    assert_eq!(Expectations::parse(&text).expect("parses"), e, "{text}");
    assert!(Expectations::parse("[\"x\"]\nall = \"r\"\nother = [\"n\"]\n").is_err());
    assert!(Expectations::parse("[\"x\"]\nr = [\"n\"]\ns = [\"n\"]\n").is_err());
}

#[test]
fn rewriting_keeps_the_order_of_files_that_did_not_run() {
    let text = "[\"url/a.any.js\"]\n\"r\" = [\n  \"zeta\",\n  \"alpha\",\n]\n";
    let parsed = Expectations::parse(text).expect("parses");
    let again = render(&update(&[], &parsed), &[]);
    assert!(again.ends_with(text), "{again}");
}
