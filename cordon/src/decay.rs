//! An exponentially decaying event count: the pure maths behind history
//! signals.
//!
//! Guarantees: `value_at` is non-increasing in time and halves every
//! half-life; adding an event adds exactly 1 at the time of the event; a time
//! earlier than the last update is treated as the last update (no "un-decay").
//! Trusts: nothing; inputs are plain values.

use crate::ids::Millis;

/// Below this the count is reported as zero, so long-dead history does not
/// show up in reports as 1e-300 points.
const NEGLIGIBLE: f64 = 1e-6;

/// `Σ 2^(−(t − tᵢ)/half_life)` over recorded events `tᵢ`, stored as one value
/// and the time it was computed at.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DecayingCount {
    value: f64,
    as_of: Millis,
}

/// `value` decayed over `elapsed_ms` with the given half-life.
#[must_use]
pub fn decay(value: f64, elapsed_ms: u64, half_life_ms: u64) -> f64 {
    if elapsed_ms == 0 || value == 0.0 {
        return value;
    }
    // A zero half-life would divide by zero; treat it as "forget at once".
    if half_life_ms == 0 {
        return 0.0;
    }
    let decayed = value * (-(elapsed_ms as f64) / half_life_ms as f64).exp2();
    if decayed < NEGLIGIBLE {
        0.0
    } else {
        decayed
    }
}

impl DecayingCount {
    /// A count of `value` as of `as_of` (a restored history, see `persist`).
    #[must_use]
    pub fn at(value: f64, as_of: Millis) -> DecayingCount {
        DecayingCount { value, as_of }
    }

    /// The count as of `now`.
    #[must_use]
    pub fn value_at(&self, now: Millis, half_life_ms: u64) -> f64 {
        decay(self.value, now.since(self.as_of), half_life_ms)
    }

    /// Records one event at `now`.
    pub fn add_event(&mut self, now: Millis, half_life_ms: u64) {
        let at = now.max(self.as_of);
        self.value = self.value_at(at, half_life_ms) + 1.0;
        self.as_of = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;

    #[test]
    fn one_event_halves_every_half_life() {
        let mut count = DecayingCount::default();
        count.add_event(Millis(1_000), H);
        for halvings in 0..20u32 {
            let t = Millis(1_000 + u64::from(halvings) * H);
            let expected = 0.5f64.powi(halvings as i32);
            let got = count.value_at(t, H);
            assert!(
                (got - expected).abs() < 1e-12,
                "{halvings}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn events_at_the_same_instant_add_up() {
        let mut count = DecayingCount::default();
        for n in 1..=10u32 {
            count.add_event(Millis(5), H);
            assert_eq!(count.value_at(Millis(5), H), f64::from(n));
        }
    }

    #[test]
    fn running_value_equals_the_explicit_sum() {
        let times = [0u64, 10, 500_000, 3_600_000, 3_600_001, 9_999_999];
        let mut count = DecayingCount::default();
        for &t in &times {
            count.add_event(Millis(t), H);
        }
        let now = 20_000_000u64;
        let explicit: f64 = times.iter().map(|&t| decay(1.0, now - t, H)).sum();
        let got = count.value_at(Millis(now), H);
        assert!((got - explicit).abs() < 1e-9, "{got} vs {explicit}");
    }

    #[test]
    fn time_going_backwards_neither_decays_nor_undecays() {
        let mut count = DecayingCount::default();
        count.add_event(Millis(10 * H), H);
        assert_eq!(count.value_at(Millis(0), H), 1.0);
        count.add_event(Millis(H), H);
        assert_eq!(count.value_at(Millis(10 * H), H), 2.0);
        assert_eq!(count.value_at(Millis(11 * H), H), 1.0);
    }

    #[test]
    fn ancient_history_reads_as_exactly_zero() {
        let mut count = DecayingCount::default();
        count.add_event(Millis(0), H);
        assert_eq!(count.value_at(Millis(u64::MAX), H), 0.0);
        assert_eq!(count.value_at(Millis(40 * H), H), 0.0);
        assert_eq!(decay(1.0, 1, 0), 0.0);
    }
}
