//! How the engine uses protection keys, on real isolates: the status it reports, how keys are
//! spread and the sharing probability it exports, that no V8 page is ever allocated outside an
//! isolate's scope, the tagged ArrayBuffer arena, the watchdog under keys, and keys after V8's
//! shared heap is renewed (with `--features mpk-attack`, the attack is tried after it too).
//!
//! These run on any machine: without PKU they check the honest "no keys" state (every isolate
//! unkeyed, sharing probability 1); in the QEMU VM (`mpk/tests/qemu/run-in-vm.sh`) they check
//! the keyed state. The attack itself is in `mpk_attack.rs`.

mod mpk_common;

use mpk_common::*;
use stockade_isolate::{LimitKind, MpkMode, MpkStatus, RunError, Worker};

#[test]
#[ignore = "child-process entry point, run by the other tests"]
fn child_entry_point() {
    let Some(name) = scenario() else { return };
    match name.as_str() {
        "spread" => spread(),
        "outside_scope" => outside_scope(),
        "watchdog" => watchdog(),
        "renewal" => renewal(),
        other => panic!("unknown scenario {other}"),
    }
    report("done", 1u8);
}

/// Child: creates more isolates than keys and reports what the engine says at each step.
fn spread() {
    let engine = engine();
    let stats = engine.mpk_stats();
    report("available", u8::from(stats.status.is_available()));
    report("keys", stats.keys);
    let mut workers = Vec::new();
    for i in 0..stats.keys + 2 {
        let w = Worker::new(engine, limits()).expect("isolate");
        report(&format!("key_{i}"), w.mpk_key().unwrap_or(0));
        workers.push(w);
        let s = engine.mpk_stats();
        // Probabilities are reported in millionths.
        report(
            &format!("p_{i}"),
            (s.sharing_probability * 1e6).round() as u64,
        );
        report(&format!("keyed_{i}"), s.keyed_isolates);
    }
    let off = Worker::with_mpk(engine, limits(), MpkMode::Off).expect("isolate");
    report("off_key", off.mpk_key().unwrap_or(0));
    let s = engine.mpk_stats();
    report("unkeyed_with_off", s.unkeyed_isolates);
    report("p_with_off", (s.sharing_probability * 1e6).round() as u64);
    drop(off);
    drop(workers);
    let s = engine.mpk_stats();
    report("keyed_after_drop", s.keyed_isolates + s.unkeyed_isolates);
}

#[test]
fn keys_are_distinct_while_they_last_and_sharing_is_exported() {
    let out = run_child("spread", &[]);
    out.assert_completed();
    let status = stockade_mpk::status();
    assert_eq!(out.num("available") == 1, status.is_available(), "{out}");
    let keys = out.num("keys") as usize;
    let n = keys + 2;
    let key = |i: usize| out.num(&format!("key_{i}"));
    let p = |i: usize| out.num(&format!("p_{i}")) as f64 / 1e6;
    if !status.is_available() {
        // Honest degradation: no keys at all, and any two isolates share key 0.
        assert_eq!(keys, 0, "{out}");
        assert!((0..n).all(|i| key(i) == 0), "{out}");
        assert_eq!(p(0), 0.0);
        assert!((1..n).all(|i| p(i) == 1.0), "{out}");
        only_unkeyed_state_checked("keys_are_distinct_while_they_last_and_sharing_is_exported");
        return;
    }
    assert!(keys >= 2, "a PKU machine gives at least two keys\n{out}");
    let first: std::collections::BTreeSet<u64> = (0..keys).map(key).collect();
    assert_eq!(
        first.len(),
        keys,
        "every key used once before any is shared\n{out}"
    );
    assert!(first.iter().all(|&k| (1..16).contains(&k)), "{out}");
    for i in 0..n {
        let expected = stockade_mpk::pair_sharing_probability(i as u64 + 1, keys as u64);
        assert!(
            (p(i) - expected).abs() < 1e-6,
            "p_{i} = {} vs {expected}\n{out}",
            p(i)
        );
        assert_eq!(out.num(&format!("keyed_{i}")), i as u64 + 1);
    }
    assert!(p(keys - 1) == 0.0 && p(keys) > 0.0, "{out}");
    // An unkeyed worker is separated from nobody: its n pairs count as shared.
    assert_eq!(out.num("off_key"), 0);
    assert_eq!(out.num("unkeyed_with_off"), 1);
    let (keyed, total) = (n as f64, n as f64 + 1.0);
    let same = {
        let (q, r) = ((n / keys) as f64, (n % keys) as f64);
        r * (q + 1.0) * q + (keys as f64 - r) * q * (q - 1.0)
    };
    let expected = (same + total * (total - 1.0) - keyed * (keyed - 1.0)) / (total * (total - 1.0));
    assert!(
        (out.num("p_with_off") as f64 / 1e6 - expected).abs() < 1e-6,
        "{out}"
    );
    assert_eq!(
        out.num("keyed_after_drop"),
        0,
        "keys are released on drop\n{out}"
    );
}

#[test]
fn engine_status_matches_the_hardware() {
    let status = engine().mpk_status();
    match stockade_mpk::status() {
        MpkStatus::Available => assert_eq!(status, MpkStatus::Available),
        probe => assert_eq!(
            status, probe,
            "the engine must not claim more than the probe"
        ),
    }
    let stats = engine().mpk_stats();
    assert_eq!(stats.keys > 0, status.is_available());
    assert!(!status.metric_label().is_empty());
    if !status.is_available() {
        only_unkeyed_state_checked("engine_status_matches_the_hardware");
        assert_eq!(engine().mpk_sharing_probability_for(2), 1.0);
    }
    assert_eq!(engine().mpk_sharing_probability_for(1), 0.0);
}

/// Child: a workload that makes V8 allocate, grow, collect, shrink and free heap pages in
/// several isolates, then the count of pages allocated with no owner.
fn outside_scope() {
    let engine = engine();
    let before = engine.pages_allocated_outside_isolates();
    let src = "export default (x) => { let keep = []; for (let r = 0; r < x.rounds; r++) { \
               for (let i = 0; i < 3000; i++) keep.push({ i, s: 'v' + i, a: new Array(32).fill(i) }); \
               if (keep.length > 12000) keep = []; } \
               const bufs = [new ArrayBuffer(0), new ArrayBuffer(100), new ArrayBuffer(1 << 20)]; \
               return keep.length + bufs.length; }";
    let mut workers: Vec<Worker> = (0..3)
        .map(|i| {
            let mode = if i == 2 {
                MpkMode::Off
            } else {
                MpkMode::Pooled
            };
            let mut w = Worker::with_mpk(engine, limits(), mode).expect("isolate");
            load(&mut w, src);
            w
        })
        .collect();
    for w in &mut workers {
        call(w, &serde_json::json!({ "rounds": 12 }));
        let _ = w.heap_stats();
    }
    drop(workers);
    let mut w = Worker::new(engine, limits()).expect("isolate");
    load(
        &mut w,
        "export default () => { const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 7, \
         1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0, 7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, \
         32, 0, 32, 1, 106, 11]); const m = new WebAssembly.Module(bytes); \
         return new WebAssembly.Instance(m).exports.add(2, 3) + [1, 2, 3].map((x) => x * 2)[2]; }",
    );
    assert_eq!(
        call(&mut w, &serde_json::json!(null)),
        serde_json::json!(11)
    );
    drop(w);
    report("before", before);
    report("after", engine.pages_allocated_outside_isolates());
}

/// The soundness argument of `protection.rs` made measurable: with `--single-threaded`, no
/// page is allocated on a thread that works for no isolate (such a page would carry no key).
#[test]
fn no_v8_page_is_allocated_outside_an_isolate_scope() {
    let out = run_child("outside_scope", &[]);
    out.assert_completed();
    assert_eq!(out.num("before"), 0, "{out}");
    assert_eq!(out.num("after"), 0, "{out}");
}

/// Child: a keyed isolate in an endless loop is stopped by the watchdog thread, which has no
/// tenant key open.
fn watchdog() {
    // Tight enough for a quick test, loose enough that loading the module never hits it: the
    // QEMU guest emulates the CPU, and on a busy host a 300 ms budget ran out during the load.
    let tight = stockade_isolate::Limits {
        cpu: std::time::Duration::from_millis(3000),
        ..limits()
    };
    let mut w = Worker::with_mpk(engine(), tight, MpkMode::Pooled).expect("isolate");
    load(&mut w, "export default () => { for (;;) {} };");
    let inv = w.call("null");
    report(
        "cpu_limit",
        u8::from(matches!(inv.result, Err(RunError::Limit(LimitKind::Cpu)))),
    );
    report("key", w.mpk_key().unwrap_or(0));
}

#[test]
fn the_watchdog_stops_a_keyed_isolate() {
    let out = run_child("watchdog", &[]);
    out.assert_completed();
    assert_eq!(out.num("cpu_limit"), 1, "{out}");
    assert_eq!(out.num("key") != 0, stockade_mpk::status().is_available());
}

/// The tenant module of the isolates made after a renewal: with `mpk-attack`, the attack tests'
/// own (`tenant.rs`), hooks installed; without, a module doing the same `churn`.
#[cfg(feature = "mpk-attack")]
fn renewal_tenant() -> Worker {
    mpk_common::tenant::tenant(MpkMode::Pooled)
}
#[cfg(not(feature = "mpk-attack"))]
fn renewal_tenant() -> Worker {
    worker(
        MpkMode::Pooled,
        "export default (x) => { let keep = []; for (let round = 0; round < x.rounds; round++) { \
         for (let i = 0; i < 4000; i++) keep.push({ i, s: 'v' + i, a: new Array(24).fill(i) }); \
         if (keep.length > x.keep) keep = []; } return keep.length; }",
    )
}

/// Child: keyed isolates made, used and dropped; V8's shared heap renewed (the anchor isolate
/// disposed and made again under the engine's scope); then two keyed isolates made on the new
/// heap, which run JavaScript; their keys and the mappings under each key; with `mpk-attack`,
/// the PKRU inside A's calls and A reading a canary in B's heap (the last step: it faults).
fn renewal() {
    install_segv_reporter();
    let engine = engine();
    let churn = serde_json::json!({ "op": "churn", "rounds": 3, "keep": 100_000 });
    let mut before: Vec<Worker> = (0..2).map(|_| renewal_tenant()).collect();
    for (i, w) in before.iter_mut().enumerate() {
        report(
            &format!("ran_before_{i}"),
            call(w, &churn).as_u64().unwrap_or(0),
        );
        report(&format!("key_before_{i}"), w.mpk_key().unwrap_or(0));
    }
    drop(before);
    let counters = engine.renewal_counters();
    report("live_before_renewal", engine.memory().live_isolates);
    let renewed = engine.renew_shared_heap(0).expect("the new anchor is made");
    report("renewed", u8::from(renewed));
    let after = engine.renewal_counters();
    report("renewals", after.renewals - counters.renewals);
    report("created_since_renewal", after.created_since_renewal);
    // No tenant isolate lives: a page under a key now would be the new anchor's or its heap's.
    let tagged = smaps().iter().filter(|v| v.pkey != 0).count();
    report("tagged_after_renewal", tagged);
    report("outside_scope", engine.pages_allocated_outside_isolates());

    let (mut a, mut b) = (renewal_tenant(), renewal_tenant());
    report("ran_a", call(&mut a, &churn).as_u64().unwrap_or(0));
    report("ran_b", call(&mut b, &churn).as_u64().unwrap_or(0));
    let (ka, kb) = (a.mpk_key().unwrap_or(0), b.mpk_key().unwrap_or(0));
    report("ka", ka);
    report("kb", kb);
    let vmas = smaps();
    let under = |key: u32| vmas.iter().filter(|v| v.pkey != 0 && v.pkey == key).count();
    report("mappings_under_ka", under(ka));
    report("mappings_under_kb", under(kb));
    let others = vmas
        .iter()
        .filter(|v| v.pkey != 0 && v.pkey != ka && v.pkey != kb);
    report("mappings_under_other_keys", others.count());
    #[cfg(feature = "mpk-attack")]
    {
        use mpk_common::tenant::{hex, parse_hex, plant_string};
        if let Some(pkru) = a.attack_pkru_in_call() {
            report("pkru_a", pkru);
        }
        let targets = plant_string(&mut b, &canary_from_env());
        report("addr", targets[0]);
        let read = serde_json::json!({ "op": "read", "addr": hex(targets[0]) });
        report("read_value", parse_hex(&call(&mut a, &read)));
    }
}

/// Renewing V8's shared heap (`Engine::renew_shared_heap`) makes the anchor isolate again under
/// the engine's scope: its pages carry no tenant key, and keyed isolates made after it get keys
/// of their own and, with `mpk-attack`, still cannot read each other.
#[test]
fn keyed_isolates_made_after_a_shared_heap_renewal_get_their_own_keys_and_stay_isolated() {
    let canary = fresh_canary();
    let out = run_child("renewal", &[("STOCKADE_MPK_CANARY", canary.clone())]);
    assert_eq!(out.num("live_before_renewal"), 0, "{out}");
    assert_eq!(out.num("renewed"), 1, "no isolate lives: renewed\n{out}");
    assert_eq!(out.num("renewals"), 1, "{out}");
    assert_eq!(out.num("created_since_renewal"), 0, "{out}");
    assert_eq!(
        out.num("tagged_after_renewal"),
        0,
        "the new anchor's pages carry no tenant key\n{out}"
    );
    assert_eq!(out.num("outside_scope"), 0, "{out}");
    for ran in ["ran_before_0", "ran_before_1", "ran_a", "ran_b"] {
        assert_eq!(out.num(ran), 12_000, "{ran}\n{out}");
    }
    assert_eq!(out.num("mappings_under_other_keys"), 0, "{out}");
    let attack = cfg!(feature = "mpk-attack");
    let (ka, kb) = (out.num("ka"), out.num("kb"));
    if !stockade_mpk::status().is_available() {
        let keys = ["key_before_0", "key_before_1", "ka", "kb"];
        assert!(keys.iter().all(|k| out.num(k) == 0), "{out}");
        out.assert_completed();
        if attack {
            // The control: without keys the read returns B's canary (so the test can fail).
            assert_eq!(out.num("read_value"), canary_word(&canary), "{out}");
        }
        only_unkeyed_state_checked(
            "keyed_isolates_made_after_a_shared_heap_renewal_get_their_own_keys_and_stay_isolated",
        );
        return;
    }
    let tenant_key = |k: u64| (1..16).contains(&k);
    let before = (out.num("key_before_0"), out.num("key_before_1"));
    assert!(
        tenant_key(before.0) && tenant_key(before.1) && before.0 != before.1,
        "{out}"
    );
    assert!(tenant_key(ka) && tenant_key(kb) && ka != kb, "{out}");
    assert!(
        out.num("mappings_under_ka") > 0,
        "A's pages carry its key\n{out}"
    );
    assert!(
        out.num("mappings_under_kb") > 0,
        "B's pages carry its key\n{out}"
    );
    if attack {
        let only_a = stockade_mpk::pkru::only_default_and(ka as u32);
        assert_eq!(out.num("pkru_a"), u64::from(only_a), "{out}");
        assert!(!out.has("read_value"), "A read B's memory\n{out}");
        out.assert_pkey_fault(out.num("addr"), kb);
    } else {
        out.assert_completed();
    }
}

fn run_js(src: &str) -> Result<serde_json::Value, RunError> {
    let mut w = Worker::new(engine(), limits()).expect("isolate");
    load(&mut w, src);
    w.call("null")
        .result
        .map(|json| serde_json::from_str(&json).expect("JSON"))
}

#[test]
fn arraybuffers_of_every_size_come_zeroed_from_the_arena() {
    let src = "export default () => { const out = []; \
        for (const n of [0, 1, 15, 16, 17, 2047, 2048, 2049, 4096, 65536, 3 << 20]) { \
          const a = new Uint8Array(n); let zero = a.every((b) => b === 0); a.fill(0xAB); \
          out.push([n, a.length, zero, n === 0 || a[n - 1] === 0xAB]); } \
        return out; }";
    let result = run_js(src).expect("runs");
    for row in result.as_array().expect("array") {
        let n = row[0].as_u64().expect("n");
        assert_eq!(row[1].as_u64(), Some(n), "{row}");
        assert_eq!(row[2], true, "fresh buffer of {n} bytes is zeroed");
        assert_eq!(row[3], true, "buffer of {n} bytes is writable to the end");
    }
}

#[test]
fn recycled_arena_blocks_are_zeroed_again() {
    // Many short-lived small buffers, filled with garbage: after GC their blocks are reused,
    // and every new buffer must still read as zero.
    let src = "export default () => { let dirty = 0; \
        for (let round = 0; round < 200; round++) { \
          const bufs = []; for (let i = 0; i < 200; i++) { const b = new Uint8Array(16 << (i % 8)); \
            if (b.some((x) => x !== 0)) dirty++; b.fill(0xCD); bufs.push(b); } } \
        return dirty; }";
    assert_eq!(run_js(src).expect("runs"), serde_json::json!(0));
}

#[test]
fn arraybuffers_past_the_budget_fail_as_range_errors() {
    let mut small = limits();
    small.memory_bytes = 32 << 20;
    let mut w = Worker::with_mpk(engine(), small, MpkMode::Pooled).expect("isolate");
    load(
        &mut w,
        "export default () => { try { new ArrayBuffer(64 << 20); return 'allocated'; } \
         catch (e) { return e instanceof RangeError ? 'range' : String(e); } }",
    );
    let inv = w.call("null");
    // Either the RangeError is seen by the code, or the worker reports the external limit.
    match inv.result {
        Ok(json) => assert_eq!(json, "\"range\""),
        Err(e) => assert!(
            matches!(e, RunError::Limit(LimitKind::ExternalMemory)),
            "{e:?}"
        ),
    }
}

#[test]
fn data_modules_live_in_the_arena() {
    let mut w = Worker::new(engine(), limits()).expect("isolate");
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let mut set = stockade_isolate::ModuleSet::new([
        stockade_isolate::Module::new(
            "main.js",
            b"import d from './d.bin'; export default () => { const a = new Uint8Array(d); \
              return [a.length, a[0], a[250], a[251], a[4999]]; }"
                .to_vec(),
        ),
        stockade_isolate::Module {
            name: "d.bin".into(),
            kind: stockade_isolate::ModuleKind::Data,
            bytes,
        },
    ])
    .expect("set");
    assert!(w.load("main.js", &mut set).result.is_ok());
    let got: serde_json::Value =
        serde_json::from_str(&w.call("null").result.expect("call")).expect("json");
    assert_eq!(got, serde_json::json!([5000, 0, 250, 0, 4999 % 251]));
    assert!(w.heap_stats().external_bytes >= 5000);
}
