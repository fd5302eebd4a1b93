//! Workspace operations over contents: `glob`, `search` (regex), `diff` (unified), `replace`.
//!
//! Guarantees: patterns come from tenants, so regexes are the `regex` crate's (linear time, no
//! backreferences) with a compiled-size cap, globs are `globset`'s; `search` returns at most
//! [`MAX_SEARCH_RESULTS`] matches with lines cut to [`MAX_LINE_CHARS`] characters and says when it
//! stopped early; a `diff` or `replace` result is bounded by the file limit. Trusts: the
//! workspace its caller resolved.

use regex::bytes::RegexBuilder;

use super::workspace::{self, Entry, Ws, MAX_FILE_BYTES};
use super::{Quotas, StoreError, Tx};

/// Most matches one `search` returns.
pub const MAX_SEARCH_RESULTS: usize = 1000;
/// Longest line text a match carries, characters.
pub const MAX_LINE_CHARS: usize = 500;
/// Largest compiled regex, bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Files read from the store at a time by `search`.
pub const SEARCH_BATCH: i64 = 256;

fn invalid(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("invalid {what}: {e}"))
}

/// A compiled glob (`*` stays within a path component, `**` crosses them).
pub fn glob_matcher(pattern: &str) -> Result<globset::GlobMatcher, StoreError> {
    if pattern.len() > 1024 {
        return Err(invalid("glob", "longer than 1024 bytes"));
    }
    let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| invalid("glob", e))
}

/// Files and directories matching `pattern`, in path order.
pub fn glob(tx: &mut dyn Tx, ws: &Ws, pattern: &str) -> Result<Vec<Entry>, StoreError> {
    let matcher = glob_matcher(pattern)?;
    Ok(workspace::below(tx, ws, "")?
        .into_iter()
        .filter(|e| matcher.is_match(&e.path))
        .collect())
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub path: String,
    /// 1-based.
    pub line: usize,
    /// The line (cut to [`MAX_LINE_CHARS`]), lossily decoded.
    pub text: String,
}

/// What `search` is asked.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub pattern: String,
    pub glob: Option<String>,
    pub ignore_case: bool,
    pub max_results: Option<usize>,
}

/// A search in progress: fed files one by one (in any number of transactions), it keeps the
/// first hits. Linear in the bytes fed whatever the pattern: line numbers are counted
/// incrementally, and after a hit the search resumes at the next line.
pub struct Searcher {
    regex: regex::bytes::Regex,
    matcher: Option<globset::GlobMatcher>,
    max: usize,
    hits: Vec<Hit>,
    truncated: bool,
}

impl Searcher {
    pub fn new(q: &SearchQuery) -> Result<Searcher, StoreError> {
        let regex = RegexBuilder::new(&q.pattern)
            .case_insensitive(q.ignore_case)
            .multi_line(true)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| invalid("regular expression", e))?;
        Ok(Searcher {
            regex,
            matcher: q.glob.as_deref().map(glob_matcher).transpose()?,
            max: q.max_results.unwrap_or(100).clamp(1, MAX_SEARCH_RESULTS),
            hits: Vec::new(),
            truncated: false,
        })
    }

    /// Searches one file; `false` once the results are full (feed nothing more).
    pub fn file(&mut self, path: &str, data: &[u8]) -> bool {
        if self.matcher.as_ref().is_some_and(|m| !m.is_match(path)) {
            return true;
        }
        let (mut line, mut counted, mut at) = (1, 0, 0);
        while at <= data.len() {
            let Some(m) = self.regex.find_at(data, at) else {
                break;
            };
            if m.start() == data.len() && data.last() == Some(&b'\n') {
                break; // the "line" after a final newline is none
            }
            line += memchr::memchr_iter(b'\n', &data[counted..m.start()]).count();
            counted = m.start();
            if self.hits.len() == self.max {
                self.truncated = true;
                return false;
            }
            let start = memchr::memrchr(b'\n', &data[at..m.start()]).map_or(at, |i| at + i + 1);
            let end =
                memchr::memchr(b'\n', &data[m.start()..]).map_or(data.len(), |i| m.start() + i);
            let text: String = String::from_utf8_lossy(&data[start..end])
                .chars()
                .take(MAX_LINE_CHARS)
                .collect();
            self.hits.push(Hit {
                path: path.to_owned(),
                line,
                text,
            });
            at = end + 1;
        }
        true
    }

    /// The hits, and whether the search stopped early.
    pub fn finish(self) -> (Vec<Hit>, bool) {
        (self.hits, self.truncated)
    }
}

/// Lines of files (matching `glob`, if given) where `pattern` matches, in one transaction;
/// whether results were cut. (The host call and the API search batch by batch instead, see
/// `storage::ws_calls`; the store suite uses this one on both backends.)
#[cfg(test)]
pub fn search(tx: &mut dyn Tx, ws: &Ws, q: &SearchQuery) -> Result<(Vec<Hit>, bool), StoreError> {
    let mut searcher = Searcher::new(q)?;
    let mut after = String::new();
    loop {
        let batch = workspace::files_after(tx, ws, &after, SEARCH_BATCH)?;
        let Some((last, _)) = batch.last() else {
            return Ok(searcher.finish());
        };
        after = last.clone();
        for (path, data) in &batch {
            if !searcher.file(path, data) {
                return Ok(searcher.finish());
            }
        }
    }
}

/// A unified diff from `old` to `new` (3 lines of context), headed with the two names.
pub fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

/// Text of a file, which must be UTF-8.
pub fn read_text(tx: &mut dyn Tx, ws: &Ws, path: &str) -> Result<String, StoreError> {
    let (bytes, _) = workspace::read(tx, ws, path)?;
    String::from_utf8(bytes).map_err(|_| StoreError::Invalid(format!("{path} is not UTF-8 text")))
}

/// What `replace` is asked.
#[derive(Debug, Clone, Default)]
pub struct Replace {
    pub search: String,
    pub replacement: String,
    /// `search` is a regex and `replacement` may use `$1`, `${name}`.
    pub regex: bool,
    /// At most this many replacements (all when `None`).
    pub limit: Option<usize>,
}

/// Replaces occurrences in the text file at `path` and writes it back (only if something
/// changed); how many were replaced.
pub fn replace(
    tx: &mut dyn Tx,
    ws: &Ws,
    path: &str,
    r: &Replace,
    quotas: Quotas,
    now_ms: i64,
) -> Result<usize, StoreError> {
    if r.search.is_empty() {
        return Err(StoreError::Invalid("the search text is empty".into()));
    }
    let text = read_text(tx, ws, path)?;
    let limit = r.limit.unwrap_or(usize::MAX);
    let (out, count) = if r.regex {
        let regex = regex::RegexBuilder::new(&r.search)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| invalid("regular expression", e))?;
        let count = regex.find_iter(&text).take(limit).count();
        if count == 0 {
            return Ok(0);
        }
        let out = regex.replacen(&text, count, r.replacement.as_str());
        (out.into_owned(), count)
    } else {
        let count = text.matches(r.search.as_str()).take(limit).count();
        (
            text.replacen(r.search.as_str(), &r.replacement, count),
            count,
        )
    };
    if count == 0 {
        return Ok(0);
    }
    if out.len() > MAX_FILE_BYTES {
        return Err(StoreError::Invalid(format!(
            "the result would exceed {MAX_FILE_BYTES} bytes"
        )));
    }
    workspace::write(tx, ws, path, out.into_bytes(), quotas, now_ms)?;
    Ok(count)
}

#[cfg(test)]
mod tests {
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
        let d = diff("a\nb\nc\n", "a\nB\nc\n", "old.txt", "new.txt");
        assert!(
            d.starts_with("--- old.txt\n+++ new.txt\n@@ -1,3 +1,3 @@\n"),
            "{d}"
        );
        assert!(d.contains("-b\n+B\n"), "{d}");
        assert_eq!(diff("same\n", "same\n", "a", "b"), "");
    }
}
