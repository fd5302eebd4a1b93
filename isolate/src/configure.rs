//! What a worker is loaded with besides its modules: its compatibility date and flags and its
//! `env` bindings, handed to the runtime before any tenant code runs, and the built-in modules
//! (`cloudflare:workers`, `node:*`) those make importable.
//!
//! Guarantees: built-in modules are created by canonical name from the runtime's own code (the
//! snapshot's prelude, `js/node-*.js` and `js/cloudflare.js`), never from the tenant's module set;
//! they are registered apart from the tenant's modules (`HostState::builtin_index`), so a tenant
//! module named `node:fs` neither shadows nor is shadowed by anything. Only the built-ins the
//! features allow exist in the isolate; creating one runs no tenant code (its exports are built
//! on first import), and the module itself at its first import (`Worker::builtin` for a static
//! one, `HostState::resolve_index` inside an `import()`), so a worker pays for the built-ins it
//! uses, not for every one its flags allow. The `Buffer`/`process` globals exist only with
//! `nodejs_compat`'s v2 behaviours. Runs under the load's watch, so its cost counts against the
//! load's limits.
//! Trusts: the runtime script to list and build its built-ins' exports.

use stockade_source::{builtins, Compat};

use crate::error::RunError;
use crate::ffi;
use crate::watchdog::WatchGuard;
use crate::worker::{Outcome, Worker};

/// How a worker is loaded, besides its modules.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Its compatibility date and flags (validated).
    pub compat: Compat,
    /// Its `env` bindings (a JSON object, or null for none): `env` of `cloudflare:workers` and,
    /// with `nodejs_compat` (from 2025-04-01), `process.env`.
    pub env: serde_json::Value,
}

impl Worker {
    /// Hands `options` to the runtime (the built-in modules they allow are created at their first
    /// import).
    pub(crate) fn configure(
        &mut self,
        options: &LoadOptions,
        guard: &WatchGuard<'_>,
    ) -> Result<(), RunError> {
        let features = options.compat.features;
        self.host().features = features;
        self.object = options
            .env
            .get(stockade_source::reserved::OBJECT_ENV_KEY)
            .is_some();
        // What node:module's createRequire may not give (the built-in modules themselves are
        // created at their first import: `Worker::builtin`, `HostState::resolve_index`).
        let withheld = features.nodejs.then(|| builtins::withheld(&features));
        let config = serde_json::json!({
            "nodejs": features.nodejs,
            "nodeGlobals": features.node_globals,
            "asyncHooks": features.async_hooks,
            "populateProcessEnv": features.populate_process_env,
            "compatibilityDate": options.compat.date,
            "compatibilityFlags": options.compat.flags,
            // None: fetch handlers get each request's env (FetchRequest::env) instead.
            "env": if options.env.is_object() { options.env.clone() } else { serde_json::Value::Null },
            // The Node.js modules node:module's createRequire may not give (with nodejs_compat).
            "withheld": withheld,
        })
        .to_string();
        let mut out = Outcome::new();
        // SAFETY: raw is our live isolate; config and out outlive the call.
        let status = self.iso.call(|raw| unsafe {
            ffi::stk_configure(raw, config.as_ptr().cast(), config.len(), &mut out.0)
        });
        if let Some(limit) = guard.fired() {
            return Err(RunError::Limit(limit));
        }
        if status != ffi::STK_OK {
            return Err(self.classify(status, &out, None));
        }
        Ok(())
    }

    /// The index of built-in module `name` (canonical), created now if no import asked for it
    /// before: a worker pays for the built-ins it imports, not for all its flags allow.
    pub(crate) fn builtin(&mut self, name: &str, guard: &WatchGuard<'_>) -> Result<i32, RunError> {
        if let Some(index) = self.host().builtin_index.get(name) {
            return Ok(*index);
        }
        let mut out = Outcome::new();
        // SAFETY: raw is our live isolate; name and out outlive the call.
        let index = self.iso.call(|raw| unsafe {
            ffi::stk_module_builtin(raw, name.as_ptr().cast(), name.len(), &mut out.0)
        });
        if let Some(limit) = guard.fired() {
            return Err(RunError::Limit(limit));
        }
        if index < 0 {
            return Err(RunError::Internal(format!(
                "the built-in module {name} could not be created: {}",
                out.value()
            )));
        }
        self.host().add_builtin(name, index);
        Ok(index)
    }
}
