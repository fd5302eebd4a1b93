//! The per-area table of a run, printed and written into README.md between markers.
//!
//! Counting: a subtest counts as passed when it passed and its file's harness completed `OK`
//! (a file whose harness errored, timed out or hit a limit counts every subtest as failed); a file
//! that reported no subtest at all counts as one failed subtest, so a file that cannot even load
//! never vanishes from the denominator.
//! Guarantees: the table lists every area of [`AREAS`] in that order, then the total.

use crate::collect::AREAS;
use crate::run::FileResult;

/// The markers around the table in README.md.
pub const BEGIN: &str = "<!-- wpt-table -->";
pub const END: &str = "<!-- /wpt-table -->";

/// Counts of one area (or the total).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub files: usize,
    pub subtests: usize,
    pub passed: usize,
}

impl Counts {
    fn add(&mut self, r: &FileResult) {
        self.files += 1;
        self.subtests += r.subtests.len().max(1);
        self.passed += r.subtests.iter().filter(|s| r.counts_as_passed(s)).count();
    }
    fn percent(&self) -> String {
        if self.subtests == 0 {
            return "-".into();
        }
        format!("{:.1}", self.passed as f64 * 100.0 / self.subtests as f64)
    }
}

/// Per area (those with files), then the total.
pub fn counts(results: &[FileResult]) -> (Vec<(&'static str, Counts)>, Counts) {
    let mut rows = Vec::new();
    let mut total = Counts::default();
    for area in AREAS {
        let mut c = Counts::default();
        for r in results.iter().filter(|r| r.test.area == *area) {
            c.add(r);
            total.add(r);
        }
        if c.files > 0 {
            rows.push((*area, c));
        }
    }
    (rows, total)
}

/// The Markdown table.
pub fn table(results: &[FileResult]) -> String {
    let (rows, total) = counts(results);
    let mut out = String::from(
        "| directory | files | subtests | passed | % |\n| --- | ---: | ---: | ---: | ---: |\n",
    );
    for (area, c) in rows {
        out.push_str(&format!(
            "| `{area}` | {} | {} | {} | {} |\n",
            c.files,
            c.subtests,
            c.passed,
            c.percent()
        ));
    }
    out.push_str(&format!(
        "| **total** | **{}** | **{}** | **{}** | **{}** |\n",
        total.files,
        total.subtests,
        total.passed,
        total.percent()
    ));
    out.push_str(&format!(
        "\nOverall {} of {} subtests pass ({}%).\n",
        total.passed,
        total.subtests,
        total.percent()
    ));
    out
}

/// `readme` with the text between [`BEGIN`] and [`END`] replaced by `table`; `None` when the
/// markers are missing.
pub fn splice(readme: &str, table: &str) -> Option<String> {
    let start = readme.find(BEGIN)? + BEGIN.len();
    let end = start + readme[start..].find(END)?;
    Some(format!("{}\n{}{}", &readme[..start], table, &readme[end..]))
}

/// The table currently between the markers of `readme`.
pub fn current(readme: &str) -> Option<&str> {
    let start = readme.find(BEGIN)? + BEGIN.len();
    let end = start + readme[start..].find(END)?;
    Some(readme[start..end].trim_start_matches('\n'))
}

/// Every file's results as JSON (`STOCKADE_WPT_JSON`): `[{file, harness, elapsedMs, subtests:
/// [{name, status, message}]}]`, `harness` null when it completed `OK`.
pub fn json(results: &[FileResult]) -> serde_json::Value {
    results
        .iter()
        .map(|r| {
            serde_json::json!({
                "file": r.test.path,
                "harness": r.harness_error,
                "elapsedMs": r.elapsed.as_millis() as u64,
                "subtests": r.subtests.iter().map(|s| serde_json::json!({
                    "name": s.name,
                    "status": s.status_name(),
                    "message": s.message,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}
