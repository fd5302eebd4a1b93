//! Where a worker's modules come from: an in-memory set (the Loader API) or a folder on disk
//! (`stockade run FILE`). Both answer "the module of this normalised name, or none".
//!
//! Guarantees: `DiskSource` never reads outside its root folder: names are normalised (no `..`
//! segments) and the canonical path of every file must stay under the canonical root, so a
//! symlink pointing outside is refused too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::RunError;
use crate::modules::{normalise_name, Module};

/// A provider of modules by normalised name.
pub trait ModuleSource {
    /// The module called `name`, or `None` when there is none.
    fn get(&mut self, name: &str) -> Result<Option<Module>, RunError>;
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

    /// Total bytes of all modules.
    pub fn total_bytes(&self) -> usize {
        self.modules.values().map(|m| m.bytes.len()).sum()
    }
}

impl ModuleSource for ModuleSet {
    fn get(&mut self, name: &str) -> Result<Option<Module>, RunError> {
        Ok(self.modules.get(name).cloned())
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
            return Err(RunError::Limit(crate::LimitKind::Source));
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| RunError::InvalidInput(format!("{}: {e}", path.display())))?;
        Ok(Some(Module::new(name, bytes)))
    }
    fn eager_names(&self) -> Vec<String> {
        Vec::new()
    }
}
