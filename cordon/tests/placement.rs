//! Placement scenarios end to end through the public API: spill, quarantine,
//! crashes, re-cordoning, decay, retirement and refused operations.

use stockade_cordon::{
    Cordon, CordonConfig, CordonError, Drain, HistoryEvent, Millis, Override, ProcessId, RiskTier,
    Signal, TenantId, TenantProfile, TierCapacity, TierMinProcesses, TrustLevel, V8Profile,
};

const HOUR: u64 = Millis::HOUR;
const DAY: u64 = Millis::DAY;

/// Normal trust, a year old, unverified: 30 points, `Standard`.
fn ordinary() -> TenantProfile {
    TenantProfile {
        account_age_days: 365,
        ..TenantProfile::default()
    }
}

fn cordon(standard: u32) -> Cordon {
    let capacity = TierCapacity {
        trusted: 8,
        standard,
        untrusted: 4,
    };
    Cordon::new(CordonConfig {
        capacity,
        ..CordonConfig::default()
    })
    .expect("valid config")
}

fn register(c: &mut Cordon, tenants: std::ops::Range<u64>, profile: TenantProfile) {
    for t in tenants {
        assert_eq!(c.set_profile(TenantId(t), profile, Millis(0)), None);
    }
}

fn loads(c: &Cordon, tier: RiskTier) -> Vec<u32> {
    c.processes()
        .filter(|p| p.tier() == tier)
        .map(|p| p.load())
        .collect()
}

/// Why the "busiest ≤ 2 × idlest" bound is not an invariant of this policy:
/// it breaks at the first spill, with no release involved.
#[test]
fn spill_fills_before_opening_so_the_two_to_one_ratio_breaks_at_first_spill() {
    let mut c = cordon(8);
    register(&mut c, 0..9, ordinary());
    for t in 0..8 {
        let p = c.place(TenantId(t), Millis(0)).expect("registered");
        assert_eq!((p.process, p.new_process), (ProcessId(0), t == 0));
    }
    let ninth = c.place(TenantId(8), Millis(0)).expect("registered");
    assert_eq!((ninth.process, ninth.new_process), (ProcessId(1), true));
    assert_eq!(loads(&c, RiskTier::Standard), [8, 1], "8 > 2 × 1");
}

#[test]
fn releases_are_refilled_least_loaded_first_lowest_id_on_ties() {
    let mut c = cordon(4);
    register(&mut c, 0..20, ordinary());
    for t in 0..12 {
        c.place(TenantId(t), Millis(0)).expect("registered");
    }
    assert_eq!(loads(&c, RiskTier::Standard), [4, 4, 4]);
    // Free 2 slots in process 2 and 1 in process 0.
    for (t, p) in [(8, 2), (9, 2), (0, 0)] {
        let r = c.release(TenantId(t), ProcessId(p)).expect("hosted");
        assert!(!r.process_retired);
    }
    assert_eq!(loads(&c, RiskTier::Standard), [3, 4, 2]);
    let order: Vec<u64> = (12..16)
        .map(|t| {
            c.place(TenantId(t), Millis(0))
                .expect("registered")
                .process
                .0
        })
        .collect();
    // 2 (load 2) → tie 0 and 2 at 3: lowest id 0 → 2 → all full: open 3.
    assert_eq!(order, [2, 0, 2, 3]);
}

#[test]
fn quarantined_tenants_each_get_a_fresh_strict_single_use_process() {
    let mut c = cordon(8);
    register(&mut c, 0..2, ordinary());
    let mut seen = Vec::new();
    for round in 0..3 {
        for t in 0..2 {
            let tenant = TenantId(t);
            c.set_override(
                tenant,
                Some(Override::PinTier(RiskTier::Quarantine)),
                Millis(0),
            )
            .expect("registered");
            let p = c.place(tenant, Millis(0)).expect("registered");
            assert!(p.new_process && p.new_isolate, "round {round}");
            assert_eq!(
                (p.tier, p.profile),
                (RiskTier::Quarantine, V8Profile::Strict)
            );
            assert!(
                !seen.contains(&p.process),
                "single use: {} reused",
                p.process
            );
            seen.push(p.process);
            let again = c.place(tenant, Millis(0)).expect("registered");
            assert_eq!(
                (again.process, again.new_isolate),
                (p.process, false),
                "sticky"
            );
            let r = c.release(tenant, p.process).expect("hosted");
            assert!(
                r.process_retired,
                "an emptied quarantine process is retired"
            );
        }
    }
}

#[test]
fn crash_quarantines_the_runner_and_evicts_every_co_resident() {
    let mut c = cordon(8);
    register(&mut c, 0..4, ordinary());
    for t in 0..3 {
        c.place(TenantId(t), Millis(0)).expect("registered");
    }
    let out = c
        .worker_crashed(ProcessId(0), Some(TenantId(1)), true, Millis(HOUR))
        .expect("live");
    assert_eq!(out.evicted, [TenantId(0), TenantId(1), TenantId(2)]);
    assert_eq!(out.quarantined, Some(TenantId(1)));
    assert!(
        out.drains.is_empty(),
        "nothing else to drain: the isolates died with the process"
    );
    assert!(c.process(ProcessId(0)).is_none(), "crashed process retired");
    assert_eq!(c.metrics().tier(RiskTier::Standard).processes, 0);

    let runner = c.place(TenantId(1), Millis(HOUR)).expect("registered");
    assert_eq!(
        (runner.tier, runner.profile),
        (RiskTier::Quarantine, V8Profile::Strict)
    );
    let bystander = c.place(TenantId(0), Millis(HOUR)).expect("registered");
    assert_eq!(
        bystander.tier,
        RiskTier::Standard,
        "bystanders are not quarantined"
    );
    assert!(
        bystander.new_process && bystander.process != ProcessId(0),
        "bystanders restart in a fresh process"
    );
    let report = c
        .risk_report(TenantId(2), Millis(HOUR))
        .expect("registered");
    assert!(report
        .signals
        .iter()
        .any(|s| s.signal == Signal::History(HistoryEvent::WorkerDeath)));
    let report = c
        .risk_report(TenantId(1), Millis(HOUR))
        .expect("registered");
    assert_eq!(
        report.quarantine_latched_until,
        Some(Millis(HOUR + 7 * DAY))
    );
}

#[test]
fn tier_change_drains_the_old_isolate_and_the_emptied_process_becomes_the_spare() {
    let mut c = cordon(8);
    register(&mut c, 0..2, ordinary());
    let a = c.place(TenantId(0), Millis(0)).expect("registered");
    let b = c.place(TenantId(1), Millis(0)).expect("registered");
    assert_eq!(a.process, b.process);
    let drain = c
        .record(
            TenantId(0),
            HistoryEvent::WorkerCrashWhileRunning,
            Millis(5),
        )
        .expect("registered");
    assert_eq!(
        drain,
        Some(Drain {
            process: a.process,
            tenant: TenantId(0)
        })
    );
    let moved = c.place(TenantId(0), Millis(5)).expect("registered");
    assert_eq!(
        (moved.tier, moved.new_process, moved.drain),
        (RiskTier::Quarantine, true, None)
    );
    assert_eq!(
        c.process(a.process).expect("still live").load(),
        2,
        "draining isolate still counts"
    );

    assert!(
        !c.release(TenantId(0), a.process)
            .expect("draining")
            .process_retired
    );
    assert!(
        !c.release(TenantId(1), a.process)
            .expect("active")
            .process_retired,
        "kept as the tier's idle spare"
    );
    let spare = c.metrics();
    assert_eq!(
        (spare.standard.processes, spare.standard.empty_processes),
        (1, 1)
    );
    assert!(
        c.release(TenantId(0), moved.process)
            .expect("active")
            .process_retired
    );
    let back = c.place(TenantId(1), Millis(6)).expect("registered");
    assert_eq!(
        (back.process, back.new_process),
        (a.process, false),
        "the spare is reused"
    );
}

#[test]
fn a_returning_tenant_never_lands_beside_its_own_draining_isolate() {
    let mut c = cordon(8);
    register(&mut c, 0..3, ordinary());
    let first = c.place(TenantId(0), Millis(0)).expect("registered").process;
    c.set_override(
        TenantId(0),
        Some(Override::PinTier(RiskTier::Untrusted)),
        Millis(0),
    )
    .expect("registered");
    c.set_override(TenantId(0), None, Millis(0))
        .expect("registered");
    // Process `first` (load 1) is the least loaded Standard process, but it
    // still holds tenant 0's draining isolate.
    let back = c.place(TenantId(0), Millis(0)).expect("registered");
    assert_ne!(back.process, first);
    assert!(back.new_process);
    let other = c.place(TenantId(1), Millis(0)).expect("registered");
    assert_eq!(
        other.process, first,
        "everyone else still gets the least-loaded process"
    );
}

#[test]
fn decay_returns_a_tenant_to_its_tier_on_place_or_sweep() {
    let mut c = cordon(8);
    register(&mut c, 0..2, ordinary());
    for t in 0..2 {
        for _ in 0..10 {
            c.record(TenantId(t), HistoryEvent::MemoryLimitHit, Millis(0))
                .expect("registered");
        }
        // 30 + min(40, 30) = 60.
        assert_eq!(
            c.place(TenantId(t), Millis(0)).expect("registered").tier,
            RiskTier::Untrusted
        );
    }
    // 4 h later: 30 + 4·10/16 = 32.5 → Standard.
    let later = Millis(4 * HOUR);
    let p = c.place(TenantId(0), later).expect("registered");
    assert_eq!(p.tier, RiskTier::Standard);
    assert_eq!(p.drain.map(|d| d.tenant), Some(TenantId(0)));
    let swept = c.reevaluate(later);
    assert_eq!(
        swept.iter().map(|d| d.tenant).collect::<Vec<_>>(),
        [TenantId(1)]
    );
    assert!(c.reevaluate(later).is_empty(), "sweep is idempotent");
}

#[test]
fn refused_operations_change_nothing() {
    assert_eq!(
        Cordon::new(CordonConfig {
            capacity: TierCapacity {
                trusted: 1,
                standard: 0,
                untrusted: 1
            },
            ..Default::default()
        }),
        Err(CordonError::ZeroCapacity(RiskTier::Standard))
    );
    let mut c = cordon(8);
    register(
        &mut c,
        0..2,
        TenantProfile {
            trust: TrustLevel::Trusted,
            ..ordinary()
        },
    );
    let p = c.place(TenantId(0), Millis(0)).expect("registered").process;
    let before = c.clone();
    let ghost = TenantId(99);
    assert_eq!(
        c.place(ghost, Millis(0)),
        Err(CordonError::UnknownTenant(ghost))
    );
    assert_eq!(
        c.record(ghost, HistoryEvent::SeccompKill, Millis(0)),
        Err(CordonError::UnknownTenant(ghost))
    );
    assert_eq!(
        c.set_override(ghost, None, Millis(0)),
        Err(CordonError::UnknownTenant(ghost))
    );
    assert!(c.risk_report(ghost, Millis(0)).is_err());
    assert_eq!(
        c.release(TenantId(0), ProcessId(7)),
        Err(CordonError::UnknownProcess(ProcessId(7)))
    );
    assert_eq!(
        c.release(TenantId(1), p),
        Err(CordonError::TenantNotInProcess {
            tenant: TenantId(1),
            process: p
        })
    );
    assert_eq!(
        c.forget(TenantId(0)),
        Err(CordonError::TenantHasIsolates(TenantId(0)))
    );
    assert_eq!(
        c.worker_crashed(ProcessId(7), Some(TenantId(0)), true, Millis(0)),
        Err(CordonError::UnknownProcess(ProcessId(7)))
    );
    assert_eq!(
        c.worker_crashed(p, Some(ghost), true, Millis(0)),
        Err(CordonError::UnknownTenant(ghost))
    );
    assert_eq!(c, before, "no refused call mutated the state");
    assert_eq!(c.forget(TenantId(1)), Ok(()));
    assert!(c.tenant(TenantId(1)).is_none());
}

#[test]
fn metrics_count_processes_tenants_and_isolates_per_tier() {
    let mut c = cordon(2);
    register(&mut c, 0..5, ordinary());
    register(
        &mut c,
        5..6,
        TenantProfile {
            trust: TrustLevel::Trusted,
            ..ordinary()
        },
    );
    for t in 0..6 {
        c.place(TenantId(t), Millis(0)).expect("registered");
    }
    c.set_override(
        TenantId(4),
        Some(Override::PinTier(RiskTier::Quarantine)),
        Millis(0),
    )
    .expect("registered");
    c.place(TenantId(4), Millis(0)).expect("registered");
    let m = c.metrics();
    assert_eq!(
        (
            m.standard.processes,
            m.standard.tenants,
            m.standard.isolates,
            m.standard.draining_isolates
        ),
        (3, 4, 5, 1)
    );
    assert_eq!(
        (m.trusted.processes, m.trusted.tenants, m.trusted.isolates),
        (1, 1, 1)
    );
    assert_eq!(
        (
            m.quarantine.processes,
            m.quarantine.tenants,
            m.quarantine.capacity
        ),
        (1, 1, 1)
    );
    assert_eq!(m.untrusted, Default::default());
}

/// Recycling a process (its worker must not grow on): its tenants' next placements open a
/// replacement of the same tier, their old isolates drain, nobody changes tier, and the old
/// process is retired with its last release (at once when it held nothing).
#[test]
fn a_recycled_process_drains_to_a_replacement_of_its_tier_and_retires_once_empty() {
    let mut c = Cordon::new(CordonConfig {
        min_processes: TierMinProcesses {
            trusted: 1,
            standard: 2,
            untrusted: 1,
        },
        ..CordonConfig::default()
    })
    .expect("valid config");
    register(&mut c, 0..2, ordinary());
    for t in 0..2 {
        assert_eq!(
            c.place(TenantId(t), Millis(0)).expect("registered").process,
            ProcessId(t),
            "spread over the minimum first"
        );
    }
    let recycled = c.recycle(ProcessId(0)).expect("live");
    assert_eq!(
        recycled.drains,
        [Drain {
            process: ProcessId(0),
            tenant: TenantId(0)
        }]
    );
    assert!(!recycled.process_retired);
    let old = c.process(ProcessId(0)).expect("still draining");
    assert!(old.retiring() && !old.has_room());
    assert_eq!(old.draining_tenants().collect::<Vec<_>>(), [TenantId(0)]);
    // Below its minimum again (the retiring process does not count): a replacement opens, of
    // the same tier, rather than stacking tenant 0 on tenant 1's process.
    let next = c.place(TenantId(0), Millis(1)).expect("registered");
    assert_eq!((next.process, next.new_process), (ProcessId(2), true));
    assert_eq!(next.tier, RiskTier::Standard);
    assert_eq!(next.drain, None, "no tier change");
    assert_eq!(
        c.tenant(TenantId(0)).expect("known").tier,
        RiskTier::Standard
    );
    // Recycling again changes nothing; the last release retires it whatever the spares.
    let before = c.clone();
    assert_eq!(c.recycle(ProcessId(0)).expect("live").drains, []);
    assert_eq!(c, before);
    assert!(
        c.release(TenantId(0), ProcessId(0))
            .expect("draining isolate")
            .process_retired
    );
    assert!(c.process(ProcessId(0)).is_none());
    // An empty process is retired at once; an unknown one is refused.
    assert!(c.release(TenantId(1), ProcessId(1)).is_ok());
    let empty = c.recycle(ProcessId(1)).expect("live, empty");
    assert!(empty.process_retired && empty.drains.is_empty());
    assert_eq!(
        c.recycle(ProcessId(1)),
        Err(CordonError::UnknownProcess(ProcessId(1)))
    );
}
