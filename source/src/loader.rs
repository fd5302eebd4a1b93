//! Where a worker's modules come from: an in-memory set (the Loader API) or a folder on disk
//! (`stockade run FILE`). Both answer "the module of this normalised name, or none".
//!
//! Guarantees: `DiskSource` never reads outside its root folder: names are normalised (no `..`
//! segments) and the canonical path of every file must stay under the canonical root, so a
//! symlink pointing outside is refused too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::builtins::Target;
use crate::error::RunError;
use crate::modules::{normalise_name, Module};

/// The most module source bytes one worker may have, all modules together (the engine's default
/// limit, and the CLI's).
pub const MAX_SOURCE_BYTES: usize = 64 << 20;

/// A provider of modules by normalised name.
pub trait ModuleSource {
    /// The module called `name`, or `None` when there is none.
    fn get(&mut self, name: &str) -> Result<Option<Module>, RunError>;
    /// Whether there is a module called `name` (read errors count as none).
    fn contains(&mut self, name: &str) -> bool {
        matches!(self.get(name), Ok(Some(_)))
    }
    /// Names to load eagerly besides the main module's static imports (so that dynamic
    /// `import()` finds them): every module of an in-memory set; nothing for a folder.
    fn eager_names(&self) -> Vec<String>;
}

/// An in-memory module set, keyed by normalised name.
#[derive(Debug, Clone, Default)]
pub struct ModuleSet {
    modules: HashMap<String, Module>,
}

impl ModuleSet {
    /// Builds a set, normalising and checking every name; duplicate names are an error.
    pub fn new(modules: impl IntoIterator<Item = Module>) -> Result<ModuleSet, RunError> {
        let mut map = HashMap::new();
        for mut m in modules {
            m.name = normalise_name(&m.name).map_err(RunError::InvalidInput)?;
            if map.contains_key(&m.name) {
                return Err(RunError::InvalidInput(format!(
                    "module {:?} is given twice",
                    m.name
                )));
            }
            map.insert(m.name.clone(), m);
        }
        Ok(ModuleSet { modules: map })
    }

    /// The modules, in name order.
    pub fn into_modules(self) -> Vec<Module> {
        let mut modules: Vec<Module> = self.modules.into_values().collect();
        modules.sort_by(|a, b| a.name.cmp(&b.name));
        modules
    }

    /// Total bytes of all modules.
    pub fn total_bytes(&self) -> usize {
        self.modules.values().map(|m| m.bytes.len()).sum()
    }
}

impl ModuleSource for ModuleSet {
    fn get(&mut self, name: &str) -> Result<Option<Module>, RunError> {
        Ok(self.modules.get(name).cloned())
    }
    fn contains(&mut self, name: &str) -> bool {
        self.modules.contains_key(name)
    }
    fn eager_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.modules.keys().cloned().collect();
        names.sort();
        names
    }
}

/// Modules read from files under one folder.
#[derive(Debug, Clone)]
pub struct DiskSource {
    root: PathBuf,
    max_file_bytes: u64,
}

impl DiskSource {
    /// Serves files under `root` (which must exist), each at most `max_file_bytes`.
    pub fn new(root: &Path, max_file_bytes: u64) -> Result<DiskSource, RunError> {
        let root = root
            .canonicalize()
            .map_err(|e| RunError::InvalidInput(format!("{}: {e}", root.display())))?;
        Ok(DiskSource {
            root,
            max_file_bytes,
        })
    }
}

impl ModuleSource for DiskSource {
    fn get(&mut self, name: &str) -> Result<Option<Module>, RunError> {
        let Ok(name) = normalise_name(name) else {
            return Ok(None);
        };
        let Ok(path) = self.root.join(&name).canonicalize() else {
            return Ok(None);
        };
        if !path.starts_with(&self.root) || !path.is_file() {
            return Ok(None);
        }
        let len = path.metadata().map(|m| m.len()).unwrap_or(0);
        if len > self.max_file_bytes {
            return Err(RunError::Limit(crate::error::LimitKind::Source));
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| RunError::InvalidInput(format!("{}: {e}", path.display())))?;
        Ok(Some(Module::new(name, bytes)))
    }
    fn contains(&mut self, name: &str) -> bool {
        normalise_name(name)
            .ok()
            .and_then(|n| self.root.join(n).canonicalize().ok())
            .is_some_and(|p| p.starts_with(&self.root) && p.is_file())
    }
    fn eager_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The imports a JavaScript or TypeScript module names: static ones, and dynamic `import()`s of
/// a string literal; for CommonJS, its `require`s of a string literal. A module that does not parse, or nests deeper than the engine accepts
/// ([`crate::nesting`]), names none (compiling it later reports the error with its position).
///
/// The parse runs on a helper thread with a stack of [`crate::nesting::STACK_BYTES`], after the
/// linear nesting check: oxc recurses without a depth guard, and the CLI runs this on the
/// operator's files outside the jail, where a stack overflow would abort it.
pub fn imports_of(module: &Module) -> Vec<String> {
    use crate::modules::ModuleKind;
    use oxc::span::SourceType;
    let source_type = match module.kind {
        ModuleKind::Ts => SourceType::ts().with_module(true),
        ModuleKind::Js => SourceType::mjs(),
        ModuleKind::Cjs => {
            return std::str::from_utf8(&module.bytes)
                .map_or_else(|_| Vec::new(), crate::cjs::requires)
        }
        _ => return Vec::new(),
    };
    let Ok(text) = std::str::from_utf8(&module.bytes) else {
        return Vec::new();
    };
    if crate::nesting::check(text, crate::nesting::MAX_NESTING).is_err() {
        return Vec::new();
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("stockade-imports".into())
            .stack_size(crate::nesting::STACK_BYTES)
            .spawn_scoped(scope, || parse_imports(text, source_type))
            .ok()
            .and_then(|helper| helper.join().ok())
            .unwrap_or_default()
    })
}

fn parse_imports(text: &str, source_type: oxc::span::SourceType) -> Vec<String> {
    use oxc::allocator::Allocator;
    use oxc::parser::Parser;
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, text, source_type).parse();
    let record = &parsed.module_record;
    let mut found: Vec<String> = record
        .requested_modules
        .keys()
        .map(|k| k.to_string())
        .collect();
    for dynamic in record.dynamic_imports.iter() {
        let span = dynamic.module_request;
        let literal = text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("");
        let quoted = literal.len() >= 2
            && ((literal.starts_with('"') && literal.ends_with('"'))
                || (literal.starts_with('\'') && literal.ends_with('\'')));
        if quoted && !literal[1..literal.len() - 1].contains(['\\', '"', '\'']) {
            found.push(literal[1..literal.len() - 1].to_string());
        }
    }
    found.sort();
    found.dedup();
    found
}

/// A breadth-first walk over a module graph: hands out each module once, keeps the total size
/// within a bound, and names the importer when a module does not exist.
pub struct ImportWalk {
    queue: std::collections::VecDeque<(String, Option<(String, String)>)>,
    seen: std::collections::HashSet<String>,
    total: usize,
    max_bytes: usize,
}

impl ImportWalk {
    /// Starts at `main`, then `extra` (names loaded whether imported or not).
    pub fn new(main: &str, extra: Vec<String>, max_bytes: usize) -> Result<Self, RunError> {
        let main = normalise_name(main).map_err(RunError::InvalidInput)?;
        let mut queue = std::collections::VecDeque::from([(main, None)]);
        queue.extend(extra.into_iter().map(|n| (n, None)));
        Ok(ImportWalk {
            queue,
            seen: Default::default(),
            total: 0,
            max_bytes,
        })
    }

    /// The next module not visited yet, or `None` when the walk is done.
    pub fn next(&mut self, source: &mut dyn ModuleSource) -> Result<Option<Module>, RunError> {
        while let Some((name, importer)) = self.queue.pop_front() {
            if !self.seen.insert(name.clone()) {
                continue;
            }
            let Some(module) = source.get(&name)? else {
                let (referrer, specifier) =
                    importer.unwrap_or_else(|| ("the command line".into(), name.clone()));
                return Err(RunError::ModuleNotFound {
                    specifier,
                    referrer,
                });
            };
            self.total = self.total.saturating_add(module.bytes.len());
            if self.total > self.max_bytes {
                return Err(RunError::Limit(crate::error::LimitKind::Source));
            }
            return Ok(Some(module));
        }
        Ok(None)
    }

    /// Records that module `name` imports `specifier`, which names module `target`
    /// (`builtins::target`'s answer); a specifier that cannot name a module of the set
    /// (`None`) is `ModuleNotFound` at once.
    pub fn import(
        &mut self,
        name: &str,
        specifier: String,
        target: Option<String>,
    ) -> Result<(), RunError> {
        match target {
            Some(target) => {
                self.queue
                    .push_back((target, Some((name.to_string(), specifier))));
                Ok(())
            }
            None => Err(RunError::ModuleNotFound {
                specifier,
                referrer: name.to_string(),
            }),
        }
    }
}

/// Reads `main` and every module it imports, transitively, from `source` into a set that can be
/// shipped to a jailed worker. A missing module is `ModuleNotFound`; the total size is bounded
/// by `max_bytes`. Specifiers naming built-in modules (`node:*`, `cloudflare:*`) are left to the
/// worker, which knows the compatibility flags.
pub fn collect(
    main: &str,
    source: &mut dyn ModuleSource,
    max_bytes: usize,
) -> Result<ModuleSet, RunError> {
    let mut walk = ImportWalk::new(main, Vec::new(), max_bytes)?;
    let mut found: HashMap<String, Module> = HashMap::new();
    while let Some(module) = walk.next(source)? {
        for specifier in imports_of(&module) {
            // A CommonJS `require` of a module that does not exist fails only when called.
            if module.kind == crate::modules::ModuleKind::Cjs {
                let target = crate::modules::resolve(&module.name, &specifier);
                if target
                    .map(|t| source.get(&t))
                    .transpose()?
                    .flatten()
                    .is_none()
                {
                    continue;
                }
            }
            let target = crate::builtins::target(
                &module.name,
                &specifier,
                &crate::Features::default(),
                |n| source.contains(n),
            );
            match target {
                Target::Builtin(_) | Target::Unavailable(_) => {}
                Target::Module(target) => walk.import(&module.name, specifier, Some(target))?,
                Target::NotFound => walk.import(&module.name, specifier, None)?,
            }
        }
        found.insert(module.name.clone(), module);
    }
    Ok(ModuleSet { modules: found })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_found_in_js_and_ts() {
        let ts = Module::new("a.ts", "import type { T } from './types.ts';\nimport { x } from './x.js';\nexport * from './y.js';\nconst z = await import('./z.js');\nconst w = await import(name);\nlet v: T = x;");
        assert_eq!(
            imports_of(&ts),
            ["./types.ts", "./x.js", "./y.js", "./z.js"]
        );
        assert!(imports_of(&Module::new("b.json", "{}")).is_empty());
    }

    #[test]
    fn collect_follows_imports_and_reports_missing_ones() {
        let mut set = ModuleSet::new([
            Module::new("main.ts", "import './lib/a.js';"),
            Module::new("lib/a.js", "import '../b.json' ; export {}"),
            Module::new("b.json", "1"),
            Module::new("unused.js", ""),
        ])
        .expect("set");
        let got = collect("main.ts", &mut set, 1 << 20).expect("collected");
        assert_eq!(got.eager_names(), ["b.json", "lib/a.js", "main.ts"]);
        let mut broken =
            ModuleSet::new([Module::new("main.ts", "import './gone.js';")]).expect("set");
        assert!(matches!(
            collect("main.ts", &mut broken, 1 << 20),
            Err(RunError::ModuleNotFound { .. })
        ));
        assert!(matches!(
            collect("main.ts", &mut set, 10),
            Err(RunError::Limit(crate::error::LimitKind::Source))
        ));
    }
}
