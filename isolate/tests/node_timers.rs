//! `node:timers` and `node:timers/promises` (isolate/js/node-timers.js) inside real V8 isolates:
//! imported by `node:` and bare specifiers with `nodejs_compat`, refused without it, Timeout
//! objects, the promise forms with their values, and aborts rejecting with Node's AbortError
//! (`code: "ABORT_ERR"`), on the host's real timers.
mod common;
use common::*;
use stockade_isolate::{Compat, Invocation, LoadOptions, Module, ModuleSet, RunError, Worker};

fn node() -> LoadOptions {
    LoadOptions {
        compat: Compat::parse("2025-06-01", &["nodejs_compat".to_string()]).expect("valid compat"),
        env: serde_json::json!({}),
    }
}

fn run_opts(opts: &LoadOptions, src: &str) -> Invocation {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src.as_bytes())]).expect("module set");
    let loaded = worker.load_with("main.js", &mut set, opts);
    if loaded.result.is_err() {
        return loaded;
    }
    worker.call("null")
}

#[test]
fn node_timers_modules_are_importable_with_nodejs_compat_only() {
    let v = ok(run_opts(
        &node(),
        "import timers, { setTimeout as st, promises } from 'node:timers';
         import * as tp from 'node:timers/promises';
         import bare from 'timers/promises';
         export default () => [Object.keys(tp).sort(), bare === tp.default, promises === tp.default,
           typeof timers.setInterval, st === timers.setTimeout];",
    ));
    assert_eq!(
        v,
        serde_json::json!([
            [
                "default",
                "scheduler",
                "setImmediate",
                "setInterval",
                "setTimeout"
            ],
            true,
            true,
            "function",
            true
        ])
    );
    match err(run_opts(
        &LoadOptions::default(),
        "import { setTimeout } from 'node:timers/promises'; export default () => 1;",
    )) {
        RunError::BuiltinUnavailable { reason, .. } => {
            assert!(reason.contains("nodejs_compat"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn timeout_objects_fire_and_clear_on_the_hosts_timers() {
    let v = ok(run_opts(
        &node(),
        "import { setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate } from 'node:timers';
         export default async () => {
           const seen = [];
           const t = setTimeout((a) => seen.push('timeout:' + a), 5, 'arg');
           const gone = setTimeout(() => seen.push('cleared'), 1);
           clearTimeout(gone);
           const viaGlobal = setTimeout(() => seen.push('cleared by the global'), 1);
           globalThis.clearTimeout(viaGlobal);
           let n = 0;
           const i = setInterval(() => { if (++n === 2) { clearInterval(i); seen.push('interval x2'); } }, 1);
           setImmediate((x) => seen.push('immediate:' + x), 'now');
           clearImmediate(setImmediate(() => seen.push('cleared immediate')));
           await new Promise((r) => globalThis.setTimeout(r, 30));
           return [typeof t, Number(t) > 0, t.hasRef(), t.unref().hasRef(), seen.sort()];
         };",
    ));
    assert_eq!(
        v,
        serde_json::json!([
            "object",
            true,
            true,
            false,
            ["immediate:now", "interval x2", "timeout:arg"]
        ])
    );
}

#[test]
fn timers_promises_resolve_and_abort_with_nodes_abort_error() {
    let v = ok(run_opts(
        &node(),
        "import { setTimeout, setImmediate, setInterval, scheduler } from 'node:timers/promises';
         const outcome = (p) => p.then((v) => ['ok', v], (e) => ['err', e.name, e.code, e.message, e.cause, e instanceof Error]);
         export default async () => {
           const values = [await setTimeout(2, 'later'), await setImmediate('soon'), (await scheduler.wait(1)) ?? null];
           const ac = new AbortController();
           const pending = outcome(setTimeout(10_000, 'never', { signal: ac.signal }));
           ac.abort('why');
           const already = await outcome(setImmediate('x', { signal: ac.signal }));
           const badSignal = await outcome(setTimeout(1, 'x', { signal: 'nope' }));
           const ticks = [];
           const ac2 = new AbortController();
           const stopped = await outcome((async () => {
             for await (const v of setInterval(1, 'tick', { signal: ac2.signal })) {
               ticks.push(v);
               if (ticks.length === 3) ac2.abort();
             }
           })());
           return [values, await pending, already, badSignal.slice(0, 3), ticks, stopped.slice(0, 3)];
         };",
    ));
    assert_eq!(
        v,
        serde_json::json!([
            ["later", "soon", null],
            [
                "err",
                "AbortError",
                "ABORT_ERR",
                "The operation was aborted",
                "why",
                true
            ],
            [
                "err",
                "AbortError",
                "ABORT_ERR",
                "The operation was aborted",
                "why",
                true
            ],
            ["err", "TypeError", "ERR_INVALID_ARG_TYPE"],
            ["tick", "tick", "tick"],
            ["err", "AbortError", "ABORT_ERR"]
        ])
    );
}

#[test]
fn an_aborted_timer_promise_does_not_keep_the_request_waiting() {
    // The 60 s timer is disarmed by the abort: the invocation ends at once, far below its wall
    // limit, instead of waiting for it.
    let started = std::time::Instant::now();
    let v = ok(run_opts(
        &node(),
        "import { setTimeout } from 'node:timers/promises';
         export default async () => {
           const ac = new AbortController();
           const p = setTimeout(60_000, 'x', { signal: ac.signal }).catch((e) => e.code);
           ac.abort();
           return await p;
         };",
    ));
    assert_eq!(v, serde_json::json!("ABORT_ERR"));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
