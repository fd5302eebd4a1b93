//! Strategies and helpers shared by the property tests.
// Each test crate uses a subset.
#![allow(dead_code)]

use proptest::prelude::*;
use stockade_cordon::{
    Cordon, CordonConfig, RiskTier, TenantProfile, TierCapacity, TierMinProcesses, TrustLevel,
};

pub fn tier() -> impl Strategy<Value = RiskTier> {
    proptest::sample::select(RiskTier::ALL.to_vec())
}

pub fn profile() -> impl Strategy<Value = TenantProfile> {
    let trust = proptest::sample::select(vec![
        TrustLevel::Trusted,
        TrustLevel::Normal,
        TrustLevel::Low,
    ]);
    (
        trust,
        0u32..60,
        any::<bool>(),
        any::<bool>(),
        0u64..(16 << 20),
        any::<bool>(),
    )
        .prop_map(
            |(
                trust,
                account_age_days,
                verified,
                uses_web_assembly,
                bundle_bytes,
                dynamic_import,
            )| {
                TenantProfile {
                    trust,
                    account_age_days,
                    verified,
                    uses_web_assembly,
                    bundle_bytes,
                    dynamic_import,
                }
            },
        )
}

/// Small capacities (so processes fill) and minimums 1 to 4 (so some tiers
/// stay below theirs, some grow past them).
pub fn config() -> impl Strategy<Value = CordonConfig> {
    (1u32..=4, 1u32..=4, 1u32..=4, 1u32..=5, 1u32..=4, 1u32..=3).prop_map(
        |(min_trusted, min_standard, min_untrusted, trusted, standard, untrusted)| CordonConfig {
            capacity: TierCapacity {
                trusted,
                standard,
                untrusted,
            },
            min_processes: TierMinProcesses {
                trusted: min_trusted,
                standard: min_standard,
                untrusted: min_untrusted,
            },
            ..CordonConfig::default()
        },
    )
}

/// The tier's minimum of processes, as configured.
pub fn minimum(c: &Cordon, tier: RiskTier) -> usize {
    c.config().min_processes.for_tier(tier) as usize
}

/// The tier's processes that count towards its minimum: live and not being recycled.
pub fn processes_of(c: &Cordon, tier: RiskTier) -> usize {
    c.processes()
        .filter(|p| p.tier() == tier && !p.retiring())
        .count()
}
