//! The prelude's lazy parts: parts most requests never touch (the `node:*` modules, the streams,
//! URLPattern, HTMLRewriter, ...) are kept out of the startup snapshot, so a fresh isolate does
//! not deserialise them, and are compiled and evaluated in an isolate on first use. Eager code
//! reaches a group's internals through `lazyInternals(name)` (js/lazy.js), which builds it first:
//! the streams share theirs for the bodies of `Request` and `Response` (js/plumbing.js).
//!
//! How: [`assemble`] splits the prelude into the eager script (evaluated into the snapshot) and
//! one source per [`LazyGroup`]. A group's parts become the body of a function compiled natively
//! by the bridge (`compileLazy`, a host primitive only the prelude holds; `v8::ScriptCompiler::
//! CompileFunction` over the source kept outside the V8 heap) whose parameters are every name the
//! parts use from outside themselves: the prelude's own bindings, passed when the group is built,
//! and the globals, captured while the snapshot is made (so a tenant who replaced a global before
//! the first use is not seen). In the eager script a stub (`lazyPart`, js/lazy.js) takes the
//! group's place: it registers the group's globals as lazy data properties and its built-in
//! modules by name (their export names are read here from the source), built on first access.
//! The first isolate to build a group leaves V8's code cache of it for the process's later
//! isolates (bridge/lazy.cc), so they deserialise the group's functions instead of parsing it. A
//! worker process's warm-up (`Worker::for_warm_up`, worker/src/warm_up*.js) builds and uses the
//! groups whose use needs no host (not the Cache API, KV and workspaces, D1, R2, Durable Objects,
//! queues or scheduled events; of RPC, local stubs only) before any tenant code, and its caches
//! also hold
//! the functions that use compiled (a tenant's isolate leaves a cache before any of the group ran:
//! its top level only).
//!
//! Guarantees, checked here when the engine starts (a violation is an engine error, so a test
//! fails): no eager code uses a name a lazy group declares; a lazy group assigns no outer name;
//! the prelude bindings it uses are not reassigned once the prelude ran (it receives them once,
//! by value); it defines exactly the globals its [`LazyGroup`] lists; and its top level (what runs when it is built,
//! possibly after tenant code) reads no property of an outer object but a constructor's
//! `prototype` or a well-known symbol, and iterates nothing (tenant code may have replaced any
//! method and the array iterator by then). Function bodies are not checked: they run after tenant
//! code whether the part is eager or lazy. Trusts: oxc's parser and scope analysis.

use std::collections::BTreeSet;

mod analysis;
use analysis::{eager_facts, group_facts, GroupFacts};

/// Parts of the prelude built on first use, and the globals each defines.
pub(crate) struct LazyGroup {
    /// A name for stack traces (`stockade:lazy/<name>`).
    pub name: &'static str,
    /// Its parts (file names of `PRELUDE_PARTS`), evaluated in the parts list's order.
    pub parts: &'static [&'static str],
    /// The globals its parts define (`defineGlobal`), lazy data properties until first read.
    pub globals: &'static [&'static str],
}

/// The lazy groups (see the module comment; the figures behind the choice are in issue 8).
pub(crate) const LAZY_GROUPS: &[LazyGroup] = &[
    LazyGroup {
        name: "node",
        parts: &[
            "node-buffer.js",
            "node-buffer-rw.js",
            "node-events.js",
            "node-util.js",
            "node-parse-args.js",
            "node-util-mime.js",
            "node-uv-errors.js",
            "node-assert.js",
            "node-url-legacy.js",
            "node-path-win32.js",
            "node-path.js",
            "node-process.js",
            "node-hash.js",
            "node-crypto-keys.js",
            "node-crypto-kdf.js",
            "node-crypto-sign.js",
            "node-crypto-cipher.js",
            "node-crypto-dh.js",
            "node-crypto-x509.js",
            "node-crypto.js",
            "node-timers.js",
            "node-zlib.js",
            "node-zlib-streams.js",
            "node-querystring.js",
            "node-punycode.js",
            "node-diagnostics-channel.js",
            "node-stubs.js",
        ],
        globals: &[],
    },
    // node:dns on its own: most Node.js code never resolves a name itself.
    LazyGroup {
        name: "nodedns",
        parts: &["node-dns.js"],
        globals: &[],
    },
    LazyGroup {
        name: "nodefs",
        parts: &[
            "node-fs-vfs.js",
            "node-fs.js",
            "node-fs-streams.js",
            "node-fs-api.js",
        ],
        globals: &[],
    },
    LazyGroup {
        name: "nodestream",
        parts: &[
            "vendor/readable-stream.js",
            "node-stream-web.js",
            "node-stream.js",
        ],
        globals: &[],
    },
    LazyGroup {
        name: "crypto",
        parts: &["crypto-keys.js", "crypto-import.js", "crypto-subtle.js"],
        globals: &["CryptoKey", "SubtleCrypto"],
    },
    LazyGroup {
        name: "streams",
        parts: &[
            "streams-core.js",
            "streams-readable.js",
            "streams-byte.js",
            "streams-pipe.js",
            "streams-writable.js",
            "streams-transform.js",
            "streams-workers.js",
            "compression.js",
        ],
        globals: &[
            "ByteLengthQueuingStrategy",
            "CountQueuingStrategy",
            "ReadableStream",
            "ReadableStreamDefaultReader",
            "ReadableStreamDefaultController",
            "ReadableByteStreamController",
            "ReadableStreamBYOBRequest",
            "ReadableStreamBYOBReader",
            "WritableStream",
            "WritableStreamDefaultWriter",
            "WritableStreamDefaultController",
            "TransformStream",
            "TransformStreamDefaultController",
            "TextEncoderStream",
            "TextDecoderStream",
            "CompressionStream",
            "DecompressionStream",
            "IdentityTransformStream",
            "FixedLengthStream",
        ],
    },
    // The kv and workspace bindings' objects.
    LazyGroup {
        name: "kv",
        parts: &["kv.js"],
        globals: &[],
    },
    // RPC: service and Loader bindings, RpcTargets, ctx.exports, and the tagged encoding that
    // capability calls and Durable Object storage use too.
    LazyGroup {
        name: "rpc",
        parts: &["rpc.js", "rpc-targets.js", "rpc-bodies.js"],
        globals: &[],
    },
    LazyGroup {
        name: "urlpattern",
        parts: &["urlpattern.js"],
        globals: &["URLPattern"],
    },
    LazyGroup {
        name: "rewriter",
        parts: &["rewriter.js"],
        globals: &["HTMLRewriter"],
    },
    LazyGroup {
        name: "websocket",
        parts: &["websocket-link.js", "websocket.js"],
        globals: &["CloseEvent", "WebSocket", "WebSocketPair"],
    },
    LazyGroup {
        name: "scheduled",
        parts: &["scheduled.js"],
        globals: &["ScheduledController", "ScheduledEvent"],
    },
    LazyGroup {
        name: "queue",
        parts: &["queue.js"],
        globals: &[],
    },
    LazyGroup {
        name: "sockets",
        parts: &["sockets.js"],
        globals: &[],
    },
    LazyGroup {
        name: "nodenet",
        parts: &["node-net-args.js", "node-net.js", "node-tls.js"],
        globals: &[],
    },
    LazyGroup {
        name: "nodehttp",
        parts: &[
            "node-http-common.js",
            "node-http-client.js",
            "node-http-server.js",
            "cloudflare-node.js",
        ],
        globals: &[],
    },
    LazyGroup {
        name: "eventsource",
        parts: &["eventsource.js"],
        globals: &["EventSource"],
    },
    LazyGroup {
        name: "cache",
        parts: &["cache.js"],
        globals: &["Cache", "CacheStorage", "caches"],
    },
    LazyGroup {
        name: "d1",
        parts: &["d1.js"],
        globals: &[],
    },
    LazyGroup {
        name: "r2",
        parts: &["r2.js", "r2-upload.js"],
        globals: &[],
    },
    LazyGroup {
        name: "durable",
        parts: &["durable.js", "durable-storage.js", "durable-websocket.js"],
        globals: &["WebSocketRequestResponsePair"],
    },
];

/// Globals a lazy group reads live instead of receiving their value from the snapshot: values
/// that cannot change (`undefined`, `NaN`, `Infinity`), the global object itself, what V8 or the
/// worker's configuration installs after the snapshot (`WebAssembly`, `Float16Array`, `Buffer`,
/// `process`), and names strict mode forbids as parameters.
const LIVE_GLOBALS: &[&str] = &[
    "globalThis",
    "undefined",
    "NaN",
    "Infinity",
    "WebAssembly",
    "Float16Array",
    "Buffer",
    "process",
    "eval",
    "arguments",
];

/// Prelude helpers a lazy group receives in a version of its own (js/lazy.js): the first
/// parameters of every group's function.
const OVERRIDDEN: &[&str] = &["defineGlobal", "defineBuiltin", "exposeInterface"];

/// One lazy group, ready for the bridge.
pub(crate) struct LazyUnit {
    /// `stockade:lazy/<name>`.
    pub origin: String,
    /// The function body (printed compact, strict).
    pub source: String,
    /// Its parameter names, newline-separated.
    pub params: String,
}

/// The runtime script and its lazy groups.
pub(crate) struct Assembled {
    pub script: String,
    pub lazy: Vec<LazyUnit>,
}

/// The file name a part's header names (`// ---- name.js: ...`).
pub(crate) fn part_name(part: &str) -> &str {
    part.strip_prefix("// ---- ")
        .and_then(|rest| rest.split([':', ' ']).next())
        .unwrap_or("")
}

/// Splits `head` (the runtime's wrapper) followed by `parts` (the prelude, in order) into the
/// eager script and the lazy groups of `groups`; see the module comment for what is checked.
/// Both come out printed compact by `print`.
pub(crate) fn assemble(
    head: &str,
    parts: &[&str],
    groups: &[LazyGroup],
    print: impl Fn(String) -> String,
) -> Result<Assembled, String> {
    let group_of = |part: &str| {
        let name = part_name(part);
        groups.iter().position(|g| g.parts.contains(&name))
    };
    let mut sources = vec![String::new(); groups.len()];
    let (mut before, mut end) = (head.to_string(), String::new());
    for part in parts {
        match group_of(part) {
            Some(g) => {
                sources[g].push_str(part);
                sources[g].push('\n');
            }
            None if part_name(part) == "prelude-end.js" => end.push_str(part),
            None => {
                before.push_str(part);
                before.push('\n');
            }
        }
    }
    if end.is_empty() {
        return Err("the prelude has no prelude-end.js".into());
    }
    for group in groups {
        let found = group
            .parts
            .iter()
            .filter(|p| parts.iter().any(|q| part_name(q) == **p));
        if found.count() != group.parts.len() {
            return Err(format!(
                "lazy group {} names a part the prelude lacks",
                group.name
            ));
        }
    }
    let eager = eager_facts(&format!("{before}{end}"))?;
    let facts: Vec<GroupFacts> = groups
        .iter()
        .zip(&sources)
        .map(|(g, src)| group_facts(g.name, src))
        .collect::<Result<_, _>>()?;
    let lazy_globals: BTreeSet<&str> = groups
        .iter()
        .flat_map(|g| g.globals.iter().copied())
        .collect();
    let mut stubs = String::new();
    let mut lazy = Vec::new();
    for (index, (group, facts)) in groups.iter().zip(&facts).enumerate() {
        let used: Vec<&String> = facts
            .declared
            .iter()
            .filter(|n| eager.unresolved.contains(*n))
            .collect();
        if !used.is_empty() {
            return Err(format!(
                "eager code uses {used:?}, which lazy group {} declares",
                group.name
            ));
        }
        let listed: BTreeSet<String> = group.globals.iter().map(|s| s.to_string()).collect();
        if listed != facts.globals {
            return Err(format!(
                "lazy group {} defines the globals {:?}, its LazyGroup lists {listed:?}",
                group.name, facts.globals
            ));
        }
        let mut globals = Vec::new();
        let mut prelude = Vec::new();
        for name in &facts.free {
            if OVERRIDDEN.contains(&name.as_str()) {
                continue;
            }
            match eager.bindings.get(name) {
                Some(true) => {
                    return Err(format!(
                        "lazy group {} uses `{name}`, which the prelude may reassign later",
                        group.name
                    ))
                }
                Some(false) => prelude.push(name.as_str()),
                None if LIVE_GLOBALS.contains(&name.as_str()) => {}
                None if lazy_globals.contains(name.as_str()) => {
                    return Err(format!(
                        "lazy group {} uses `{name}`, another lazy group's global",
                        group.name
                    ))
                }
                None => globals.push(name.as_str()),
            }
        }
        let quoted = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let builtins = facts
            .builtins
            .iter()
            .map(|(name, names)| format!("[{name:?},{names}]"))
            .collect::<Vec<_>>()
            .join(",");
        let args: Vec<String> = OVERRIDDEN
            .iter()
            .map(|s| s.to_string())
            .chain((0..globals.len()).map(|i| format!("g[{i}]")))
            .chain(prelude.iter().map(|s| s.to_string()))
            .collect();
        stubs.push_str(&format!(
            "lazyPart({index},{:?},[{}],[{builtins}],[{}],(f,g,{}) => f({}));\n",
            group.name,
            quoted(group.globals),
            globals.join(","),
            OVERRIDDEN.join(","),
            args.join(","),
        ));
        let params: Vec<&str> = OVERRIDDEN
            .iter()
            .copied()
            .chain(globals.iter().copied())
            .chain(prelude.iter().copied())
            .collect();
        lazy.push(LazyUnit {
            origin: format!("stockade:lazy/{}", group.name),
            source: print(format!("'use strict';\n{}", sources[index])),
            params: params.join("\n"),
        });
    }
    Ok(Assembled {
        script: print(format!("{before}{stubs}{end}")),
        lazy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "// ---- prelude.js: head\n;(function stockadePrelude() {\n'use strict';\nconst uncurry = (f) => f;\nfunction defineGlobal(n, v) {}\nfunction defineBuiltin(n, names, f) {}\nfunction exposeInterface(C, t) {}\nfunction lazyPart() {}\nlet later = 1;\nfunction bump() { later++; }\n";
    const END: &str = "// ---- prelude-end.js: end\nreturn {};\n})();\n";

    fn group(globals: &'static [&'static str]) -> [LazyGroup; 1] {
        [LazyGroup {
            name: "g",
            parts: &["g.js"],
            globals,
        }]
    }

    fn try_assemble(
        eager: &str,
        lazy: &str,
        globals: &'static [&'static str],
    ) -> Result<Assembled, String> {
        let lazy = format!("// ---- g.js: lazy\n{lazy}\n");
        let eager = format!("// ---- e.js: eager\n{eager}\n");
        assemble("", &[HEAD, &eager, &lazy, END], &group(globals), |s| s)
    }

    #[test]
    fn a_group_gets_its_outer_names_as_parameters_and_a_stub() {
        let a = try_assemble(
            "",
            "const NAMES = ['a'];\ndefineBuiltin('node:x', NAMES, () => Map);\nclass X {}\nexposeInterface(X, 'X');\nconst u = uncurry;",
            &["X"],
        )
        .expect("assembles");
        assert_eq!(a.lazy.len(), 1);
        assert_eq!(
            a.lazy[0].params,
            "defineGlobal\ndefineBuiltin\nexposeInterface\nMap\nuncurry"
        );
        assert!(a.lazy[0].source.starts_with("'use strict';"));
        assert!(
            a.script
                .contains("lazyPart(0,\"g\",[\"X\"],[[\"node:x\",['a']]],[Map],"),
            "{}",
            a.script
        );
        assert!(!a.script.contains("class X"));
    }

    #[test]
    fn what_a_group_may_not_do_is_refused() {
        // Eager code using a lazy declaration.
        let e = try_assemble(
            "function f() { return lazyThing; }",
            "function lazyThing() {}",
            &[],
        );
        assert!(e.err().is_some_and(|e| e.contains("lazyThing")));
        // Top-level reads of an outer object's methods, iteration, assignment to outer names.
        for (src, why) in [
            ("const g = uncurry(Map.prototype.get);", "`get` of `Map`"),
            ("const [a] = [1];", "destructures"),
            ("const a = [...[1]];", "spreads"),
            ("for (const a of []) {}", "iterates"),
            ("function f() { later = 2; }", "assigns"),
            ("function f() { return later; }", "may reassign later"),
            ("defineGlobal('Y', 1);", "defines the globals"),
        ] {
            let e = try_assemble("", src, &[]).err().unwrap_or_default();
            assert!(e.contains(why), "{src}: {e}");
        }
        // Function bodies are not the top level; `prototype` and well-known symbols are fine.
        try_assemble(
            "",
            "function f() { return Map.prototype.get; }\nconst p = Map.prototype;\nconst s = Symbol.iterator;",
            &[],
        )
        .expect("allowed");
    }
}
