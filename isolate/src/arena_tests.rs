//! The size classes of an isolate's large ArrayBuffer stores (`ArenaAllocator::LargeSize`,
//! bridge/memory.h), property-tested against what the arena's reuse relies on.

use proptest::prelude::*;

use crate::ffi::stk_arena_large_size;

const PAGE: usize = 4096;
/// The largest block the arena keeps for reuse (ArenaAllocator::kMaxCached).
const MAX_CACHED: usize = 1 << 20;
/// Stores up to this size come from small blocks, never from LargeSize (kMaxSmall).
const MAX_SMALL: usize = 2048;

fn large_size(length: usize) -> usize {
    // SAFETY: a pure function of two integers; no state, any thread.
    unsafe { stk_arena_large_size(length, PAGE) }
}

fn whole_pages(length: usize) -> usize {
    length.div_ceil(PAGE) * PAGE
}

proptest! {
    /// Covers: a store fits its block, which is whole pages.
    #[test]
    fn a_block_holds_its_store_in_whole_pages(length in MAX_SMALL + 1..64 * MAX_CACHED) {
        let size = large_size(length);
        prop_assert!(size >= length);
        prop_assert_eq!(size % PAGE, 0);
    }

    /// Tight: at most a quarter more than the store's whole pages; exact past the largest block
    /// kept (a huge store wastes nothing) and up to four pages.
    #[test]
    fn a_block_is_at_most_a_quarter_larger_than_its_pages(length in MAX_SMALL + 1..64 * MAX_CACHED) {
        let (size, pages) = (large_size(length), whole_pages(length));
        prop_assert!(size * 4 <= pages * 5, "{} for {} bytes", size, length);
        if pages > MAX_CACHED || pages <= 4 * PAGE {
            prop_assert_eq!(size, pages);
        }
    }

    /// Ordered: a larger store never gets a smaller block, so a block serves every store of its
    /// class.
    #[test]
    fn classes_grow_with_the_store(a in MAX_SMALL + 1..2 * MAX_CACHED, b in MAX_SMALL + 1..2 * MAX_CACHED) {
        let (small, large) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(large_size(small) <= large_size(large));
    }

    /// Stable: a class's own size is its class (a recycled block serves a store of its size).
    #[test]
    fn a_class_maps_to_itself(length in MAX_SMALL + 1..2 * MAX_CACHED) {
        let size = large_size(length);
        prop_assert_eq!(large_size(size), size);
    }
}

/// Few: between two powers of two pages there are at most four classes, so stores of nearby
/// sizes (a stream's joined reads) share blocks.
#[test]
fn each_doubling_holds_at_most_four_classes() {
    let mut pages = 4;
    while pages * PAGE < MAX_CACHED {
        let mut classes: Vec<usize> = (pages * PAGE + 1..=2 * pages * PAGE)
            .step_by(PAGE / 2)
            .map(large_size)
            .collect();
        classes.dedup();
        assert!(classes.len() <= 4, "{pages} pages: {classes:?}");
        pages *= 2;
    }
}
