//! Unit tests of the lanes: depths, closing, and the fair share of a lane among tenants.

use super::*;
use proptest::prelude::*;
use std::time::Duration;

const A: TenantId = TenantId(1);
const B: TenantId = TenantId(2);
const C: TenantId = TenantId(3);

#[test]
fn each_depth_has_places_of_its_own_and_closing_refuses_every_waiter() {
    let lanes = Lanes::new(2);
    let callers: Vec<_> = (0..2)
        .map(|_| lanes.of(0).try_acquire(A).expect("a place"))
        .collect();
    assert!(lanes.of(0).try_acquire(A).is_none(), "depth 0 is full");
    assert!(lanes.of(0).try_acquire(B).is_none(), "for everyone");
    let callee = lanes.of(1).try_acquire(A);
    assert!(callee.is_some(), "a call one deeper still finds a place");
    assert!(
        Arc::ptr_eq(&lanes.of(64), &lanes.of(1000)),
        "depths past the maximum share one"
    );
    drop(callers);
    lanes.close();
    assert!(lanes.of(0).try_acquire(A).is_none());
    assert!(lanes.of(1).try_acquire(A).is_none());
    assert!(
        lanes.of(5).try_acquire(A).is_none(),
        "a depth first asked for after the close is closed too"
    );
}

proptest! {
    /// Named invariants of the share rule, for any lane size, holdings and tenant count.
    #[test]
    fn the_share_rule_keeps_its_invariants(
        places in 1usize..2048,
        active in 1usize..64,
        held in 0usize..2048,
        free in 0usize..2048,
    ) {
        let free = free.min(places);
        // No place, no grant.
        prop_assert!(!may_take(places, 0, held, active));
        // Above the reserve, any tenant takes a free place (the lane is not left idle).
        if free > reserve(places) {
            prop_assert!(may_take(places, free, held, active));
        }
        // Below its share (with one more tenant come), a tenant takes any free place.
        if free > 0 && held < share(places, active + 1) {
            prop_assert!(may_take(places, free, held, active));
        }
        // At or over it, never one of the reserve: a newcomer always finds one (while the
        // reserve lasts).
        if held >= share(places, active + 1) && free <= reserve(places) {
            prop_assert!(!may_take(places, free, held, active));
        }
        // A tenant that holds nothing takes any free place.
        if free > 0 {
            prop_assert!(may_take(places, free, 0, active));
        }
        // The shares of as many tenants as there are places fit in the lane.
        if active <= places {
            prop_assert!(share(places, active) * active <= places);
        }
    }
}

#[tokio::test]
async fn a_tenant_filling_a_lane_leaves_places_for_a_neighbour() {
    let lane = Lanes::new(16).of(0);
    // A takes every place but the reserve (2 of 16), then waits.
    let mut a_places: Vec<Place> = (0..14)
        .map(|_| lane.try_acquire(A).expect("a place"))
        .collect();
    assert!(lane.try_acquire(A).is_none(), "the reserve is not A's");
    let a_waits = tokio::spawn({
        let lane = Arc::clone(&lane);
        async move { lane.acquire(A).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!a_waits.is_finished());
    // B, below its share, gets a place at once, and so does C.
    let b = tokio::time::timeout(Duration::from_secs(5), lane.acquire(B))
        .await
        .expect("B is not kept waiting")
        .expect("open");
    let c = lane.try_acquire(C).expect("C too");
    // Full now. A place A gives back goes to a waiting B (below its share) before A.
    let b_waits = tokio::spawn({
        let lane = Arc::clone(&lane);
        async move { lane.acquire(B).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(a_places.pop());
    let b2 = tokio::time::timeout(Duration::from_secs(5), b_waits)
        .await
        .expect("B's wait ends")
        .expect("task")
        .expect("open");
    assert!(!a_waits.is_finished(), "A is over its share");
    // Once the others are gone, A may take the lane again.
    drop((b, b2, c));
    let a = tokio::time::timeout(Duration::from_secs(5), a_waits)
        .await
        .expect("A's wait ends")
        .expect("task");
    assert!(a.is_ok());
}

#[tokio::test]
async fn a_wait_dropped_takes_no_place_and_a_closed_lane_ends_its_waits() {
    let lane = Lanes::new(1).of(0);
    let only = lane.try_acquire(A).expect("the only place");
    let gone = tokio::spawn({
        let lane = Arc::clone(&lane);
        async move { lane.acquire(B).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    gone.abort();
    let _ = gone.await;
    drop(only);
    assert!(
        lane.try_acquire(C).is_some(),
        "the place went to nobody gone"
    );
    let lanes = Lanes::new(1);
    let lane = lanes.of(0);
    let held = lane.try_acquire(A).expect("the only place");
    let waiting = tokio::spawn({
        let lane = Arc::clone(&lane);
        async move { lane.acquire(B).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    lanes.close();
    let ended = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the wait ends")
        .expect("task");
    assert!(matches!(ended, Err(Closed)));
    drop(held);
}
