//! An isolate's ArrayBuffer arena keeps freed large stores for its next ones
//! (`bridge/memory.h`, ArenaAllocator): a recycled block comes back zeroed, the blocks kept stay
//! with their isolate and within its budget beside its live stores, the runtime gives a host
//! call's payload and answer back at once (so a stream of host calls reuses a few blocks), and an
//! idle process's release unmaps them. Real V8, real host calls answered by the test.

mod common;

use std::time::{Duration, Instant};

use common::{engine, limits};
use stockade_isolate::{Answer, Limits, Module, ModuleSet, TaskEvent, TaskId, Worker};

const MIB: usize = 1 << 20;

fn loaded(limits: Limits, src: &str) -> Worker {
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    worker.load("main.js", &mut set).result.expect("loads");
    worker
}

/// Runs `task` to its answer, answering each host call it makes with `reply(name, payload)`.
fn answer_of(
    worker: &mut Worker,
    task: TaskId,
    mut reply: impl FnMut(&str, &[u8]) -> Vec<u8>,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        for event in worker.drain_events() {
            if let TaskEvent::Answered(a) = event {
                assert_eq!(a.task, task);
                return match a.result {
                    Ok(Answer::Json(text)) => serde_json::from_str(&text).expect("JSON"),
                    other => panic!("expected JSON, got {other:?}; logs {:?}", a.logs),
                };
            }
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no answer");
        let calls = worker.take_host_calls();
        if calls.is_empty() {
            let wake = worker.next_wake().expect("the task waits on something");
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
            worker.advance(Instant::now());
        }
        for call in calls {
            let answer = reply(&call.name, &call.payload);
            worker.host_reply(call.call, Ok(answer));
        }
    }
}

/// A binding call's answer frame: u32 LE head length, the JSON head, the bytes.
fn frame(head: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = (head.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(bytes);
    out
}

#[test]
fn freed_large_stores_are_reused_and_come_back_zeroed() {
    // Each store is dirtied and freed at once (transfer(0) detaches it), so the next one of its
    // size takes its block: every new one must still read as zero, to its last byte.
    let src = "export default () => { let dirty = 0; \
        const sizes = [2049, 4096, 65536, 65636, 200000, 1 << 20]; \
        for (let round = 0; round < 20; round++) for (const n of sizes) { \
          const a = new Uint8Array(n); \
          for (let i = 0; i < n; i++) if (a[i] !== 0) { dirty++; break; } \
          a.fill(0xCD); a.buffer.transfer(0); } \
        return dirty; }";
    let mut worker = loaded(limits(), src);
    let before = worker.heap_stats().arena_maps;
    let task = worker.start_call("null");
    let dirty = answer_of(&mut worker, task, |name, _| panic!("no host call: {name}"));
    assert_eq!(
        dirty,
        serde_json::json!(0),
        "a recycled block came back dirty"
    );
    // 120 stores of six sizes: one mapping per size, the rest reused (without reuse: 120).
    let maps = worker.heap_stats().arena_maps - before;
    assert!(maps <= 6, "{maps} mappings for 120 stores of six sizes");
}

#[test]
fn kept_blocks_stay_with_their_isolate() {
    // A's freed stores wait in A's arena: B, on the same thread, maps its own for the same sizes
    // and never takes A's (which would carry A's protection key and A's last bytes).
    let src = "export default () => { const a = []; for (let i = 0; i < 4; i++) a.push(new Uint8Array(1 << 20).fill(0xAB)); \
        for (const x of a) x.buffer.transfer(0); return 'freed'; }";
    let mut a = loaded(limits(), src);
    let mut b = loaded(limits(), src);
    let task = a.start_call("null");
    assert_eq!(answer_of(&mut a, task, |n, _| panic!("{n}")), "freed");
    assert_eq!(a.heap_stats().arena_cached_bytes, 4 * MIB);
    let before = b.heap_stats().arena_maps;
    let task = b.start_call("null");
    assert_eq!(answer_of(&mut b, task, |n, _| panic!("{n}")), "freed");
    assert_eq!(b.heap_stats().arena_maps - before, 4, "B mapped its own");
    assert_eq!(
        a.heap_stats().arena_cached_bytes,
        4 * MIB,
        "A's are still A's"
    );
}

#[test]
fn kept_blocks_make_room_for_live_stores_within_the_budget() {
    let budget = 32 * MIB;
    let src = "export default (step) => { \
        if (step === 'free') { const a = []; for (let i = 0; i < 8; i++) a.push(new Uint8Array(1 << 20)); \
          for (const x of a) x.buffer.transfer(0); return 'freed'; } \
        globalThis.big = new Uint8Array(28 << 20); globalThis.big[0] = 1; return 'held'; }";
    let mut worker = loaded(
        Limits {
            memory_bytes: budget,
            ..limits()
        },
        src,
    );
    let task = worker.start_call("\"free\"");
    assert_eq!(answer_of(&mut worker, task, |n, _| panic!("{n}")), "freed");
    let kept = worker.heap_stats().arena_cached_bytes;
    assert_eq!(kept, 8 * MIB, "eight freed 1 MiB stores are kept");
    // 28 MiB live leave 4 MiB of the budget: the kept blocks shrink to fit (the store is granted).
    let task = worker.start_call("\"hold\"");
    assert_eq!(answer_of(&mut worker, task, |n, _| panic!("{n}")), "held");
    let stats = worker.heap_stats();
    assert!(stats.external_bytes >= 28 * MIB, "{stats:?}");
    assert!(
        stats.external_bytes + stats.arena_cached_bytes <= budget,
        "live and kept stores pass the budget: {stats:?}"
    );
    assert!(
        stats.arena_cached_bytes > 0,
        "what fits is still kept: {stats:?}"
    );
}

#[test]
fn a_host_calls_payload_and_answer_go_back_to_the_arena_at_once() {
    // KV puts and gets of 64 KiB: each put's payload (head and value) and each get's answer are the
    // runtime's own buffers, freed as soon as the host has them or they are read. The value got
    // is the tenant's and is freed here by the tenant itself.
    let src = "import { WorkerEntrypoint } from 'cloudflare:workers'; \
        export default class extends WorkerEntrypoint { async run(n) { const env = this.env; \
        const value = new Uint8Array(65536).fill(7); let sum = 0; \
        for (let i = 0; i < n; i++) { \
          await env.KV.put('k' + i, value); \
          const got = await env.KV.get('k' + i, 'arrayBuffer'); \
          sum += new Uint8Array(got)[65535]; got.transfer(0); } \
        return sum; } }";
    let mut worker = loaded(limits(), src);
    let env = serde_json::json!({ "KV": { "binding": "kv", "namespace": "n" } });
    let before = worker.heap_stats().arena_maps;
    let task = worker.start_rpc("", "run", "[100]", &env);
    let value = vec![7u8; 65536];
    let mut puts = 0;
    let answer = answer_of(&mut worker, task, |name, payload| match name {
        "kv.put" => {
            assert!(payload.ends_with(&value), "the value crosses whole");
            puts += 1;
            frame("{}", &[])
        }
        "kv.get" => frame(r#"{"found":true}"#, &value),
        other => panic!("unexpected host call {other}"),
    });
    assert_eq!(answer, serde_json::json!({ "ok": 700 }));
    assert_eq!(puts, 100);
    // 200 host calls carrying 64 KiB each way: a few blocks in all (left to the collector, about
    // two mappings a call).
    let maps = worker.heap_stats().arena_maps - before;
    assert!(maps <= 8, "{maps} mappings for 200 host calls of 64 KiB");
}

#[test]
fn an_idle_process_release_unmaps_the_kept_blocks() {
    let src = "export default () => { const a = []; for (let i = 0; i < 4; i++) a.push(new Uint8Array(1 << 20)); \
        for (const x of a) x.buffer.transfer(0); return 'freed'; }";
    let mut worker = loaded(limits(), src);
    let task = worker.start_call("null");
    assert_eq!(answer_of(&mut worker, task, |n, _| panic!("{n}")), "freed");
    assert_eq!(worker.heap_stats().arena_cached_bytes, 4 * MIB);
    let released = engine().release_page_pool();
    assert!(released >= 4 * MIB as u64, "released {released} bytes");
    assert_eq!(worker.heap_stats().arena_cached_bytes, 0);
    // The isolate maps anew afterwards, and works.
    let before = worker.heap_stats().arena_maps;
    let task = worker.start_call("null");
    assert_eq!(answer_of(&mut worker, task, |n, _| panic!("{n}")), "freed");
    assert_eq!(worker.heap_stats().arena_maps - before, 4);
}
