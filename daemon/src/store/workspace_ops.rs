//! Workspace operations over contents: `glob`, `search` (regex), `diff` (unified), `replace`.
//!
//! Guarantees: patterns come from tenants, so regexes are the `regex` crate's (linear time, no
//! backreferences) with a compiled-size cap, globs are `globset`'s; `search` returns at most
//! [`MAX_SEARCH_RESULTS`] matches with lines cut to [`MAX_LINE_CHARS`] characters and says when it
//! stopped early; a `diff` or `replace` result is bounded by the file limit, a `replace` refusing
//! as soon as its result passes it (never building more); a `diff` looks for the smallest edit
//! script for at most [`DIFF_TIME`], then settles for a coarser one. The callers (`storage`) run
//! the matching and diffing off the store's thread. Trusts: the workspace its caller resolved.

use std::fmt::Write as _;
use std::time::Duration;

use regex::bytes::RegexBuilder;

use super::workspace::{self, Entry, Ws, MAX_FILE_BYTES};
#[cfg(test)]
use super::Quotas;
use super::{StoreError, Tx};

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

/// How long a `diff` looks for the smallest edit script: past it the rest of the texts is one
/// coarser change (whole runs of lines replaced), so two large, unlike files (Myers' algorithm is
/// quadratic in their differences) take about this long, not minutes.
pub const DIFF_TIME: Duration = Duration::from_secs(2);

/// A `String` that refuses to grow past `cap` bytes.
struct Capped {
    text: String,
    cap: usize,
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len() + s.len() > self.cap {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// A unified diff from `old` to `new` (3 lines of context), headed with the two names, searched
/// for at most `time` (then coarser); refused when larger than the file limit.
pub fn diff(
    old: &str,
    new: &str,
    old_name: &str,
    new_name: &str,
    time: Duration,
) -> Result<String, StoreError> {
    let mut config = similar::TextDiff::configure();
    config.timeout(time);
    let lines = config.diff_lines(old, new);
    let mut out = Capped {
        text: String::new(),
        cap: MAX_FILE_BYTES,
    };
    let mut unified = lines.unified_diff();
    unified.context_radius(3).header(old_name, new_name);
    if write!(out, "{unified}").is_err() {
        return Err(StoreError::Invalid(format!(
            "the diff would exceed {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(out.text)
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
    /// Letters match whatever their case.
    pub ignore_case: bool,
    /// At most this many replacements (all when `None`).
    pub limit: Option<usize>,
}

/// A piece of a regex replacement: text, or a capture group's text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
}

/// What a `replace` looks for and puts in its place.
enum How {
    /// Plain text, replaced by plain text.
    Text { search: String, with: String },
    Regex {
        regex: regex::Regex,
        with: Vec<Piece>,
    },
}

/// A compiled `replace`.
pub struct Replacer {
    how: How,
    limit: usize,
}

/// The capture reference at the start of `rest` (which starts with `$`): its name or number, and
/// its length (`$name` takes the longest run of `[0-9A-Za-z_]`; `${name}` anything but `}`).
fn capture_ref(rest: &str) -> Option<(&str, usize)> {
    if rest.as_bytes().get(1) == Some(&b'{') {
        let close = rest[2..].find('}')?;
        return Some((&rest[2..2 + close], close + 3));
    }
    let len = rest.as_bytes()[1..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    (len > 0).then(|| (&rest[1..1 + len], 1 + len))
}

/// A replacement parsed once, with the `regex` crate's rules (`Captures::expand`): `$$` is `$`; a
/// reference to no group is empty; a `$` that starts no reference is itself.
fn template(replacement: &str, regex: &regex::Regex) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = replacement;
    while let Some(i) = rest.find('$') {
        text.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.as_bytes().get(1) == Some(&b'$') {
            text.push('$');
            rest = &rest[2..];
            continue;
        }
        let Some((name, len)) = capture_ref(rest) else {
            text.push('$');
            rest = &rest[1..];
            continue;
        };
        rest = &rest[len..];
        let group = match name.parse::<usize>() {
            Ok(i) => Some(i),
            Err(_) => regex.capture_names().position(|n| n == Some(name)),
        };
        if let Some(group) = group {
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Group(group));
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

/// Appends `s` to `out` unless that takes it past `cap` bytes.
fn push_within(out: &mut String, s: &str, cap: usize) -> Result<(), StoreError> {
    if out.len() + s.len() > cap {
        return Err(StoreError::Invalid(format!(
            "the result would exceed {cap} bytes"
        )));
    }
    out.push_str(s);
    Ok(())
}

impl Replacer {
    pub fn new(r: &Replace) -> Result<Replacer, StoreError> {
        if r.search.is_empty() {
            return Err(StoreError::Invalid("the search text is empty".into()));
        }
        let how = if r.regex || r.ignore_case {
            let pattern = if r.regex {
                r.search.clone()
            } else {
                regex::escape(&r.search)
            };
            let regex = regex::RegexBuilder::new(&pattern)
                .case_insensitive(r.ignore_case)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| invalid("regular expression", e))?;
            let with = if r.regex {
                template(&r.replacement, &regex)
            } else {
                vec![Piece::Text(r.replacement.clone())]
            };
            How::Regex { regex, with }
        } else {
            How::Text {
                search: r.search.clone(),
                with: r.replacement.clone(),
            }
        };
        Ok(Replacer {
            how,
            limit: r.limit.unwrap_or(usize::MAX),
        })
    }

    /// `text` with the replacements made, and how many (`0`: nothing matched, and the text is
    /// empty); refused as soon as the result would pass `cap` bytes, so it never holds more.
    pub fn apply(&self, text: &str, cap: usize) -> Result<(String, usize), StoreError> {
        let (mut out, mut last, mut count) = (String::new(), 0, 0);
        match &self.how {
            How::Text { search, with } => {
                for (at, _) in text.match_indices(search.as_str()).take(self.limit) {
                    push_within(&mut out, &text[last..at], cap)?;
                    push_within(&mut out, with, cap)?;
                    last = at + search.len();
                    count += 1;
                }
            }
            How::Regex { regex, with } if with.iter().all(|p| matches!(p, Piece::Text(_))) => {
                for m in regex.find_iter(text).take(self.limit) {
                    push_within(&mut out, &text[last..m.start()], cap)?;
                    for piece in with {
                        if let Piece::Text(t) = piece {
                            push_within(&mut out, t, cap)?;
                        }
                    }
                    last = m.end();
                    count += 1;
                }
            }
            How::Regex { regex, with } => {
                for caps in regex.captures_iter(text).take(self.limit) {
                    let Some(m) = caps.get(0) else { continue };
                    push_within(&mut out, &text[last..m.start()], cap)?;
                    for piece in with {
                        match piece {
                            Piece::Text(t) => push_within(&mut out, t, cap)?,
                            Piece::Group(i) => {
                                if let Some(g) = caps.get(*i) {
                                    push_within(&mut out, g.as_str(), cap)?;
                                }
                            }
                        }
                    }
                    last = m.end();
                    count += 1;
                }
            }
        }
        if count == 0 {
            return Ok((String::new(), 0));
        }
        push_within(&mut out, &text[last..], cap)?;
        Ok((out, count))
    }
}

/// Replaces occurrences in the text file at `path` and writes it back (only if something
/// changed), in one transaction; how many were replaced. (The host call and the API replace off
/// the store's thread instead, see `storage::ws_calls`; the store suite uses this one.)
#[cfg(test)]
pub fn replace(
    tx: &mut dyn Tx,
    ws: &Ws,
    path: &str,
    r: &Replace,
    quotas: Quotas,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let replacer = Replacer::new(r)?;
    let text = read_text(tx, ws, path)?;
    let (out, count) = replacer.apply(&text, MAX_FILE_BYTES)?;
    if count > 0 {
        workspace::write(tx, ws, path, out.into_bytes(), quotas, now_ms)?;
    }
    Ok(count)
}

#[cfg(test)]
#[path = "workspace_ops_tests.rs"]
mod tests;
