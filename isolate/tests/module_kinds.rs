//! The `cjs` and `wasm` module kinds (Cloudflare's Worker Loader `{"cjs": ...}` and
//! `{"wasm": ...}`) in real isolates: CommonJS `module.exports`/`exports`/`require` across the
//! module set (ES modules, JSON and cycles included), a compiled `WebAssembly.Module` as a wasm
//! module's default export, and the errors a tenant reads.
mod common;

use common::*;
use stockade_isolate::{Module, ModuleSet, RunError, Worker};

/// A module exporting `add(i32, i32) -> i32`.
pub const ADD_WASM: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type: (i32, i32) -> i32
    0x03, 0x02, 0x01, 0x00, // function 0 has type 0
    0x07, 0x07, 0x01, 0x03, b'a', b'd', b'd', 0x00, 0x00, // export "add" = function 0
    0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a,
    0x0b, // local.get 0 + local.get 1
];

fn run_set(modules: Vec<Module>) -> stockade_isolate::Invocation {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let main = modules[0].name.clone();
    let mut set = ModuleSet::new(modules).expect("set");
    let loaded = worker.load(&main, &mut set);
    if loaded.result.is_err() {
        return loaded;
    }
    worker.call("null")
}

fn text(name: &str, src: &str) -> Module {
    Module::new(name, src.as_bytes().to_vec())
}

#[test]
fn commonjs_modules_export_and_require_each_other() {
    let v = ok(run_set(vec![
        text(
            "main.js",
            "import lib, * as ns from './lib/math.cjs'; import counter from './counter.cjs';
             export default () => [lib.add(2, 3), lib.name, Object.keys(ns).filter((k) => k.includes('stockade')).length, counter.next(), counter.next(),
               lib.fromEsm, lib.config.mode, lib.thisIsExports, lib.filename, lib.missing];",
        ),
        text(
            "lib/math.cjs",
            "'use strict';
             const helper = require('./helper.cjs');
             const esm = require('../esm.js');
             exports.add = (a, b) => helper.twice(a + b) / 2;
             exports.name = helper.name;
             exports.fromEsm = esm.greeting;
             exports.config = require('../config.json');
             exports.thisIsExports = this === module.exports;
             exports.filename = __filename + ' in ' + __dirname;
             exports.missing = (() => { try { require('./nope.cjs'); return 'found'; } catch (e) { return e.message.slice(0, 31); } })();",
        ),
        text("lib/helper.cjs", "module.exports = { twice: (x) => x * 2, name: 'helper' };"),
        text("counter.cjs", "let n = 0; module.exports.next = () => ++n;"),
        text("esm.js", "export const greeting = 'hi from esm';"),
        text("config.json", "{\"mode\": \"fast\"}"),
    ]));
    assert_eq!(
        v,
        serde_json::json!([
            5,
            "helper",
            0,
            1,
            2,
            "hi from esm",
            "fast",
            true,
            "/lib/math.cjs in /lib",
            "Cannot find module './nope.cjs'"
        ])
    );
}

#[test]
fn a_commonjs_cycle_gets_partial_exports_never_an_error() {
    let v = ok(run_set(vec![
        text("main.js", "import a from './a.cjs'; import b from './b.cjs'; export default () => [a.seen ?? null, b.seen];"),
        text(
            "a.cjs",
            "exports.early = 'a-early'; const b = require('./b.cjs'); exports.seen = b.seen; exports.late = 'a-late';",
        ),
        text(
            "b.cjs",
            "const a = require('./a.cjs'); exports.seen = [a.early ?? null, a.late ?? null];",
        ),
    ]));
    // Required modules run before their requirer (ES imports are evaluated first), so here b
    // starts first and its require of a runs a whole, which sees b's partial (empty) exports:
    // Node's cycle rule with the roles swapped. Never a TDZ error.
    assert_eq!(v, serde_json::json!([null, ["a-early", "a-late"]]));
}

#[test]
fn a_commonjs_namespace_is_default_and_named_exports_only() {
    let v = ok(run_set(vec![
        text(
            "main.js",
            "import * as ns from './lib.cjs'; import { add, 'kebab-name' as kebab } from './lib.cjs';
             import * as literal from './literal.cjs'; import * as re from './re.cjs'; import * as prim from './prim.cjs';
             export default () => [Object.keys(ns), ns.default === ns.default.self, add(2, 3), kebab,
               ns.late, Object.keys(literal), literal.fetch(), literal.value, Object.keys(re), re.add === add,
               re.fromBase, Object.keys(prim), prim.default, prim.x ?? null,
               Object.getOwnPropertyNames(ns).filter((k) => k.startsWith('__stockade')).length];",
        ),
        text(
            "lib.cjs",
            "exports.add = (a, b) => a + b; exports['kebab-name'] = 'k'; exports.self = exports;
             Object.defineProperty(exports, 'late', { enumerable: true, get: () => 'got late' });
             exports.default = 'not the default export';",
        ),
        text(
            "literal.cjs",
            "const value = 41; module.exports = { value: value + 1, fetch() { return 'fetched'; } };",
        ),
        text(
            "re.cjs",
            "module.exports = require('./lib.cjs'); module.exports.fromBase = require('./base.cjs').base;",
        ),
        text("base.cjs", "exports.base = 'base';"),
        text("prim.cjs", "exports.x = 1; module.exports = 7;"),
    ]));
    assert_eq!(
        v,
        serde_json::json!([
            ["add", "default", "kebab-name", "late", "self"],
            true,
            5,
            "k",
            "got late",
            ["default", "fetch", "value"],
            "fetched",
            42,
            ["add", "default", "fromBase", "kebab-name", "late", "self"],
            true,
            "base",
            ["default", "x"],
            7,
            null,
            0
        ])
    );
}

#[test]
fn a_commonjs_cycle_with_a_reassigned_module_exports_sees_the_new_object() {
    // main imports b first, so a (b's import) starts first: a replaces module.exports, then
    // requires b, which requires a back while a is still running: b sees a's new object (as in
    // Node), not the one a started with, and a's named export is read once a has run.
    let v = ok(run_set(vec![
        text(
            "main.js",
            "import b from './b.cjs'; import a, { who } from './a.cjs'; export default () => [who, a.who, b.sawA];",
        ),
        text(
            "a.cjs",
            "module.exports = { who: 'a-new' }; require('./b.cjs');",
        ),
        text(
            "b.cjs",
            "const a = require('./a.cjs'); exports.sawA = a.who ?? 'nothing yet';",
        ),
    ]));
    assert_eq!(v, serde_json::json!(["a-new", "a-new", "a-new"]));
}

#[test]
fn a_commonjs_main_module_serves_fetch() {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new(vec![
        text(
            "worker.cjs",
            "const { greet } = require('./greet.cjs');
             module.exports = { fetch(request) { return new Response(greet(new URL(request.url).pathname)); } };",
        ),
        text("greet.cjs", "exports.greet = (p) => `hello ${p}`;"),
    ])
    .expect("set");
    assert!(worker.load("worker.cjs", &mut set).result.is_ok());
    let (response, _) = worker.fetch(&stockade_isolate::FetchRequest {
        method: "GET".into(),
        url: "https://w.test/cjs".into(),
        ..Default::default()
    });
    assert_eq!(response.expect("response").body, b"hello /cjs");
}

#[test]
fn commonjs_errors_keep_the_tenants_line() {
    match err(run_set(vec![
        text("main.js", "import './bad.cjs'; export default () => 1;"),
        text(
            "bad.cjs",
            "exports.a = 1;\nexports.b = 2;\nthrow new RangeError('third line');",
        ),
    ])) {
        RunError::Threw {
            message, location, ..
        } => {
            assert!(message.contains("third line"), "{message}");
            let at = location.expect("location");
            assert_eq!((at.module.as_str(), at.line), ("bad.cjs", 3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_wasm_module_is_a_compiled_webassembly_module() {
    let v = ok(run_set(vec![
        text(
            "main.js",
            "import add from './math/add.wasm'; import again from './math/add.wasm';
             const instance = new WebAssembly.Instance(add);
             export default async () => [add instanceof WebAssembly.Module, add === again,
               instance.exports.add(40, 2), WebAssembly.Module.exports(add)[0].name,
               (await WebAssembly.instantiate(add)).exports.add(1, 1)];",
        ),
        Module::new("math/add.wasm", ADD_WASM.to_vec()),
    ]));
    assert_eq!(v, serde_json::json!([true, true, 42, "add", 2]));
}

#[test]
fn a_wasm_module_is_required_from_commonjs_and_bad_bytes_are_a_clear_error() {
    let v =
        ok(run_set(vec![
        text("main.js", "import m from './m.cjs'; export default () => m;"),
        text(
            "m.cjs",
            "module.exports = new WebAssembly.Instance(require('./add.wasm')).exports.add(2, 2);",
        ),
        Module::new("add.wasm", ADD_WASM.to_vec()),
    ]));
    assert_eq!(v, serde_json::json!(4));
    let mut broken = ADD_WASM.to_vec();
    broken.truncate(20);
    match err(run_set(vec![
        text(
            "main.js",
            "import m from './x.wasm'; export default () => 1;",
        ),
        Module::new("x.wasm", broken),
    ])) {
        RunError::Threw { message, .. } => assert!(message.contains("CompileError"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn typescript_imports_written_the_typescript_way_find_their_modules() {
    // `./util.js` for util.ts (TypeScript's own rule for ES module output), an extensionless
    // `./lib` for lib/index.ts, `./e.mjs` for e.mts; static and dynamic imports alike. Before,
    // each was `module_not_found`.
    let v = ok(run_set(vec![
        text(
            "main.ts",
            "import { twice } from './util.js'; import { name } from './lib'; import { e } from './e.mjs';
             export default async () => [twice(21), name, e, (await import('./util')).twice(2)];",
        ),
        text("util.ts", "export const twice = (n: number): number => n * 2;"),
        text("lib/index.ts", "export const name: string = 'lib';"),
        text("e.mts", "export const e = 'mts';"),
    ]));
    assert_eq!(v, serde_json::json!([42, "lib", "mts", 4]));
    // A module of the exact name wins over the TypeScript one.
    let v = ok(run_set(vec![
        text(
            "main.ts",
            "import { who } from './x.js'; export default () => who;",
        ),
        text("x.js", "export const who = 'js';"),
        text("x.ts", "export const who = 'ts';"),
    ]));
    assert_eq!(v, serde_json::json!("js"));
}

/// A hashbang opens a CommonJS module as it does an ES or TypeScript one (npm `bin` files have
/// one; the CommonJS wrapper used to put it after its prefix, a syntax error); the lines after it
/// keep their numbers.
#[test]
fn a_hashbang_opens_a_module_of_any_kind() {
    let out = run_set(vec![
        text(
            "main.js",
            "#!/usr/bin/env node\nimport cli from './cli.cjs'; import y from './t.ts';\n\
             export default () => [cli.x, cli.line, y];",
        ),
        text(
            "cli.cjs",
            "#!/usr/bin/env node\nexports.x = 1;\n\
             exports.line = Number(/cli\\.cjs:(\\d+)/.exec(new Error().stack)[1]);",
        ),
        text(
            "t.ts",
            "#!/usr/bin/env node\nconst y: number = 2; export default y;",
        ),
    ]);
    assert_eq!(out.result.expect("loads and runs"), "[1,3,2]");
}
