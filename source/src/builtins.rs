//! Built-in modules: which import specifiers name one of the runtime's own modules
//! (`cloudflare:workers`, `node:buffer`, ...) rather than a module of the worker's set, and
//! which of them a worker may import given its compatibility [`Features`].
//!
//! Guarantees: a specifier with a scheme (`node:`, `cloudflare:`) never names a tenant module,
//! and a tenant module never stands in for one: `import "node:fs"` is the built-in answer (the
//! module, or a clear refusal), even when the set holds a module *named* `node:fs` (which
//! `./node:fs` still reaches). A bare specifier (`buffer`) names the tenant's module of that
//! name when the set has one, and otherwise, with the v2 behaviours of `nodejs_compat`, the
//! built-in. Pure functions, no I/O.

use crate::compat::Features;
use crate::modules;

/// The Cloudflare modules, available to every worker (as on Cloudflare, no flag needed).
pub const CLOUDFLARE_WORKERS: &str = "cloudflare:workers";
/// Outbound TCP sockets (`connect`), through the egress gateway.
pub const CLOUDFLARE_SOCKETS: &str = "cloudflare:sockets";
/// `httpServerHandler`: a `node:http` server as a Workers fetch handler (with `nodejs_compat`, as
/// it serves `node:http` servers).
pub const CLOUDFLARE_NODE: &str = "cloudflare:node";

/// The Node.js modules Stockade implements (without their `node:` prefix).
/// (Those of [`crate::node_dated::DATED`] come with `nodejs_compat` from a date.)
pub const NODE_MODULES: &[&str] = &[
    "assert",
    "assert/strict",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "dns/promises",
    "domain",
    "events",
    "fs",
    "fs/promises",
    "http",
    "http2",
    "https",
    "inspector",
    "inspector/promises",
    "module",
    "net",
    "os",
    "path",
    "path/posix",
    "path/win32",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "readline/promises",
    "repl",
    "sqlite",
    "stream",
    "stream/consumers",
    "stream/promises",
    "stream/web",
    "string_decoder",
    "sys",
    "timers",
    "timers/promises",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "util/types",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

/// Node.js modules Stockade does not implement; importing one is a clear refusal.
pub const UNSUPPORTED_NODE_MODULES: &[&str] = &["test"];

/// What an import specifier names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A module of the worker's set, by normalised name.
    Module(String),
    /// A built-in module, by canonical name (`node:buffer`, `cloudflare:workers`).
    Builtin(String),
    /// A built-in the worker may not import: why, in words that name the flag or the module.
    Unavailable(Unavailable),
    /// Nothing: not a name a module can have.
    NotFound,
}

/// Why a built-in module cannot be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// A Node.js module Stockade implements, without the `nodejs_compat` flag.
    NeedsNodejsCompat,
    /// A module Stockade does not implement.
    Unsupported,
    /// `node:fs` with `nodejs_compat` but a date before it comes by default (or turned off).
    NeedsFsModule,
    /// A module of [`crate::node_dated::DATED`] (its index) with `nodejs_compat` but a date
    /// before it comes by default (or turned off).
    NeedsDate(usize),
}

impl Unavailable {
    /// The reason, for an error message about `specifier`.
    pub fn reason(self, specifier: &str) -> String {
        match self {
            Unavailable::NeedsNodejsCompat => format!(
                "{specifier:?} is a Node.js built-in module: it needs the \"nodejs_compat\" \
                 compatibility flag (compatibilityFlags: [\"nodejs_compat\"])"
            ),
            Unavailable::NeedsFsModule => format!(
                "{specifier:?} needs a compatibility date of {} or later, or the \
                 \"enable_nodejs_fs_module\" compatibility flag (and not \
                 \"disable_nodejs_fs_module\")",
                crate::compat::NODEJS_FS_DATE
            ),
            Unavailable::NeedsDate(i) => {
                let d = &crate::node_dated::DATED[i.min(crate::node_dated::DATED.len() - 1)];
                format!(
                    "{specifier:?} needs a compatibility date of {} or later, or the {:?} \
                     compatibility flag (and not {:?})",
                    d.date, d.enable, d.disable
                )
            }
            Unavailable::Unsupported => format!(
                "{specifier:?} is a built-in module Stockade does not support (supported: \
                 cloudflare:workers, cloudflare:sockets and, with nodejs_compat, cloudflare:node, \
                 node:{})",
                NODE_MODULES.join(", node:")
            ),
        }
    }
}

/// What `specifier`, imported from module `referrer`, names for a worker with `features`;
/// `has_module` says whether the worker's set holds a module of a given name.
pub fn target(
    referrer: &str,
    specifier: &str,
    features: &Features,
    mut has_module: impl FnMut(&str) -> bool,
) -> Target {
    if let Some(rest) = specifier.strip_prefix("node:") {
        return node(rest, features);
    }
    if specifier == CLOUDFLARE_WORKERS || specifier == CLOUDFLARE_SOCKETS {
        return Target::Builtin(specifier.to_string());
    }
    if specifier == CLOUDFLARE_NODE {
        return if features.nodejs {
            Target::Builtin(specifier.to_string())
        } else {
            Target::Unavailable(Unavailable::NeedsNodejsCompat)
        };
    }
    if specifier.starts_with("cloudflare:") {
        return Target::Unavailable(Unavailable::Unsupported);
    }
    let bare =
        !specifier.contains(':') && !specifier.starts_with('.') && !specifier.starts_with('/');
    match modules::resolve_in(referrer, specifier, &mut has_module) {
        Some(name) if has_module(&name) => Target::Module(name),
        _ if bare
            && features.node_globals
            && (NODE_MODULES.contains(&specifier)
                || UNSUPPORTED_NODE_MODULES.contains(&specifier)) =>
        {
            node(specifier, features)
        }
        Some(name) => Target::Module(name),
        None => Target::NotFound,
    }
}

/// The Node.js modules (canonical names) a worker with `features` may not import: few or none
/// once `nodejs_compat` is on, so the runtime is told these rather than the ~60 it may.
pub fn withheld(features: &Features) -> Vec<String> {
    NODE_MODULES
        .iter()
        .filter(|m| !node_allowed(m, features))
        .map(|m| format!("node:{m}"))
        .collect()
}

/// Whether Node.js module `name` (one of [`NODE_MODULES`]) is importable with `features`.
fn node_allowed(name: &str, features: &Features) -> bool {
    match name {
        "async_hooks" => features.async_hooks,
        "fs" | "fs/promises" => features.fs,
        _ => match crate::node_dated::entry_of(name) {
            Some((i, _)) => features.nodejs && features.dated & (1 << i) != 0,
            None => features.nodejs,
        },
    }
}

fn node(name: &str, features: &Features) -> Target {
    if !NODE_MODULES.contains(&name) {
        Target::Unavailable(Unavailable::Unsupported)
    } else if node_allowed(name, features) {
        Target::Builtin(format!("node:{name}"))
    } else if features.nodejs && (name == "fs" || name == "fs/promises") {
        Target::Unavailable(Unavailable::NeedsFsModule)
    } else if let (true, Some((i, _))) = (features.nodejs, crate::node_dated::entry_of(name)) {
        Target::Unavailable(Unavailable::NeedsDate(i))
    } else {
        Target::Unavailable(Unavailable::NeedsNodejsCompat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: Features = Features {
        nodejs: true,
        node_globals: true,
        async_hooks: true,
        populate_process_env: true,
        fs: true,
        dated: u32::MAX,
    };

    #[test]
    fn schemes_never_name_tenant_modules() {
        let has = |n: &str| n == "node:fs" || n == "node:buffer" || n == "events";
        assert_eq!(
            target("main.js", "node:buffer", &NODE, has),
            Target::Builtin("node:buffer".into())
        );
        assert_eq!(
            target("main.js", "node:fs", &NODE, has),
            Target::Builtin("node:fs".into())
        );
        let before_fs = Features { fs: false, ..NODE };
        assert_eq!(
            target("main.js", "node:fs/promises", &before_fs, has),
            Target::Unavailable(Unavailable::NeedsFsModule)
        );
        assert_eq!(
            target("main.js", "node:test", &NODE, has),
            Target::Unavailable(Unavailable::Unsupported)
        );
        assert_eq!(
            target("main.js", "node:dns/promises", &NODE, has),
            Target::Builtin("node:dns/promises".into())
        );
        // A module that comes by date: before it, a refusal that names the date and the flag.
        assert_eq!(
            target("main.js", "node:vm", &NODE, has),
            Target::Builtin("node:vm".into())
        );
        let before = Features { dated: 0, ..NODE };
        let (vm, _) = crate::node_dated::entry_of("vm").expect("vm");
        assert_eq!(
            target("main.js", "node:vm", &before, has),
            Target::Unavailable(Unavailable::NeedsDate(vm))
        );
        let why = Unavailable::NeedsDate(vm).reason("node:vm");
        assert!(
            why.contains("2025-10-01") && why.contains("enable_nodejs_vm_module"),
            "{why}"
        );
        assert_eq!(
            target("main.js", "node:vm", &Features::default(), has),
            Target::Unavailable(Unavailable::NeedsNodejsCompat)
        );
        assert_eq!(
            target("main.js", "./node:fs", &NODE, has),
            Target::Module("node:fs".into())
        );
        assert_eq!(
            target("main.js", "node:buffer", &Features::default(), has),
            Target::Unavailable(Unavailable::NeedsNodejsCompat)
        );
        assert_eq!(
            target("a.js", "cloudflare:workers", &Features::default(), has),
            Target::Builtin(CLOUDFLARE_WORKERS.into())
        );
        assert_eq!(
            target("a.js", "cloudflare:sockets", &Features::default(), has),
            Target::Builtin(CLOUDFLARE_SOCKETS.into())
        );
        assert_eq!(
            target("a.js", "cloudflare:email", &NODE, has),
            Target::Unavailable(Unavailable::Unsupported)
        );
    }

    #[test]
    fn withheld_is_what_the_features_do_not_allow() {
        assert!(withheld(&NODE).is_empty());
        let before = Features {
            dated: 0,
            fs: false,
            ..NODE
        };
        let held = withheld(&before);
        assert!(held.contains(&"node:tty".to_string()) && held.contains(&"node:fs".to_string()));
        assert!(!held.contains(&"node:buffer".to_string()));
        assert_eq!(withheld(&Features::default()).len(), NODE_MODULES.len());
    }

    #[test]
    fn bare_specifiers_prefer_the_tenants_module() {
        let has = |n: &str| n == "events";
        assert_eq!(
            target("main.js", "events", &NODE, has),
            Target::Module("events".into())
        );
        assert_eq!(
            target("main.js", "buffer", &NODE, has),
            Target::Builtin("node:buffer".into())
        );
        assert_eq!(
            target("main.js", "fs", &NODE, has),
            Target::Builtin("node:fs".into())
        );
        assert_eq!(
            target("main.js", "dns", &NODE, has),
            Target::Builtin("node:dns".into())
        );
        assert_eq!(
            target("main.js", "test", &NODE, has),
            Target::Unavailable(Unavailable::Unsupported)
        );
        assert_eq!(
            target("main.js", "tty", &NODE, has),
            Target::Builtin("node:tty".into())
        );
        for timers in [
            "timers",
            "timers/promises",
            "os",
            "querystring",
            "punycode",
            "diagnostics_channel",
            "net",
            "tls",
            "http",
            "https",
        ] {
            assert_eq!(
                target("main.js", timers, &NODE, has),
                Target::Builtin(format!("node:{timers}"))
            );
            assert_eq!(
                target(
                    "main.js",
                    &format!("node:{timers}"),
                    &Features::default(),
                    has
                ),
                Target::Unavailable(Unavailable::NeedsNodejsCompat)
            );
        }
        let v1 = Features {
            node_globals: false,
            ..NODE
        };
        assert_eq!(
            target("main.js", "buffer", &v1, has),
            Target::Module("buffer".into())
        );
        let als = Features {
            async_hooks: true,
            ..Features::default()
        };
        assert_eq!(
            target("main.js", "node:async_hooks", &als, has),
            Target::Builtin("node:async_hooks".into())
        );
        // nodejs_als alone: node:async_hooks is the one Node.js module not withheld.
        let held = withheld(&als);
        assert_eq!(held.len(), NODE_MODULES.len() - 1);
        assert!(!held.contains(&"node:async_hooks".to_string()));
        assert!(withheld(&NODE).is_empty());
        assert_eq!(
            target("a.js", CLOUDFLARE_NODE, &NODE, has),
            Target::Builtin(CLOUDFLARE_NODE.into())
        );
        assert_eq!(
            target("a.js", CLOUDFLARE_NODE, &Features::default(), has),
            Target::Unavailable(Unavailable::NeedsNodejsCompat)
        );
    }
}
