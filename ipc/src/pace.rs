//! How either end of the socket waits for the other without sleeping, for a moment: the
//! rule that stops it on a busy machine. A worker's isolate thread spins for a host call's reply
//! (`worker/src/pace.rs`), the supervisor's lookout for the frames around a host call
//! (`daemon/src/supervisor/link/lookout.rs`); both yield the CPU between looks, and both stop
//! when a yield shows another thread wanted the CPU.
//!
//! Guarantees: pure arithmetic; a cooldown is [`MIN_COOLDOWN`] or [`MAX_COOLDOWN`].

use std::time::Duration;

/// A `yield` between looks that took longer than this gave the CPU to another thread for a
/// time slice: the machine is busy. There a spinning thread notices its reply a slice late
/// (a thread woken from `poll` is scheduled at once; one that yielded waits its turn; measured:
/// a bare host call 50 → 100 us at load 7 on 2 vCPUs), so the thread stops spinning, and does not
/// start again for a cooldown ([`cooldown`]). (A quiet VM shows a look over 100 us about
/// every 30 ms, a busy one nearly every time, after a millisecond or more.) The supervisor's
/// lookout uses the same rule.
pub const CONTENDED: Duration = Duration::from_micros(100);
/// The cooldown after an isolated contended spin.
pub const MIN_COOLDOWN: Duration = Duration::from_millis(1);
/// The cooldown after a contended spin that follows another within [`RECENT`].
pub const MAX_COOLDOWN: Duration = Duration::from_millis(64);
/// Two contended spins this close tell a busy machine from a quiet one's rare long look.
pub const RECENT: Duration = Duration::from_millis(4);

/// How long no spin starts after one found the CPU contended, given how long ago the previous
/// contended spin was (`None`: never). A quiet VM shows a long look now and then: it costs a
/// millisecond of spinning. On a busy machine contended spins come close together, and a spin
/// starts at most every 64 ms or so: there a thread woken from its sleep is scheduled at once,
/// and one that yielded waits its turn.
///
/// Measured on a 2-vCPU VM (`binding-latency`, RPC round trip, p50, with the supervisor's
/// lookout and the target's spin): a fixed 20 ms cooldown left a quiet machine at 47-62 us
/// (spinning was off much of the time); 1 ms doubling per contended spin in a row gave 36-38 us
/// quiet but 376-440 us under six CPU hogs, where the previous build (the caller alone spinning,
/// fixed 20 ms) took 105-134 us; this rule with `RECENT` = 20 ms 62-66 us quiet, with 4 ms
/// 40-45 us quiet and 154-290 us under the hogs.
pub fn cooldown(since_last_contended: Option<Duration>) -> Duration {
    match since_last_contended {
        Some(since) if since < RECENT => MAX_COOLDOWN,
        _ => MIN_COOLDOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_isolated_contended_spin_costs_a_millisecond() {
        assert_eq!(cooldown(None), MIN_COOLDOWN);
        assert_eq!(cooldown(Some(Duration::from_millis(30))), MIN_COOLDOWN);
        assert_eq!(cooldown(Some(RECENT)), MIN_COOLDOWN);
    }

    #[test]
    fn contended_spins_close_together_stop_the_spinning_for_longer() {
        assert_eq!(cooldown(Some(Duration::ZERO)), MAX_COOLDOWN);
        assert_eq!(cooldown(Some(Duration::from_millis(3))), MAX_COOLDOWN);
    }
}
