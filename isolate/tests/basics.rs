//! Modules, TypeScript, values, async and the event loop, on real V8.
mod common;
use common::*;
use stockade_isolate::RunError;

#[test]
fn default_export_receives_the_argument_and_returns_json() {
    let inv = run_with(
        limits(),
        &[(
            "main.js",
            "export default (x) => ({ doubled: x.n * 2, s: 'ok' });",
        )],
        r#"{"n":21}"#,
    );
    assert_eq!(ok(inv), serde_json::json!({"doubled": 42, "s": "ok"}));
}

#[test]
fn async_functions_timers_and_promises_work() {
    let src = "export default async () => { await null; const t = await new Promise(r => setTimeout(() => r('late'), 20)); return [t, await Promise.all([1, Promise.resolve(2)])]; }";
    assert_eq!(ok(run(src)), serde_json::json!(["late", [1, 2]]));
}

#[test]
fn relative_imports_resolve_inside_the_set() {
    let inv = run_with(
        limits(),
        &[("main.ts", "import { add } from './lib/util.js'; import data from './data.json'; export default () => add(data.a, 2);"),
          ("lib/util.js", "export const add = (a, b) => a + b;"),
          ("data.json", r#"{"a": 40}"#)],
        "null",
    );
    assert_eq!(ok(inv), serde_json::json!(42));
}

#[test]
fn an_import_outside_the_set_is_a_clear_error() {
    let e = err(run("import x from './missing.js'; export default () => x;"));
    match e {
        RunError::ModuleNotFound {
            specifier,
            referrer,
        } => {
            assert_eq!(
                (specifier.as_str(), referrer.as_str()),
                ("./missing.js", "main.js")
            );
        }
        other => panic!("{other:?}"),
    }
    // A built-in module Stockade does not implement is its own clear error (see tests/node.rs).
    assert!(matches!(
        err(run("import fs from 'node:fs'; export default () => 1;")),
        RunError::BuiltinUnavailable { .. }
    ));
    assert!(matches!(
        err(run(
            "import x from '../../etc/passwd'; export default () => 1;"
        )),
        RunError::ModuleNotFound { .. }
    ));
}

#[test]
fn dynamic_import_finds_modules_of_the_set_and_only_those() {
    let inv = run_with(
        limits(),
        &[("main.js", "export default async () => { const m = await import('./b.js'); let e; try { await import('./nope.js'); } catch (x) { e = String(x.message); } return [m.v, e]; }"),
          ("b.js", "export const v = 7;")],
        "null",
    );
    let v = ok(inv);
    assert_eq!(v[0], 7);
    assert!(
        v[1].as_str()
            .unwrap_or("")
            .contains("Cannot find module './nope.js'"),
        "{v}"
    );
}

#[test]
fn typescript_types_enums_and_errors_point_at_the_ts_source() {
    let src = "enum Mode { A = 1, B }\ninterface In { n: number }\nexport default (x: In | null): number => {\n  const m: Mode = Mode.B;\n  if (x === null) throw new Error('boom ' + m);\n  return x.n;\n};\n";
    let e = err(run_ts(src));
    match e {
        RunError::Threw {
            message,
            stack,
            location,
        } => {
            assert!(message.contains("boom 2"), "{message}");
            let loc = location.expect("location");
            assert_eq!((loc.module.as_str(), loc.line), ("main.ts", 5), "{stack}");
            assert!(stack.contains("main.ts:5:"), "{stack}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn typescript_syntax_errors_are_reported_with_position() {
    match err(run_ts(
        "export default (): number => {\n  return 1 +;\n};\n",
    )) {
        RunError::Syntax {
            location: Some(loc),
            ..
        } => assert_eq!((loc.module.as_str(), loc.line), ("main.ts", 2)),
        other => panic!("{other:?}"),
    }
    match err(run("export default () => {\n\n  retur n 1;\n};")) {
        RunError::Syntax {
            location: Some(loc),
            ..
        } => assert_eq!((loc.module.as_str(), loc.line), ("main.js", 3)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_json_results_are_clear_errors() {
    for (src, what) in [
        ("export default () => ({ f() {} });", "function"),
        ("export default () => ({ n: 10n });", "BigInt"),
        (
            "export default () => { const a = {}; a.self = a; return a; };",
            "circular",
        ),
        ("export default () => ({ u: undefined });", "undefined"),
        ("export default () => Symbol('s');", "symbol"),
    ] {
        match err(run(src)) {
            RunError::Threw { message, .. } => assert!(message.contains(what), "{src}: {message}"),
            other => panic!("{src}: {other:?}"),
        }
    }
    assert_eq!(
        ok(run("export default () => undefined;")),
        serde_json::Value::Null
    );
}

#[test]
fn thrown_errors_and_rejections_carry_message_and_stack() {
    match err(run(
        "function inner() { throw new TypeError('bad thing'); }\nexport default () => inner();",
    )) {
        RunError::Threw {
            message,
            stack,
            location,
        } => {
            assert!(message.contains("TypeError: bad thing"), "{message}");
            assert!(stack.contains("inner"), "{stack}");
            assert_eq!(location.map(|l| l.line), Some(1));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        err(run("export default async () => { throw 'plain'; };")),
        RunError::Threw { .. }
    ));
}

#[test]
fn an_uncaught_error_whose_name_and_message_are_accessors_says_both() {
    // A DOMException (what every binding rejects with: NotFoundError, QuotaExceededError, ...)
    // keeps its name and message behind accessors, which V8's own text of an uncaught exception
    // does not run: it used to read "Uncaught " and nothing, and its stack lacked the message.
    // (V8 13.6 writes a stack's first line from the message given to the Error constructor,
    // so a class of the tenant's own that never gives one has only its name there.)
    for (src, want, first_line) in [
        (
            "export default () => { throw new DOMException('no such file: a', 'NotFoundError'); };",
            "NotFoundError: no such file: a",
            "NotFoundError: no such file: a\n",
        ),
        (
            "export default async () => { await null; throw new DOMException('over quota', 'QuotaExceededError'); };",
            "QuotaExceededError: over quota",
            "QuotaExceededError: over quota\n",
        ),
        (
            "class E extends Error { get name() { return 'Custom'; } get message() { return 'from a getter'; } }\nexport default () => { throw new E(); };",
            "Custom: from a getter",
            "Custom\n",
        ),
    ] {
        match err(run(src)) {
            RunError::Threw { message, stack, .. } => {
                assert!(message.starts_with(&format!("Uncaught {want}")), "{src}: {message}");
                assert!(stack.starts_with(first_line), "{src}: {stack}");
            }
            other => panic!("{src}: {other:?}"),
        }
    }
    // A message accessor that throws leaves V8's own text.
    match err(run(
        "export default () => { const e = new Error('x'); Object.defineProperty(e, 'message', { get() { throw 1; } }); throw e; };",
    )) {
        RunError::Threw { message, .. } => assert!(message.starts_with("Uncaught Error"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_promise_nothing_can_settle_is_reported() {
    assert!(matches!(
        err(run("export default () => new Promise(() => {});")),
        RunError::NeverSettled
    ));
}

#[test]
fn bad_argument_json_and_bad_utf8_are_invalid_input() {
    let inv = run_with(
        limits(),
        &[("main.js", "export default (x) => x;")],
        "{nope",
    );
    assert!(matches!(err(inv), RunError::InvalidInput(_)));
    let mut worker = stockade_isolate::Worker::new(engine(), limits()).expect("isolate");
    let mut set = stockade_isolate::ModuleSet::new([stockade_isolate::Module::new(
        "main.js",
        vec![0x65, 0xff, 0xfe],
    )])
    .expect("set");
    assert!(matches!(
        worker.load("main.js", &mut set).result,
        Err(RunError::InvalidInput(_))
    ));
}

#[test]
fn console_output_is_captured_in_order() {
    let inv =
        run("export default () => { console.log('a', 1, {b: 2}); console.error('e'); return 0; };");
    let logs = inv.logs.clone();
    ok(inv);
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs[0].text.starts_with("a 1"), "{logs:?}");
    assert_eq!(logs[1].level, stockade_isolate::LogLevel::Error);
}

#[test]
fn a_worker_serves_many_calls() {
    let mut worker = stockade_isolate::Worker::new(engine(), limits()).expect("isolate");
    let mut set = stockade_isolate::ModuleSet::new([stockade_isolate::Module::new(
        "main.js",
        "let n = 0; export default () => ++n;",
    )])
    .expect("set");
    assert!(worker.load("main.js", &mut set).result.is_ok());
    for i in 1..=50 {
        assert_eq!(worker.call("null").result.expect("call"), i.to_string());
    }
}

/// What code does is observed whatever its text: WebAssembly reached through a computed name and
/// an `import()` with a comment before its parenthesis; code that does neither leaves nothing.
#[test]
fn the_isolate_reports_webassembly_compilations_and_dynamic_imports_it_saw() {
    use stockade_isolate::{Module, ModuleSet, Observed, Worker};
    let cases = [
        ("export default () => 1;", Observed::default()),
        (
            "export default async () => { const W = globalThis['Web' + 'Assem' + 'bly']; \
             return (await W.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))) instanceof W.Module; };",
            Observed { web_assembly: true, dynamic_import: false },
        ),
        (
            "export default async () => (await import/* hidden */('./b.js')).v;",
            Observed { web_assembly: false, dynamic_import: true },
        ),
    ];
    for (main, expected) in cases {
        let mut worker = Worker::new(engine(), limits()).expect("isolate");
        let mut set = ModuleSet::new([
            Module::new("main.js", main),
            Module::new("b.js", "export const v = true;"),
        ])
        .expect("set");
        worker.load("main.js", &mut set).result.expect("loads");
        assert_eq!(
            worker.observed(),
            Observed::default(),
            "before running: {main}"
        );
        let ran = worker.call("null");
        assert!(ran.result.is_ok(), "{main}: {:?}", ran.result);
        assert_eq!(worker.observed(), expected, "{main}");
    }
}
