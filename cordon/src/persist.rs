//! A tenant's risk history and operator pin in a form that outlives the process: what a daemon
//! stores so that a restart (or another daemon sharing the store) does not forget a tenant's
//! crashes, limit hits, quarantine latch or pin.
//!
//! Guarantees (pure functions, proptested below against these invariants):
//! - **Continuity**: a history snapshotted at `t` and restored `e` ms later counts, for every
//!   event kind, what the original would count at `t + e` (up to float rounding), and its
//!   quarantine latch ends when the original's would; time that passes while no daemon runs
//!   decays history exactly as if one had.
//! - **Fail closed**: a snapshot never restores *less* than it says: unknown or malformed
//!   fields are refused as a whole (`None`), never read as "no history"; a negative, infinite or
//!   NaN count is refused. Trusts: the wall clock, for the time that passed between snapshot and
//!   restore (a clock set back counts as no time passing).

use serde::{Deserialize, Serialize};

use crate::assess::{History, Override};
use crate::decay::decay;
use crate::ids::Millis;
use crate::signals::HistoryEvent;
use crate::tier::{RiskScore, RiskTier};

/// What is stored for one tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSnapshot {
    /// Each event kind's decayed count at the snapshot (kinds with none are left out).
    pub counts: Vec<(String, f64)>,
    /// How long the quarantine latch had still to run at the snapshot, ms.
    pub latch_ms: Option<u64>,
    /// The operator's pin: `{"tier": "quarantine"}` or `{"score": 42}`.
    pub pin: Option<Pin>,
}

/// An operator override as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Pin {
    Tier(RiskTier),
    Score(u8),
}

fn event_name(event: HistoryEvent) -> &'static str {
    match event {
        HistoryEvent::CpuLimitHit => "cpu_limit_hit",
        HistoryEvent::MemoryLimitHit => "memory_limit_hit",
        HistoryEvent::UncaughtCrash => "uncaught_crash",
        HistoryEvent::WorkerDeath => "worker_death",
        HistoryEvent::WorkerCrashWhileRunning => "worker_crash_while_running",
        HistoryEvent::SeccompKill => "seccomp_kill",
    }
}

/// `history` and `pin` as of `now`.
#[must_use]
pub fn snapshot(history: &History, pin: Option<Override>, now: Millis) -> TenantSnapshot {
    let counts = HistoryEvent::ALL
        .iter()
        .map(|&e| (event_name(e).to_owned(), history.count_at(e, now)))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    TenantSnapshot {
        counts,
        latch_ms: history.quarantine_latched_until(now).map(|u| u.since(now)),
        pin: pin.map(|p| match p {
            Override::PinTier(t) => Pin::Tier(t),
            Override::PinScore(s) => Pin::Score(s.get()),
        }),
    }
}

/// The history and pin `snap` describes, `elapsed_ms` after it was taken, as of `now`; `None`
/// when anything in it is not understood.
#[must_use]
pub fn restore(
    snap: &TenantSnapshot,
    elapsed_ms: u64,
    now: Millis,
) -> Option<(History, Option<Override>)> {
    let mut history = History::default();
    for (name, value) in &snap.counts {
        let event = HistoryEvent::ALL
            .into_iter()
            .find(|&e| event_name(e) == name)?;
        if !value.is_finite() || *value < 0.0 {
            return None;
        }
        history.set_count(event, decay(*value, elapsed_ms, event.half_life_ms()), now);
    }
    if let Some(left) = snap.latch_ms {
        if let Some(rest) = left.checked_sub(elapsed_ms).filter(|&r| r > 0) {
            history.set_latch(now.plus(rest));
        }
    }
    let pin = match snap.pin {
        None => None,
        Some(Pin::Tier(t)) => Some(Override::PinTier(t)),
        Some(Pin::Score(s)) => Some(Override::PinScore(RiskScore::new(s).ok()?)),
    };
    Some((history, pin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = HistoryEvent> {
        (0..HistoryEvent::ALL.len()).prop_map(|i| HistoryEvent::ALL[i])
    }

    proptest! {
        /// Continuity: restored after `e` ms, the history counts what the original counts at
        /// `t + e`, and its latch ends at the same instant.
        #[test]
        fn restored_history_continues_the_original(
            events in proptest::collection::vec((event(), 0u64..10 * Millis::DAY), 0..20),
            t in 0u64..20 * Millis::DAY,
            e in 0u64..40 * Millis::DAY,
            later in 0u64..Millis::DAY,
        ) {
            let mut original = History::default();
            let mut sorted = events.clone();
            sorted.sort_by_key(|(_, at)| *at);
            for (ev, at) in sorted.iter().filter(|(_, at)| *at <= t) {
                original.record(*ev, Millis(*at));
            }
            let snap = snapshot(&original, None, Millis(t));
            // Restored in a process whose clock started elsewhere (now = 5 s).
            let base = Millis(5_000);
            let (restored, pin) = restore(&snap, e, base).expect("restores");
            prop_assert_eq!(pin, None);
            for ev in HistoryEvent::ALL {
                let want = original.count_at(ev, Millis(t + e + later));
                let got = restored.count_at(ev, base.plus(later));
                prop_assert!((want - got).abs() <= 1e-9 * want.max(1.0), "{ev:?}: {want} vs {got}");
            }
            let want = original.quarantine_latched_until(Millis(t + e + later)).map(|u| u.0 - (t + e));
            let got = restored.quarantine_latched_until(base.plus(later)).map(|u| u.0 - base.0);
            prop_assert_eq!(want, got);
        }
    }

    #[test]
    fn pins_round_trip_through_json_and_nonsense_fails_closed() {
        let mut h = History::default();
        h.record(HistoryEvent::SeccompKill, Millis(1_000));
        for pin in [
            Some(Override::PinTier(RiskTier::Quarantine)),
            Some(Override::PinScore(RiskScore::new(42).expect("score"))),
            None,
        ] {
            let snap = snapshot(&h, pin, Millis(2_000));
            let json = serde_json::to_string(&snap).expect("json");
            let back: TenantSnapshot = serde_json::from_str(&json).expect("parse");
            let (restored, restored_pin) = restore(&back, 0, Millis(2_000)).expect("restore");
            assert_eq!(restored_pin, pin);
            assert!(restored.quarantine_latched_until(Millis(2_000)).is_some());
        }
        for bad in [
            r#"{"counts": [["unheard_of", 1.0]], "latch_ms": null, "pin": null}"#,
            r#"{"counts": [["seccomp_kill", -1.0]], "latch_ms": null, "pin": null}"#,
            r#"{"counts": [], "latch_ms": null, "pin": {"score": 101}}"#,
        ] {
            let snap: TenantSnapshot = serde_json::from_str(bad).expect("parses as JSON");
            assert!(restore(&snap, 0, Millis(0)).is_none(), "{bad}");
        }
        let extra = r#"{"counts": [], "latch_ms": null, "pin": null, "more": 1}"#;
        assert!(serde_json::from_str::<TenantSnapshot>(extra).is_err());
    }
}
