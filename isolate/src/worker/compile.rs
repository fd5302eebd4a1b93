//! Compiling a worker's modules: `main` and everything it imports (and the source's eager
//! names), each transformed as its kind needs (TypeScript stripped, CommonJS wrapped, standard
//! decorators lowered when V8 refuses them) and compiled by the bridge; with node:fs, each
//! module's bytes as given are kept for its `/bundle` (`crate::bundle`).
//!
//! Guarantees: every step runs under the load's watch, the transform's helper-thread CPU charged
//! to it; an import of a built-in the worker's flags do not allow is an error naming it and its
//! importer; every other import goes through the walk (`loader`), which bounds the source bytes.
//! Trusts: the module source to give what it names.

use super::*;

impl Worker {
    /// Compiles `main` and everything it imports (plus the source's eager names).
    pub(crate) fn compile_all(
        &mut self,
        main: &str,
        source: &mut dyn ModuleSource,
        guard: &WatchGuard<'_>,
    ) -> Result<i32, RunError> {
        use stockade_source::builtins::{target, Target};
        let mut walk = ImportWalk::new(main, source.eager_names(), self.limits.source_bytes)?;
        let features = self.host().features;
        // node:fs shows the modules under /bundle (bundle.rs): kept only when it can.
        let mut bundle = features.fs.then(crate::bundle::Bundle::default);
        while let Some(module) = walk.next(source)? {
            let index = self.compile(&module.name, module.kind, &module.bytes, guard, source)?;
            if let Some(bundle) = bundle.as_mut() {
                bundle.add(&module.name, module.bytes);
            }
            for specifier in self.requests(index)? {
                // Hidden modules (kinds.rs) are compiled with the module that imports them.
                if specifier.starts_with(kinds::HIDDEN) {
                    continue;
                }
                match target(&module.name, &specifier, &features, |n| source.contains(n)) {
                    // Created at its first import.
                    Target::Builtin(name) => {
                        self.builtin(&name, guard)?;
                    }
                    Target::Unavailable(why) => {
                        return Err(RunError::BuiltinUnavailable {
                            reason: why.reason(&specifier),
                            specifier,
                            referrer: module.name.clone(),
                        })
                    }
                    Target::Module(target) => walk.import(&module.name, specifier, Some(target))?,
                    Target::NotFound => walk.import(&module.name, specifier, None)?,
                }
            }
        }
        if let Some(mut bundle) = bundle {
            bundle.finish();
            self.host().bundle = std::rc::Rc::new(bundle);
        }
        let main = modules::normalise_name(main).map_err(RunError::InvalidInput)?;
        self.host()
            .module_index
            .get(&main)
            .copied()
            .ok_or_else(|| RunError::Internal("main module vanished".into()))
    }

    /// Compiles one module under the load's watch: TypeScript transformation (its helper
    /// thread's CPU time charged to the budget) and V8's compilation both end in a limit when the
    /// budget runs out.
    pub(super) fn compile(
        &mut self,
        name: &str,
        kind: ModuleKind,
        bytes: &[u8],
        guard: &WatchGuard<'_>,
        source: &mut dyn ModuleSource,
    ) -> Result<i32, RunError> {
        if kind == ModuleKind::Wasm {
            if self.engine.profile() != crate::V8Profile::Standard {
                return Err(kinds::wasm_refused(name));
            }
            let hidden = kinds::wasm_bytes_name(name);
            self.compile(&hidden, ModuleKind::Data, bytes, guard, source)?;
            let wrapper = kinds::wasm_module(name);
            return self.compile(name, ModuleKind::Js, wrapper.as_bytes(), guard, source);
        }
        let text = || {
            std::str::from_utf8(bytes).map_err(|e| {
                RunError::InvalidInput(format!("module {name:?} is not valid UTF-8: {e}"))
            })
        };
        let mut out = Outcome::new();
        let iso = &self.iso;
        let index = match kind {
            ModuleKind::Js | ModuleKind::Ts | ModuleKind::Cjs => {
                let text = text()?;
                let js;
                let code = if kind == ModuleKind::Cjs {
                    js = kinds::commonjs(name, text, source)?;
                    js.as_str()
                } else if kind == ModuleKind::Ts {
                    let done = typescript::transpile(name, text, self.limits.memory_bytes);
                    guard.charge(done.cpu);
                    if let Some(limit) = guard.fired() {
                        return Err(RunError::Limit(limit));
                    }
                    let transformed = done.result?;
                    self.maps.insert(name.to_string(), transformed.map);
                    js = transformed.code;
                    js.as_str()
                } else {
                    text
                };
                let compile = |code: &str, out: &mut Outcome| {
                    // SAFETY: raw is our live isolate; name and code outlive the call.
                    iso.call(|raw| unsafe {
                        ffi::stk_module_compile(
                            raw,
                            name.as_ptr().cast(),
                            name.len(),
                            code.as_ptr().cast(),
                            code.len(),
                            &mut out.0,
                        )
                    })
                };
                let index = compile(code, &mut out);
                // V8 13.6 parses neither decorators nor `accessor` fields: a JavaScript module it
                // refuses that may hold them is lowered (typescript.rs) and compiled again.
                if index < 0
                    && kind == ModuleKind::Js
                    && out.0.status == ffi::STK_EXCEPTION
                    && typescript::may_be_decorated(text)
                {
                    let done = typescript::lower_javascript(name, text, self.limits.memory_bytes);
                    guard.charge(done.cpu);
                    if let Some(limit) = guard.fired() {
                        return Err(RunError::Limit(limit));
                    }
                    if let Some(lowered) = done.result? {
                        self.maps.insert(name.to_string(), lowered.map);
                        out = Outcome::new();
                        compile(&lowered.code, &mut out)
                    } else {
                        index
                    }
                } else {
                    index
                }
            }
            ModuleKind::Text | ModuleKind::Json | ModuleKind::Data | ModuleKind::Wasm => {
                let (synth, data): (i32, &[u8]) = match kind {
                    ModuleKind::Text => (ffi::STK_SYNTH_TEXT, text()?.as_bytes()),
                    ModuleKind::Json => (ffi::STK_SYNTH_JSON, text()?.as_bytes()),
                    _ => (ffi::STK_SYNTH_DATA, bytes),
                };
                // SAFETY: raw is our live isolate; name and data outlive the call.
                iso.call(|raw| unsafe {
                    ffi::stk_module_synthetic(
                        raw,
                        name.as_ptr().cast(),
                        name.len(),
                        synth,
                        data.as_ptr().cast(),
                        data.len(),
                        &mut out.0,
                    )
                })
            }
        };
        if let Some(limit) = guard.fired() {
            return Err(RunError::Limit(limit));
        }
        if index < 0 {
            return Err(match out.0.status {
                ffi::STK_EXCEPTION => RunError::Syntax {
                    message: out.value(),
                    location: self.location(&out),
                },
                status @ ffi::STK_TERMINATED => self.classify(status, &out, None),
                _ => RunError::Internal(out.value()),
            });
        }
        let host = self.host();
        host.module_names.push(name.to_string());
        host.module_index.insert(name.to_string(), index);
        Ok(index)
    }

    pub(super) fn requests(&mut self, index: i32) -> Result<Vec<String>, RunError> {
        let mut out = Outcome::new();
        // SAFETY: raw is our live isolate; out is valid.
        let status = self
            .iso
            .call(|raw| unsafe { ffi::stk_module_requests(raw, index, &mut out.0) });
        if status != ffi::STK_OK {
            return Err(RunError::Internal(out.value()));
        }
        Ok(out
            .value()
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect())
    }
}
