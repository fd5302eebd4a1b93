//! A worker's module set and the import resolution inside it.
//!
//! Guarantees: a module name is a normalised relative path (`main.ts`, `lib/util.js`) with no
//! `.`/`..` segments, no leading `/`, no NUL; an import resolves to a name in the same set or to
//! nothing. A relative import that climbs above the set's root resolves to nothing, never to a
//! file outside. Pure functions: no I/O, tested exhaustively below and fuzzed through the loader.

/// What kind of module a name holds, which decides how its bytes are turned into a V8 module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// ECMAScript module source.
    Js,
    /// TypeScript module source, transformed with oxc before compiling.
    Ts,
    /// `export default` is the text as a string.
    Text,
    /// `export default` is the parsed JSON value.
    Json,
    /// `export default` is an ArrayBuffer of the bytes.
    Data,
    /// CommonJS source (`module.exports`, `require`), wrapped into an ES module ([`crate::cjs`]).
    Cjs,
    /// A WebAssembly binary: `export default` is its compiled `WebAssembly.Module`.
    Wasm,
}

impl ModuleKind {
    /// The kind a file name implies: `.ts`/`.mts` TypeScript, `.js`/`.mjs` JavaScript, `.cjs`
    /// CommonJS, `.json` JSON, `.wasm` WebAssembly, anything else text.
    pub fn from_name(name: &str) -> ModuleKind {
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match ext {
            "ts" | "mts" => ModuleKind::Ts,
            "js" | "mjs" => ModuleKind::Js,
            "cjs" => ModuleKind::Cjs,
            "json" => ModuleKind::Json,
            "wasm" => ModuleKind::Wasm,
            _ => ModuleKind::Text,
        }
    }
}

/// One named module of a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    pub kind: ModuleKind,
    pub bytes: Vec<u8>,
}

impl Module {
    /// A module whose kind follows from its name.
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Module {
        let name = name.into();
        Module {
            kind: ModuleKind::from_name(&name),
            name,
            bytes: bytes.into(),
        }
    }
}

/// Longest module name accepted.
pub const MAX_NAME_BYTES: usize = 1024;

/// Checks a module name as given by a tenant and returns it normalised.
pub fn normalise_name(name: &str) -> Result<String, String> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(format!("module name must be 1 to {MAX_NAME_BYTES} bytes"));
    }
    if name.contains('\0') || name.contains('\\') {
        return Err(format!(
            "module name {name:?} contains a NUL or a backslash"
        ));
    }
    let trimmed = name.strip_prefix("./").unwrap_or(name);
    let mut parts = Vec::new();
    for seg in trimmed.split('/') {
        match seg {
            "" | "." | ".." => {
                return Err(format!(
                "module name {name:?} must be a relative path without empty, '.' or '..' segments"
            ))
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves `specifier` imported from module `referrer` to a module name, or `None` when the
/// specifier cannot name a module of a set (a URL, a climb above the root, an empty path).
/// Relative specifiers (`./x`, `../x`) resolve against the referrer's folder, `/x` against the
/// root; a bare specifier (`lodash`) names a module of that exact name.
pub fn resolve(referrer: &str, specifier: &str) -> Option<String> {
    if specifier.is_empty() || specifier.contains('\0') || specifier.contains('\\') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    let rest = if let Some(abs) = specifier.strip_prefix('/') {
        abs
    } else if specifier.starts_with("./") || specifier.starts_with("../") {
        if let Some((dir, _)) = referrer.rsplit_once('/') {
            parts.extend(dir.split('/'));
        }
        specifier
    } else {
        if specifier.contains(':') {
            return None; // node:fs, https://..., data:...
        }
        return normalise_name(specifier).ok();
    };
    for seg in rest.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop()?;
            }
            "" => return None,
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// [`resolve`], then, for a relative or absolute specifier whose exact name no module has
/// (`has` says which names do), the names TypeScript and bundlers try: `./util.js` may be
/// `util.ts` or `util.tsx` (`.mjs` `.mts`, `.cjs` `.cts`, `.jsx` `.tsx`), and a name without a
/// script extension (`./util`) `util.ts`, `util.tsx`, `util.js`, `util.mjs`, `util/index.ts` or
/// `util/index.js`, in that order. The exact name always wins; with none of them, the exact name
/// (for the error to name it).
pub fn resolve_in(
    referrer: &str,
    specifier: &str,
    mut has: impl FnMut(&str) -> bool,
) -> Option<String> {
    let name = resolve(referrer, specifier)?;
    let relative =
        specifier.starts_with("./") || specifier.starts_with("../") || specifier.starts_with('/');
    if !relative || has(&name) {
        return Some(name);
    }
    Some(
        alternatives(&name)
            .into_iter()
            .find(|alt| has(alt))
            .unwrap_or(name),
    )
}

/// What a module name may stand for, as TypeScript resolves it (see [`resolve_in`]).
fn alternatives(name: &str) -> Vec<String> {
    const SCRIPT: [(&str, &[&str]); 4] = [
        (".js", &[".ts", ".tsx"]),
        (".mjs", &[".mts"]),
        (".cjs", &[".cts"]),
        (".jsx", &[".tsx"]),
    ];
    for (ext, instead) in SCRIPT {
        if let Some(stem) = name.strip_suffix(ext) {
            return instead.iter().map(|e| format!("{stem}{e}")).collect();
        }
    }
    if name.ends_with(".ts") || name.ends_with(".mts") || name.ends_with(".tsx") {
        return Vec::new();
    }
    [".ts", ".tsx", ".js", ".mjs", "/index.ts", "/index.js"]
        .iter()
        .map(|e| format!("{name}{e}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typescript_style_specifiers_find_the_module_they_mean() {
        let set = [
            "util.ts",
            "lib/e.mts",
            "comp.tsx",
            "dir/index.ts",
            "exact.js",
            "exact.ts",
        ];
        let has = |n: &str| set.contains(&n);
        let r = |from: &str, spec: &str| resolve_in(from, spec, has);
        assert_eq!(r("main.ts", "./util.js").as_deref(), Some("util.ts"));
        assert_eq!(r("main.ts", "./util").as_deref(), Some("util.ts"));
        assert_eq!(r("lib/a.ts", "./e.mjs").as_deref(), Some("lib/e.mts"));
        assert_eq!(r("main.ts", "./comp.jsx").as_deref(), Some("comp.tsx"));
        assert_eq!(r("main.ts", "./dir").as_deref(), Some("dir/index.ts"));
        assert_eq!(r("main.ts", "/util").as_deref(), Some("util.ts"));
        // The exact name wins; a bare specifier is never rewritten; none found: the exact name.
        assert_eq!(r("main.ts", "./exact.js").as_deref(), Some("exact.js"));
        assert_eq!(r("main.ts", "util").as_deref(), Some("util"));
        assert_eq!(r("main.ts", "./missing.js").as_deref(), Some("missing.js"));
        assert_eq!(r("main.ts", "./util.ts.js").as_deref(), Some("util.ts.js"));
    }

    #[test]
    fn relative_imports_resolve_against_the_referrers_folder() {
        assert_eq!(
            resolve("main.ts", "./lib/util.js").as_deref(),
            Some("lib/util.js")
        );
        assert_eq!(resolve("lib/a.js", "./b.js").as_deref(), Some("lib/b.js"));
        assert_eq!(
            resolve("lib/a.js", "../main.ts").as_deref(),
            Some("main.ts")
        );
        assert_eq!(
            resolve("lib/deep/a.js", "../../x.js").as_deref(),
            Some("x.js")
        );
        assert_eq!(resolve("lib/a.js", "/root.js").as_deref(), Some("root.js"));
        assert_eq!(
            resolve("lib/a.js", "./x/../y.js").as_deref(),
            Some("lib/y.js")
        );
    }

    #[test]
    fn nothing_resolves_outside_the_set() {
        assert_eq!(resolve("main.ts", "../etc/passwd"), None);
        assert_eq!(resolve("lib/a.js", "../../etc/passwd"), None);
        assert_eq!(resolve("main.ts", "node:fs"), None);
        assert_eq!(resolve("main.ts", "https://evil.example/x.js"), None);
        assert_eq!(resolve("main.ts", "./a//b.js"), None);
        assert_eq!(resolve("main.ts", "./"), None);
        assert_eq!(resolve("main.ts", ""), None);
        assert_eq!(resolve("main.ts", "..\\x"), None);
    }

    #[test]
    fn bare_specifiers_name_a_module() {
        assert_eq!(resolve("lib/a.js", "lodash").as_deref(), Some("lodash"));
        assert_eq!(
            resolve("lib/a.js", "pkg/sub.js").as_deref(),
            Some("pkg/sub.js")
        );
        assert_eq!(resolve("lib/a.js", "pkg/../x"), None);
    }

    #[test]
    fn names_are_validated_and_normalised() {
        assert_eq!(normalise_name("./main.ts").as_deref(), Ok("main.ts"));
        assert_eq!(normalise_name("lib/util.js").as_deref(), Ok("lib/util.js"));
        for bad in [
            "",
            "/abs.js",
            "a/../b.js",
            "a//b",
            "./",
            "a\0b",
            "..",
            "a\\b",
        ] {
            assert!(normalise_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(normalise_name(&"a".repeat(MAX_NAME_BYTES + 1)).is_err());
    }

    #[test]
    fn kinds_follow_extensions() {
        assert_eq!(ModuleKind::from_name("a.ts"), ModuleKind::Ts);
        assert_eq!(ModuleKind::from_name("a.mjs"), ModuleKind::Js);
        assert_eq!(ModuleKind::from_name("a.json"), ModuleKind::Json);
        assert_eq!(ModuleKind::from_name("a.cjs"), ModuleKind::Cjs);
        assert_eq!(ModuleKind::from_name("a.wasm"), ModuleKind::Wasm);
        assert_eq!(ModuleKind::from_name("README"), ModuleKind::Text);
    }
}
