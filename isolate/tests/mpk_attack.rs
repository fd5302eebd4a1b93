//! The attack, for real: tenant A's JavaScript gets an arbitrary read/write primitive (the
//! test-only `__attack` hooks, as a V8 memory-corruption bug would give it) and aims it at a
//! canary in tenant B's heap or ArrayBuffer memory. With protection keys, A dies with SIGSEGV,
//! `si_code == SEGV_PKUERR`, `si_pkey == B's key`, `si_addr == the canary`; with MPK off, the
//! very same read returns B's canary and the write changes B's string, which shows that the
//! tests can fail and that only the keys stop the attack.
//!
//! Also: pages keep their key through GC, heap growth and shrinking (the kernel's own view,
//! `/proc/self/smaps`, against the bridge's registry, both ways); PKRU inside calls, microtasks
//! and timers opens exactly key 0 and the isolate's key; keys shared beyond the pool are
//! honestly not separated.
//!
//! Needs `--features mpk-attack` (refused without debug assertions). Each scenario runs in a
//! child process (`mpk_common`); the fault tests run where the CPU has PKU (the QEMU VM) and
//! print why they skip elsewhere; the MPK-off controls run everywhere.

mod mpk_common;

#[test]
#[ignore = "child-process entry point, run by the other tests"]
fn child_entry_point() {
    if let Some(name) = mpk_common::scenario() {
        attack::child(&name);
    }
}

mod attack {
    use super::mpk_common::tenant::*;
    use super::mpk_common::*;
    use stockade_isolate::MpkMode;

    pub fn child(name: &str) {
        install_segv_reporter();
        let mode = if name.ends_with("_off") {
            MpkMode::Off
        } else {
            MpkMode::Pooled
        };
        let canary = canary_from_env();
        let (mut a, mut b) = (tenant(mode), tenant(mode));
        report("ka", a.mpk_key().unwrap_or(0));
        report("kb", b.mpk_key().unwrap_or(0));
        let targets = match name.trim_end_matches("_off") {
            "read" | "write" => plant_string(&mut b, &canary),
            "read_small_buffer" => plant_buffer(&mut b, &canary, 256, 40),
            "read_large_buffer" => plant_buffer(&mut b, &canary, 1 << 20, 300_000),
            "read_own" => plant_string(&mut a, &canary),
            other => panic!("unknown scenario {other}"),
        };
        report("copies", targets.len());
        report("addr", targets[0]);
        if name.starts_with("write") {
            // Every copy, so that the live string is hit whatever a GC moved.
            for &addr in &targets {
                call(
                    &mut a,
                    &serde_json::json!({ "op": "write", "addr": hex(addr), "value": hex(AAAA) }),
                );
            }
            report("wrote", 1u8);
            let seen = call(&mut b, &serde_json::json!({ "op": "peek" }));
            report("peek_is_aaaa", u8::from(seen == "AAAAAAAA"));
        } else {
            let value = call(
                &mut a,
                &serde_json::json!({ "op": "read", "addr": hex(targets[0]) }),
            );
            report("read_value", parse_hex(&value));
        }
        report("done", 1u8);
    }

    /// 8 bytes of 'A'.
    const AAAA: u64 = 0x4141_4141_4141_4141;

    fn run(scenario: &str) -> (ChildOutcome, String) {
        let canary = fresh_canary();
        let out = run_child(scenario, &[("STOCKADE_MPK_CANARY", canary.clone())]);
        (out, canary)
    }

    fn assert_killed_reading_b(out: &ChildOutcome) {
        assert_ne!(
            out.num("ka"),
            out.num("kb"),
            "tenants need different keys\n{out}"
        );
        assert!(!out.has("read_value"), "A read B's memory\n{out}");
        out.assert_pkey_fault(out.num("addr"), out.num("kb"));
    }

    #[test]
    fn reading_another_tenants_heap_dies_with_pkuerr() {
        if !pkeys_present("reading_another_tenants_heap_dies_with_pkuerr") {
            return;
        }
        let (out, _) = run("read");
        assert_killed_reading_b(&out);
    }

    #[test]
    fn writing_another_tenants_heap_dies_with_pkuerr() {
        if !pkeys_present("writing_another_tenants_heap_dies_with_pkuerr") {
            return;
        }
        let (out, _) = run("write");
        assert!(!out.has("wrote"), "A wrote B's memory\n{out}");
        out.assert_pkey_fault(out.num("addr"), out.num("kb"));
    }

    #[test]
    fn reading_another_tenants_arraybuffers_dies_with_pkuerr() {
        if !pkeys_present("reading_another_tenants_arraybuffers_dies_with_pkuerr") {
            return;
        }
        for scenario in ["read_small_buffer", "read_large_buffer"] {
            let (out, _) = run(scenario);
            assert_killed_reading_b(&out);
        }
    }

    #[test]
    fn reading_its_own_heap_works_under_its_key() {
        if !pkeys_present("reading_its_own_heap_works_under_its_key") {
            return;
        }
        let (out, canary) = run("read_own");
        out.assert_completed();
        assert_ne!(out.num("ka"), 0, "{out}");
        assert_eq!(out.num("read_value"), canary_word(&canary), "{out}");
    }

    /// The control: the same attack with MPK off succeeds. Runs on every machine.
    #[test]
    fn control_without_keys_the_read_returns_the_canary() {
        let (out, canary) = run("read_off");
        out.assert_completed();
        assert_eq!((out.num("ka"), out.num("kb")), (0, 0), "{out}");
        assert_eq!(out.num("read_value"), canary_word(&canary), "{out}");
    }

    #[test]
    fn control_without_keys_the_write_changes_the_other_tenants_string() {
        let (out, _) = run("write_off");
        out.assert_completed();
        assert_eq!(out.num("peek_is_aaaa"), 1, "{out}");
    }

    #[test]
    fn control_without_keys_arraybuffers_are_readable_too() {
        for scenario in ["read_small_buffer_off", "read_large_buffer_off"] {
            let (out, canary) = run(scenario);
            out.assert_completed();
            assert_eq!(out.num("read_value"), canary_word(&canary), "{out}");
        }
    }
}
