//! The security property itself, on real pages and real faults: under a
//! guard for key `ka`, touching a page tagged with another key `kb` kills the
//! thread with SIGSEGV / SEGV_PKUERR naming `kb`; the same access under `kb`
//! (or with no guard) succeeds and returns the canary, so these tests can
//! fail. Each scenario runs in a fresh child process (see `common`).
#![cfg(stockade_mpk_enabled)]

mod common;

use common::*;
use stockade_mpk::{pkru, protect, KeyPool, PageProt, PkeyGuard, ProtectionKey};

/// Child side: pages A (key ka) and B (key kb, canary written while open).
struct Setup {
    pages: TwoPages,
    ka: ProtectionKey,
    kb: ProtectionKey,
}

fn setup() -> Setup {
    install_segv_reporter();
    let pool = KeyPool::allocate(2).expect("two keys");
    assert_eq!(pool.len(), 2, "need two keys");
    // Dropping the pool does not free the keys: they live as long as the process.
    let (ka, kb) = (pool.keys()[0], pool.keys()[1]);
    let pages = TwoPages::map();
    // SAFETY: both pages belong to `pages`, which outlives every access.
    unsafe {
        protect(pages.a().cast(), PAGE, PageProt::READ_WRITE, ka).expect("tag A");
        protect(pages.b().cast(), PAGE, PageProt::READ_WRITE, kb).expect("tag B");
        // pkey_alloc opened both keys in this thread, so these writes work.
        pages.a().write_volatile(0xA);
        pages.b().write_volatile(canary_from_env());
    }
    report("ka", ka.as_raw());
    report("kb", kb.as_raw());
    report("addr_b", pages.b() as u64);
    Setup { pages, ka, kb }
}

fn read_b(s: &Setup) -> u64 {
    // SAFETY: B is mapped read-write for the whole scenario; whether PKRU
    // lets the read through is what is being tested.
    unsafe { s.pages.b().read_volatile() }
}

fn child(scenario: &str) {
    let s = setup();
    match scenario {
        "read_other_key" => {
            let _g = PkeyGuard::enter(s.ka);
            // SAFETY: A is mapped and tagged ka, which the guard opens.
            report("read_a", unsafe { s.pages.a().read_volatile() });
            report("read_value", read_b(&s)); // must fault
        }
        "write_other_key" => {
            let _g = PkeyGuard::enter(s.ka);
            // SAFETY: B is mapped read-write; PKRU decides. Must fault.
            unsafe { s.pages.b().write_volatile(0xBAD) };
            report("wrote", 1u8);
        }
        "read_own_key" => {
            let g = PkeyGuard::enter(s.kb);
            report("pkru_inside", g.installed_pkru());
            report("read_value", read_b(&s));
        }
        "write_own_key" => {
            let _g = PkeyGuard::enter(s.kb);
            // SAFETY: B is mapped read-write and tagged kb, open here.
            unsafe { s.pages.b().write_volatile(!canary_from_env()) };
            report("read_value", read_b(&s));
        }
        "read_unguarded" => report("read_value", read_b(&s)),
        "nested_inner_dropped" => {
            let _outer = PkeyGuard::enter(s.ka);
            {
                let _inner = PkeyGuard::enter(s.kb);
                report("read_inner", read_b(&s));
            }
            report("read_value", read_b(&s)); // outer restored: must fault
        }
        "handler_pkru" => handler_pkru(&s),
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

fn run(scenario: &str) -> (ChildOutcome, u64) {
    let canary = fresh_canary();
    let out = run_child(scenario, &[("STOCKADE_MPK_CANARY", format!("{canary:#x}"))]);
    (out, canary)
}

#[test]
fn read_of_other_isolates_page_faults_with_pkuerr() {
    if !pkeys_present("read_of_other_isolates_page_faults_with_pkuerr") {
        return;
    }
    let (out, _) = run("read_other_key");
    assert_eq!(out.num("read_a"), 0xA, "own page readable\n{out}");
    assert_ne!(out.num("ka"), out.num("kb"));
    assert!(!out.has("read_value"), "read of B went through\n{out}");
    out.assert_pkey_fault(out.num("addr_b"), out.num("kb"));
}

#[test]
fn write_to_other_isolates_page_faults_with_pkuerr() {
    if !pkeys_present("write_to_other_isolates_page_faults_with_pkuerr") {
        return;
    }
    let (out, _) = run("write_other_key");
    assert!(!out.has("wrote"), "write to B went through\n{out}");
    out.assert_pkey_fault(out.num("addr_b"), out.num("kb"));
}

#[test]
fn control_read_under_own_key_returns_canary() {
    if !pkeys_present("control_read_under_own_key_returns_canary") {
        return;
    }
    let (out, canary) = run("read_own_key");
    out.assert_completed();
    assert_eq!(out.num("read_value"), canary, "{out}");
    let kb = out.num("kb") as u32;
    assert_eq!(
        out.num("pkru_inside"),
        u64::from(pkru::only_default_and(kb))
    );
}

#[test]
fn control_write_under_own_key_sticks() {
    if !pkeys_present("control_write_under_own_key_sticks") {
        return;
    }
    let (out, canary) = run("write_own_key");
    out.assert_completed();
    assert_eq!(out.num("read_value"), !canary, "{out}");
}

#[test]
fn control_read_without_guard_returns_canary() {
    if !pkeys_present("control_read_without_guard_returns_canary") {
        return;
    }
    let (out, canary) = run("read_unguarded");
    out.assert_completed();
    assert_eq!(out.num("read_value"), canary, "{out}");
}

#[test]
fn dropping_inner_guard_closes_its_key_again() {
    if !pkeys_present("dropping_inner_guard_closes_its_key_again") {
        return;
    }
    let (out, canary) = run("nested_inner_dropped");
    assert_eq!(out.num("read_inner"), canary, "inner guard opened B\n{out}");
    assert!(!out.has("read_value"), "outer guard not restored\n{out}");
    out.assert_pkey_fault(out.num("addr_b"), out.num("kb"));
}

/// Documented kernel behaviour: a signal handler starts with PKRU reset to
/// the default (key 0 only), whatever the interrupted thread had open, and
/// the thread's PKRU comes back on return.
fn handler_pkru(s: &Setup) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static IN_HANDLER: AtomicU32 = AtomicU32::new(u32::MAX);
    extern "C" fn on_usr1(_: i32) {
        // SAFETY: OSPKE is on (keys were allocated).
        IN_HANDLER.store(unsafe { pkru::read() }, Ordering::SeqCst);
    }
    // SAFETY: the handler only does an atomic store and RDPKRU.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let _open = PkeyGuard::enter_unrestricted().expect("MPK available");
    // SAFETY: OSPKE is on.
    let before = unsafe { pkru::read() };
    // SAFETY: raise is safe to call; the handler is installed.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
    // SAFETY: OSPKE is on.
    let after = unsafe { pkru::read() };
    report("pkru_thread", before);
    report("pkru_handler", IN_HANDLER.load(Ordering::SeqCst));
    report("pkru_after", after);
    let _ = s.ka;
}

#[test]
fn signal_handler_starts_with_only_key_zero_open() {
    if !pkeys_present("signal_handler_starts_with_only_key_zero_open") {
        return;
    }
    let (out, _) = run("handler_pkru");
    out.assert_completed();
    let (thread, handler, after) = (
        out.num("pkru_thread") as u32,
        out.num("pkru_handler") as u32,
        out.num("pkru_after") as u32,
    );
    let kb = out.num("kb") as u32;
    assert_eq!(thread, pkru::ALLOW_ALL, "{out}");
    assert!(pkru::allows_write(handler, 0), "handler: key 0 open\n{out}");
    assert!(!pkru::allows_read(handler, kb), "handler: kb closed\n{out}");
    assert_eq!(after, thread, "PKRU restored after the handler\n{out}");
}
