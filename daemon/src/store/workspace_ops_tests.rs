//! Unit tests of the workspace operations: globs, search, diff and replace.

use super::*;

#[test]
fn globs_keep_stars_within_components() {
    let m = glob_matcher("src/*.rs").expect("glob");
    assert!(m.is_match("src/a.rs"));
    assert!(!m.is_match("src/x/a.rs"));
    let m = glob_matcher("**/*.rs").expect("glob");
    assert!(m.is_match("src/x/a.rs"));
    assert!(m.is_match("a.rs"));
    assert!(glob_matcher("a[").is_err());
}

#[test]
fn search_is_linear_and_reports_each_line_once() {
    let q = |pattern: &str| SearchQuery {
        pattern: pattern.into(),
        max_results: Some(1000),
        ..SearchQuery::default()
    };
    let mut s = Searcher::new(&q("a+")).expect("regex");
    assert!(s.file("f", b"xa aa\nb\naaa"));
    let (hits, cut) = s.finish();
    let found: Vec<_> = hits.iter().map(|h| (h.line, h.text.as_str())).collect();
    assert_eq!(found, [(1, "xa aa"), (3, "aaa")]);
    assert!(!cut);
    // 8 MiB on one line matching everywhere, and 8 MiB of matching lines: both quick.
    let start = std::time::Instant::now();
    let mut s = Searcher::new(&q("a")).expect("regex");
    assert!(s.file("one-line", &vec![b'a'; 8 << 20]));
    let lines = b"a\n".repeat(4 << 20);
    assert!(!s.file("many-lines", &lines), "full");
    let (hits, cut) = s.finish();
    assert_eq!(hits.len(), 1000);
    assert!(cut);
    assert_eq!(hits[999].line, 999);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    let mut s = Searcher::new(&q("^$")).expect("regex");
    assert!(s.file("empty-lines", b"\n\nx\n"));
    let lines: Vec<_> = s.finish().0.iter().map(|h| h.line).collect();
    assert_eq!(lines, [1, 2]);
}

#[test]
fn diffs_are_unified() {
    let diff =
        |a: &str, b: &str, from: &str, to: &str| diff(a, b, from, to, DIFF_TIME).expect("diff");
    let d = diff("a\nb\nc\n", "a\nB\nc\n", "old.txt", "new.txt");
    assert!(
        d.starts_with("--- old.txt\n+++ new.txt\n@@ -1,3 +1,3 @@\n"),
        "{d}"
    );
    assert!(d.contains("-b\n+B\n"), "{d}");
    assert_eq!(diff("same\n", "same\n", "a", "b"), "");
}

#[test]
fn a_diff_out_of_time_is_coarser_but_whole_and_a_large_one_is_refused() {
    // No time at all to search: still a diff of every line, with the common ones kept.
    let old: String = (0..3000).map(|i| format!("old {i}\n")).collect();
    let new: String = (0..3000).map(|i| format!("new {i}\n")).collect();
    let (old, new) = (format!("same\n{old}end\n"), format!("same\n{new}end\n"));
    let d = diff(&old, &new, "a", "b", Duration::ZERO).expect("diff");
    let count = |prefix: &str| d.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!((count("-old "), count("+new ")), (3000, 3000));
    assert_eq!(count(" same") + count(" end"), 2, "{}", &d[..200]);
    // Two 9 MiB files with nothing in common: the diff would pass the file limit.
    let line = "x".repeat(999);
    let old: String = (0..9 << 10).map(|i| format!("{i}{line}\n")).collect();
    let new: String = (0..9 << 10).map(|i| format!("{line}{i}\n")).collect();
    let e = diff(&old, &new, "a", "b", Duration::ZERO).expect_err("too large");
    assert_eq!(
        e,
        StoreError::Invalid(format!("the diff would exceed {MAX_FILE_BYTES} bytes"))
    );
}

fn replacer(search: &str, replacement: &str, regex: bool, ignore_case: bool) -> Replacer {
    Replacer::new(&Replace {
        search: search.into(),
        replacement: replacement.into(),
        regex,
        ignore_case,
        limit: None,
    })
    .expect("replacer")
}

#[test]
fn replacements_expand_as_the_regex_crate_does() {
    let text = "fn alpha() {}\nfn beta_2() {}\n$x\n";
    let pattern = r"fn (?P<name>\w+)\((?P<none>z)?";
    let regex = regex::Regex::new(pattern).expect("regex");
    for template in [
        "pub fn $1(",
        "${1}x",
        "$1x",
        "$name/${name}/$none/$9/${}/$$/$/${open",
        "$0$0 $ $$1",
        "no references",
        "",
    ] {
        let (out, count) = replacer(pattern, template, true, false)
            .apply(text, MAX_FILE_BYTES)
            .expect(template);
        assert_eq!(out, regex.replace_all(text, template), "{template:?}");
        assert_eq!(count, 2, "{template:?}");
    }
    // Plain text, a limit, case.
    let (out, count) = replacer("fn", "$1", false, false)
        .apply(text, MAX_FILE_BYTES)
        .expect("text");
    assert_eq!(
        (out.as_str(), count),
        ("$1 alpha() {}\n$1 beta_2() {}\n$x\n", 2)
    );
    let mut limited = replacer("fn", "f", false, false);
    limited.limit = 1;
    assert_eq!(limited.apply(text, 100).expect("limit").1, 1);
    let (out, count) = replacer("HELLO", "yo", true, true)
        .apply("hello Hello", 100)
        .expect("regex, any case");
    assert_eq!((out.as_str(), count), ("yo yo", 2));
    let (out, count) = replacer("A.B", "$0", false, true)
        .apply("a.b axb", 100)
        .expect("text, any case");
    assert_eq!((out.as_str(), count), ("$0 axb", 1));
    assert_eq!(
        replacer("zz", "y", false, false)
            .apply(text, 1)
            .expect("none")
            .1,
        0
    );
    assert!(
        Replacer::new(&Replace::default()).is_err(),
        "an empty search"
    );
}

#[test]
fn a_replacement_is_refused_as_soon_as_it_passes_the_cap() {
    // Exactly the cap fits; one byte more is refused, whichever way the result grows.
    let text = "a".repeat(10);
    for (search, with, regex, out) in [
        ("a", "bb", false, "b"),
        ("a", "bb", true, "b"),
        ("(a)", "$1$1", true, "a"),
        ("a+", "$0$0", true, "a"),
    ] {
        let r = replacer(search, with, regex, false);
        assert_eq!(r.apply(&text, 20).expect(search).0, out.repeat(20));
        let e = r.apply(&text, 19).expect_err(search);
        assert_eq!(
            e,
            StoreError::Invalid("the result would exceed 19 bytes".into())
        );
    }
    // 20,000 matches each replaced by 100,000 bytes would be 2 GB; refused at the file
    // limit, having built no more than it.
    let r = replacer("a", &"b".repeat(100_000), false, false);
    let e = r
        .apply(&"a".repeat(20_000), MAX_FILE_BYTES)
        .expect_err("2 GB");
    assert_eq!(
        e,
        StoreError::Invalid(format!("the result would exceed {MAX_FILE_BYTES} bytes"))
    );
    // One match expanded a thousand times over.
    let r = replacer("a+", &"$0".repeat(1000), true, false);
    assert!(r.apply(&"a".repeat(20_000), MAX_FILE_BYTES).is_err());
}
