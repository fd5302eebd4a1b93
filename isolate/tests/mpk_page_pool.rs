//! The page allocator's pool of freed heap pages (bridge/memory.h): a page a disposed isolate
//! held reaches the next isolate zeroed, carrying the new isolate's key, and recorded as its
//! own.
//!
//! The attack is the one the pool could open: a tenant fills its heap with a secret and ends; the
//! next isolate, quite possibly another tenant's, is made from the pages it left. The test
//! proves the pages were reused (the new isolate's ranges overlap the old one's) and that the
//! secret is nowhere in the new isolate's memory, searched with its own key open, as an
//! arbitrary-read bug in V8 would search it. Runs keyed in the QEMU guest (and there the kernel's
//! view of each reused range is checked against the new isolate's key) and unkeyed on hosts
//! without PKU; the pool is the same code either way.

mod mpk_common;

use mpk_common::tenant::*;
use mpk_common::*;
use stockade_isolate::attack::OwnedRange;
use stockade_isolate::MpkMode;

/// Ranges of `now` that overlap a range of `before`.
fn overlaps(before: &[OwnedRange], now: &[OwnedRange]) -> Vec<OwnedRange> {
    now.iter()
        .filter(|n| before.iter().any(|b| b.start < n.end && n.start < b.end))
        .copied()
        .collect()
}

#[test]
fn a_disposed_isolates_pages_reach_the_next_isolate_zeroed_and_under_its_key() {
    let mode = if stockade_mpk::status().is_available() {
        MpkMode::Pooled
    } else {
        only_unkeyed_state_checked("mpk_page_pool");
        MpkMode::Off
    };
    let canary = fresh_canary();
    let mut reused = 0;
    for round in 0..3 {
        let mut a = tenant(mode);
        // Thousands of copies, spread over the heap's pages, kept alive until the isolate ends.
        let (half_a, half_b) = canary.split_at(8);
        let copies = call(
            &mut a,
            &serde_json::json!({ "op": "spread", "a": half_a, "b": half_b, "count": 4000 }),
        );
        assert_eq!(copies, serde_json::json!(4000));
        let planted = a.attack_find(canary.as_bytes());
        assert!(
            planted.len() >= 4000,
            "round {round}: {} copies",
            planted.len()
        );
        let before = a.attack_ranges();
        drop(a);

        let b = tenant(mode);
        let now = b.attack_ranges();
        let shared = overlaps(&before, &now);
        reused += shared.len();
        let found = b.attack_find(canary.as_bytes());
        assert!(
            found.is_empty(),
            "round {round}: the last isolate's secret is readable in the next one ({} copies, \
             the first at {:#x})",
            found.len(),
            found[0]
        );
        let vmas = smaps();
        for r in &shared {
            assert_eq!(
                r.owner,
                b.attack_owner(),
                "a reused range is the new isolate's"
            );
            assert_eq!(
                r.key,
                b.mpk_key(),
                "a reused range carries the new isolate's key"
            );
            assert_eq!(
                kernel_pkey_of(&vmas, r.start),
                Some(b.mpk_key().unwrap_or(0)),
                "the kernel agrees on the reused range's key"
            );
        }
    }
    assert!(
        reused > 0,
        "no page of a disposed isolate was reused: the pool was not exercised"
    );
}
