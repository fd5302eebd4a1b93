//! What a [`crate::Cordon`] is configured with: per shared tier, how many
//! isolates a process holds and how many processes the tier spreads its
//! tenants over before any process takes a second one; plus the scoring
//! tunables.
//!
//! Guarantees: plain values; [`crate::Cordon::new`] refuses a zero capacity
//! or a zero minimum. `Quarantine` is not configurable here: one tenant per
//! process, always. Trusts: nothing. The defaults are the crate's, not the
//! daemon's: this crate reads no machine facts (the daemon sizes
//! `min_processes.standard` by its CPU count).

use crate::assess::ScoringPolicy;
use crate::tier::RiskTier;

/// Isolates per process for the shared tiers (`Quarantine` is always 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierCapacity {
    /// `Trusted` processes.
    pub trusted: u32,
    /// `Standard` processes.
    pub standard: u32,
    /// `Untrusted` processes.
    pub untrusted: u32,
}

impl Default for TierCapacity {
    fn default() -> Self {
        Self {
            trusted: 64,
            standard: 32,
            untrusted: 8,
        }
    }
}

impl TierCapacity {
    /// Isolates per process of `tier`.
    #[must_use]
    pub fn for_tier(&self, tier: RiskTier) -> u32 {
        match tier {
            RiskTier::Trusted => self.trusted,
            RiskTier::Standard => self.standard,
            RiskTier::Untrusted => self.untrusted,
            RiskTier::Quarantine => 1,
        }
    }
}

/// Per shared tier, the number of processes the tier grows to before any of
/// its processes takes a second tenant ("spread before stack"). A worker
/// process runs many requests at once on its isolate threads, but tenants
/// stacked in one process share its cores and its fate (a crash fails every
/// request in it, blamed on none when several tenants were in flight): a
/// minimum of the machine's core count gives a tier's first tenants a process
/// each. Processes are still opened only for tenants that need one: a
/// tier with `k` tenants never has more than `k` processes on their behalf.
///
/// A tier also keeps up to this many processes when they empty (instead of
/// one idle spare), so tenants that come and go do not make the daemon stop
/// and start worker processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierMinProcesses {
    /// `Trusted`.
    pub trusted: u32,
    /// `Standard`.
    pub standard: u32,
    /// `Untrusted`.
    pub untrusted: u32,
}

impl Default for TierMinProcesses {
    /// 1 everywhere: pure least-loaded placement, filling a process before
    /// opening the next.
    fn default() -> Self {
        Self {
            trusted: 1,
            standard: 1,
            untrusted: 1,
        }
    }
}

impl TierMinProcesses {
    /// The minimum for `tier`. `Quarantine` answers 1, but does not use it:
    /// every quarantined tenant gets a process of its own anyway.
    #[must_use]
    pub fn for_tier(&self, tier: RiskTier) -> u32 {
        match tier {
            RiskTier::Trusted => self.trusted,
            RiskTier::Standard => self.standard,
            RiskTier::Untrusted => self.untrusted,
            RiskTier::Quarantine => 1,
        }
    }
}

/// Configuration of a [`crate::Cordon`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CordonConfig {
    /// Isolates per process, per shared tier.
    pub capacity: TierCapacity,
    /// Processes each shared tier spreads over before stacking tenants.
    pub min_processes: TierMinProcesses,
    /// Scoring tunables.
    pub scoring: ScoringPolicy,
}
