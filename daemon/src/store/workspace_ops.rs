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
const SEARCH_BATCH: i64 = 256;

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

/// Lines of files (matching `glob`, if given) where `pattern` matches; whether results were cut.
pub fn search(tx: &mut dyn Tx, ws: &Ws, q: &SearchQuery) -> Result<(Vec<Hit>, bool), StoreError> {
    let regex = RegexBuilder::new(&q.pattern)
        .case_insensitive(q.ignore_case)
        .multi_line(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| invalid("regular expression", e))?;
    let matcher = q.glob.as_deref().map(glob_matcher).transpose()?;
    let max = q.max_results.unwrap_or(100).clamp(1, MAX_SEARCH_RESULTS);
    let mut hits = Vec::new();
    let mut after = String::new();
    loop {
        let batch = workspace::files_after(tx, ws, &after, SEARCH_BATCH)?;
        let Some((last, _)) = batch.last() else {
            return Ok((hits, false));
        };
        after = last.clone();
        for (path, data) in batch {
            if matcher.as_ref().is_some_and(|m| !m.is_match(&path)) {
                continue;
            }
            let mut last_line = 0;
            for m in regex.find_iter(&data) {
                let start = data[..m.start()]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1);
                let line = 1 + data[..start].iter().filter(|b| **b == b'\n').count();
                if line == last_line {
                    continue;
                }
                last_line = line;
                if hits.len() == max {
                    return Ok((hits, true));
                }
                let end = data[start..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(data.len(), |i| start + i);
                let text: String = String::from_utf8_lossy(&data[start..end])
                    .chars()
                    .take(MAX_LINE_CHARS)
                    .collect();
                hits.push(Hit {
                    path: path.clone(),
                    line,
                    text,
                });
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
