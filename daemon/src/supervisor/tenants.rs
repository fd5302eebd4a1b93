//! Tenants as the cordon knows them: configured string ids mapped to dense [`TenantId`]s (the
//! index in the config), each with the facts the config gives (trust, account), plus the code
//! features seen in the tenant's loaded workers.
//!
//! Guarantees: the mapping is fixed for the daemon's life, so an id never changes owner.
//! Code features are a cheap textual scan and over-approximate (the word `WebAssembly` or an
//! `import(` in a comment counts): they are small risk signals, never a verdict. Trusts: the
//! config.

use std::collections::HashMap;

use stockade_cordon::{TenantId, TenantProfile};

use crate::config::TenantConfig;

pub struct Tenants {
    ids: HashMap<String, TenantId>,
    entries: Vec<(String, TenantProfile)>,
}

impl Tenants {
    pub fn new(configured: &[TenantConfig]) -> Tenants {
        let entries: Vec<(String, TenantProfile)> = configured
            .iter()
            .map(|t| (t.id.clone(), t.profile()))
            .collect();
        let ids = entries
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), TenantId(i as u64)))
            .collect();
        Tenants { ids, entries }
    }

    pub fn id(&self, name: &str) -> Option<TenantId> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: TenantId) -> &str {
        usize::try_from(id.0)
            .ok()
            .and_then(|i| self.entries.get(i))
            .map_or("?", |(name, _)| name.as_str())
    }

    /// Every tenant with its configured facts.
    pub fn all(&self) -> impl Iterator<Item = (TenantId, TenantProfile)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, (_, profile))| (TenantId(i as u64), *profile))
    }

    /// The configured facts of `id` with `features` added.
    pub fn profile(&self, id: TenantId, features: CodeFeatures) -> Option<TenantProfile> {
        let (_, base) = self.entries.get(usize::try_from(id.0).ok()?)?;
        Some(TenantProfile {
            uses_web_assembly: features.web_assembly,
            dynamic_import: features.dynamic_import,
            bundle_bytes: features.bundle_bytes,
            ..*base
        })
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
