//! Pages keep their isolate's key for their whole life, in the kernel's own view: after
//! collections, heap growth and shrinking, every mapping of an isolate's ranges carries its key
//! in `/proc/self/smaps`, every tagged mapping belongs to a live isolate with that key, and a
//! disposed isolate leaves no mapping under its key. PKRU inside calls, microtask checkpoints
//! and timer callbacks opens key 0 and the isolate's key only. Keys shared beyond the pool are
//! honestly not separated. Identical WebAssembly in two keyed isolates still runs.
//!
//! Runs where the CPU has PKU (the QEMU VM: `mpk/tests/qemu/run-in-vm.sh`); elsewhere each test
//! prints why it skips. Needs `--features mpk-attack` (debug builds only).

mod mpk_common;

#[test]
#[ignore = "child-process entry point, run by the other tests"]
fn child_entry_point() {
    if let Some(name) = mpk_common::scenario() {
        tagging::child(&name);
    }
}

mod tagging {
    use std::collections::BTreeSet;

    use super::mpk_common::tenant::*;
    use super::mpk_common::*;
    use stockade_isolate::attack::attack_range_of;
    use stockade_isolate::{MpkMode, Worker};

    pub fn child(name: &str) {
        install_segv_reporter();
        match name {
            "gc" => gc(),
            "kernel_agrees" => kernel_agrees(),
            "pkru" => pkru_in_calls(),
            "shared" => shared_keys(),
            "wasm" => wasm(),
            other => panic!("unknown scenario {other}"),
        }
        report("done", 1u8);
    }

    /// Compares the bridge's registry with the kernel's `smaps`, both ways (see the module doc).
    /// Returns (mappings of live isolates checked, tagged mappings checked).
    fn assert_kernel_agrees(workers: &[&Worker]) -> (usize, usize) {
        let vmas = smaps();
        let mut owned = 0;
        for w in workers {
            let key = w.mpk_key().unwrap_or(0);
            for r in w.attack_ranges() {
                for v in vmas.iter().filter(|v| v.start < r.end && r.start < v.end) {
                    assert_eq!(
                        v.pkey, key,
                        "mapping {:x}-{:x} of an isolate with key {key} is under key {}",
                        v.start, v.end, v.pkey
                    );
                    owned += 1;
                }
            }
        }
        let owners: BTreeSet<u64> = workers.iter().map(|w| w.attack_owner()).collect();
        let mut tagged = 0;
        for v in vmas.iter().filter(|v| v.pkey != 0) {
            let mut at = v.start;
            while at < v.end {
                let r = attack_range_of(at).unwrap_or_else(|| {
                    panic!("{at:#x} is under key {} but no isolate owns it", v.pkey)
                });
                assert_eq!(r.key, Some(v.pkey), "{at:#x}: registry and kernel disagree");
                assert!(
                    owners.contains(&r.owner),
                    "{at:#x}: owner {} is not live",
                    r.owner
                );
                at = r.end;
            }
            tagged += 1;
        }
        (owned, tagged)
    }

    /// Every copy of `canary` in `w` is in a range the registry gives `w`'s key, and the kernel
    /// agrees. Returns the copies.
    fn assert_canary_tagged(w: &Worker, canary: &str) -> Vec<u64> {
        let copies = w.attack_find(canary.as_bytes());
        assert!(!copies.is_empty(), "canary not found");
        let vmas = smaps();
        for &addr in &copies {
            let r = attack_range_of(addr).expect("canary in a registered range");
            assert_eq!((r.owner, r.key), (w.attack_owner(), w.mpk_key()));
            assert_eq!(kernel_pkey_of(&vmas, addr), Some(w.mpk_key().unwrap_or(0)));
        }
        copies
    }

    fn churn(w: &mut Worker, rounds: u32, keep: u32) {
        call(
            w,
            &serde_json::json!({ "op": "churn", "rounds": rounds, "keep": keep }),
        );
    }

    /// Child: B's heap grows, is collected and shrinks; canaries planted before and after stay
    /// under B's key; then A reads the last one (and must die).
    fn gc() {
        let canary = canary_from_env();
        let second = std::env::var("STOCKADE_MPK_CANARY2").expect("second canary");
        let (mut a, mut b) = (tenant(MpkMode::Pooled), tenant(MpkMode::Pooled));
        report("ka", a.mpk_key().unwrap_or(0));
        report("kb", b.mpk_key().unwrap_or(0));
        plant_string(&mut b, &canary);
        let initial = b.heap_stats().total_heap_bytes;
        // Grows: ~20 MiB of large objects kept, and young-generation churn (scavenges move
        // the canary).
        call(
            &mut b,
            &serde_json::json!({ "op": "grow", "count": 20, "len": 1 << 17 }),
        );
        churn(&mut b, 20, 40_000);
        let grown = b.heap_stats().total_heap_bytes;
        assert_canary_tagged(&b, &canary);
        assert_kernel_agrees(&[&a, &b]);
        // Shrinks: the large objects dropped and collected, their pages unmapped.
        call(
            &mut b,
            &serde_json::json!({ "op": "release", "rounds": 120, "len": 1 << 17 }),
        );
        let shrunk = b.heap_stats().total_heap_bytes;
        plant_string(&mut b, &second);
        churn(&mut b, 5, 4_000);
        let copies = assert_canary_tagged(&b, &second);
        let (owned, tagged) = assert_kernel_agrees(&[&a, &b]);
        report("heap_initial", initial);
        report("heap_grown", grown);
        report("heap_shrunk", shrunk);
        report("owned_mappings", owned);
        report("tagged_mappings", tagged);
        let addr = copies[copies.len() - 1];
        report("addr", addr);
        let value = call(
            &mut a,
            &serde_json::json!({ "op": "read", "addr": hex(addr) }),
        );
        report("read_value", parse_hex(&value));
    }

    #[test]
    fn pages_keep_their_key_through_gc_growth_and_shrinking() {
        if !pkeys_present("pages_keep_their_key_through_gc_growth_and_shrinking") {
            return;
        }
        let env = [
            ("STOCKADE_MPK_CANARY", fresh_canary()),
            (
                "STOCKADE_MPK_CANARY2",
                fresh_canary().chars().rev().collect(),
            ),
        ];
        let out = run_child("gc", &env);
        assert!(
            out.num("heap_grown") > out.num("heap_initial"),
            "heap did not grow\n{out}"
        );
        assert!(
            out.num("heap_shrunk") < out.num("heap_grown"),
            "heap did not shrink\n{out}"
        );
        assert!(
            out.num("owned_mappings") > 0 && out.num("tagged_mappings") > 0,
            "{out}"
        );
        assert!(!out.has("read_value"), "A read B's memory after GC\n{out}");
        out.assert_pkey_fault(out.num("addr"), out.num("kb"));
    }

    /// Child: three tenants (two keyed, one without key) with heaps and buffers of all sizes;
    /// registry and kernel must agree; B's disposal must leave nothing under B's key.
    fn kernel_agrees() {
        let canary = canary_from_env();
        let mut ws = [
            tenant(MpkMode::Pooled),
            tenant(MpkMode::Pooled),
            tenant(MpkMode::Off),
        ];
        for w in &mut ws {
            churn(w, 10, 20_000);
            plant_buffer(w, &canary, 100, 3);
            call(
                w,
                &serde_json::json!({ "op": "buffer", "a": "", "b": "", "size": 3 << 20, "offset": 0 }),
            );
        }
        let (owned, tagged) = assert_kernel_agrees(&[&ws[0], &ws[1], &ws[2]]);
        report("owned_mappings", owned);
        report("tagged_mappings", tagged);
        let [a, b, c] = ws;
        let kb = b.mpk_key().expect("keyed");
        drop(b);
        let left = smaps().iter().filter(|v| v.pkey == kb).count();
        report("left_under_kb", left);
        assert_kernel_agrees(&[&a, &c]);
    }

    #[test]
    fn registry_and_kernel_agree_and_disposal_leaves_no_tagged_page() {
        if !pkeys_present("registry_and_kernel_agree_and_disposal_leaves_no_tagged_page") {
            return;
        }
        let out = run_child("kernel_agrees", &[("STOCKADE_MPK_CANARY", fresh_canary())]);
        out.assert_completed();
        assert!(
            out.num("owned_mappings") > 0 && out.num("tagged_mappings") > 0,
            "{out}"
        );
        assert_eq!(out.num("left_under_kb"), 0, "{out}");
    }

    /// Child: PKRU as seen by the isolate's own code in a call, a microtask and a timer, and
    /// the thread's PKRU around the call.
    fn pkru_in_calls() {
        let mut a = tenant(MpkMode::Pooled);
        report("ka", a.mpk_key().unwrap_or(0));
        // SAFETY: a key exists, so OSPKE is on.
        let before = unsafe { stockade_mpk::pkru::read() };
        let seen = call(&mut a, &serde_json::json!({ "op": "pkru" }));
        // SAFETY: as above.
        let after = unsafe { stockade_mpk::pkru::read() };
        for (i, v) in seen.as_array().expect("array").iter().enumerate() {
            report(&format!("pkru_{i}"), v.as_u64().expect("pkru value"));
        }
        report("pkru_before", before);
        report("pkru_after", after);
    }

    #[test]
    fn calls_microtasks_and_timers_run_with_only_key_zero_and_their_key() {
        if !pkeys_present("calls_microtasks_and_timers_run_with_only_key_zero_and_their_key") {
            return;
        }
        let out = run_child("pkru", &[]);
        out.assert_completed();
        let ka = out.num("ka") as u32;
        let expected = u64::from(stockade_mpk::pkru::only_default_and(ka));
        for i in 0..3 {
            assert_eq!(out.num(&format!("pkru_{i}")), expected, "place {i}\n{out}");
        }
        assert_eq!(out.num("pkru_before"), out.num("pkru_after"), "{out}");
        // Outside calls, this thread (never a pkey_alloc caller) has no tenant key open.
        assert!(!stockade_mpk::pkru::allows_read(
            out.num("pkru_before") as u32,
            ka
        ));
    }

    /// Child: one isolate more than keys. The extra one shares a key with a neighbour, which can
    /// read it (not separated, as documented), while a different-key isolate still cannot.
    fn shared_keys() {
        let canary = canary_from_env();
        let engine = engine();
        let keys = engine.mpk_stats().keys;
        let mut ws: Vec<Worker> = (0..keys).map(|_| tenant(MpkMode::Pooled)).collect();
        let mut extra = tenant(MpkMode::Pooled);
        let stats = engine.mpk_stats();
        report("keys", keys);
        report(
            "p_millionths",
            (stats.sharing_probability * 1e6).round() as u64,
        );
        let ke = extra.mpk_key().expect("keyed");
        let twin = ws
            .iter()
            .position(|w| w.mpk_key() == Some(ke))
            .expect("a same-key neighbour");
        let other = (twin + 1) % ws.len();
        report("kx", ke);
        report("ko", ws[other].mpk_key().unwrap_or(0));
        let twin_copies = plant_string(&mut ws[twin], &canary);
        let value = call(
            &mut extra,
            &serde_json::json!({ "op": "read", "addr": hex(twin_copies[0]) }),
        );
        report("twin_read", parse_hex(&value));
        let other_copies = plant_string(&mut ws[other], &canary);
        report("addr", other_copies[0]);
        let value = call(
            &mut extra,
            &serde_json::json!({ "op": "read", "addr": hex(other_copies[0]) }),
        );
        report("read_value", parse_hex(&value));
    }

    #[test]
    fn beyond_the_pool_same_key_neighbours_are_not_separated_but_others_are() {
        if !pkeys_present("beyond_the_pool_same_key_neighbours_are_not_separated_but_others_are") {
            return;
        }
        let canary = fresh_canary();
        let out = run_child("shared", &[("STOCKADE_MPK_CANARY", canary.clone())]);
        let keys = out.num("keys");
        let expected = stockade_mpk::pair_sharing_probability(keys + 1, keys);
        assert!(
            (out.num("p_millionths") as f64 / 1e6 - expected).abs() < 1e-6,
            "{out}"
        );
        assert_eq!(out.num("twin_read"), canary_word(&canary), "{out}");
        assert!(!out.has("read_value"), "{out}");
        out.assert_pkey_fault(out.num("addr"), out.num("ko"));
    }

    /// Child: byte-identical WebAssembly compiled in two isolates with different keys (V8 shares
    /// the compiled module between them, so its code space cannot carry either key) runs in
    /// both, also after the first is gone; the only mappings writable and executable at once are
    /// that shared code space, under key 0 and owned by no isolate.
    fn wasm() {
        let (mut a, mut b) = (tenant(MpkMode::Pooled), tenant(MpkMode::Pooled));
        report("ka", a.mpk_key().unwrap_or(0));
        report("kb", b.mpk_key().unwrap_or(0));
        let arg = serde_json::json!({ "op": "wasm", "calls": 200_000 });
        let ra = call(&mut a, &arg);
        let rb = call(&mut b, &arg);
        drop(a);
        let rb2 = call(&mut b, &arg);
        report("same", u8::from(ra == rb && rb == rb2));
        // V8 13.6 maps JIT code (JavaScript and WebAssembly) read-write-execute (see SECURITY.md):
        // every such mapping must be the shared code space, under key 0, owned by no isolate.
        let rwx: Vec<Vma> = smaps().into_iter().filter(|v| v.rwx).collect();
        report("rwx_mappings", rwx.len());
        let foreign = rwx
            .iter()
            .filter(|v| {
                v.pkey != 0 || attack_range_of(v.start).is_none_or(|r| r.owner != SHARED_CODE_OWNER)
            })
            .count();
        report("rwx_not_shared_code", foreign);
    }

    /// The registry's owner id of code space V8 shares between isolates (memory.h).
    const SHARED_CODE_OWNER: u64 = u64::MAX;

    #[test]
    fn identical_webassembly_runs_in_two_keyed_isolates() {
        if !pkeys_present("identical_webassembly_runs_in_two_keyed_isolates") {
            return;
        }
        let out = run_child("wasm", &[]);
        out.assert_completed();
        assert_ne!(out.num("ka"), out.num("kb"), "{out}");
        assert_eq!(out.num("same"), 1, "{out}");
        assert!(out.num("rwx_mappings") > 0, "{out}");
        assert_eq!(out.num("rwx_not_shared_code"), 0, "{out}");
    }
}
