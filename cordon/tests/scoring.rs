//! Scoring: exhaustive over every combination of account facts, property
//! tests over random histories and times, and the report's JSON contract.

use proptest::prelude::*;
use stockade_cordon::assess::{assess, risk_report};
use stockade_cordon::{
    History, HistoryEvent, Millis, Override, RiskScore, RiskTier, ScoringPolicy, Signal, TenantId,
    TenantProfile, TrustLevel,
};

const HOUR: u64 = Millis::HOUR;
const DAY: u64 = Millis::DAY;
const TRUST: [TrustLevel; 3] = [TrustLevel::Trusted, TrustLevel::Normal, TrustLevel::Low];

/// Every profile that differs in a way the fact table can see: ages 0..=40
/// cover the whole `new_account` ramp and beyond, bundle sizes straddle the
/// threshold.
fn all_profiles() -> impl Iterator<Item = TenantProfile> {
    let threshold = ScoringPolicy::default().large_bundle_bytes;
    let bits = [false, true];
    TRUST.into_iter().flat_map(move |trust| {
        (0u32..=40).flat_map(move |account_age_days| {
            bits.into_iter().flat_map(move |verified| {
                bits.into_iter().flat_map(move |uses_web_assembly| {
                    bits.into_iter().flat_map(move |dynamic_import| {
                        [0, threshold, threshold + 1].map(move |bundle_bytes| TenantProfile {
                            trust,
                            account_age_days,
                            verified,
                            uses_web_assembly,
                            bundle_bytes,
                            dynamic_import,
                        })
                    })
                })
            })
        })
    })
}

/// The fact table of `signals`' module doc, restated independently.
fn documented_fact_points(p: &TenantProfile) -> f64 {
    let trust = match p.trust {
        TrustLevel::Trusted => -30.0,
        TrustLevel::Normal => 0.0,
        TrustLevel::Low => 30.0,
    };
    let young = f64::from(30u32.saturating_sub(p.account_age_days)) / 30.0;
    30.0 + trust
        + if p.verified { -10.0 } else { 0.0 }
        + 10.0 * young
        + if p.uses_web_assembly { 4.0 } else { 0.0 }
        + if p.bundle_bytes > 8 * 1024 * 1024 {
            3.0
        } else {
            0.0
        }
        + if p.dynamic_import { 2.0 } else { 0.0 }
}

fn score_at(p: &TenantProfile, h: &History, now: u64) -> u8 {
    assess(p, h, None, &ScoringPolicy::default(), Millis(now))
        .computed_score
        .get()
}

#[test]
fn facts_score_as_documented_and_never_quarantine() {
    let policy = ScoringPolicy::default();
    let mut seen = 0;
    for p in all_profiles() {
        let a = assess(&p, &History::default(), None, &policy, Millis(0));
        let expected = RiskScore::from_points(documented_fact_points(&p));
        assert_eq!(a.computed_score, expected, "fact-table: {p:?}");
        assert_eq!(a.score, a.computed_score, "no-override-no-pin: {p:?}");
        assert!(
            a.score.get() <= 79,
            "facts-never-quarantine: {p:?} scores {}",
            a.score.get()
        );
        assert_ne!(
            a.tier,
            RiskTier::Quarantine,
            "facts-never-quarantine: {p:?}"
        );
        seen += 1;
    }
    assert_eq!(seen, 3 * 41 * 2 * 2 * 2 * 3);
}

#[test]
fn named_accounts_land_in_the_expected_tiers() {
    let base = TenantProfile::default();
    let old = |p: TenantProfile| TenantProfile {
        account_age_days: 365,
        ..p
    };
    let cases = [
        ("unknown account", base, 40, RiskTier::Standard),
        (
            "ordinary verified",
            old(TenantProfile {
                verified: true,
                ..base
            }),
            20,
            RiskTier::Standard,
        ),
        (
            "vouched, verified",
            old(TenantProfile {
                trust: TrustLevel::Trusted,
                verified: true,
                ..base
            }),
            0,
            RiskTier::Trusted,
        ),
        (
            "distrusted even if verified",
            old(TenantProfile {
                trust: TrustLevel::Low,
                verified: true,
                ..base
            }),
            50,
            RiskTier::Untrusted,
        ),
        (
            "half-way through new-account ramp",
            TenantProfile {
                account_age_days: 15,
                ..base
            },
            35,
            RiskTier::Standard,
        ),
    ];
    for (name, p, score, tier) in cases {
        let a = assess(
            &p,
            &History::default(),
            None,
            &ScoringPolicy::default(),
            Millis(0),
        );
        assert_eq!((a.score.get(), a.tier), (score, tier), "{name}");
    }
}

#[test]
fn history_decays_by_its_half_life_and_is_capped() {
    let p = TenantProfile {
        account_age_days: 365,
        ..TenantProfile::default()
    }; // 30 points
    let mut h = History::default();
    h.record(HistoryEvent::UncaughtCrash, Millis(0));
    assert_eq!(score_at(&p, &h, 0), 38);
    assert_eq!(
        score_at(&p, &h, 6 * HOUR),
        34,
        "one half-life halves the 8 points"
    );
    assert_eq!(score_at(&p, &h, 12 * HOUR), 32);
    for _ in 0..20 {
        h.record(HistoryEvent::CpuLimitHit, Millis(0));
    }
    // 20 CPU hits = 60 points, capped at 30.
    assert_eq!(score_at(&p, &h, 0), 30 + 8 + 30, "cpu cap");
    // 1 h: 10 hits' worth = 30 (at the cap); crash 8·2^(−1/6) = 7.13.
    assert_eq!(score_at(&p, &h, HOUR), 67);
    // 2 h: 5 hits' worth = 15, under the cap; crash 8·2^(−1/3) = 6.35.
    assert_eq!(
        score_at(&p, &h, 2 * HOUR),
        51,
        "cap applies to the decayed count"
    );
}

#[test]
fn latch_quarantines_every_account_for_exactly_its_period() {
    let policy = ScoringPolicy::default();
    let start = 1_000 * DAY;
    for (event, latch) in [
        (HistoryEvent::SeccompKill, 7 * DAY),
        (HistoryEvent::WorkerCrashWhileRunning, DAY),
    ] {
        for p in all_profiles().filter(|p| p.bundle_bytes == 0) {
            let mut h = History::default();
            h.record(event, Millis(start));
            for t in [start, start + 1, start + latch / 2, start + latch - 1] {
                let a = assess(&p, &h, None, &policy, Millis(t));
                assert_eq!(
                    a.tier,
                    RiskTier::Quarantine,
                    "latch-quarantines: {event:?} {p:?} at +{}",
                    t - start
                );
                assert_eq!(a.quarantine_latched_until, Some(Millis(start + latch)));
            }
            let after = assess(&p, &h, None, &policy, Millis(start + latch));
            assert_eq!(
                after.quarantine_latched_until, None,
                "latch-expires: {event:?}"
            );
            assert_eq!(
                after.tier,
                RiskTier::for_score(after.computed_score),
                "score-rules-after-latch"
            );
        }
    }
    // The latch matters: a vouched, verified account's facts would offset a
    // seccomp kill's 100 points down to the Untrusted band without it.
    let vouched = TenantProfile {
        trust: TrustLevel::Trusted,
        verified: true,
        account_age_days: 365,
        ..Default::default()
    };
    let mut h = History::default();
    h.record(HistoryEvent::SeccompKill, Millis(0));
    let a = assess(&vouched, &h, None, &policy, Millis(0));
    assert_eq!((a.computed_score.get(), a.tier), (90, RiskTier::Quarantine));
    let a = assess(&vouched, &h, None, &policy, Millis(7 * DAY));
    assert_eq!(
        a.tier,
        RiskTier::Untrusted,
        "after the latch a vouched account decays out"
    );
    // ...while an ordinary account stays quarantined by score for 30 days.
    let plain = TenantProfile {
        account_age_days: 365,
        ..Default::default()
    };
    assert!(score_at(&plain, &h, 30 * DAY - HOUR) >= 80);
    assert!(score_at(&plain, &h, 31 * DAY) < 80);
}

#[test]
fn overrides_take_precedence_over_the_latch_and_clearing_restores_it() {
    let policy = ScoringPolicy::default();
    let p = TenantProfile::default();
    let mut h = History::default();
    h.record(HistoryEvent::SeccompKill, Millis(0));
    let pinned = assess(
        &p,
        &h,
        Some(Override::PinTier(RiskTier::Trusted)),
        &policy,
        Millis(1),
    );
    assert_eq!(pinned.tier, RiskTier::Trusted);
    assert_eq!(
        pinned.score, pinned.computed_score,
        "pin_tier keeps the computed score"
    );
    let score = RiskScore::new(55).expect("in range");
    let pinned = assess(&p, &h, Some(Override::PinScore(score)), &policy, Millis(1));
    assert_eq!((pinned.score, pinned.tier), (score, RiskTier::Untrusted));
    assert_eq!(pinned.computed_score.get(), 100);
    let cleared = assess(&p, &h, None, &policy, Millis(1));
    assert_eq!(
        cleared.tier,
        RiskTier::Quarantine,
        "latch resumes once the override is cleared"
    );
}

#[test]
fn risk_report_json_contract() {
    let p = TenantProfile {
        uses_web_assembly: true,
        ..Default::default()
    };
    let mut h = History::default();
    h.record(HistoryEvent::SeccompKill, Millis(10));
    h.record(HistoryEvent::CpuLimitHit, Millis(10));
    let pin = Some(Override::PinTier(RiskTier::Standard));
    let report = risk_report(
        TenantId(7),
        &p,
        &h,
        pin,
        &ScoringPolicy::default(),
        Millis(10),
    );
    let sum: f64 = report.signals.iter().map(|s| s.contribution).sum();
    assert_eq!(
        RiskScore::from_points(sum),
        report.computed_score,
        "rows add up to the score"
    );
    assert!(
        report.signals.iter().all(|s| s.contribution != 0.0),
        "only contributing rows"
    );
    let signals: Vec<Signal> = report.signals.iter().map(|s| s.signal).collect();
    assert_eq!(
        signals,
        [
            Signal::Baseline,
            Signal::NewAccount,
            Signal::UsesWebAssembly,
            Signal::History(HistoryEvent::CpuLimitHit),
            Signal::History(HistoryEvent::SeccompKill)
        ]
    );
    let json = serde_json::to_value(&report).expect("report serialises");
    let expected = serde_json::json!({
        "tenant": 7,
        "score": 100,
        "computed_score": 100,
        "tier": "standard",
        "override": {"pin_tier": "standard"},
        "quarantine_latched_until": 10 + 7 * DAY,
        "signals": [
            {"signal": "baseline", "weight": 30.0, "contribution": 30.0},
            {"signal": "new_account", "weight": 10.0, "contribution": 10.0},
            {"signal": "uses_web_assembly", "weight": 4.0, "contribution": 4.0},
            {"signal": "cpu_limit_hit", "weight": 3.0, "contribution": 3.0},
            {"signal": "seccomp_kill", "weight": 100.0, "contribution": 100.0},
        ],
    });
    assert_eq!(json, expected);
}

fn history_events() -> impl Strategy<Value = Vec<(HistoryEvent, u64)>> {
    let event = proptest::sample::select(HistoryEvent::ALL.to_vec());
    proptest::collection::vec((event, 0u64..40 * DAY), 0..30)
}

fn any_profile() -> impl Strategy<Value = TenantProfile> {
    proptest::sample::select(all_profiles().collect::<Vec<_>>())
}

proptest! {
    #[test]
    fn score_never_rises_with_time_alone(
        p in any_profile(), events in history_events(), gap in 0u64..60 * DAY, more in 0u64..60 * DAY,
    ) {
        let mut h = History::default();
        let mut last = 0;
        for (e, t) in events {
            h.record(e, Millis(t));
            last = last.max(t);
        }
        let (t1, t2) = (last + gap, last + gap + more);
        prop_assert!(score_at(&p, &h, t2) <= score_at(&p, &h, t1), "decay-monotonic: {t1} -> {t2}");
        let tier = |t| assess(&p, &h, None, &ScoringPolicy::default(), Millis(t)).tier;
        prop_assert!(tier(t2) <= tier(t1), "tier-decay-monotonic: {t1} -> {t2}");
    }

    #[test]
    fn an_event_never_lowers_the_score_or_tier(
        p in any_profile(), events in history_events(), extra in proptest::sample::select(HistoryEvent::ALL.to_vec()),
    ) {
        let mut h = History::default();
        for (e, t) in &events {
            h.record(*e, Millis(*t));
        }
        let now = Millis(40 * DAY);
        let policy = ScoringPolicy::default();
        let before = assess(&p, &h, None, &policy, now);
        h.record(extra, now);
        let after = assess(&p, &h, None, &policy, now);
        prop_assert!(after.computed_score >= before.computed_score, "events-only-add-risk: {extra:?}");
        prop_assert!(after.tier >= before.tier, "events-only-add-risk: tier after {extra:?}");
    }
}
