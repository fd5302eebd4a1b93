//! Risk scores, the tiers they map to, and the V8 profile each tier runs.
//!
//! Guarantees: a [`RiskScore`] is always in `0..=100`; [`RiskTier::for_score`]
//! is total and monotonic (a higher score never maps to a lower tier).
//!
//! | Score    | Tier         | Process sharing                  | V8 profile |
//! |----------|--------------|----------------------------------|------------|
//! | 0 – 19   | `Trusted`    | shared, per-tier capacity        | `Standard` |
//! | 20 – 49  | `Standard`   | shared, per-tier capacity        | `Standard` |
//! | 50 – 79  | `Untrusted`  | shared, per-tier capacity        | `Standard` |
//! | 80 – 100 | `Quarantine` | one tenant per process, single use | `Strict` |

use crate::error::CordonError;
use serde::Serialize;
use std::fmt;

/// A risk score in `0..=100`; higher is riskier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RiskScore(u8);

impl RiskScore {
    /// The highest score.
    pub const MAX: RiskScore = RiskScore(100);
    /// The lowest score.
    pub const MIN: RiskScore = RiskScore(0);

    /// A score, or [`CordonError::ScoreOutOfRange`] above 100.
    pub fn new(value: u8) -> Result<Self, CordonError> {
        if value <= Self::MAX.0 {
            Ok(Self(value))
        } else {
            Err(CordonError::ScoreOutOfRange(value))
        }
    }

    /// Rounds `points` to the nearest integer and clamps it into `0..=100`
    /// NaN fails closed to 100: an undefined sum must never read as safe (it
    /// cannot arise from the finite weights in [`crate::signals`]).
    #[must_use]
    pub fn from_points(points: f64) -> Self {
        if points.is_nan() {
            return Self::MAX;
        }
        // Clamped to 0..=100 first, so the `as` conversion cannot truncate.
        Self(points.round().clamp(0.0, 100.0) as u8)
    }

    /// The score as an integer in `0..=100`.
    #[must_use]
    pub fn get(self) -> u8 {
        self.0
    }
}

/// Isolation tier. Processes serve exactly one tier; ordered from least to
/// most isolated.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RiskTier {
    /// Known-good tenants; densest packing.
    Trusted,
    /// The default for ordinary accounts.
    Standard,
    /// Tenants with risky facts or a history of hitting limits.
    Untrusted,
    /// One tenant per fresh process, strict V8 profile.
    Quarantine,
}

impl RiskTier {
    /// All tiers, least isolated first.
    pub const ALL: [RiskTier; 4] = [
        RiskTier::Trusted,
        RiskTier::Standard,
        RiskTier::Untrusted,
        RiskTier::Quarantine,
    ];

    /// Lowest score mapped to `Standard`.
    pub const STANDARD_FROM: u8 = 20;
    /// Lowest score mapped to `Untrusted`.
    pub const UNTRUSTED_FROM: u8 = 50;
    /// Lowest score mapped to `Quarantine`.
    pub const QUARANTINE_FROM: u8 = 80;

    /// The tier for a score (see the table in the module doc).
    #[must_use]
    pub fn for_score(score: RiskScore) -> Self {
        match score.get() {
            s if s >= Self::QUARANTINE_FROM => RiskTier::Quarantine,
            s if s >= Self::UNTRUSTED_FROM => RiskTier::Untrusted,
            s if s >= Self::STANDARD_FROM => RiskTier::Standard,
            _ => RiskTier::Trusted,
        }
    }

    /// Dense index `0..4`, in [`RiskTier::ALL`] order.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }

    /// The V8 profile processes of this tier run.
    #[must_use]
    pub fn v8_profile(self) -> V8Profile {
        match self {
            RiskTier::Quarantine => V8Profile::Strict,
            _ => V8Profile::Standard,
        }
    }
}

impl fmt::Display for RiskTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            RiskTier::Trusted => "trusted",
            RiskTier::Standard => "standard",
            RiskTier::Untrusted => "untrusted",
            RiskTier::Quarantine => "quarantine",
        };
        f.write_str(name)
    }
}

/// How the worker process configures V8. The numbers behind "tighter limits"
/// belong to the daemon's isolate configuration; this crate only chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum V8Profile {
    /// JIT on, WebAssembly on, the daemon's normal limits.
    Standard,
    /// `--jitless` (no runtime code generation, so no JIT spraying and no
    /// writable+executable pages), WebAssembly disabled, and the daemon's
    /// tighter heap/CPU limits.
    Strict,
}

impl V8Profile {
    /// Whether V8 may generate machine code at run time.
    #[must_use]
    pub fn jit_enabled(self) -> bool {
        matches!(self, V8Profile::Standard)
    }

    /// Whether WebAssembly may be compiled or instantiated.
    #[must_use]
    pub fn wasm_enabled(self) -> bool {
        matches!(self, V8Profile::Standard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_score_maps_to_a_tier_monotonically() {
        let mut previous = RiskTier::Trusted;
        for value in 0..=100u8 {
            let score = RiskScore::new(value).expect("0..=100 is in range");
            let tier = RiskTier::for_score(score);
            assert!(tier >= previous, "tier monotonic in score at {value}");
            previous = tier;
        }
        assert_eq!(RiskTier::for_score(RiskScore::MIN), RiskTier::Trusted);
        assert_eq!(RiskTier::for_score(RiskScore::MAX), RiskTier::Quarantine);
        for (from, tier) in [
            (RiskTier::STANDARD_FROM, RiskTier::Standard),
            (RiskTier::UNTRUSTED_FROM, RiskTier::Untrusted),
            (RiskTier::QUARANTINE_FROM, RiskTier::Quarantine),
        ] {
            let at = RiskScore::new(from).expect("threshold in range");
            let below = RiskScore::new(from - 1).expect("threshold - 1 in range");
            assert_eq!(RiskTier::for_score(at), tier);
            assert!(RiskTier::for_score(below) < tier);
        }
    }

    #[test]
    fn scores_above_100_are_rejected() {
        for value in 101..=u8::MAX {
            assert!(matches!(
                RiskScore::new(value),
                Err(CordonError::ScoreOutOfRange(v)) if v == value
            ));
        }
    }

    #[test]
    fn points_are_rounded_and_clamped() {
        assert_eq!(RiskScore::from_points(-40.0).get(), 0);
        assert_eq!(RiskScore::from_points(49.4).get(), 49);
        assert_eq!(RiskScore::from_points(49.5).get(), 50);
        assert_eq!(RiskScore::from_points(1e9).get(), 100);
        assert_eq!(RiskScore::from_points(f64::INFINITY).get(), 100);
        assert_eq!(RiskScore::from_points(f64::NAN).get(), 100);
    }

    #[test]
    fn only_quarantine_runs_strict() {
        for tier in RiskTier::ALL {
            let strict = tier == RiskTier::Quarantine;
            assert_eq!(tier.v8_profile() == V8Profile::Strict, strict);
            assert_eq!(tier.v8_profile().jit_enabled(), !strict);
            assert_eq!(tier.v8_profile().wasm_enabled(), !strict);
        }
    }
}
