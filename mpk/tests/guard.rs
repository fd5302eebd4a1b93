//! `PkeyGuard` restores PKRU on every exit path: drop, early return, panic
//! unwinding, nesting. Each scenario checks the register value *and* makes a
//! real access to a page tagged with a key that the wrongly-left value would
//! close, so a broken restore kills the child (and fails the test) instead of
//! only mismatching a number. Runs in child processes (see `common`).
#![cfg(stockade_mpk_enabled)]

mod common;

use common::*;
use stockade_mpk::{pkru, protect, KeyPool, PageProt, PkeyGuard, ProtectionKey};

struct Setup {
    pages: TwoPages,
    ka: ProtectionKey,
    kb: ProtectionKey,
}

fn setup() -> Setup {
    install_segv_reporter();
    let pool = KeyPool::allocate(2).expect("two keys");
    let (ka, kb) = (pool.keys()[0], pool.keys()[1]);
    let pages = TwoPages::map();
    // SAFETY: both pages belong to `pages`, which outlives every access.
    unsafe {
        protect(pages.a().cast(), PAGE, PageProt::READ_WRITE, ka).expect("tag A");
        protect(pages.b().cast(), PAGE, PageProt::READ_WRITE, kb).expect("tag B");
        pages.a().write_volatile(0xA);
        pages.b().write_volatile(0xB);
    }
    Setup { pages, ka, kb }
}

impl Setup {
    /// Reads B (key kb); faults unless PKRU opens kb.
    fn touch_b(&self) -> u64 {
        // SAFETY: B is mapped read-write for the whole scenario.
        unsafe { self.pages.b().read_volatile() }
    }
    /// Reads A (key ka); faults unless PKRU opens ka.
    fn touch_a(&self) -> u64 {
        // SAFETY: A is mapped read-write for the whole scenario.
        unsafe { self.pages.a().read_volatile() }
    }
}

fn pkru_now() -> u32 {
    // SAFETY: keys were allocated, so OSPKE is on.
    unsafe { pkru::read() }
}

fn enter_then_return_early(key: ProtectionKey, fail: bool) -> Result<u32, &'static str> {
    let guard = PkeyGuard::enter(key);
    if fail {
        return Err("early");
    }
    Ok(guard.installed_pkru())
}

fn child(scenario: &str) {
    let s = setup();
    let before = pkru_now();
    assert!(
        pkru::allows_write(before, s.kb.as_raw()),
        "pkey_alloc opened kb"
    );
    match scenario {
        "drop" => {
            {
                let g = PkeyGuard::enter(s.ka);
                assert_eq!(pkru_now(), pkru::only_default_and(s.ka.as_raw()));
                assert_eq!(g.previous_pkru(), before);
                assert_eq!(s.touch_a(), 0xA);
            }
            assert_eq!(pkru_now(), before);
            assert_eq!(s.touch_b(), 0xB);
        }
        "early_return" => {
            assert_eq!(enter_then_return_early(s.ka, true), Err("early"));
            assert_eq!(pkru_now(), before);
            assert_eq!(s.touch_b(), 0xB);
        }
        "panic" => {
            let caught = std::panic::catch_unwind(|| {
                let _g = PkeyGuard::enter(s.ka);
                assert_eq!(pkru_now(), pkru::only_default_and(s.ka.as_raw()));
                panic!("isolate code panicked");
            });
            assert!(caught.is_err());
            assert_eq!(pkru_now(), before);
            assert_eq!(s.touch_b(), 0xB);
        }
        "nesting" => {
            let outer = PkeyGuard::enter(s.ka);
            {
                let inner = PkeyGuard::enter(s.kb);
                assert_eq!(inner.previous_pkru(), outer.installed_pkru());
                assert_eq!(s.touch_b(), 0xB);
            }
            assert_eq!(pkru_now(), outer.installed_pkru());
            assert_eq!(s.touch_a(), 0xA);
            {
                let _all = PkeyGuard::enter_unrestricted().expect("available");
                assert_eq!(pkru_now(), pkru::ALLOW_ALL);
                assert_eq!(s.touch_b(), 0xB);
            }
            assert_eq!(pkru_now(), outer.installed_pkru());
            drop(outer);
            assert_eq!(pkru_now(), before);
            assert_eq!(s.touch_b(), 0xB);
        }
        "spawn_inherits" => {
            report("kb", s.kb.as_raw());
            report("addr_b", s.pages.b() as u64);
            let _g = PkeyGuard::enter(s.ka);
            let b = s.pages.b() as usize;
            let seen = std::thread::spawn(move || {
                // SAFETY: B stays mapped until the scenario ends (joined).
                // The new thread inherits this thread's PKRU: must fault.
                unsafe { (b as *const u64).read_volatile() }
            })
            .join()
            .expect("reader thread");
            report("other_thread_read", seen);
        }
        other => panic!("unknown scenario {other}"),
    }
    report("done", 1u8);
}

#[test]
#[ignore = "child-process entry point, run by the other tests"]
fn child_entry_point() {
    if let Some(name) = scenario() {
        child(&name);
    }
}

fn check(test: &str, scenario: &str) {
    if !pkeys_present(test) {
        return;
    }
    run_child(scenario, &[]).assert_completed();
}

#[test]
fn guard_restores_pkru_on_drop() {
    check("guard_restores_pkru_on_drop", "drop");
}

#[test]
fn guard_restores_pkru_on_early_return() {
    check("guard_restores_pkru_on_early_return", "early_return");
}

#[test]
fn guard_restores_pkru_on_panic_unwind() {
    check("guard_restores_pkru_on_panic_unwind", "panic");
}

#[test]
fn nested_guards_restore_outer_value() {
    check("nested_guards_restore_outer_value", "nesting");
}

/// PKRU is inherited at thread creation: a thread spawned under a guard is
/// just as restricted (documented in the crate docs under "Threads").
#[test]
fn thread_spawned_under_guard_inherits_restriction() {
    if !pkeys_present("thread_spawned_under_guard_inherits_restriction") {
        return;
    }
    let out = run_child("spawn_inherits", &[]);
    assert!(!out.has("other_thread_read"), "{out}");
    out.assert_pkey_fault(out.num("addr_b"), out.num("kb"));
}
