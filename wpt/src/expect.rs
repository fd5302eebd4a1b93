//! The expectations file (`wpt/expectations.toml`): every subtest expected to fail, with why.
//!
//! Format: one table per test file that has failures, keyed by its WPT path. Either
//! `all = "reason"` (the whole file fails: its harness does not complete `OK`, or no subtest
//! passes), or one key per reason whose value lists the failing subtests' names:
//!
//! ```toml
//! ["url/url-constructor.any.js"]
//! "no UTS #46 mapping table" = [
//!   "Parsing: <http://ab.example> against <about:blank>",
//! ]
//! ```
//!
//! Guarantees: [`compare`] reports every difference both ways (an unexpected failure and an
//! unexpected pass, or an expectation whose file or subtest no longer exists), so the file can
//! neither hide a regression nor go stale; [`render`] is deterministic (files sorted, reasons
//! sorted, names in the order the run reported them) and keeps the reasons of [`Expectations`]
//! it is given, marking new failures `TODO: reason`; [`Expectations::parse`] reads what
//! [`render`] writes.
//! Trusts: nothing in the file (a malformed one is an error naming the problem).

use std::collections::{BTreeMap, BTreeSet};

use crate::run::FileResult;
use crate::WptError;

/// The key of a file-level entry.
pub const ALL: &str = "all";
/// The reason update mode gives a failure it has no reason for.
pub const TODO: &str = "TODO: reason";

/// What one file is expected to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileExpectation {
    /// Every subtest fails (or the harness does not complete), for this reason.
    All(String),
    /// These subtests fail (name -> reason); every other one passes.
    Subtests(BTreeMap<String, String>),
}

/// The whole file: test path -> expectation. A file absent passes entirely.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub files: BTreeMap<String, FileExpectation>,
    /// The order the subtests of each file were listed in (as parsed), so that rewriting the
    /// file keeps the order of files a filtered run did not run.
    pub order: BTreeMap<String, Vec<String>>,
}

impl PartialEq for Expectations {
    fn eq(&self, other: &Self) -> bool {
        self.files == other.files
    }
}
impl Eq for Expectations {}

impl Expectations {
    pub fn parse(text: &str) -> Result<Expectations, WptError> {
        let bad = |m: String| WptError::Expectations(m);
        let table: toml::Table = text.parse().map_err(|e| bad(format!("{e}")))?;
        let mut files = BTreeMap::new();
        let mut order = BTreeMap::new();
        for (file, entry) in table {
            let entry = entry
                .as_table()
                .ok_or_else(|| bad(format!("{file:?} is not a table")))?;
            let expectation = if let Some(all) = entry.get(ALL) {
                if entry.len() != 1 {
                    return Err(bad(format!("{file:?}: `all` must stand alone")));
                }
                let reason = all
                    .as_str()
                    .ok_or_else(|| bad(format!("{file:?}: `all` must be a string")))?;
                FileExpectation::All(reason.to_string())
            } else {
                let mut names = BTreeMap::new();
                for (reason, list) in entry {
                    let list = list.as_array().ok_or_else(|| {
                        bad(format!("{file:?}: {reason:?} must list subtest names"))
                    })?;
                    for name in list {
                        let name = name.as_str().ok_or_else(|| {
                            bad(format!("{file:?}: {reason:?} lists a non-string"))
                        })?;
                        if names.insert(name.to_string(), reason.clone()).is_some() {
                            return Err(bad(format!("{file:?}: {name:?} is listed twice")));
                        }
                        order
                            .entry(file.clone())
                            .or_insert_with(Vec::new)
                            .push(name.to_string());
                    }
                }
                FileExpectation::Subtests(names)
            };
            files.insert(file, expectation);
        }
        Ok(Expectations { files, order })
    }

    /// The reasons still marked [`TODO`], as `file: subtest` lines.
    pub fn todos(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (file, e) in &self.files {
            match e {
                FileExpectation::All(r) if r.starts_with("TODO") => out.push(file.clone()),
                FileExpectation::Subtests(m) => out.extend(
                    m.iter()
                        .filter(|(_, r)| r.starts_with("TODO"))
                        .map(|(n, _)| format!("{file}: {n}")),
                ),
                _ => {}
            }
        }
        out
    }
}

/// The names of `result`'s subtests that fail (a name reported twice fails if either fails), and
/// of those that pass, in report order.
fn split(result: &FileResult) -> (Vec<&str>, Vec<&str>) {
    let mut failing: Vec<&str> = Vec::new();
    for s in &result.subtests {
        if !result.counts_as_passed(s) && !failing.contains(&s.name.as_str()) {
            failing.push(&s.name);
        }
    }
    let mut passing: Vec<&str> = Vec::new();
    for s in &result.subtests {
        if !failing.contains(&s.name.as_str()) && !passing.contains(&s.name.as_str()) {
            passing.push(&s.name);
        }
    }
    (failing, passing)
}

/// Every difference between `results` and `expected`, one line each; empty when they agree.
/// With `complete` (an unfiltered run), expectations of files that did not run are differences.
pub fn compare(results: &[FileResult], expected: &Expectations, complete: bool) -> Vec<String> {
    let mut out = Vec::new();
    for r in results {
        let file = &r.test.path;
        let (failing, passing) = split(r);
        match expected.files.get(file) {
            None => {
                if let Some(h) = &r.harness_error {
                    out.push(format!(
                        "UNEXPECTED FAIL {file}: the harness did not complete OK ({} subtests \
                         count as failed): {h}",
                        r.subtests.len()
                    ));
                    continue;
                }
                for s in r
                    .subtests
                    .iter()
                    .filter(|s| failing.contains(&s.name.as_str()))
                {
                    out.push(unexpected_fail(
                        file,
                        s.status_name(),
                        &s.name,
                        s.message.as_deref(),
                    ));
                }
            }
            Some(FileExpectation::All(_)) => {
                if r.harness_error.is_none() && !passing.is_empty() {
                    out.push(format!(
                        "UNEXPECTED PASS {file}: expected to fail entirely, but {} of {} subtests pass \
                         (first: {:?})",
                        passing.len(),
                        passing.len() + failing.len(),
                        passing[0]
                    ));
                }
            }
            Some(FileExpectation::Subtests(names)) => {
                if let Some(h) = &r.harness_error {
                    out.push(format!(
                        "UNEXPECTED FAIL {file}: the harness did not complete OK: {h}"
                    ));
                    continue;
                }
                for s in r
                    .subtests
                    .iter()
                    .filter(|s| failing.contains(&s.name.as_str()))
                {
                    if !names.contains_key(&s.name) {
                        out.push(unexpected_fail(
                            file,
                            s.status_name(),
                            &s.name,
                            s.message.as_deref(),
                        ));
                    }
                }
                for name in names.keys() {
                    if passing.contains(&name.as_str()) {
                        out.push(format!("UNEXPECTED PASS {file}: {name:?}"));
                    } else if !failing.contains(&name.as_str()) {
                        out.push(format!(
                            "STALE {file}: {name:?} is expected to fail but did not run"
                        ));
                    }
                }
            }
        }
    }
    if complete {
        let ran: BTreeSet<&str> = results.iter().map(|r| r.test.path.as_str()).collect();
        for file in expected.files.keys().filter(|f| !ran.contains(f.as_str())) {
            out.push(format!(
                "STALE {file}: has expectations but is not a collected test"
            ));
        }
    }
    out
}

fn unexpected_fail(file: &str, status: &str, name: &str, message: Option<&str>) -> String {
    let message = message.unwrap_or("").replace('\n', " ");
    let message: String = message.chars().take(300).collect();
    format!("UNEXPECTED FAIL {file}: {name:?} ({status}: {message})")
}

/// The expectations `results` call for, keeping the reasons of `old` (see the module docs).
/// Files of `old` that did not run are kept as they are.
pub fn update(results: &[FileResult], old: &Expectations) -> Expectations {
    let mut files = old.files.clone();
    for r in results {
        let file = &r.test.path;
        files.remove(file);
        let (failing, passing) = split(r);
        if r.harness_error.is_none() && failing.is_empty() {
            continue;
        }
        let previous = old.files.get(file);
        if r.harness_error.is_some() || passing.is_empty() {
            let reason = match previous {
                Some(FileExpectation::All(reason)) => reason.clone(),
                Some(FileExpectation::Subtests(m)) => {
                    let reasons: BTreeSet<&String> = m.values().collect();
                    match reasons.into_iter().collect::<Vec<_>>().as_slice() {
                        [one] => (*one).clone(),
                        _ => TODO.to_string(),
                    }
                }
                None => TODO.to_string(),
            };
            files.insert(file.clone(), FileExpectation::All(reason));
            continue;
        }
        let mut names = BTreeMap::new();
        for name in failing {
            let reason = match previous {
                Some(FileExpectation::Subtests(m)) => m.get(name).cloned(),
                _ => None,
            };
            let reason = reason.unwrap_or_else(|| match previous {
                Some(FileExpectation::All(whole)) => {
                    format!("{TODO} (the whole file failed before: {whole})")
                }
                _ => TODO.to_string(),
            });
            names.insert(name.to_string(), reason);
        }
        files.insert(file.clone(), FileExpectation::Subtests(names));
    }
    Expectations {
        files,
        order: old.order.clone(),
    }
}

const HEADER: &str = "\
# Web-platform-tests expected to fail in Stockade isolates (see wpt/src/expect.rs for the format).
# The run (cargo test -p stockade-wpt --test wpt) fails on any difference: a failure not listed
# here, and a pass that is. Regenerate with STOCKADE_WPT_UPDATE=1 (keeps the reasons, marks new
# failures \"TODO: reason\"; replace every TODO before committing, the run refuses them).
";

/// The file's text. Within a reason, names follow the run's report order for files `order` ran,
/// else the order they had in the parsed file.
pub fn render(expected: &Expectations, order: &[FileResult]) -> String {
    let mut out = String::from(HEADER);
    for (file, e) in &expected.files {
        out.push_str(&format!("\n[{}]\n", quote(file)));
        match e {
            FileExpectation::All(reason) => {
                out.push_str(&format!("{ALL} = {}\n", quote(reason)));
            }
            FileExpectation::Subtests(names) => {
                let reported: Vec<&str> = match order.iter().find(|r| &r.test.path == file) {
                    Some(r) => r.subtests.iter().map(|s| s.name.as_str()).collect(),
                    None => expected
                        .order
                        .get(file)
                        .map(|names| names.iter().map(String::as_str).collect())
                        .unwrap_or_default(),
                };
                let position = |n: &str| reported.iter().position(|r| *r == n);
                let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                for (name, reason) in names {
                    by_reason.entry(reason).or_default().push(name);
                }
                for (reason, mut list) in by_reason {
                    list.sort_by_key(|n| (position(n).unwrap_or(usize::MAX), n.to_string()));
                    out.push_str(&format!("{} = [\n", quote(reason)));
                    for name in list {
                        out.push_str(&format!("  {},\n", quote(name)));
                    }
                    out.push_str("]\n");
                }
            }
        }
    }
    out
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
