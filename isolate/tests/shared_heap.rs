//! Fresh isolates leave nothing behind in the bridge, and renewing V8's shared heap gives back
//! what V8 13.6 keeps there for every isolate created (issue 9), on real V8.
//!
//! One test function: the engine's counters are process-wide, and the tests of one binary run
//! on parallel threads.
mod common;
use common::*;
use stockade_isolate::{Engine, EngineMemory, Worker, RENEW_SHARED_HEAP_AFTER};

/// Resident KiB of this process's anonymous mappings (no file, not the brk heap or a stack).
fn anonymous_rss_kib() -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let mut anonymous = false;
    let mut total = 0;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields
            .first()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            anonymous = fields.len() == 5;
        } else if anonymous && fields.first() == Some(&"Rss:") {
            total += fields
                .get(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// The engine's counters, checking that the lock-free renewal counters agree with them (no
/// isolate is created or renewal made meanwhile: one test function per binary).
fn memory(engine: &Engine) -> EngineMemory {
    let counters = engine.renewal_counters();
    let memory = engine.memory();
    assert_eq!(
        (counters.created_since_renewal, counters.renewals),
        (memory.created_since_renewal, memory.renewals),
        "renewal_counters() agrees with memory()"
    );
    memory
}

fn fresh(n: usize) {
    for i in 0..n {
        if i % 100 == 0 {
            assert_eq!(ok(run("export default () => 1 + 1;")), serde_json::json!(2));
        } else {
            drop(Worker::new(engine(), limits()).expect("isolate"));
        }
    }
}

#[test]
fn fresh_isolates_leave_nothing_and_renewal_returns_the_shared_heap() {
    let engine = engine();
    fresh(10); // one-time allocations (code caches, pools) happen here
    let start: EngineMemory = memory(engine);
    assert_eq!(start.live_isolates, 0);

    // A held isolate, as a worker's spare or Loader isolate: the shared heap stays alive.
    let held = Worker::new(engine, limits()).expect("isolate");
    let with_held = memory(engine);
    assert_eq!(with_held.live_isolates, 1);
    fresh(6000);
    let after = memory(engine);
    assert_eq!(
        after.live_isolates, 1,
        "every isolate but the held one is gone"
    );
    assert_eq!(
        after.owned_ranges, with_held.owned_ranges,
        "the range registry forgets every range of a disposed isolate"
    );
    assert_eq!(
        after.created_since_renewal,
        with_held.created_since_renewal + 6000
    );
    assert!(
        !engine.renew_shared_heap(0).expect("anchor"),
        "no renewal while an isolate lives"
    );

    // V8 keeps about 450 bytes of table entries per isolate created in the shared heap (2.6 MiB
    // for 6000), until it is renewed.
    drop(held);
    let before = anonymous_rss_kib();
    assert!(
        !engine
            .renew_shared_heap(RENEW_SHARED_HEAP_AFTER.max(7000))
            .expect("anchor"),
        "no renewal before enough isolates were created"
    );
    assert!(engine.renew_shared_heap(0).expect("anchor"), "renewed");
    let returned = before.saturating_sub(anonymous_rss_kib());
    assert!(
        returned >= 1024,
        "renewal returned {returned} KiB of anonymous memory, expected about 2600"
    );
    let renewed = memory(engine);
    assert_eq!(renewed.renewals, start.renewals + 1);
    assert_eq!(renewed.created_since_renewal, 0);
    assert_eq!(renewed.live_isolates, 0);

    // Isolates work as before on the new shared heap, and are created under their own scope.
    assert_eq!(
        ok(run(
            "export default (a) => [a, typeof URL, new TextEncoder().encode('é').length];"
        )),
        serde_json::json!([null, "function", 2])
    );
    assert_eq!(memory(engine).created_since_renewal, 1);
    assert_eq!(engine.pages_allocated_outside_isolates(), 0);
}
