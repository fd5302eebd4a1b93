//! Per-tier gauges for the daemon's metrics endpoint.
//!
//! Guarantees: a snapshot of the cordon at the time of the call, computed in
//! O(tenants + processes). Trusts: nothing.

use crate::cordon::Cordon;
use crate::tier::RiskTier;
use serde::Serialize;

/// Gauges for one tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TierMetrics {
    /// Live processes serving the tier.
    pub processes: usize,
    /// Of those, processes holding no isolate (idle spares).
    pub empty_processes: usize,
    /// Registered tenants whose last-evaluated tier is this one.
    pub tenants: usize,
    /// Isolates in the tier's processes (active + draining).
    pub isolates: usize,
    /// Of those, isolates being drained.
    pub draining_isolates: usize,
    /// Isolate slots in the tier's processes.
    pub capacity: usize,
}

/// Gauges for every tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CordonMetrics {
    /// `Trusted`.
    pub trusted: TierMetrics,
    /// `Standard`.
    pub standard: TierMetrics,
    /// `Untrusted`.
    pub untrusted: TierMetrics,
    /// `Quarantine`.
    pub quarantine: TierMetrics,
}

impl CordonMetrics {
    /// The gauges of `tier`.
    #[must_use]
    pub fn tier(&self, tier: RiskTier) -> &TierMetrics {
        match tier {
            RiskTier::Trusted => &self.trusted,
            RiskTier::Standard => &self.standard,
            RiskTier::Untrusted => &self.untrusted,
            RiskTier::Quarantine => &self.quarantine,
        }
    }

    fn tier_mut(&mut self, tier: RiskTier) -> &mut TierMetrics {
        match tier {
            RiskTier::Trusted => &mut self.trusted,
            RiskTier::Standard => &mut self.standard,
            RiskTier::Untrusted => &mut self.untrusted,
            RiskTier::Quarantine => &mut self.quarantine,
        }
    }
}

impl Cordon {
    /// A snapshot of per-tier gauges.
    #[must_use]
    pub fn metrics(&self) -> CordonMetrics {
        let mut metrics = CordonMetrics::default();
        for state in self.tenants.values() {
            metrics.tier_mut(state.tier).tenants += 1;
        }
        for process in self.processes() {
            let gauges = metrics.tier_mut(process.tier());
            let load = process.load() as usize;
            gauges.processes += 1;
            gauges.empty_processes += usize::from(load == 0);
            gauges.isolates += load;
            gauges.draining_isolates += process.draining_tenants().count();
            gauges.capacity += process.capacity() as usize;
        }
        metrics
    }
}
