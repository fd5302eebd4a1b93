//! Which files of the WPT folder are tests, and what their `// META:` lines ask for.
//!
//! Guarantees: the collection is deterministic (sorted by path); every path is WPT's own
//! (`/`-separated, relative to the folder's root); an include that climbs above the root or does
//! not exist is an error naming the test, never silently dropped.
//! Trusts: the files of the WPT folder (curated, read only).

use std::path::{Path, PathBuf};

use crate::WptError;

/// The areas the runner collects, in the order the table lists them; a test belongs to the first
/// area its path starts with.
pub const AREAS: &[&str] = &[
    "url",
    "encoding",
    "streams",
    "fetch/api/headers",
    "fetch/api/request",
    "fetch/api/response",
    "fetch/api/body",
    "FileAPI",
    "dom/abort",
    "dom/events",
    "WebCryptoAPI",
    "html/webappapis/structured-clone",
    "html/webappapis/atob",
    "html/webappapis/timers",
    "hr-time",
    "console",
    "compression",
];

/// Test files whose names lack `.any.js` but which are run all the same (see the folder's README).
pub const EXTRA_TESTS: &[&str] = &["fetch/api/body/cloned-any.js"];

/// One test file and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFile {
    /// The path from the WPT root, e.g. `url/url-constructor.any.js`.
    pub path: String,
    /// The entry of [`AREAS`] it belongs to.
    pub area: &'static str,
    /// `// META: title=`, the harness's default name for the first unnamed subtest.
    pub title: Option<String>,
    /// `// META: script=` includes, resolved to paths from the WPT root, in order.
    pub scripts: Vec<String>,
}

/// Every test of [`AREAS`] (`*.any.js`) plus [`EXTRA_TESTS`], sorted by path.
pub fn collect(root: &Path) -> Result<Vec<TestFile>, WptError> {
    let mut paths = Vec::new();
    for area in AREAS {
        let dir = root.join(area);
        if !dir.is_dir() {
            return Err(WptError::Missing(dir));
        }
        walk(root, &dir, &mut paths)?;
    }
    for extra in EXTRA_TESTS {
        if !root.join(extra).is_file() {
            return Err(WptError::Missing(root.join(extra)));
        }
        paths.push((*extra).to_string());
    }
    paths.sort();
    paths.dedup();
    paths.iter().map(|p| describe(root, p)).collect()
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), WptError> {
    let entries = std::fs::read_dir(dir).map_err(|e| WptError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| WptError::io(dir, e))?;
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else if path.to_string_lossy().ends_with(".any.js") {
            out.push(relative(root, &path));
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Reads `path`'s META lines: the leading comment block's `// META: key=value` lines.
pub fn describe(root: &Path, path: &str) -> Result<TestFile, WptError> {
    let file = root.join(path);
    let text = std::fs::read_to_string(&file).map_err(|e| WptError::io(&file, e))?;
    let area = AREAS
        .iter()
        .find(|a| path.starts_with(&format!("{a}/")))
        .copied()
        .ok_or_else(|| WptError::Meta {
            file: path.to_string(),
            message: "not in any collected area".into(),
        })?;
    let mut title = None;
    let mut scripts = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !line.starts_with("//") {
            break;
        }
        let Some(meta) = line.strip_prefix("// META:") else {
            continue;
        };
        let Some((key, value)) = meta.trim().split_once('=') else {
            continue;
        };
        match key.trim() {
            "title" => title = Some(value.trim().to_string()),
            "script" => {
                let resolved = resolve(path, value.trim()).ok_or_else(|| WptError::Meta {
                    file: path.to_string(),
                    message: format!("include {:?} leaves the WPT folder", value.trim()),
                })?;
                if !root.join(&resolved).is_file() {
                    return Err(WptError::Meta {
                        file: path.to_string(),
                        message: format!("include {resolved:?} does not exist"),
                    });
                }
                if !scripts.contains(&resolved) {
                    scripts.push(resolved);
                }
            }
            _ => {}
        }
    }
    Ok(TestFile {
        path: path.to_string(),
        area,
        title,
        scripts,
    })
}

/// Resolves an include as WPT does: `/x` from the root, anything else from the test's folder;
/// `None` when it climbs above the root.
pub fn resolve(test: &str, include: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    let rest = match include.strip_prefix('/') {
        Some(abs) => abs,
        None => {
            if let Some((dir, _)) = test.rsplit_once('/') {
                parts.extend(dir.split('/'));
            }
            include
        }
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    for seg in rest.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Where the WPT folder is: `STOCKADE_WPT_DIR`, else `shared/wpt` beside the repository.
pub fn default_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("STOCKADE_WPT_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/wpt")
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn includes_resolve_from_the_root_or_the_tests_folder() {
        assert_eq!(
            resolve(
                "streams/readable-streams/general.any.js",
                "../resources/rs-utils.js"
            ),
            Some("streams/resources/rs-utils.js".into())
        );
        assert_eq!(
            resolve("url/a.any.js", "/common/subset-tests.js"),
            Some("common/subset-tests.js".into())
        );
        assert_eq!(
            resolve("html/webappapis/atob/base64.any.js", "../../../fetch/x.js"),
            Some("fetch/x.js".into())
        );
        assert_eq!(resolve("url/a.any.js", "../../etc/passwd"), None);
    }
}
