//! Workspace paths: the one normal form every stored path has, and the refusals.
//!
//! A normal path is `a/b/c`: components joined by `/`, no leading or trailing `/`, no empty,
//! `.` or `..` component; the root is the empty path. Normalisation drops empty and `.`
//! components (`a//./b/` is `a/b`) and refuses, with a typed error naming why: `..` anywhere
//! (no climbing, even when it would stay inside), absolute paths (a leading `/` or `\`), NUL and
//! other control characters, backslashes, a component over [`MAX_COMPONENT_BYTES`] bytes, a
//! path over [`MAX_PATH_BYTES`] bytes or [`MAX_DEPTH`] components. Guarantees: the result is a
//! fixed point (normalising it again gives it back) and never names anything outside the
//! workspace. Trusts nothing: paths come from tenants.

use super::StoreError;

/// Longest normal path, bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest component, bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Most components.
pub const MAX_DEPTH: usize = 64;

fn invalid(path: &str, why: &str) -> StoreError {
    let shown: String = path.chars().take(80).collect();
    StoreError::Invalid(format!("invalid path {shown:?}: {why}"))
}

/// `path` in normal form; the root (`""`, `"."`, `"./"`) is `""`.
pub fn normalise(path: &str) -> Result<String, StoreError> {
    if path.starts_with('/') || path.starts_with('\\') {
        return Err(invalid(path, "absolute paths are refused"));
    }
    if path.len() > MAX_PATH_BYTES * 2 {
        return Err(invalid(path, "too long"));
    }
    if path.chars().any(|c| c == '\0') {
        return Err(invalid(path, "NUL bytes are refused"));
    }
    if path.chars().any(char::is_control) {
        return Err(invalid(path, "control characters are refused"));
    }
    if path.contains('\\') {
        return Err(invalid(path, "backslashes are refused"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid(path, "\"..\" is refused")),
            _ if part.len() > MAX_COMPONENT_BYTES => {
                return Err(invalid(path, "a name is longer than 255 bytes"))
            }
            _ => parts.push(part),
        }
    }
    if parts.len() > MAX_DEPTH {
        return Err(invalid(path, "too deep"));
    }
    let out = parts.join("/");
    if out.len() > MAX_PATH_BYTES {
        return Err(invalid(path, "longer than 1024 bytes"));
    }
    Ok(out)
}

/// `path` in normal form, which must not be the root.
pub fn normalise_file(path: &str) -> Result<String, StoreError> {
    let out = normalise(path)?;
    if out.is_empty() {
        return Err(invalid(path, "the workspace root is not a file"));
    }
    Ok(out)
}

/// The ancestors of a normal path, outermost first (`a/b/c` → `a`, `a/b`).
pub fn ancestors(path: &str) -> Vec<&str> {
    path.match_indices('/').map(|(i, _)| &path[..i]).collect()
}

/// Whether `path` is `dir` or below it (every path is below the root `""`).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_forms_and_refusals() {
        for (input, normal) in [
            ("a/b/c.txt", "a/b/c.txt"),
            ("a//./b/", "a/b"),
            ("./x", "x"),
            ("", ""),
            (".", ""),
            ("é/ü", "é/ü"),
            ("a/...", "a/..."),
            ("..a/b..", "..a/b.."),
        ] {
            assert_eq!(normalise(input).expect(input), normal);
            assert_eq!(normalise(normal).expect(normal), normal, "fixed point");
        }
        let long = "x".repeat(256);
        let deep = "d/".repeat(65);
        let wide = format!("{}/{}", "y".repeat(255), "z".repeat(255)).repeat(3);
        for bad in [
            "/etc/passwd",
            "\\\\server\\share",
            "a/../b",
            "..",
            "a/..",
            "a\0b",
            "a\nb",
            "a\\b",
            long.as_str(),
            deep.as_str(),
            wide.as_str(),
        ] {
            let e = normalise(bad).expect_err(bad);
            assert!(matches!(e, StoreError::Invalid(_)), "{bad:?}: {e}");
        }
        assert!(normalise_file(".").is_err());
    }

    #[test]
    fn ancestors_parents_and_containment() {
        assert_eq!(ancestors("a/b/c"), vec!["a", "a/b"]);
        assert!(ancestors("a").is_empty());
        assert!(is_within("a/b", "a"));
        assert!(is_within("a", "a"));
        assert!(!is_within("ab", "a"));
        assert!(is_within("anything", ""));
    }
}
