//! Property tests: random sequences of registrations, requests, signals,
//! crashes, overrides, releases and clock advances, with every placement
//! invariant checked after every step from the public views alone. Each
//! assertion message starts with the invariant's name.

mod strategies;

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use stockade_cordon::{
    Cordon, Drain, HistoryEvent, Millis, Override, ProcessId, RiskScore, RiskTier, TenantId,
    TenantProfile, V8Profile,
};
use strategies::{config, minimum, processes_of, profile, tier};

const TENANTS: u64 = 12;
const HOUR: u64 = Millis::HOUR;
const DAY: u64 = Millis::DAY;

#[derive(Clone, Debug)]
enum Op {
    Register(u64, TenantProfile),
    Place(u64),
    Record(u64, HistoryEvent),
    Crash {
        pick: usize,
        running: Option<usize>,
        seccomp: bool,
    },
    SetOverride(u64, Option<Override>),
    Release(usize),
    Recycle(usize),
    Advance(u64),
    Reevaluate,
}

fn op() -> impl Strategy<Value = Op> {
    let tenant = 0..TENANTS;
    let event = proptest::sample::select(HistoryEvent::ALL.to_vec());
    let pin = prop_oneof![
        2 => Just(None),
        1 => tier().prop_map(|t| Some(Override::PinTier(t))),
        1 => (0u8..=100).prop_map(|s| Some(Override::PinScore(RiskScore::new(s).expect("0..=100")))),
    ];
    let advance = prop_oneof![0u64..2_000, 0u64..3 * HOUR, 0u64..8 * DAY];
    prop_oneof![
        2 => (tenant.clone(), profile()).prop_map(|(t, p)| Op::Register(t, p)),
        12 => tenant.clone().prop_map(Op::Place),
        3 => (tenant.clone(), event).prop_map(|(t, e)| Op::Record(t, e)),
        1 => (any::<usize>(), proptest::option::of(any::<usize>()), any::<bool>())
            .prop_map(|(pick, running, seccomp)| Op::Crash { pick, running, seccomp }),
        1 => (tenant, pin).prop_map(|(t, p)| Op::SetOverride(t, p)),
        5 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Recycle),
        2 => advance.prop_map(Op::Advance),
        1 => Just(Op::Reevaluate),
    ]
}

/// What the test remembers across steps, independently of the cordon.
#[derive(Default)]
struct Model {
    now: Millis,
    /// Tier each live isolate was placed under.
    placed_tier: BTreeMap<(TenantId, ProcessId), RiskTier>,
    /// The one tenant each quarantine process was ever given.
    quarantine_owner: BTreeMap<ProcessId, TenantId>,
    /// Every process id ever handed out.
    seen: BTreeSet<ProcessId>,
    /// Every process id retired (by release or crash).
    retired: BTreeSet<ProcessId>,
}

fn isolates(c: &Cordon) -> Vec<(TenantId, ProcessId)> {
    c.processes()
        .flat_map(|p| {
            p.active_tenants()
                .chain(p.draining_tenants())
                .map(move |t| (t, p.id()))
        })
        .collect()
}

/// `(tenant, process)` pairs that went from active to draining between two
/// states: exactly the drains an operation must report.
fn moved_to_draining(before: &Cordon, after: &Cordon) -> BTreeSet<Drain> {
    (0..TENANTS)
        .map(TenantId)
        .filter_map(|t| {
            let old = before.tenant(t)?.active?;
            let now_draining = after.tenant(t)?.draining.contains(&old);
            now_draining.then_some(Drain {
                process: old,
                tenant: t,
            })
        })
        .collect()
}

fn check_state(c: &Cordon, m: &Model) {
    let mut active_count: BTreeMap<TenantId, usize> = BTreeMap::new();
    let mut empty_per_tier: BTreeMap<RiskTier, usize> = BTreeMap::new();
    for p in c.processes() {
        let (id, tier) = (p.id(), p.tier());
        assert!(
            !m.retired.contains(&id),
            "retired-ids-never-reused: {id} is live again"
        );
        assert!(
            p.load() <= p.capacity(),
            "capacity: {id} holds {} > {}",
            p.load(),
            p.capacity()
        );
        assert_eq!(
            p.v8_profile(),
            tier.v8_profile(),
            "profile-follows-tier: {id}"
        );
        if p.load() == 0 {
            *empty_per_tier.entry(tier).or_default() += 1;
        }
        if p.retiring() {
            assert_eq!(
                p.active_tenants().count(),
                0,
                "recycled-takes-nothing-new: {id} has active tenants"
            );
            assert!(p.load() > 0, "recycled-retired-once-empty: {id} is empty");
        }
        for t in p.active_tenants() {
            *active_count.entry(t).or_default() += 1;
            let view = c
                .tenant(t)
                .expect("views-agree: active tenant is registered");
            assert_eq!(
                view.tier, tier,
                "one-tier-per-process: active {t} of {:?} in {tier:?} {id}",
                view.tier
            );
            assert_eq!(view.active, Some(id), "views-agree: {t} active in {id}");
            assert!(
                !view.draining.contains(&id),
                "no-two-isolates-of-a-tenant-per-process: {t} in {id}"
            );
        }
        for t in p.draining_tenants() {
            let view = c
                .tenant(t)
                .expect("views-agree: draining tenant is registered");
            assert!(
                view.draining.contains(&id),
                "views-agree: {t} draining in {id}"
            );
        }
        for t in p.active_tenants().chain(p.draining_tenants()) {
            assert_eq!(
                m.placed_tier.get(&(t, id)),
                Some(&tier),
                "one-tier-per-process: {t} placed in {id} under another tier"
            );
        }
        if tier == RiskTier::Quarantine {
            assert_eq!(p.capacity(), 1, "quarantine-alone: {id} capacity");
            let owner = m.quarantine_owner.get(&id);
            for t in p.active_tenants().chain(p.draining_tenants()) {
                assert_eq!(
                    owner,
                    Some(&t),
                    "quarantine-single-use: {id} holds {t}, built for {owner:?}"
                );
            }
        } else {
            for t in p.active_tenants() {
                let tier_now = c.tenant(t).map(|v| v.tier);
                assert_ne!(
                    tier_now,
                    Some(RiskTier::Quarantine),
                    "quarantine-alone: quarantined {t} shares {id}"
                );
            }
        }
    }
    for (t, n) in &active_count {
        assert!(
            *n <= 1,
            "one-active-process-per-tenant: {t} routed to {n} processes"
        );
    }
    for t in (0..TENANTS).map(TenantId) {
        let Some(view) = c.tenant(t) else { continue };
        if let Some(p) = view.active {
            let hosts = c
                .process(p)
                .is_some_and(|p| p.active_tenants().any(|x| x == t));
            assert!(hosts, "views-agree: {t} claims active {p}");
        }
        for p in &view.draining {
            let hosts = c
                .process(*p)
                .is_some_and(|p| p.draining_tenants().any(|x| x == t));
            assert!(hosts, "views-agree: {t} claims draining {p}");
        }
    }
    for (&tier, &empty) in &empty_per_tier {
        let total = processes_of(c, tier);
        if tier == RiskTier::Quarantine {
            assert_eq!(empty, 0, "idle-spare-rule: an empty quarantine process");
        } else if total > minimum(c, tier) {
            assert!(
                empty <= 1,
                "idle-spare-rule: {empty} empty of {total} {tier:?} processes, above the minimum {}",
                minimum(c, tier)
            );
        }
    }
    let metrics = c.metrics();
    for tier in RiskTier::ALL {
        let g = metrics.tier(tier);
        let procs: Vec<_> = c.processes().filter(|p| p.tier() == tier).collect();
        assert_eq!(
            g.processes,
            procs.len(),
            "metrics-agree: {tier:?} processes"
        );
        assert_eq!(
            g.isolates,
            procs.iter().map(|p| p.load() as usize).sum::<usize>(),
            "metrics-agree: {tier:?} isolates"
        );
    }
}

/// The oracle for a fresh placement, by an O(n) scan independent of the
/// cordon's index: the least-loaded eligible process, unless the tier is
/// below its minimum and that process is not empty (then: open one).
fn expected_existing(c: &Cordon, tenant: TenantId, tier: RiskTier) -> Option<ProcessId> {
    if tier == RiskTier::Quarantine {
        return None;
    }
    let below_minimum = processes_of(c, tier) < minimum(c, tier);
    c.processes()
        .filter(|p| {
            p.tier() == tier && !p.retiring() && p.load() < p.capacity() && !p.hosts(tenant)
        })
        .min_by_key(|p| (p.load(), p.id()))
        .filter(|p| p.load() == 0 || !below_minimum)
        .map(|p| p.id())
}

fn eligible_spread(c: &Cordon, ids: &[ProcessId]) -> u32 {
    let loads: Vec<u32> = ids
        .iter()
        .filter_map(|id| c.process(*id))
        .map(|p| p.load())
        .collect();
    loads.iter().max().copied().unwrap_or(0) - loads.iter().min().copied().unwrap_or(0)
}

fn place(c: &mut Cordon, m: &mut Model, tenant: TenantId) {
    let before = c.clone();
    let Ok(report) = c.risk_report(tenant, m.now) else {
        assert!(
            c.place(tenant, m.now).is_err(),
            "unknown-tenant-refused: {tenant}"
        );
        assert_eq!(*c, before, "errors-do-not-mutate: place {tenant}");
        return;
    };
    let (mut twin_a, mut twin_b) = (c.clone(), c.clone());
    let a = twin_a.place(tenant, m.now);
    let b = twin_b.place(tenant, m.now);
    assert_eq!(a, b, "deterministic-placement: same state, same answer");
    assert_eq!(
        twin_a, twin_b,
        "deterministic-placement: same state, same successor"
    );

    let got = c.place(tenant, m.now).expect("registered tenant places");
    assert_eq!(
        Some(&got),
        a.as_ref().ok(),
        "deterministic-placement: clone agrees with original"
    );
    assert_eq!(got.tier, report.tier, "placement-follows-score: {tenant}");
    assert_eq!(
        got.profile,
        report.tier.v8_profile(),
        "profile-follows-tier"
    );
    let drains: BTreeSet<Drain> = got.drain.into_iter().collect();
    assert_eq!(
        drains,
        moved_to_draining(&before, c),
        "recordon-drains-old-isolate: {tenant}"
    );

    let old_view = before.tenant(tenant).expect("registered");
    if got.drain.is_none() && old_view.active.is_some() {
        assert_eq!(
            Some(got.process),
            old_view.active,
            "sticky-placement: {tenant}"
        );
        assert!(
            !got.new_isolate && !got.new_process,
            "sticky-placement: no new isolate"
        );
        return;
    }
    assert!(got.new_isolate, "fresh-placement-creates-isolate: {tenant}");
    let expected = expected_existing(&before, tenant, got.tier);
    match expected {
        Some(p) => {
            assert_eq!(
                (got.process, got.new_process),
                (p, false),
                "least-loaded-choice: {tenant} in {:?}",
                got.tier
            );
            let eligible: Vec<ProcessId> = before
                .processes()
                .filter(|q| {
                    q.tier() == got.tier
                        && !q.retiring()
                        && q.load() < q.capacity()
                        && !q.hosts(tenant)
                })
                .map(|q| q.id())
                .collect();
            let (was, now) = (
                eligible_spread(&before, &eligible),
                eligible_spread(c, &eligible),
            );
            assert!(
                now <= was.max(1),
                "spread-never-widens-beyond-1: {was} -> {now}"
            );
        }
        None => {
            assert!(
                got.new_process,
                "open-only-when-full-or-below-minimum: {tenant} in {:?} should open",
                got.tier
            );
            assert!(
                m.seen.iter().all(|&s| s < got.process),
                "process-ids-increase: {}",
                got.process
            );
        }
    }
    if got.tier == RiskTier::Quarantine {
        assert!(got.new_process, "quarantine-fresh-process: {tenant}");
        assert_eq!(got.profile, V8Profile::Strict, "quarantine-strict-profile");
        m.quarantine_owner.insert(got.process, tenant);
    }
    m.seen.insert(got.process);
    m.placed_tier.insert((tenant, got.process), got.tier);
}

fn step(c: &mut Cordon, m: &mut Model, op: &Op) {
    let before = c.clone();
    let drains: Vec<Drain> = match *op {
        Op::Register(t, profile) => c
            .set_profile(TenantId(t), profile, m.now)
            .into_iter()
            .collect(),
        Op::Place(t) => {
            place(c, m, TenantId(t));
            return;
        }
        Op::Record(t, event) => match c.record(TenantId(t), event, m.now) {
            Ok(drain) => {
                let view = c
                    .tenant(TenantId(t))
                    .expect("recorded tenant is registered");
                if event.quarantine_latch_ms().is_some() && view.operator_override.is_none() {
                    assert_eq!(
                        view.tier,
                        RiskTier::Quarantine,
                        "latch-quarantines-at-once: {t}"
                    );
                }
                drain.into_iter().collect()
            }
            Err(_) => {
                assert_eq!(*c, before, "errors-do-not-mutate: record");
                return;
            }
        },
        Op::Crash {
            pick,
            running,
            seccomp,
        } => {
            let live: Vec<_> = c.processes().map(|p| p.id()).collect();
            let Some(&dead) = live.get(pick % live.len().max(1)) else {
                return;
            };
            let hosted: BTreeSet<TenantId> = {
                let p = c.process(dead).expect("picked live process");
                p.active_tenants().chain(p.draining_tenants()).collect()
            };
            // Mostly a tenant that is in the process; sometimes any tenant.
            let running = running.and_then(|r| match hosted.iter().nth(r % (hosted.len() + 1)) {
                Some(&t) => Some(t),
                None => c
                    .tenant(TenantId(r as u64 % TENANTS))
                    .map(|_| TenantId(r as u64 % TENANTS)),
            });
            let out = c
                .worker_crashed(dead, running, seccomp, m.now)
                .expect("live process crash accepted");
            assert!(c.process(dead).is_none(), "crash-retires-process: {dead}");
            assert_eq!(
                out.evicted.iter().copied().collect::<BTreeSet<_>>(),
                hosted,
                "crash-evicts-all-co-residents"
            );
            for t in (0..TENANTS).map(TenantId).filter_map(|t| c.tenant(t)) {
                assert!(
                    t.active != Some(dead) && !t.draining.contains(&dead),
                    "crash-evicts-all-co-residents: dangling reference"
                );
            }
            if let Some(t) = running {
                let view = c.tenant(t).expect("running tenant registered");
                if view.operator_override.is_none() {
                    assert_eq!(
                        view.tier,
                        RiskTier::Quarantine,
                        "crash-quarantines-running-tenant: {t}"
                    );
                    assert_eq!(
                        out.quarantined,
                        Some(t),
                        "crash-quarantines-running-tenant: reported"
                    );
                }
            }
            m.retired.insert(dead);
            m.placed_tier.retain(|(_, p), _| *p != dead);
            out.drains
        }
        Op::SetOverride(t, pin) => match c.set_override(TenantId(t), pin, m.now) {
            Ok(drain) => {
                let tier = c.tenant(TenantId(t)).map(|v| v.tier);
                match pin {
                    Some(Override::PinTier(p)) => {
                        assert_eq!(tier, Some(p), "override-wins: pinned tier")
                    }
                    Some(Override::PinScore(s)) => {
                        assert_eq!(
                            tier,
                            Some(RiskTier::for_score(s)),
                            "override-wins: pinned score"
                        );
                    }
                    None => {}
                }
                drain.into_iter().collect()
            }
            Err(_) => {
                assert_eq!(*c, before, "errors-do-not-mutate: set_override");
                return;
            }
        },
        Op::Release(pick) => {
            let all = isolates(c);
            let Some(&(t, p)) = all.get(pick % all.len().max(1)) else {
                return;
            };
            let released = c.release(t, p).expect("live isolate releases");
            let gone = c.process(p).is_none();
            assert_eq!(
                released.process_retired, gone,
                "release-reports-retirement: {p}"
            );
            let after = c.clone();
            assert!(
                c.release(t, p).is_err(),
                "double-release-refused: {t} in {p}"
            );
            assert_eq!(*c, after, "errors-do-not-mutate: double release");
            let old = before.process(p).expect("released from a live process");
            let tier = old.tier();
            let other_spare = before
                .processes()
                .any(|q| q.tier() == tier && q.load() == 0 && q.id() != p);
            let above_minimum = processes_of(&before, tier) > minimum(&before, tier);
            let emptied = old.load() == 1;
            let single_use = tier == RiskTier::Quarantine || old.retiring();
            assert_eq!(
                gone,
                emptied && (single_use || (other_spare && above_minimum)),
                "idle-spare-rule: {p} of {:?} (load was {}, other spare {other_spare}, \
                 {} processes, minimum {}) retired: {gone}",
                tier,
                old.load(),
                processes_of(&before, tier),
                minimum(&before, tier),
            );
            if gone {
                m.retired.insert(p);
            }
            m.placed_tier.remove(&(t, p));
            Vec::new()
        }
        Op::Recycle(pick) => {
            let live: Vec<_> = c.processes().map(|p| p.id()).collect();
            let Some(&old) = live.get(pick % live.len().max(1)) else {
                return;
            };
            let was = before.process(old).expect("picked live process");
            let out = c.recycle(old).expect("live process recycles");
            let gone = c.process(old).is_none();
            assert_eq!(
                out.process_retired, gone,
                "recycle-reports-retirement: {old}"
            );
            assert_eq!(
                gone,
                was.load() == 0,
                "recycle-retires-only-an-empty-process: {old}"
            );
            for t in (0..TENANTS).map(TenantId) {
                assert_eq!(
                    before.tenant(t).map(|v| v.tier),
                    c.tenant(t).map(|v| v.tier),
                    "recycle-changes-no-tier: {t}"
                );
            }
            if gone {
                m.retired.insert(old);
            } else {
                let after = c.clone();
                let again = c.recycle(old).expect("a retiring process recycles again");
                assert!(again.drains.is_empty(), "recycle-idempotent: drains");
                assert_eq!(*c, after, "recycle-idempotent: state");
            }
            out.drains
        }
        Op::Advance(ms) => {
            m.now = m.now.plus(ms);
            return;
        }
        Op::Reevaluate => c.reevaluate(m.now),
    };
    let reported: BTreeSet<Drain> = drains.iter().copied().collect();
    assert_eq!(reported.len(), drains.len(), "drains-unique");
    assert_eq!(
        reported,
        moved_to_draining(&before, c),
        "recordon-drains-old-isolate: {op:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn placement_invariants_hold_for_any_sequence(
        config in config(),
        registered in proptest::collection::vec(profile(), TENANTS as usize - 2),
        ops in proptest::collection::vec(op(), 1..250),
    ) {
        let mut c = Cordon::new(config).expect("non-zero capacities and minimums");
        let mut m = Model::default();
        // Two tenants stay unregistered until an `Op::Register` names them.
        for (i, p) in registered.into_iter().enumerate() {
            prop_assert!(c.set_profile(TenantId(i as u64), p, m.now).is_none());
        }
        for op in &ops {
            step(&mut c, &mut m, op);
            check_state(&c, &m);
        }
    }
}
