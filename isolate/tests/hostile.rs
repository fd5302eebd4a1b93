//! Hostile code against the engine's limits where V8 or oxc alone would not hold them: builtins
//! V8 does not interrupt, heap overshoot, compilation, re-entrant dynamic imports, shared
//! memory, and what the clock reveals. Scenarios that must end the process run in a child copy
//! of this binary (`stockade_mpk::testing::run_child`), so the suite itself survives them.
mod common;

/// The exit status the child processes below ask the watchdog to end with.
const EXIT_UNRESPONSIVE: i32 = 86;
use std::io::Write;
use std::time::Duration;

use common::*;
use stockade_isolate::{
    Invocation, LimitKind, Limits, Module, ModuleSet, RunError, Unresponsive, Worker,
};
use stockade_mpk::testing::{run_child, scenario};

fn limits_with(cpu_ms: u64, memory_mb: usize) -> Limits {
    Limits {
        cpu: Duration::from_millis(cpu_ms),
        wall: Duration::from_secs(30),
        memory_bytes: memory_mb << 20,
        ..Limits::default()
    }
}

fn limit(inv: Invocation) -> LimitKind {
    match inv.result {
        Err(RunError::Limit(kind)) => kind,
        other => panic!("expected a limit, got {other:?}"),
    }
}

fn syntax_message(inv: Invocation) -> String {
    match inv.result {
        Err(RunError::Syntax { message, .. }) => message,
        other => panic!("expected a compile error, got {other:?}"),
    }
}

fn report(key: &str, value: impl std::fmt::Display) {
    println!("REPORT {key}={value}");
    let _ = std::io::stdout().flush();
}

const LONG_REPLACE: &str = "export default () => 'a'.repeat(1e7).replace(/a/g, 'bb').length;";

/// The exit status the child processes below ask for when V8 runs out of memory.
const EXIT_OUT_OF_MEMORY: i32 = 87;

/// The limit-exit hook of the child processes: reports the tag it is given.
extern "C" fn report_exit_tag(tag: u64) {
    report("exit_tag", tag);
}

/// `src`'s default export, in a worker whose tasks carry `tag`.
fn run_tagged(limits: Limits, src: &str, tag: u64) -> Invocation {
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    worker.set_tag(tag);
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    let loaded = worker.load("main.js", &mut set);
    if loaded.result.is_err() {
        return loaded;
    }
    worker.call("null")
}

/// Scenarios run in a child process (see `run_child`).
#[test]
#[ignore = "entry point of the child processes; run by the tests below"]
fn child_entry_point() {
    let Some(name) = scenario() else { return };
    match name.as_str() {
        "unresponsive-exit" | "unresponsive-exit-control" => {
            engine().set_unresponsive_policy(
                Unresponsive::ExitProcess(EXIT_UNRESPONSIVE),
                Duration::from_millis(20),
            );
            let src = if name == "unresponsive-exit" {
                LONG_REPLACE
            } else {
                "export default () => { for (;;) {} };"
            };
            engine().set_limit_exit_hook(report_exit_tag);
            report("started", 1);
            let inv = run_tagged(limits_with(20, 128), src, 41);
            report("result", format!("{:?}", inv.result));
        }
        "heap-past-margin-exit" => {
            engine().set_out_of_memory_exit(EXIT_OUT_OF_MEMORY);
            engine().set_limit_exit_hook(report_exit_tag);
            report("started", 1);
            let inv = run_tagged(limits_with(30_000, 16), LONG_REPLACE, 77);
            report("result", format!("{:?}", inv.result));
        }
        "heap-past-margin" => {
            report("started", 1);
            let inv = run_with(
                limits_with(30_000, 16),
                &[("main.js", LONG_REPLACE)],
                "null",
            );
            report("result", format!("{:?}", inv.result));
        }
        other => panic!("unknown scenario {other}"),
    }
    report("done", 1);
}

// ---- 1. CPU inside builtins V8 does not interrupt ----

#[test]
fn a_long_builtin_ends_as_the_cpu_limit_and_is_reported_as_unresponsive() {
    // V8 13.6 runs a global replace with a one-character pattern to completion: termination
    // cannot stop it in time, and the watchdog says so (the default policy reports).
    let before = engine().unresponsive_isolates();
    assert_eq!(
        limit(run_with(
            limits_with(20, 128),
            &[("main.js", LONG_REPLACE)],
            "null"
        )),
        LimitKind::Cpu
    );
    assert!(engine().unresponsive_isolates() > before);
    // Interruptible code stays within the grace period and is not reported.
    let before = engine().unresponsive_isolates();
    let inv = run_with(
        limits_with(20, 128),
        &[("main.js", "export default () => { for (;;) {} };")],
        "null",
    );
    assert_eq!(limit(inv), LimitKind::Cpu);
    assert_eq!(engine().unresponsive_isolates(), before);
}

#[test]
fn under_the_exit_policy_an_unresponsive_isolate_ends_its_process_within_100_ms_of_the_limit() {
    let child = run_child("unresponsive-exit", &[]);
    assert_eq!(
        child.status.code(),
        Some(EXIT_UNRESPONSIVE),
        "the watchdog must end the process\n{child}"
    );
    assert!(!child.has("result"), "the builtin never returned\n{child}");
    let field = |key: &str| -> u64 {
        let at = child
            .stderr
            .find(key)
            .unwrap_or_else(|| panic!("{key}\n{child}"));
        child.stderr[at + key.len()..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{key}\n{child}"))
    };
    let (limit_ms, spent_ms) = (field("cpu_limit_ms="), field("cpu_spent_ms="));
    assert_eq!(limit_ms, 20);
    // The embedder heard whose limit it was before the process ended (the worker process names
    // that request to its supervisor).
    assert_eq!(
        child.reports.get("exit_tag").map(String::as_str),
        Some("41"),
        "{child}"
    );
    assert!(
        spent_ms <= limit_ms + 100,
        "{spent_ms} ms of CPU against a 20 ms limit\n{child}"
    );
    // Code V8 does interrupt never triggers it.
    let control = run_child("unresponsive-exit-control", &[]);
    control.assert_completed();
    assert!(
        control.reports["result"].contains("Limit(Cpu)"),
        "{control}"
    );
}

// ---- 2. Heap ----

#[test]
fn a_huge_array_fill_ends_as_the_memory_limit_and_the_process_keeps_serving() {
    for mb in [16, 128] {
        let mut worker = Worker::new(engine(), limits_with(30_000, mb)).expect("isolate");
        let mut set = ModuleSet::new([Module::new(
            "main.js",
            "export default () => new Array(2e7).fill(1.1).length;",
        )])
        .expect("set");
        assert!(worker.load("main.js", &mut set).result.is_ok());
        assert_eq!(limit(worker.call("null")), LimitKind::Heap, "{mb} MiB");
        // Raised once, by the documented margin, never more.
        let raised = worker.heap_stats().heap_limit_bytes;
        assert!(raised <= (mb << 20) + (256 << 20), "{mb} MiB: {raised}");
    }
    // Further isolates of the same process serve as before.
    assert_eq!(ok(run("export default () => 2 + 2;")), serde_json::json!(4));
    let push = "export default () => { const a = []; for (;;) a.push({ x: a.length }); };";
    assert_eq!(
        limit(run_with(
            limits_with(30_000, 16),
            &[("main.js", push)],
            "null"
        )),
        LimitKind::Heap
    );
}

#[test]
fn a_terminated_isolate_allocating_past_the_margin_ends_the_process_with_a_clear_report() {
    // What does not hold: V8 can only raise a heap limit or abort. A builtin that ignores
    // termination and keeps allocating past the one margin makes V8 abort the process; the
    // bridge names the isolate and the reason first.
    let child = run_child("heap-past-margin", &[]);
    assert!(!child.status.success() && !child.has("done"), "{child}");
    assert!(
        child.stderr.contains("stockade: V8 out of memory")
            && child
                .stderr
                .contains("kept allocating past its heap limit plus the termination margin"),
        "{child}"
    );
}

#[test]
fn under_the_out_of_memory_exit_the_process_ends_with_its_status_and_names_the_task() {
    let child = run_child("heap-past-margin-exit", &[]);
    assert_eq!(child.status.code(), Some(EXIT_OUT_OF_MEMORY), "{child}");
    assert!(!child.has("done"), "{child}");
    assert_eq!(
        child.reports.get("exit_tag").map(String::as_str),
        Some("77"),
        "{child}"
    );
}

#[test]
fn a_memory_limit_below_8_mib_is_refused_and_8_mib_is_what_v8_enforces() {
    for mb in [1, 2, 7] {
        match Worker::new(engine(), limits_with(100, mb)) {
            Err(RunError::InvalidInput(message)) => assert!(message.contains("8 MiB"), "{message}"),
            Err(other) => panic!("{mb} MiB: {other:?}"),
            Ok(_) => panic!("{mb} MiB: accepted"),
        }
    }
    assert_eq!(Limits::MIN_MEMORY_BYTES, 8 << 20);
    let worker = Worker::new(engine(), limits_with(100, 8)).expect("8 MiB");
    assert_eq!(worker.heap_stats().heap_limit_bytes, 8 << 20);
}

// ---- 3. Compilation ----

/// `a<{[a<{[...]:x}>1]:x}>1`: oxc's TypeScript parser tries the type arguments of each `<`,
/// fails at the outermost, and parses everything again as comparisons: 2^depth.
fn exponential_typescript(depth: usize) -> String {
    let mut e = String::from("1");
    for _ in 0..depth {
        e = format!("a<{{[{e}]:x}}>1");
    }
    format!("let a: any, x: any;\nexport default () => {e};\n")
}

#[test]
fn typescript_whose_parse_is_exponential_ends_in_a_limit() {
    let src = exponential_typescript(40);
    assert!(src.len() < 500, "{}", src.len());
    let inv = run_with(limits_with(5, 128), &[("main.ts", &src)], "null");
    match inv.result {
        Err(RunError::Limit(LimitKind::Cpu | LimitKind::Heap)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_string_enum_that_doubles_itself_is_a_compile_error() {
    let mut members = vec!["A = \"abcdefgh\"".to_string()];
    for i in 1..28 {
        let prev = if i == 1 {
            "A".to_string()
        } else {
            format!("M{}", i - 1)
        };
        members.push(format!("M{i} = {prev} + {prev}"));
    }
    let src = format!(
        "enum E {{ {} }}\nexport default () => E.M27.length;",
        members.join(", ")
    );
    assert!(src.len() < 530, "{}", src.len());
    let message = syntax_message(run_with(limits_with(50, 128), &[("main.ts", &src)], "null"));
    assert!(message.contains("would fold to more than"), "{message}");
}

#[test]
fn ten_thousand_nested_parentheses_are_a_compile_error_in_typescript_and_javascript() {
    let src = format!(
        "export default () => {}1{};",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let ts = syntax_message(run_with(limits(), &[("main.ts", &src)], "null"));
    assert!(ts.contains("nests deeper than"), "{ts}");
    let js = syntax_message(run_with(limits(), &[("main.js", &src)], "null"));
    assert!(js.contains("Maximum call stack size exceeded"), "{js}");
    // Nesting a parser handles is untouched.
    let fine = format!(
        "export default () => {}1{};",
        "(".repeat(500),
        ")".repeat(500)
    );
    assert_eq!(ok(run_with(limits(), &[("main.ts", &fine)], "null")), 1);
}

#[test]
fn compilation_is_charged_to_the_load_cpu_budget() {
    // 300 copies of a realistic module: tens of milliseconds to transform and compile, against a
    // 1 ms budget. Before, compilation ran before the watch started and the load succeeded.
    let unit = "export class Repo$<T extends { id: number }> { private items = new Map<number, T>(); \
                add(item: T): this { this.items.set(item.id, item); return this; } \
                find(p: (t: T) => boolean): T | undefined { for (const v of this.items.values()) if (p(v)) return v; return undefined; } }\n\
                export const f$ = (a: number, b: number): number => a * b + (a - b) / 2;\n";
    let ts: String = (0..300)
        .map(|i| unit.replace('$', &i.to_string()))
        .collect();
    assert_eq!(
        limit(run_with(limits_with(1, 128), &[("main.ts", &ts)], "null")),
        LimitKind::Cpu
    );
    let js: String = (0..3000)
        .map(|i| format!("export function f{i}(a, b) {{ const c = [a, b, {{ k: a * b }}]; return c.map((x) => x + {i}); }}\n"))
        .collect();
    assert_eq!(
        limit(run_with(limits_with(1, 128), &[("main.js", &js)], "null")),
        LimitKind::Cpu
    );
}

// ---- 4. import() of a module while it is being evaluated ----

#[test]
fn a_module_awaiting_its_own_import_never_settles_instead_of_crashing() {
    let own = run_with(
        limits(),
        &[(
            "main.js",
            "const m = await import('./main.js');\nexport default () => 1;",
        )],
        "null",
    );
    assert!(
        matches!(own.result, Err(RunError::NeverSettled)),
        "{:?}",
        own.result
    );
    let cycle = run_with(
        limits(),
        &[
            ("main.js", "import './b.js';\nexport default () => 1;"),
            ("b.js", "await import('./main.js');"),
        ],
        "null",
    );
    assert!(
        matches!(cycle.result, Err(RunError::NeverSettled)),
        "{:?}",
        cycle.result
    );
}

#[test]
fn an_import_of_a_module_being_evaluated_resolves_once_it_has_evaluated() {
    let own = "export let seen = 'pending';\nimport('./main.js').then((m) => { seen = typeof m.default; });\nexport default () => seen;";
    assert_eq!(ok(run(own)), "function");
    let cycle = run_with(
        limits(),
        &[
            ("main.js", "import { seen } from './b.js';\nexport default () => seen();"),
            (
                "b.js",
                "let state = 'pending';\nimport('./main.js').then((m) => { state = typeof m.default; });\nawait null;\nexport const seen = () => state;",
            ),
        ],
        "null",
    );
    assert_eq!(ok(cycle), "function");
}

// ---- 5. No shared memory ----

/// A module that defines memory 0 with the given limits flags (min 1, max 1) and exports it as
/// `m`; `size` is the memory section's size as encoded (padding allowed).
fn memory_module(flags: u8, size: &[u8]) -> String {
    let mut bytes = vec![0, 97, 115, 109, 1, 0, 0, 0, 5];
    bytes.extend_from_slice(size);
    bytes.extend_from_slice(&[1, flags, 1, 1, 7, 5, 1, 1, 109, 2, 0]);
    format!("new Uint8Array({bytes:?})")
}

#[test]
fn a_shared_webassembly_memory_cannot_be_constructed() {
    let src = "export default () => { Object.prototype.shared = true; const out = []; \
               for (const d of [{ initial: 1, maximum: 1, shared: true }, { initial: 1, maximum: 1 }]) { \
                 try { out.push(new WebAssembly.Memory(d).buffer.constructor.name); } catch (e) { out.push(e.name); } } \
               delete Object.prototype.shared; \
               class Sub extends WebAssembly.Memory {} \
               try { new Sub({ initial: 1, maximum: 1, shared: true }); out.push('made'); } catch (e) { out.push(e.name); } \
               const m = new Sub({ initial: 1 }); \
               out.push(m instanceof Sub && m instanceof WebAssembly.Memory, m.buffer.constructor.name); \
               out.push(WebAssembly.Memory.prototype.constructor === WebAssembly.Memory, \
                 Object.getPrototypeOf(new WebAssembly.Memory({ initial: 1 })).constructor === WebAssembly.Memory, \
                 WebAssembly.Memory.name, WebAssembly.Memory.length); \
               return out; };";
    assert_eq!(
        ok(run(src)),
        serde_json::json!([
            "TypeError",
            "TypeError",
            "TypeError",
            true,
            "ArrayBuffer",
            true,
            true,
            "Memory",
            1
        ])
    );
}

#[test]
fn a_module_defining_a_shared_memory_is_refused_by_every_compile_route() {
    for bytes in [memory_module(3, &[4]), memory_module(3, &[0x84, 0x00])] {
        let src = format!(
            "export default async () => {{ const b = {bytes}; const out = []; \
             try {{ new WebAssembly.Module(b); out.push('compiled'); }} catch (e) {{ out.push(e.name); }} \
             try {{ await WebAssembly.compile(b); out.push('compiled'); }} catch (e) {{ out.push(e.name); }} \
             try {{ await WebAssembly.instantiate(b); out.push('instantiated'); }} catch (e) {{ out.push(e.name); }} \
             try {{ await WebAssembly.instantiate(new DataView(b.buffer)); out.push('instantiated'); }} catch (e) {{ out.push(e.name); }} \
             out.push(WebAssembly.validate(b)); \
             return out; }};"
        );
        assert_eq!(
            ok(run(&src)),
            serde_json::json!([
                "CompileError",
                "CompileError",
                "CompileError",
                "CompileError",
                false
            ]),
            "{bytes}"
        );
    }
    // The control: the same module with an unshared memory compiles by every route.
    let plain = memory_module(1, &[4]);
    let src = format!(
        "export default async () => {{ const b = {plain}; \
         const a = new WebAssembly.Instance(new WebAssembly.Module(b)).exports.m.buffer.constructor.name; \
         const {{ instance }} = await WebAssembly.instantiate(b); \
         const c = await WebAssembly.instantiate(await WebAssembly.compile(b.buffer)); \
         return [a, instance.exports.m.buffer.byteLength, c.exports.m.buffer.byteLength, WebAssembly.validate(b)]; }};"
    );
    assert_eq!(
        ok(run(&src)),
        serde_json::json!(["ArrayBuffer", 65536, 65536, true])
    );
}

#[test]
fn tenant_code_running_inside_the_originals_cannot_reach_them() {
    // Imports memory e.m (min 1): the imports getter runs while V8's instantiate is on the stack.
    let src = "export default async () => { const found = []; \
               const grab = () => { const old = Error.prepareStackTrace; \
                 Error.prepareStackTrace = (e, cs) => cs.map((c) => c.getFunction()).filter((f) => f !== undefined && f !== null && f !== grab); \
                 found.push(...new Error().stack); Error.prepareStackTrace = old; }; \
               new WebAssembly.Memory({ initial: { valueOf() { grab(); return 1; } } }); \
               const mod = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 2, 8, 1, 1, 101, 1, 109, 2, 0, 1])); \
               const imports = { get e() { grab(); return { m: new WebAssembly.Memory({ initial: 1 }) }; } }; \
               await WebAssembly.instantiate(mod, imports); new WebAssembly.Instance(mod, imports); \
               let shared = 'made'; \
               try { new WebAssembly.Memory({ initial: 1, maximum: 1, shared: { valueOf() { grab(); return 1; } } }); } \
               catch (e) { shared = e.name; } \
               return [found.map((f) => f.name), shared]; };";
    assert_eq!(ok(run(src)), serde_json::json!([[], "TypeError"]));
}

#[test]
fn a_module_importing_a_shared_memory_cannot_be_linked() {
    // Imports memory e.m, shared, min 1, max 1: nothing can supply one.
    let src = "export default async () => { \
               const b = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 2, 9, 1, 1, 101, 1, 109, 2, 3, 1, 1]); \
               let made = 'shared memory'; let m; \
               try { m = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }); } \
               catch (e) { made = e.name; m = new WebAssembly.Memory({ initial: 1, maximum: 1 }); } \
               try { await WebAssembly.instantiate(b, { e: { m } }); return [made, 'linked']; } \
               catch (e) { return [made, e.name]; } };";
    assert_eq!(ok(run(src)), serde_json::json!(["TypeError", "LinkError"]));
}

// ---- 6. The clock across setTimeout(0) hops ----

#[test]
fn clocks_seen_across_timer_hops_are_whole_milliseconds() {
    let src = "export default async () => { const seen = []; \
               for (let i = 0; i < 20; i++) { \
                 let x = 0; for (let j = 0; j < 1e5; j++) x += j; \
                 await new Promise((r) => setTimeout(r, 0)); \
                 seen.push(performance.now(), Date.now()); } \
               return seen.every(Number.isInteger); };";
    assert_eq!(ok(run(src)), true);
}
