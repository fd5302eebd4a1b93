//! Releasing the page allocator's pool of freed heap pages (`Engine::release_page_pool`, what a
//! worker process does once it has been idle a while): the pages disposed isolates left are
//! unmapped, so the process's private memory drops by about that much, the pool is empty after,
//! and isolates made afterwards work. The pool is process-wide, so this test binary holds this one
//! test only.
mod common;
use common::*;

/// This process's private dirty memory (`/proc/self/smaps_rollup`), in bytes.
fn private_dirty() -> u64 {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").expect("smaps_rollup");
    let kib: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Private_Dirty:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a Private_Dirty line");
    kib * 1024
}

#[test]
fn releasing_the_pool_unmaps_what_disposed_isolates_left_and_isolates_still_work() {
    // Isolates that fill some heap pages, then go: their pages wait in the pool.
    for i in 0..4 {
        let got = ok(run(&format!(
            "export default () => {{ const a = []; for (let i = 0; i < 20000; i++) a.push({{ i, s: 'x' + i }}); return a.length + {i}; }}"
        )));
        assert_eq!(got, 20000 + i);
    }
    let before = private_dirty();
    let released = engine().release_page_pool();
    let after = private_dirty();
    assert!(
        released >= 1 << 20,
        "the disposed isolates left {released} bytes in the pool, not at least 1 MiB"
    );
    // The released pages were resident (a pooled page keeps its contents until it is taken), so
    // the process's private memory drops by most of them.
    assert!(
        before.saturating_sub(after) >= released / 2,
        "released {released} bytes, but private memory went {before} -> {after}"
    );
    assert_eq!(engine().release_page_pool(), 0, "the pool is empty after");
    // The next isolate maps fresh pages and works as before; its pages go to the pool again.
    assert_eq!(
        ok(run("export default () => [1, 2, 3].map((x) => x * 2)")),
        serde_json::json!([2, 4, 6])
    );
    assert!(
        engine().release_page_pool() > 0,
        "a disposed isolate pools its pages again"
    );
}
