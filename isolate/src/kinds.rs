//! The module kinds that become ES modules before V8 sees them: CommonJS (`stockade_source::cjs`
//! wraps it; this file finds what its `require` calls name) and WebAssembly (the bytes become a
//! hidden data module; an ES module compiles them with `new WebAssembly.Module`, through the same
//! guarded `WebAssembly` global tenant code uses, so the isolate's WebAssembly policy applies).
//!
//! Guarantees: hidden module names start with a backslash, which no tenant module name can hold
//! (`normalise_name` refuses it), so they never collide with the tenant's; only the wrappers made
//! here import them (tenant code that imports one by its exact name gets bytes it gave itself). A wasm module in an isolate without WebAssembly (the quarantine profile) is
//! a clear `InvalidInput` error at load, naming the module.

use stockade_source::cjs::{self, Required};
use stockade_source::{modules, ModuleKind, ModuleSource, RunError};

/// The prefix of hidden module names (and of the specifiers that import them).
pub(crate) const HIDDEN: char = '\\';

/// The ES module source for CommonJS module `name`: its literal `require`s that name a module of
/// `source` are imported (missing ones throw only when called), and its namespace holds the names
/// it exports, with those of the CommonJS modules it re-exports (`module.exports = require(...)`,
/// followed through at most [`REEXPORT_DEPTH`] modules, each once).
pub(crate) fn commonjs(
    name: &str,
    text: &str,
    source: &mut dyn ModuleSource,
) -> Result<String, RunError> {
    let analysis = cjs::analyse(text);
    let mut deps = Vec::new();
    for specifier in &analysis.requires {
        let Some(target) = modules::resolve(name, specifier) else {
            continue;
        };
        let Some(module) = source.get(&target)? else {
            continue;
        };
        let kind = match module.kind {
            ModuleKind::Cjs => Required::CommonJs,
            ModuleKind::Js | ModuleKind::Ts => Required::Module,
            ModuleKind::Text | ModuleKind::Json | ModuleKind::Data | ModuleKind::Wasm => {
                Required::Default
            }
        };
        deps.push((specifier.clone(), target, kind));
    }
    let mut exports = analysis.exports;
    let mut seen = vec![name.to_string()];
    let mut pending: Vec<(String, Vec<String>, usize)> =
        vec![(name.to_string(), analysis.reexports, 1)];
    while let Some((from, reexports, depth)) = pending.pop() {
        for specifier in reexports {
            let Some(target) = modules::resolve(&from, &specifier) else {
                continue;
            };
            if seen.contains(&target) || depth > REEXPORT_DEPTH {
                continue;
            }
            seen.push(target.clone());
            let Some(module) = source.get(&target)? else {
                continue;
            };
            if module.kind != ModuleKind::Cjs {
                continue;
            }
            let Ok(text) = std::str::from_utf8(&module.bytes) else {
                continue;
            };
            let found = cjs::analyse(text);
            exports.extend(found.exports);
            pending.push((target, found.reexports, depth + 1));
        }
    }
    exports.sort();
    exports.dedup();
    exports.truncate(cjs::MAX_NAMED_EXPORTS);
    Ok(cjs::wrap(name, text, &deps, &exports))
}

/// How many CommonJS modules deep re-exports are followed.
pub(crate) const REEXPORT_DEPTH: usize = 8;

/// The hidden data module holding wasm module `name`'s bytes.
pub(crate) fn wasm_bytes_name(name: &str) -> String {
    format!("{HIDDEN}wasm:{name}")
}

/// The ES module that stands for wasm module `name`: its default export is the compiled module.
pub(crate) fn wasm_module(name: &str) -> String {
    let specifier = serde_json::Value::String(wasm_bytes_name(name)).to_string();
    format!("import bytes from {specifier};\nexport default new WebAssembly.Module(bytes);\n")
}

/// The error for a wasm module in an isolate without WebAssembly.
pub(crate) fn wasm_refused(name: &str) -> RunError {
    RunError::InvalidInput(format!(
        "module {name:?} is WebAssembly, which this worker cannot run: its tenant is in the \
         quarantine tier (interpreter only, no WebAssembly)"
    ))
}
