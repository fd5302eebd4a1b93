//! Tenants as the cordon knows them: configured string ids mapped to dense [`TenantId`]s (the
//! index in the config), each with the facts the config gives (trust, account), plus the code
//! features seen in the tenant's loaded workers and what its code was seen doing.
//!
//! Guarantees: a name keeps its id for the daemon's life (a reload adds tenants, updates their
//! facts, and never reuses an id), so an id never changes owner.
//! Code features are a cheap textual scan and over-approximate (the word `WebAssembly` or an
//! `import(` in a comment counts): they are small risk signals, never a verdict. What the code
//! does cannot hide behind its text (`globalThis["Web" + "Assembly"]`): the worker reports what
//! V8 saw (`stockade_ipc::Observed`: a WebAssembly compilation, an `import()` call) with every
//! outcome, and the tenant keeps it for the daemon's life (a latch: deleting the worker does not
//! clear it; a restart does, until the code does it again). Trusts: the config, and the worker
//! process's report of what its isolates saw.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard};

use stockade_cordon::{TenantId, TenantProfile};

use crate::config::TenantConfig;

pub struct Tenants {
    table: RwLock<Table>,
}

#[derive(Default)]
struct Table {
    ids: HashMap<String, TenantId>,
    entries: Vec<Entry>,
}

struct Entry {
    name: String,
    /// The configured facts.
    base: TenantProfile,
    /// What the tenant's loaded workers use.
    features: CodeFeatures,
    /// What the tenant's code was seen doing (latched).
    observed: CodeFeatures,
}

impl Entry {
    fn profile(&self) -> TenantProfile {
        let features = self.features.union(self.observed);
        TenantProfile {
            uses_web_assembly: features.web_assembly,
            dynamic_import: features.dynamic_import,
            bundle_bytes: features.bundle_bytes,
            ..self.base
        }
    }
}

impl Tenants {
    pub fn new(configured: &[TenantConfig]) -> Tenants {
        let tenants = Tenants {
            table: RwLock::new(Table::default()),
        };
        tenants.reload(configured);
        tenants
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers tenants not known yet (each gets the next id, for the daemon's life) and
    /// takes the configured facts of known ones; the tenants whose profile changed (all of them,
    /// the first time), with their profile now. A tenant no longer configured keeps its id.
    pub fn reload(&self, configured: &[TenantConfig]) -> Vec<(TenantId, TenantProfile)> {
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        let mut changed = Vec::new();
        for t in configured {
            let base = t.profile();
            let id = match table.ids.get(&t.id) {
                Some(&id) => id,
                None => {
                    let id = TenantId(table.entries.len() as u64);
                    table.ids.insert(t.id.clone(), id);
                    table.entries.push(Entry {
                        name: t.id.clone(),
                        base,
                        features: CodeFeatures::default(),
                        observed: CodeFeatures::default(),
                    });
                    changed.push((id, table.entries[id.0 as usize].profile()));
                    continue;
                }
            };
            if let Some(entry) = table.entries.get_mut(id.0 as usize) {
                if entry.base != base {
                    entry.base = base;
                    changed.push((id, entry.profile()));
                }
            }
        }
        changed
    }

    pub fn id(&self, name: &str) -> Option<TenantId> {
        self.read().ids.get(name).copied()
    }

    pub fn name(&self, id: TenantId) -> String {
        self.find_name(id).unwrap_or_else(|| "?".into())
    }

    /// The name of tenant `id`, if it was ever registered.
    pub fn find_name(&self, id: TenantId) -> Option<String> {
        usize::try_from(id.0)
            .ok()
            .and_then(|i| self.read().entries.get(i).map(|e| e.name.clone()))
    }

    /// Records `features` as what `id`'s loaded workers use; its profile with them.
    pub fn profile(&self, id: TenantId, features: CodeFeatures) -> Option<TenantProfile> {
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        let entry = table.entries.get_mut(usize::try_from(id.0).ok()?)?;
        entry.features = features;
        Some(entry.profile())
    }

    /// Latches what `id`'s code was seen doing; its profile when that changed it.
    pub fn observe(&self, id: TenantId, seen: stockade_ipc::Observed) -> Option<TenantProfile> {
        let seen = CodeFeatures {
            web_assembly: seen.web_assembly,
            dynamic_import: seen.dynamic_import,
            bundle_bytes: 0,
        };
        let index = usize::try_from(id.0).ok()?;
        // Every outcome reports what its isolate ever saw: once latched, nothing to write.
        let latched = |e: &Entry| e.observed.union(seen) == e.observed;
        if self.read().entries.get(index).is_none_or(latched) {
            return None;
        }
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        let entry = table.entries.get_mut(index)?;
        let before = entry.profile();
        entry.observed = entry.observed.union(seen);
        let after = entry.profile();
        (after != before).then_some(after)
    }
}

/// Risk-relevant features of a tenant's code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeFeatures {
    pub web_assembly: bool,
    pub dynamic_import: bool,
    /// Size of the largest bundle.
    pub bundle_bytes: u64,
}

impl CodeFeatures {
    /// The features of one bundle.
    pub fn of(modules: &[stockade_ipc::Module]) -> CodeFeatures {
        use stockade_ipc::ModuleKind;
        let mut features = CodeFeatures::default();
        for m in modules {
            features.bundle_bytes += m.bytes.len() as u64;
            match m.kind {
                ModuleKind::Js | ModuleKind::Ts | ModuleKind::Cjs => {
                    features.web_assembly |= contains(&m.bytes, b"WebAssembly");
                    features.dynamic_import |= has_dynamic_import(&m.bytes);
                }
                ModuleKind::Data => features.web_assembly |= m.bytes.starts_with(b"\0asm"),
                ModuleKind::Wasm => features.web_assembly = true,
                ModuleKind::Text | ModuleKind::Json => {}
            }
        }
        features
    }

    /// Features of several bundles together.
    pub fn union(self, other: CodeFeatures) -> CodeFeatures {
        CodeFeatures {
            web_assembly: self.web_assembly || other.web_assembly,
            dynamic_import: self.dynamic_import || other.dynamic_import,
            bundle_bytes: self.bundle_bytes.max(other.bundle_bytes),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `import` not part of a longer name nor a property (`x.import`), followed by optional
/// whitespace and `(`: a dynamic `import()` call.
fn has_dynamic_import(source: &[u8]) -> bool {
    let word = b"import";
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    source.windows(word.len()).enumerate().any(|(at, w)| {
        if w != word || (at > 0 && (ident(source[at - 1]) || source[at - 1] == b'.')) {
            return false;
        }
        source[at + word.len()..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'(')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(kind: stockade_ipc::ModuleKind, text: &[u8]) -> stockade_ipc::Module {
        stockade_ipc::Module {
            name: "m".into(),
            kind,
            bytes: text.to_vec(),
        }
    }

    #[test]
    fn dynamic_import_is_a_call_not_a_static_import_or_a_property() {
        for (source, expected) in [
            ("const m = await import('./x.js');", true),
            ("import ( './x.js' )", true),
            ("import x from './x.js';", false),
            ("import { a } from './x.js'; a.import();", false),
            ("reimport('x')", false),
            ("import.meta.url", false),
        ] {
            assert_eq!(has_dynamic_import(source.as_bytes()), expected, "{source}");
        }
    }

    #[test]
    fn features_of_a_bundle_and_their_union() {
        use stockade_ipc::ModuleKind;
        let wasm = CodeFeatures::of(&[
            module(ModuleKind::Js, b"export default 1;"),
            module(ModuleKind::Data, b"\0asm\x01\0\0\0"),
        ]);
        assert!(wasm.web_assembly && !wasm.dynamic_import);
        assert_eq!(wasm.bundle_bytes, 17 + 8);
        let dynamic = CodeFeatures::of(&[module(
            ModuleKind::Ts,
            b"export default async () => (await import('./a.js')).x;",
        )]);
        assert!(dynamic.dynamic_import && !dynamic.web_assembly);
        let both = wasm.union(dynamic);
        assert!(both.web_assembly && both.dynamic_import);
        assert_eq!(
            both.bundle_bytes,
            dynamic.bundle_bytes.max(wasm.bundle_bytes)
        );
        assert_eq!(
            CodeFeatures::of(&[module(ModuleKind::Text, b"WebAssembly import(")]),
            CodeFeatures {
                bundle_bytes: 19,
                ..CodeFeatures::default()
            }
        );
    }
}
