//! Spread before stack, through the public API: a shared tier grows to its
//! minimum of processes before any process takes a second tenant, then
//! places least-loaded, then fills; it keeps its minimum when tenants leave;
//! one tenant stays in one process; a zero minimum is refused. The
//! property tests check the placements-only shape (named invariants in the
//! crate doc) for random configurations and tenants.

mod strategies;

use proptest::prelude::*;
use stockade_cordon::{
    Cordon, CordonConfig, CordonError, Millis, ProcessId, RiskTier, TenantId, TenantProfile,
    TierCapacity, TierMinProcesses,
};
use strategies::{config, minimum, profile};

/// Normal trust, a year old, unverified: 30 points, `Standard`.
fn ordinary() -> TenantProfile {
    TenantProfile {
        account_age_days: 365,
        ..TenantProfile::default()
    }
}

/// `Standard` processes of capacity `capacity`, spread over `min` processes.
fn cordon(capacity: u32, min: u32) -> Cordon {
    Cordon::new(CordonConfig {
        capacity: TierCapacity {
            standard: capacity,
            ..TierCapacity::default()
        },
        min_processes: TierMinProcesses {
            standard: min,
            ..TierMinProcesses::default()
        },
        ..CordonConfig::default()
    })
    .expect("valid config")
}

fn register(c: &mut Cordon, tenants: std::ops::Range<u64>) {
    for t in tenants {
        assert_eq!(c.set_profile(TenantId(t), ordinary(), Millis(0)), None);
    }
}

fn place(c: &mut Cordon, t: u64) -> (u64, bool) {
    let p = c.place(TenantId(t), Millis(0)).expect("registered");
    assert_eq!(p.tier, RiskTier::Standard);
    (p.process.0, p.new_process)
}

fn loads(c: &Cordon) -> Vec<u32> {
    c.processes()
        .filter(|p| p.tier() == RiskTier::Standard)
        .map(|p| p.load())
        .collect()
}

#[test]
fn a_tier_spreads_over_its_minimum_then_balances_then_fills() {
    let mut c = cordon(4, 3);
    register(&mut c, 0..14);
    // Spread: one tenant per process until the tier has 3.
    let spread: Vec<_> = (0..3).map(|t| place(&mut c, t)).collect();
    assert_eq!(spread, [(0, true), (1, true), (2, true)]);
    // Balance: least-loaded, lowest id on ties, no new process.
    let balanced: Vec<_> = (3..12).map(|t| place(&mut c, t)).collect();
    assert_eq!(
        balanced,
        [0, 1, 2, 0, 1, 2, 0, 1, 2].map(|p| (p, false)),
        "round robin over the minimum"
    );
    assert_eq!(loads(&c), [4, 4, 4]);
    // Fill: beyond the minimum, a process opens only when all are full.
    assert_eq!(place(&mut c, 12), (3, true));
    assert_eq!(place(&mut c, 13), (3, false));
    assert_eq!(
        loads(&c),
        [4, 4, 4, 2],
        "balance holds only up to the minimum"
    );
}

#[test]
fn repeated_requests_of_one_tenant_stay_in_its_one_process() {
    let mut c = cordon(4, 8);
    register(&mut c, 0..2);
    let first = place(&mut c, 0);
    for _ in 0..10 {
        let again = c.place(TenantId(0), Millis(0)).expect("registered");
        assert_eq!((again.process.0, again.new_isolate), (first.0, false));
    }
    assert_eq!(
        loads(&c),
        [1],
        "one tenant, one process, whatever the minimum"
    );
    assert_eq!(place(&mut c, 1), (1, true), "the next tenant spreads");
}

#[test]
fn a_tier_keeps_its_minimum_when_tenants_leave_and_reuses_it_when_they_return() {
    let mut c = cordon(4, 2);
    register(&mut c, 0..4);
    assert_eq!(place(&mut c, 0), (0, true));
    assert_eq!(place(&mut c, 1), (1, true));
    for (t, p) in [(0, 0), (1, 1)] {
        let released = c.release(TenantId(t), ProcessId(p)).expect("hosted there");
        assert!(!released.process_retired, "at the minimum: {p} is kept");
    }
    assert_eq!(loads(&c), [0, 0]);
    assert_eq!(c.metrics().standard.empty_processes, 2);
    // Returning tenants take the kept processes, in id order: none is opened.
    assert_eq!(place(&mut c, 2), (0, false));
    assert_eq!(place(&mut c, 3), (1, false));
    assert_eq!(place(&mut c, 0), (0, false));
    // Above the minimum, one idle spare at most: the third process, emptied
    // while another is empty, is retired.
    let mut c = cordon(1, 2);
    register(&mut c, 0..3);
    let opened: Vec<_> = (0..3).map(|t| place(&mut c, t)).collect();
    assert_eq!(opened, [(0, true), (1, true), (2, true)], "capacity 1");
    let retired: Vec<bool> = [(0, 0), (1, 1), (2, 2)]
        .into_iter()
        .map(|(t, p)| {
            c.release(TenantId(t), ProcessId(p))
                .expect("hosted there")
                .process_retired
        })
        .collect();
    // 3 processes: 0 empties (no other empty: kept); 1 empties (another
    // empty, 3 > 2: retired); 2 empties (another empty, 2 = minimum: kept).
    assert_eq!(retired, [false, true, false]);
    assert_eq!(loads(&c), [0, 0]);
}

#[test]
fn a_crash_below_the_minimum_grows_the_tier_back_before_stacking() {
    let mut c = cordon(4, 2);
    register(&mut c, 0..5);
    for t in 0..4 {
        place(&mut c, t);
    }
    assert_eq!(loads(&c), [2, 2]);
    let out = c
        .worker_crashed(ProcessId(1), None, false, Millis(0))
        .expect("live");
    assert_eq!(out.evicted, [TenantId(1), TenantId(3)]);
    assert_eq!(loads(&c), [2]);
    // One process left of a minimum of 2, and it is not empty: open one.
    assert_eq!(place(&mut c, 4), (2, true));
    assert_eq!(place(&mut c, 1), (2, false), "then least-loaded");
}

#[test]
fn a_zero_minimum_is_refused() {
    for tier in [RiskTier::Trusted, RiskTier::Standard, RiskTier::Untrusted] {
        let mut min_processes = TierMinProcesses::default();
        match tier {
            RiskTier::Trusted => min_processes.trusted = 0,
            RiskTier::Standard => min_processes.standard = 0,
            _ => min_processes.untrusted = 0,
        }
        assert_eq!(
            Cordon::new(CordonConfig {
                min_processes,
                ..CordonConfig::default()
            }),
            Err(CordonError::ZeroMinProcesses(tier))
        );
    }
    assert_eq!(
        TierMinProcesses::default().for_tier(RiskTier::Quarantine),
        1
    );
}

/// Checks the placements-only shape of every shared tier (see the crate
/// doc): spread below the minimum, balanced up to it, fill beyond it.
fn check_placements_only_shape(c: &Cordon) -> Result<(), TestCaseError> {
    for tier in [RiskTier::Trusted, RiskTier::Standard, RiskTier::Untrusted] {
        let procs: Vec<_> = c.processes().filter(|p| p.tier() == tier).collect();
        let (n, min) = (procs.len(), minimum(c, tier));
        let loads: Vec<u32> = procs.iter().map(|p| p.load()).collect();
        if n < min {
            prop_assert!(
                loads.iter().all(|&l| l == 1),
                "spread-before-stack: {tier:?} has {n} < {min} processes, loads {loads:?}"
            );
        }
        if n <= min {
            let spread = loads.iter().max().unwrap_or(&0) - loads.iter().min().unwrap_or(&0);
            prop_assert!(
                spread <= 1,
                "balanced-within-minimum: {tier:?} has {n} <= {min} processes, loads {loads:?}"
            );
        } else if let Some((newest, older)) = procs.split_last() {
            for p in older {
                prop_assert_eq!(
                    p.load(),
                    p.capacity(),
                    "fill-before-spill-beyond-minimum: {} of {:?} not full, {} > {} processes, newest {}",
                    p.id(),
                    tier,
                    n,
                    min,
                    newest.id()
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// With only placements (no releases, crashes, drains or tier changes),
    /// each shared tier spreads one isolate per process up to its minimum,
    /// stays balanced within 1 while it has at most its minimum, and beyond
    /// it fills every process but the newest.
    #[test]
    fn spread_then_balance_then_fill_without_releases(
        config in config(),
        profiles in proptest::collection::vec(profile(), 1..120),
        requests in proptest::collection::vec(any::<usize>(), 1..400),
    ) {
        let mut c = Cordon::new(config).expect("non-zero capacities and minimums");
        for (i, p) in profiles.iter().enumerate() {
            c.set_profile(TenantId(i as u64), *p, Millis(0));
        }
        for r in requests {
            let placed = c.place(TenantId((r % profiles.len()) as u64), Millis(0)).expect("registered");
            prop_assert!(placed.drain.is_none(), "no-tier-change-without-events");
            check_placements_only_shape(&c)?;
        }
    }

    /// One tenant, however often it asks and whatever the minimum, has one
    /// active process: spreading is over tenants, never over one tenant's
    /// requests.
    #[test]
    fn a_single_tenant_keeps_one_process_per_tier(
        config in config(),
        profile in profile(),
        requests in 1usize..50,
    ) {
        let mut c = Cordon::new(config).expect("non-zero capacities and minimums");
        c.set_profile(TenantId(0), profile, Millis(0));
        let first = c.place(TenantId(0), Millis(0)).expect("registered");
        for _ in 1..requests {
            let again = c.place(TenantId(0), Millis(0)).expect("registered");
            prop_assert_eq!(again.process, first.process, "one-active-process-per-tenant");
            prop_assert!(!again.new_process && !again.new_isolate, "sticky-placement");
        }
        prop_assert_eq!(c.processes().count(), 1, "one-active-process-per-tenant: processes");
    }
}
