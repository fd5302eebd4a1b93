//! The Node.js modules a Worker may import but cannot use much of (isolate/js/node-stubs.js), in
//! a real isolate: each imports (statically, `node:`-prefixed and bare), what can be true in an
//! isolate is (tty.isatty, the main thread, perf_hooks' performance, createRequire's built-ins,
//! node:constants' values), and what cannot throws ERR_METHOD_NOT_IMPLEMENTED with workerd's
//! message; each comes with its compatibility date or flag (source/src/node_dated.rs), as on
//! workerd 2026-11-17, where the same imports were tried before and after each date.
mod common;

use common::*;
use stockade_isolate::{Invocation, LoadOptions, Module, ModuleSet, Worker};

fn loaded(src: &str, options: &LoadOptions) -> (Worker, Invocation) {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src.as_bytes())]).expect("module set");
    let load = worker.load_with("main.js", &mut set, options);
    (worker, load)
}

const ALL: &str = r#"
import tty from "node:tty";
import ttyBare, { isatty } from "tty";
import * as threads from "node:worker_threads";
import cp from "node:child_process";
import { performance as perf } from "node:perf_hooks";
import { createRequire, isBuiltin, builtinModules } from "node:module";
import nodeConsole from "node:console";
import constants, { ENOENT, SIGTERM as TERM, O_RDONLY, RSA_PKCS1_PADDING, RTLD_NOW, PRIORITY_HIGH } from "node:constants";
import * as constantsNs from "node:constants";
import sys from "node:sys";
import util from "node:util";
import vm from "node:vm";
import v8 from "node:v8";
import readline from "node:readline";
import readlinePromises from "node:readline/promises";
import repl from "node:repl";
import http2 from "node:http2";
import dgram from "node:dgram";
import cluster from "node:cluster";
import domain from "node:domain";
import inspector from "node:inspector";
import inspectorPromises from "node:inspector/promises";
import traceEvents from "node:trace_events";
import { WASI } from "node:wasi";
import { DatabaseSync } from "node:sqlite";
import { Buffer } from "node:buffer";
const code = (f) => { try { f(); return "no throw"; } catch (e) { return `${e.code ?? e.name}: ${e.message}`; } };
export default () => {
  // import.meta.url is undefined, as on workerd: bundles name a path.
  const require = createRequire("/bundle/main.js");
  threads.setEnvironmentData("k", 7);
  return {
    tty: [tty.isatty(1), isatty(0), ttyBare === tty, code(() => new tty.WriteStream(1))],
    threads: [threads.isMainThread, threads.threadId, threads.parentPort, threads.getEnvironmentData("k"),
      threads.MessageChannel === MessageChannel, code(() => new threads.Worker("w.js"))],
    childProcess: [code(() => cp.spawn("ls")), code(() => cp.execSync("ls"))],
    perf: [perf === performance, typeof perf.now()],
    module: [require("node:buffer").Buffer === Buffer, code(() => createRequire("main.js")), typeof require("path").join, require.resolve("fs"),
      code(() => require("./other.js")), code(() => require("node:test")), isBuiltin("node:fs"), isBuiltin("left-pad"),
      builtinModules.includes("tty")],
    console: [nodeConsole.log === console.log, typeof nodeConsole.table],
    constants: [constants.ENOENT, constants.SIGTERM, constants.O_RDONLY, constants.RSA_PKCS1_PADDING],
    // Every key of the default is a named export, with its value.
    constantNames: [ENOENT, TERM, O_RDONLY, RSA_PKCS1_PADDING, RTLD_NOW, PRIORITY_HIGH,
      Object.keys(constants).every((k) => constantsNs[k] === constants[k]),
      Object.keys(constantsNs).length - 1 === Object.keys(constants).length, Object.keys(constants).length > 150],
    sys: sys === util,
    vm: [code(() => vm.runInNewContext("1")), vm.isContext(vm.createContext({}))],
    v8: [v8.getHeapStatistics().used_heap_size, v8.isStringOneByteRepresentation("é"),
      v8.isStringOneByteRepresentation("€"), code(() => v8.serialize({}))],
    readline: [code(() => readline.createInterface({})), readline.cursorTo(null, 0, 0),
      readline.promises === readlinePromises],
    repl: code(() => repl.start()),
    http2: [code(() => http2.connect("https://example.com")), typeof http2.sensitiveHeaders],
    dgram: code(() => dgram.createSocket("udp4")),
    cluster: [cluster.isPrimary, cluster.isWorker, code(() => cluster.fork())],
    domain: domain.create().run((a) => a * 2, 21),
    inspector: [String(inspector.url()), code(() => inspectorPromises.open())],
    traceEvents: traceEvents.createTracing({ categories: ["v8"] }).enabled,
    wasi: code(() => new WASI()),
    sqlite: code(() => new DatabaseSync(":memory:")),
  };
};
"#;

#[test]
fn each_module_imports_says_what_is_true_and_refuses_what_cannot_be() {
    let (mut worker, load) = loaded(ALL, &compat("2026-11-01", &["nodejs_compat"]));
    assert!(load.result.is_ok(), "{:?}", load.result);
    let got = ok(worker.call("null"));
    let not = |m: &str| format!("ERR_METHOD_NOT_IMPLEMENTED: The {m} method is not implemented");
    let class = |m: &str| format!("ERR_METHOD_NOT_IMPLEMENTED: The {m} class is not implemented");
    assert_eq!(
        got,
        serde_json::json!({
            "tty": [false, false, true, class("tty.WriteStream")],
            "threads": [true, 0, null, 7, true, class("worker_threads.Worker")],
            "childProcess": [not("child_process.spawn"), not("child_process.execSync")],
            "perf": [true, "number"],
            "module": [true,
                "ERR_INVALID_ARG_VALUE: The argument 'filename' must be a file URL object, file URL string, or absolute path string. Received type string (\"main.js\")",
                "function", "node:fs",
                "MODULE_NOT_FOUND: Cannot find module './other.js': createRequire's require() finds the built-in modules this worker may import; import the worker's own modules instead",
                "MODULE_NOT_FOUND: Cannot find module 'node:test': createRequire's require() finds the built-in modules this worker may import; import the worker's own modules instead",
                true, false, true],
            "console": [true, "function"],
            "constants": [2, 15, 0, 1],
            "constantNames": [2, 15, 0, 1, 2, -14, true, true, true],
            "sys": true,
            "vm": [not("vm.runInNewContext"), true],
            "v8": [0, true, false, not("v8.serialize")],
            "readline": [not("readline.createInterface"), false, true],
            "repl": not("repl.start"),
            "http2": [not("http2.connect"), "symbol"],
            "dgram": not("dgram.createSocket"),
            "cluster": [true, false, not("cluster.fork")],
            "domain": 42,
            "inspector": ["undefined", not("Inspector.open")],
            "traceEvents": false,
            "wasi": class("wasi.WASI"),
            "sqlite": class("sqlite.DatabaseSync"),
        })
    );
}

#[test]
fn each_module_comes_with_its_date_or_its_flag() {
    let import = |module: &str, options: &LoadOptions| {
        let src = format!("import m from {module:?}; export default () => typeof m;");
        loaded(&src, options)
            .1
            .result
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    };
    // node:tty comes on 2026-03-17 (workerd's date), node:vm on 2025-10-01.
    let before =
        import("node:tty", &compat("2026-03-16", &["nodejs_compat"])).expect_err("refused");
    assert!(
        before.contains("2026-03-17") && before.contains("enable_nodejs_tty_module"),
        "{before}"
    );
    assert!(import("node:tty", &compat("2026-03-17", &["nodejs_compat"])).is_ok());
    assert!(import(
        "node:tty",
        &compat("2025-06-01", &["nodejs_compat", "enable_nodejs_tty_module"])
    )
    .is_ok());
    assert!(import(
        "node:tty",
        &compat(
            "2026-11-01",
            &["nodejs_compat", "disable_nodejs_tty_module"]
        )
    )
    .is_err());
    assert!(import("node:vm", &compat("2025-09-30", &["nodejs_compat"])).is_err());
    assert!(import("node:vm", &compat("2025-10-01", &["nodejs_compat"])).is_ok());
    // Without nodejs_compat none of them (from 2026-08-04 nodejs_compat is the default, as on
    // workerd: no_nodejs_compat turns it off); node:module and node:constants need no date.
    assert!(import("node:tty", &compat("2026-07-01", &[])).is_err());
    assert!(import("node:tty", &compat("2026-11-01", &[])).is_ok());
    let neither = ["no_nodejs_compat", "no_nodejs_compat_v2"];
    assert!(import("node:tty", &compat("2026-11-01", &neither)).is_err());
    assert!(import("node:module", &compat("2024-01-01", &["nodejs_compat"])).is_ok());
    assert!(import("node:constants", &compat("2024-01-01", &["nodejs_compat"])).is_ok());
    // createRequire gives only what the date allows.
    let src = "import { createRequire, isBuiltin, builtinModules } from 'node:module';
        const code = (f) => { try { return typeof f(); } catch (e) { return e.code; } };
        export default () => { const require = createRequire('/bundle/main.js');
          return [code(() => require('node:tty')), code(() => require('vm')), code(() => require('node:fs')),
            isBuiltin('tty'), isBuiltin('vm'), builtinModules.includes('tty'), builtinModules.includes('vm')]; };";
    let (mut worker, load) = loaded(src, &compat("2026-03-16", &["nodejs_compat"]));
    assert!(load.result.is_ok(), "{:?}", load.result);
    assert_eq!(
        ok(worker.call("null")),
        serde_json::json!([
            "MODULE_NOT_FOUND",
            "object",
            "object",
            false,
            true,
            false,
            true
        ])
    );
    // node:test (a test runner) Stockade does not offer: a clear refusal.
    let test = import("node:test", &compat("2026-11-01", &["nodejs_compat"])).expect_err("refused");
    assert!(test.contains("does not support"), "{test}");
}
