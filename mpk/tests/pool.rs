//! The key pool against the real kernel allocator: never key 0, never a key
//! someone else holds, distinct keys while any are free, least-used sharing
//! when isolates outnumber keys, and exhaustion as documented. Each scenario
//! runs in a fresh child process so it sees the full set of keys.
#![cfg(stockade_mpk_enabled)]

mod common;

use common::*;
use std::collections::BTreeSet;
use stockade_mpk::{pair_sharing_probability, sys, KeyPool, MpkError, ProtectionKey};

fn child(scenario: &str) {
    match scenario {
        "exhaust" => exhaust(),
        "foreign_key" => foreign_key(),
        "release" => release(),
        other => panic!("unknown scenario {other}"),
    }
    report("done", 1u8);
}

/// Take every key, oversubscribe, and ask for more.
fn exhaust() {
    let mut pool = KeyPool::allocate(usize::MAX).expect("pool");
    let keys: Vec<u32> = pool.keys().iter().map(|k| k.as_raw()).collect();
    report("pool_keys", keys.len());
    let distinct: BTreeSet<u32> = keys.iter().copied().collect();
    assert_eq!(distinct.len(), keys.len(), "duplicate key in {keys:?}");
    assert!(keys.iter().all(|&k| (1..16).contains(&k)), "{keys:?}");

    // The pool really holds every key: the kernel has none left.
    let err = sys::pkey_alloc(0, 0).expect_err("kernel still had a free key");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    // A second pool gets the documented error.
    assert!(matches!(KeyPool::allocate(4), Err(MpkError::NoKeysFree)));

    // One isolate per key: all distinct, nobody shares.
    let n = pool.len();
    let first: Vec<ProtectionKey> = (0..n).map(|_| pool.assign()).collect();
    let first_set: BTreeSet<_> = first.iter().copied().collect();
    assert_eq!(first_set.len(), n, "a key was handed out twice while free");
    assert!(first.iter().all(|&k| !pool.is_shared(k)));
    assert_eq!(pool.current_sharing_probability(), 0.0);

    // More isolates than keys: reuse, least-used first, counts balanced.
    for extra in 1..=(2 * n) {
        let k = pool.assign();
        assert!(pool.is_shared(k));
        let counts: Vec<u32> = pool.keys().iter().map(|&k| pool.users(k)).collect();
        let (min, max) = (counts.iter().min(), counts.iter().max());
        assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{counts:?}");
        let expected = pair_sharing_probability((n + extra) as u64, n as u64);
        assert!((pool.current_sharing_probability() - expected).abs() < 1e-12);
    }
    report(
        "sharing_probability_3n_ppm",
        (pool.current_sharing_probability() * 1e6) as u64,
    );
}

/// A key taken by "someone else" (as V8 would) before the pool is never in it.
fn foreign_key() {
    let foreign = sys::pkey_alloc(0, 0).expect("foreign key");
    report("foreign", foreign);
    let pool = KeyPool::allocate(usize::MAX).expect("pool");
    assert!(pool.keys().iter().all(|k| k.as_raw() != foreign));
    report("pool_keys", pool.len());
}

/// Release returns a key to "free", and the next isolate gets it.
fn release() {
    let mut pool = KeyPool::allocate(3).expect("pool");
    assert_eq!(pool.len(), 3);
    let (a, b, c) = (pool.assign(), pool.assign(), pool.assign());
    assert!(a != b && b != c && a != c);
    assert!(pool.release(b));
    assert!(!pool.release(b), "double release must be refused");
    assert_eq!(pool.assign(), b, "the only free key must be chosen");
    // Returning the keys to the kernel makes them allocatable again.
    // SAFETY: no page was tagged with these keys and no guard is live.
    unsafe { pool.free_to_kernel() }.expect("free");
    let again = KeyPool::allocate(3).expect("pool after free");
    assert_eq!(again.len(), 3);
}

#[test]
#[ignore = "child-process entry point, run by the other tests"]
fn child_entry_point() {
    if let Some(name) = scenario() {
        child(&name);
    }
}

#[test]
fn exhausting_the_pool_shares_least_used_keys() {
    if !pkeys_present("exhausting_the_pool_shares_least_used_keys") {
        return;
    }
    let out = run_child("exhaust", &[]);
    out.assert_completed();
    let keys = out.num("pool_keys");
    // 16 keys in PKRU, key 0 is the default: at most 15 can be handed out.
    assert!((1..=15).contains(&keys), "{out}");
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("pool took {keys} keys from the kernel\n").as_bytes(),
    );
}

#[test]
fn pool_never_takes_a_key_held_elsewhere() {
    if !pkeys_present("pool_never_takes_a_key_held_elsewhere") {
        return;
    }
    run_child("foreign_key", &[]).assert_completed();
}

#[test]
fn released_key_is_reused_first() {
    if !pkeys_present("released_key_is_reused_first") {
        return;
    }
    run_child("release", &[]).assert_completed();
}
