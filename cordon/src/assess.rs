//! Turning a tenant's facts, history and override into a score and a tier.
//!
//! Guarantees: [`assess`] and [`risk_report`] are pure functions of their
//! arguments (time included), so they can be tested exhaustively. Precedence,
//! highest first:
//! 1. an operator override ([`Override::PinTier`] or [`Override::PinScore`]);
//! 2. an active quarantine latch (see [`crate::signals`]) → `Quarantine`;
//! 3. the computed score → tier by the thresholds in [`crate::tier`].
//!
//! Clearing an override does not erase history: a latch still running then
//! applies again. Trusts: the facts and events it is given.

use crate::decay::DecayingCount;
use crate::ids::{Millis, TenantId};
use crate::signals::{weights, HistoryEvent, Signal, DEFAULT_LARGE_BUNDLE_BYTES, NEW_ACCOUNT_DAYS};
use crate::tier::{RiskScore, RiskTier};
use serde::Serialize;

/// Operator-set trust level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustLevel {
    /// Vouched for by the operator.
    Trusted,
    /// No operator opinion.
    #[default]
    Normal,
    /// The operator distrusts this account.
    Low,
}

/// Facts about a tenant and its code, set through config/API. The default is
/// an unknown account: `Normal` trust, age 0, unverified, plain JavaScript.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct TenantProfile {
    /// Operator trust level.
    pub trust: TrustLevel,
    /// Account age in whole days, as of the last time the operator set it.
    pub account_age_days: u32,
    /// Whether the account is verified.
    pub verified: bool,
    /// Whether the deployed code uses WebAssembly.
    pub uses_web_assembly: bool,
    /// Size of the deployed bundle in bytes.
    pub bundle_bytes: u64,
    /// Whether the deployed code uses dynamic `import()`.
    pub dynamic_import: bool,
}

/// Operator override of the computed placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Override {
    /// Use this tier whatever the score or latch.
    PinTier(RiskTier),
    /// Use this score (and the tier it maps to) whatever the signals or latch.
    PinScore(RiskScore),
}

/// Tunables that are not weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoringPolicy {
    /// Bundles strictly larger than this carry `large_bundle`.
    pub large_bundle_bytes: u64,
}

impl Default for ScoringPolicy {
    fn default() -> Self {
        Self {
            large_bundle_bytes: DEFAULT_LARGE_BUNDLE_BYTES,
        }
    }
}

/// A tenant's behavioural record: one decaying count per event kind plus the
/// end of the latest quarantine latch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    counts: [DecayingCount; HistoryEvent::ALL.len()],
    quarantine_until: Option<Millis>,
}

impl History {
    /// Records `event` at `now`; a latching event extends the latch to at
    /// least `now + latch` (never shortens it).
    pub fn record(&mut self, event: HistoryEvent, now: Millis) {
        self.counts[event.index()].add_event(now, event.half_life_ms());
        if let Some(latch_ms) = event.quarantine_latch_ms() {
            let until = now.plus(latch_ms);
            self.quarantine_until = Some(self.quarantine_until.map_or(until, |u| u.max(until)));
        }
    }

    /// The decayed count of `event` at `now`.
    #[must_use]
    pub fn count_at(&self, event: HistoryEvent, now: Millis) -> f64 {
        self.counts[event.index()].value_at(now, event.half_life_ms())
    }

    /// Sets `event`'s count to `value` as of `now` (a restored history, see `persist`).
    pub(crate) fn set_count(&mut self, event: HistoryEvent, value: f64, now: Millis) {
        self.counts[event.index()] = DecayingCount::at(value, now);
    }

    /// Sets the quarantine latch to end at `until` (a restored history, see `persist`).
    pub(crate) fn set_latch(&mut self, until: Millis) {
        self.quarantine_until = Some(until);
    }

    /// End of the quarantine latch, if it is still running at `now`.
    #[must_use]
    pub fn quarantine_latched_until(&self, now: Millis) -> Option<Millis> {
        self.quarantine_until.filter(|&until| until > now)
    }
}

/// One row of a report: the signal, its table weight, and the points it adds
/// now (after scaling, decay and cap).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SignalContribution {
    /// Which signal.
    pub signal: Signal,
    /// Its weight from the tables in [`crate::signals`].
    pub weight: f64,
    /// Points it contributes at the time of assessment.
    pub contribution: f64,
}

/// Number of rows [`contributions`] returns.
pub const SIGNAL_COUNT: usize = 8 + HistoryEvent::ALL.len();

/// Every signal's contribution at `now` (zero rows included), table order.
#[must_use]
pub fn contributions(
    profile: &TenantProfile,
    history: &History,
    policy: &ScoringPolicy,
    now: Millis,
) -> [SignalContribution; SIGNAL_COUNT] {
    let row = |signal, weight: f64, applies: bool| SignalContribution {
        signal,
        weight,
        contribution: if applies { weight } else { 0.0 },
    };
    let young_days = NEW_ACCOUNT_DAYS.saturating_sub(profile.account_age_days);
    let mut rows = [row(Signal::Baseline, 0.0, false); SIGNAL_COUNT];
    rows[0] = row(Signal::Baseline, weights::BASELINE, true);
    rows[1] = row(
        Signal::OperatorTrusted,
        weights::OPERATOR_TRUSTED,
        profile.trust == TrustLevel::Trusted,
    );
    rows[2] = row(
        Signal::OperatorLowTrust,
        weights::OPERATOR_LOW_TRUST,
        profile.trust == TrustLevel::Low,
    );
    rows[3] = row(
        Signal::VerifiedAccount,
        weights::VERIFIED_ACCOUNT,
        profile.verified,
    );
    rows[4] = SignalContribution {
        signal: Signal::NewAccount,
        weight: weights::NEW_ACCOUNT,
        contribution: weights::NEW_ACCOUNT * f64::from(young_days) / f64::from(NEW_ACCOUNT_DAYS),
    };
    rows[5] = row(
        Signal::UsesWebAssembly,
        weights::USES_WEB_ASSEMBLY,
        profile.uses_web_assembly,
    );
    rows[6] = row(
        Signal::LargeBundle,
        weights::LARGE_BUNDLE,
        profile.bundle_bytes > policy.large_bundle_bytes,
    );
    rows[7] = row(
        Signal::DynamicImport,
        weights::DYNAMIC_IMPORT,
        profile.dynamic_import,
    );
    for (slot, event) in rows[8..].iter_mut().zip(HistoryEvent::ALL) {
        *slot = SignalContribution {
            signal: Signal::History(event),
            weight: event.weight(),
            contribution: (event.weight() * history.count_at(event, now)).min(event.cap()),
        };
    }
    rows
}

/// The outcome of scoring one tenant at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Assessment {
    /// The score the signals give.
    pub computed_score: RiskScore,
    /// The score in effect (`computed_score` unless pinned).
    pub score: RiskScore,
    /// The tier in effect.
    pub tier: RiskTier,
    /// End of a running quarantine latch.
    pub quarantine_latched_until: Option<Millis>,
}

/// Scores a tenant at `now` (precedence: see the module doc).
#[must_use]
pub fn assess(
    profile: &TenantProfile,
    history: &History,
    operator_override: Option<Override>,
    policy: &ScoringPolicy,
    now: Millis,
) -> Assessment {
    let points: f64 = contributions(profile, history, policy, now)
        .iter()
        .map(|row| row.contribution)
        .sum();
    let computed_score = RiskScore::from_points(points);
    let latched = history.quarantine_latched_until(now);
    let (score, tier) = match (operator_override, latched) {
        (Some(Override::PinTier(tier)), _) => (computed_score, tier),
        (Some(Override::PinScore(score)), _) => (score, RiskTier::for_score(score)),
        (None, Some(_)) => (computed_score, RiskTier::Quarantine),
        (None, None) => (computed_score, RiskTier::for_score(computed_score)),
    };
    Assessment {
        computed_score,
        score,
        tier,
        quarantine_latched_until: latched,
    }
}

/// The body of `GET /v1/tenants/{id}/risk`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RiskReport {
    /// The tenant.
    pub tenant: TenantId,
    /// Score in effect.
    pub score: RiskScore,
    /// Score from signals alone (differs from `score` under `pin_score`).
    pub computed_score: RiskScore,
    /// Tier in effect.
    pub tier: RiskTier,
    /// Operator override, if any.
    #[serde(rename = "override")]
    pub operator_override: Option<Override>,
    /// End of a running quarantine latch, in the caller's milliseconds.
    pub quarantine_latched_until: Option<Millis>,
    /// Every signal that contributes now (non-zero rows), table order.
    pub signals: Vec<SignalContribution>,
}

/// Builds the report for a tenant at `now`.
#[must_use]
pub fn risk_report(
    tenant: TenantId,
    profile: &TenantProfile,
    history: &History,
    operator_override: Option<Override>,
    policy: &ScoringPolicy,
    now: Millis,
) -> RiskReport {
    let assessment = assess(profile, history, operator_override, policy, now);
    RiskReport {
        tenant,
        score: assessment.score,
        computed_score: assessment.computed_score,
        tier: assessment.tier,
        operator_override,
        quarantine_latched_until: assessment.quarantine_latched_until,
        signals: contributions(profile, history, policy, now)
            .into_iter()
            .filter(|row| row.contribution != 0.0)
            .collect(),
    }
}
