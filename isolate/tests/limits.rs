//! Hostile code against every limit, on real V8: each ends with its typed error, the engine
//! keeps serving, and nothing crashes or hangs the process.
mod common;
use std::time::Duration;

use common::*;
use stockade_isolate::{LimitKind, Limits, Module, ModuleSet, RunError, Worker};

fn limit(inv: stockade_isolate::Invocation) -> LimitKind {
    match inv.result {
        Err(RunError::Limit(kind)) => kind,
        other => panic!("expected a limit, got {other:?}"),
    }
}

fn tight() -> Limits {
    Limits {
        cpu: Duration::from_millis(100),
        wall: Duration::from_secs(3),
        memory_bytes: 64 << 20,
        ..Limits::default()
    }
}

fn run_tight(src: &str) -> stockade_isolate::Invocation {
    run_with(tight(), &[("main.js", src)], "null")
}

#[test]
fn an_infinite_loop_hits_the_cpu_limit() {
    assert_eq!(
        limit(run_tight("export default () => { for (;;) {} };")),
        LimitKind::Cpu
    );
}

#[test]
fn top_level_infinite_loops_hit_the_cpu_limit_too() {
    assert_eq!(
        limit(run_tight("for (;;) {}\nexport default () => 1;")),
        LimitKind::Cpu
    );
}

#[test]
fn a_microtask_only_loop_hits_the_cpu_limit() {
    assert_eq!(
        limit(run_tight(
            "export default async () => { while (true) await null; };"
        )),
        LimitKind::Cpu
    );
}

#[test]
fn a_catastrophic_regex_hits_the_cpu_limit() {
    let src = "export default () => /(a+)+$/.test('a'.repeat(40) + '!');";
    assert_eq!(limit(run_tight(src)), LimitKind::Cpu);
}

#[test]
fn doubling_a_string_ends_in_a_range_error_at_v8s_length_cap() {
    // `s += s` builds a rope (cons strings) that costs next to nothing, so V8's string length
    // cap (2^29 - 24) is reached long before 64 MiB of heap: a RangeError the script may catch,
    // never a crash and never an unbounded heap.
    let inv = run_tight("export default () => { let s = 'x'; for (;;) s += s; };");
    match inv.result {
        Err(RunError::Threw { message, .. }) => {
            assert_eq!(message, "Uncaught RangeError: Invalid string length")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_growing_array_hits_the_heap_limit() {
    let src = "export default () => { const a = []; for (;;) a.push({ i: a.length, s: 'p' + a.length }); };";
    // CPU and wall room enough that only the heap can end it, even on a loaded machine.
    let limits = Limits {
        cpu: Duration::from_secs(30),
        wall: Duration::from_secs(60),
        ..tight()
    };
    assert_eq!(
        limit(run_with(limits, &[("main.js", src)], "null")),
        LimitKind::Heap
    );
}

#[test]
fn a_huge_array_buffer_fails_cleanly() {
    let inv = run_tight("export default () => { try { new ArrayBuffer(8e9); return 'allocated'; } catch (e) { return e.name; } };");
    // Caught by the tenant: a RangeError it can handle, and the budget was reported.
    assert_eq!(ok(inv), serde_json::json!("RangeError"));
    assert_eq!(
        limit(run_tight(
            "export default () => new ArrayBuffer(8e9).byteLength;"
        )),
        LimitKind::ExternalMemory
    );
}

#[test]
fn many_array_buffers_share_one_budget() {
    let src = "export default () => { const keep = []; for (let i = 0; i < 100; i++) keep.push(new ArrayBuffer(4 << 20)); return keep.length; };";
    assert_eq!(limit(run_tight(src)), LimitKind::ExternalMemory);
}

#[test]
fn deep_recursion_is_a_range_error_not_a_crash() {
    match err(run_tight(
        "const f = (n) => f(n + 1) + 1;\nexport default () => f(0);",
    )) {
        RunError::Threw { message, .. } => assert!(
            message.contains("Maximum call stack size exceeded"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_wall_clock_limit_holds_while_waiting_for_timers() {
    let limits = Limits {
        wall: Duration::from_millis(200),
        ..tight()
    };
    let src = "export default () => new Promise((r) => setTimeout(r, 60_000));";
    assert_eq!(
        limit(run_with(limits, &[("main.js", src)], "null")),
        LimitKind::Wall
    );
}

#[test]
fn console_output_is_bounded() {
    let limits = Limits {
        output_bytes: 10_000,
        ..tight()
    };
    let src = "export default () => { for (;;) console.log('spam spam spam spam'); };";
    assert_eq!(
        limit(run_with(limits, &[("main.js", src)], "null")),
        LimitKind::Output
    );
}

#[test]
fn results_are_bounded() {
    let limits = Limits {
        result_bytes: 1000,
        ..tight()
    };
    let src = "export default () => 'x'.repeat(5000);";
    assert_eq!(
        limit(run_with(limits, &[("main.js", src)], "null")),
        LimitKind::Result
    );
}

#[test]
fn a_result_too_large_for_any_limit_is_refused_before_it_is_written() {
    // JSON.stringify of a 100-million-character string is a builtin V8 does not interrupt; it
    // ran past the CPU limit until the process ended itself. Strings that cannot fit the largest
    // result (16 MiB) are now counted before V8 writes them, keys of objects included, indices
    // of arrays not: the result limit, at once, in-process.
    let limits = Limits {
        cpu: Duration::from_millis(50),
        wall: Duration::from_secs(20),
        memory_bytes: 512 << 20,
        ..Limits::default()
    };
    for src in [
        "export default () => 'x'.repeat(1e8);",
        "export default () => ({ a: 'x'.repeat(9e6), b: ['y'.repeat(9e6)] });",
        "export default () => ({ ['k'.repeat(2e7)]: 1 });",
    ] {
        let inv =
            run_tight_or_hang_with(limits.clone(), src).unwrap_or_else(|| panic!("hung: {src}"));
        assert!(
            matches!(inv.result, Err(RunError::Limit(LimitKind::Result))),
            "{src}: {:?}",
            inv.result
        );
    }
    // Three million array elements (their index keys alone 20 million characters) are a 6 MB
    // result that fits.
    let roomy = Limits {
        cpu: Duration::from_secs(5),
        ..limits
    };
    let inv = run_tight_or_hang_with(roomy, "export default () => new Array(3e6).fill(1);")
        .expect("answers");
    assert_eq!(inv.result.expect("fits").len(), 6_000_001);
}

#[test]
fn a_20_mb_source_is_refused_by_the_source_limit() {
    let big = format!("export default () => 1;\n//{}", "a".repeat(20 << 20));
    let limits = Limits {
        source_bytes: 16 << 20,
        ..tight()
    };
    assert_eq!(
        limit(run_with(limits, &[("main.js", &big)], "null")),
        LimitKind::Source
    );
}

#[test]
fn timers_are_bounded() {
    let limits = Limits {
        timers: 100,
        ..tight()
    };
    let src = "export default () => { for (let i = 0; i < 1000; i++) setTimeout(() => {}, 1000); return 1; };";
    assert_eq!(
        limit(run_with(limits, &[("main.js", src)], "null")),
        LimitKind::Timers
    );
}

#[test]
fn after_a_limit_the_worker_is_poisoned_and_the_engine_keeps_serving() {
    let mut worker = Worker::new(engine(), tight()).expect("isolate");
    let mut set = ModuleSet::new([Module::new(
        "main.js",
        "export default (x) => { if (x) for (;;) {} return 1; };",
    )])
    .expect("set");
    assert!(worker.load("main.js", &mut set).result.is_ok());
    assert!(matches!(
        worker.call("true").result,
        Err(RunError::Limit(LimitKind::Cpu))
    ));
    assert!(
        matches!(
            worker.call("false").result,
            Err(RunError::Limit(LimitKind::Cpu))
        ),
        "poisoned"
    );
    drop(worker);
    assert_eq!(
        ok(run("export default () => 'still serving';")),
        serde_json::json!("still serving")
    );
}

#[test]
fn code_generation_from_strings_is_refused() {
    // Each route, with the exact error V8 or the runtime gives it.
    for (src, expected) in [
        (
            "export default () => eval('1 + 1');",
            "Uncaught EvalError: Code generation from strings disallowed for this context",
        ),
        (
            "export default () => new Function('return 1')();",
            "Uncaught EvalError: Code generation from strings disallowed for this context",
        ),
        (
            "export default () => setTimeout('1', 0);",
            "Uncaught TypeError: The callback must be a function (string callbacks would need eval)",
        ),
    ] {
        match run_tight(src).result {
            Err(RunError::Threw { message, .. }) => assert_eq!(message, expected, "{src}"),
            other => panic!("{src}: {other:?}"),
        }
    }
}

#[test]
fn shared_memory_is_absent() {
    let v = ok(run(
        "export default () => [typeof SharedArrayBuffer, typeof Atomics.wait];",
    ));
    assert_eq!(v, serde_json::json!(["undefined", "undefined"]));
}

#[test]
fn time_stands_still_while_code_runs() {
    let src = "export default () => { const d0 = Date.now(), p0 = performance.now(); let x = 0; for (let i = 0; i < 3e7; i++) x += i; return [Date.now() - d0, performance.now() - p0, new Date().getTime() - d0]; };";
    assert_eq!(ok(run(src)), serde_json::json!([0, 0, 0]));
    let moved = "export default async () => { const d0 = Date.now(); await new Promise((r) => setTimeout(r, 30)); return Date.now() - d0 >= 30; };";
    assert_eq!(ok(run(moved)), serde_json::json!(true));
}

#[test]
fn the_host_object_is_unreachable() {
    let src = "export default () => [typeof __stockade_host, Object.getOwnPropertyNames(globalThis).filter((n) => n.includes('stockade'))];";
    assert_eq!(ok(run(src)), serde_json::json!(["undefined", []]));
}

#[test]
fn webassembly_memory_counts_against_the_same_budget_as_array_buffers() {
    let budget = |mb: usize| Limits {
        memory_bytes: mb << 20,
        ..tight()
    };
    // 125 MiB of wasm memory: refused under a 32 MiB budget, as a RangeError the tenant can catch.
    let src = "export default () => { try { return new WebAssembly.Memory({ initial: 2000 }).buffer.byteLength; } catch (e) { return e.name; } };";
    assert_eq!(
        ok(run_with(budget(32), &[("main.js", src)], "null")),
        serde_json::json!("RangeError")
    );
    // The control: with room for it, the same memory is allocated.
    assert_eq!(
        ok(run_with(budget(256), &[("main.js", src)], "null")),
        serde_json::json!(131_072_000)
    );
    // Growing past the budget fails like growing past a maximum.
    let grow = "export default () => { const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 }); try { m.grow(1000); return 'grew'; } catch (e) { return e.name; } };";
    assert_eq!(
        ok(run_with(budget(32), &[("main.js", grow)], "null")),
        serde_json::json!("RangeError")
    );
    // ArrayBuffers and wasm memory share one budget: 20 MiB + 20 MiB does not fit in 32 MiB.
    let shared = "export default () => { const keep = new ArrayBuffer(20 << 20); try { new WebAssembly.Memory({ initial: 320 }); return 'both'; } catch (e) { return [keep.byteLength, e.name]; } };";
    assert_eq!(
        ok(run_with(budget(32), &[("main.js", shared)], "null")),
        serde_json::json!([20971520, "RangeError"])
    );
    // Uncaught, it is the external-memory limit.
    let uncaught =
        "export default () => new WebAssembly.Memory({ initial: 2000 }).buffer.byteLength;";
    assert_eq!(
        limit(run_with(budget(32), &[("main.js", uncaught)], "null")),
        LimitKind::ExternalMemory
    );
}

/// Runs `src` under `tight()` on a thread of its own; `None` if it has not answered in 20 s (it
/// hangs: the test fails instead of hanging with it).
fn run_tight_or_hang(src: &'static str) -> Option<stockade_isolate::Invocation> {
    run_tight_or_hang_with(tight(), src)
}

/// [`run_tight_or_hang`] under `limits`.
fn run_tight_or_hang_with(
    limits: Limits,
    src: &'static str,
) -> Option<stockade_isolate::Invocation> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run_with(limits, &[("main.js", src)], "null"));
    });
    rx.recv_timeout(Duration::from_secs(20)).ok()
}

#[test]
fn describing_a_thrown_error_runs_under_the_limits() {
    // The answer reads the error's `stack`, which tenant code can make a getter; reading it is
    // an entry of the request's like any other: a getter that never returns hits the CPU limit
    // (it used to run with no watchdog armed and hold the thread until the process was killed).
    for src in [
        "export default () => { const e = new Error('x'); Object.defineProperty(e, 'stack', { get() { for (;;) {} } }); throw e; };",
        "export default async () => { await null; const e = new Error('x'); Object.defineProperty(e, 'stack', { get() { for (;;) {} } }); throw e; };",
        "export default () => Promise.reject(Object.defineProperty(new Error('x'), 'stack', { get() { for (;;) {} } }));",
        "export default () => { Error.prepareStackTrace = () => { for (;;) {} }; throw new Error('x'); };",
    ] {
        let inv = run_tight_or_hang(src).unwrap_or_else(|| panic!("hung: {src}"));
        assert!(
            matches!(inv.result, Err(RunError::Limit(LimitKind::Cpu))),
            "{src}: {:?}",
            inv.result
        );
    }
    // A getter that answers is still read, as before.
    let inv = run_tight_or_hang(
        "export default () => { const e = new Error('x'); Object.defineProperty(e, 'stack', { get() { return 'custom stack'; } }); throw e; };",
    )
    .expect("answers");
    match inv.result {
        Err(RunError::Threw { stack, .. }) => assert_eq!(stack, "custom stack"),
        other => panic!("{other:?}"),
    }
}
