//! The risk signals, their weights, decay half-lives and caps.
//!
//! Guarantees: this module is the single source of the numbers below; the
//! tables are checked against the code by unit tests. Trusts: the operator
//! and the daemon to report facts and events truthfully.
//!
//! A score is the sum of every signal's contribution, rounded and clamped to
//! `0..=100` (tiers: see [`crate::tier`]).
//!
//! # Facts (set by the operator through config/API; they do not decay)
//!
//! | Signal               | Weight | Contribution                                   |
//! |----------------------|-------:|------------------------------------------------|
//! | `baseline`           |    +30 | always                                         |
//! | `operator_trusted`   |    −30 | operator trust level `Trusted`                 |
//! | `operator_low_trust` |    +30 | operator trust level `Low` (`Normal`: nothing) |
//! | `verified_account`   |    −10 | account verified (payment, identity, …)        |
//! | `new_account`        |    +10 | × (30 − age in days) / 30, zero from 30 days   |
//! | `uses_web_assembly`  |     +4 | the bundle names or was seen compiling wasm    |
//! | `large_bundle`       |     +3 | bundle larger than the threshold (8 MiB)       |
//! | `dynamic_import`     |     +2 | the bundle has or was seen calling `import()`  |
//!
//! Facts alone span 0 – 79, so no account fact can quarantine a tenant: the
//! `Quarantine` tier is reached only by behaviour or an operator pin.
//!
//! # History (reported by the daemon; decays exponentially)
//!
//! Each event adds 1 to a per-kind count that halves every half-life
//! (`count(t) = Σ 2^(−(t − tᵢ)/half_life)`, kept as one running value per
//! kind, so memory is O(1) per tenant). Contribution = `min(weight × count,
//! cap)`, so one noisy but benign behaviour cannot by itself reach the top.
//!
//! | Signal                       | Weight | Half-life | Cap | Quarantine latch |
//! |------------------------------|-------:|----------:|----:|-----------------:|
//! | `cpu_limit_hit`              |     +3 |       1 h |  30 |                — |
//! | `memory_limit_hit`           |     +4 |       1 h |  30 |                — |
//! | `uncaught_crash`             |     +8 |       6 h |  40 |                — |
//! | `worker_death`               |     +2 |       1 h |  10 |                — |
//! | `worker_crash_while_running` |    +60 |    7 days | 100 |             24 h |
//! | `seccomp_kill`               |   +100 |   30 days | 100 |           7 days |
//!
//! The latch: a worker crash or seccomp kill while this tenant's code ran puts
//! the tenant in `Quarantine` at once and keeps it there for the latch period
//! whatever its score (even a `Trusted`, verified account, whose facts would
//! otherwise offset the penalty). After the latch the decayed contribution
//! still counts: a `Normal` tenant with one seccomp kill scores ≥ 80 (and so
//! stays quarantined) for 30 days. Only an operator override ends it sooner.

use serde::Serialize;

/// Everything that can contribute to a score (the `signal` column above).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Every tenant starts here.
    Baseline,
    /// Operator trust level `Trusted`.
    OperatorTrusted,
    /// Operator trust level `Low`.
    OperatorLowTrust,
    /// The account is verified.
    VerifiedAccount,
    /// The account is younger than [`NEW_ACCOUNT_DAYS`].
    NewAccount,
    /// The code uses WebAssembly.
    UsesWebAssembly,
    /// The bundle is larger than the configured threshold.
    LargeBundle,
    /// The code uses dynamic `import()`.
    DynamicImport,
    /// A history event (see [`HistoryEvent`]); serialised flat, e.g.
    /// `"seccomp_kill"`.
    #[serde(untagged)]
    History(HistoryEvent),
}

/// A behavioural event the daemon reports about a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryEvent {
    /// A request was stopped for exceeding its CPU-time limit.
    CpuLimitHit,
    /// An isolate hit its heap limit.
    MemoryLimitHit,
    /// An isolate of this tenant died abnormally (uncaught fatal error, V8
    /// out-of-memory) while its worker process survived.
    UncaughtCrash,
    /// A worker process died while hosting (not running) this tenant.
    WorkerDeath,
    /// A worker process crashed while this tenant's code was running.
    WorkerCrashWhileRunning,
    /// A worker process was killed by seccomp while this tenant's code ran.
    SeccompKill,
}

/// Static weights, in score points (see the facts table).
pub mod weights {
    /// `baseline`.
    pub const BASELINE: f64 = 30.0;
    /// `operator_trusted`.
    pub const OPERATOR_TRUSTED: f64 = -30.0;
    /// `operator_low_trust`.
    pub const OPERATOR_LOW_TRUST: f64 = 30.0;
    /// `verified_account`.
    pub const VERIFIED_ACCOUNT: f64 = -10.0;
    /// `new_account` at age 0; scales linearly to 0 at `NEW_ACCOUNT_DAYS`.
    pub const NEW_ACCOUNT: f64 = 10.0;
    /// `uses_web_assembly`.
    pub const USES_WEB_ASSEMBLY: f64 = 4.0;
    /// `large_bundle`.
    pub const LARGE_BUNDLE: f64 = 3.0;
    /// `dynamic_import`.
    pub const DYNAMIC_IMPORT: f64 = 2.0;
}

/// Accounts younger than this many days carry the `new_account` signal.
pub const NEW_ACCOUNT_DAYS: u32 = 30;

/// Default `large_bundle` threshold: bundles strictly larger are "large".
pub const DEFAULT_LARGE_BUNDLE_BYTES: u64 = 8 * 1024 * 1024;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

impl HistoryEvent {
    /// All history kinds, in table order.
    pub const ALL: [HistoryEvent; 6] = [
        HistoryEvent::CpuLimitHit,
        HistoryEvent::MemoryLimitHit,
        HistoryEvent::UncaughtCrash,
        HistoryEvent::WorkerDeath,
        HistoryEvent::WorkerCrashWhileRunning,
        HistoryEvent::SeccompKill,
    ];

    /// Dense index `0..6`, in [`HistoryEvent::ALL`] order.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }

    /// Points per (decayed) event.
    #[must_use]
    pub fn weight(self) -> f64 {
        match self {
            HistoryEvent::CpuLimitHit => 3.0,
            HistoryEvent::MemoryLimitHit => 4.0,
            HistoryEvent::UncaughtCrash => 8.0,
            HistoryEvent::WorkerDeath => 2.0,
            HistoryEvent::WorkerCrashWhileRunning => 60.0,
            HistoryEvent::SeccompKill => 100.0,
        }
    }

    /// Time for one event's weight to halve, in milliseconds (never zero).
    #[must_use]
    pub fn half_life_ms(self) -> u64 {
        match self {
            HistoryEvent::CpuLimitHit | HistoryEvent::MemoryLimitHit => HOUR_MS,
            HistoryEvent::UncaughtCrash => 6 * HOUR_MS,
            HistoryEvent::WorkerDeath => HOUR_MS,
            HistoryEvent::WorkerCrashWhileRunning => 7 * DAY_MS,
            HistoryEvent::SeccompKill => 30 * DAY_MS,
        }
    }

    /// Upper bound on this kind's total contribution.
    #[must_use]
    pub fn cap(self) -> f64 {
        match self {
            HistoryEvent::CpuLimitHit | HistoryEvent::MemoryLimitHit => 30.0,
            HistoryEvent::UncaughtCrash => 40.0,
            HistoryEvent::WorkerDeath => 10.0,
            HistoryEvent::WorkerCrashWhileRunning | HistoryEvent::SeccompKill => 100.0,
        }
    }

    /// How long one such event forces `Quarantine`, if it does.
    #[must_use]
    pub fn quarantine_latch_ms(self) -> Option<u64> {
        match self {
            HistoryEvent::WorkerCrashWhileRunning => Some(DAY_MS),
            HistoryEvent::SeccompKill => Some(7 * DAY_MS),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The module-doc history table, row by row:
    /// (event, weight, half-life, cap, latch).
    const DOC_TABLE: [(HistoryEvent, f64, u64, f64, Option<u64>); 6] = [
        (HistoryEvent::CpuLimitHit, 3.0, HOUR_MS, 30.0, None),
        (HistoryEvent::MemoryLimitHit, 4.0, HOUR_MS, 30.0, None),
        (HistoryEvent::UncaughtCrash, 8.0, 6 * HOUR_MS, 40.0, None),
        (HistoryEvent::WorkerDeath, 2.0, HOUR_MS, 10.0, None),
        (
            HistoryEvent::WorkerCrashWhileRunning,
            60.0,
            7 * DAY_MS,
            100.0,
            Some(DAY_MS),
        ),
        (
            HistoryEvent::SeccompKill,
            100.0,
            30 * DAY_MS,
            100.0,
            Some(7 * DAY_MS),
        ),
    ];

    #[test]
    fn history_table_matches_module_doc() {
        for (i, (event, weight, half_life, cap, latch)) in DOC_TABLE.into_iter().enumerate() {
            assert_eq!(HistoryEvent::ALL[i], event, "table order");
            assert_eq!(event.index(), i);
            assert_eq!(event.weight(), weight, "{event:?} weight");
            assert_eq!(event.half_life_ms(), half_life, "{event:?} half-life");
            assert_eq!(event.cap(), cap, "{event:?} cap");
            assert_eq!(event.quarantine_latch_ms(), latch, "{event:?} latch");
            assert!(event.half_life_ms() > 0, "{event:?} half-life non-zero");
        }
    }

    #[test]
    fn latching_events_alone_reach_quarantine_score() {
        // With no offsetting facts a single latching event scores >= 80 by
        // itself, i.e. the latch and the score agree at the moment of the event.
        for event in HistoryEvent::ALL {
            if event.quarantine_latch_ms().is_some() {
                assert!(weights::BASELINE + event.weight().min(event.cap()) >= 80.0);
            }
        }
    }
}
