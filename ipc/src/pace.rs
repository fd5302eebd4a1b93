//! How either end of the socket waits for the other without sleeping, for a moment: the
//! rule that stops it on a busy machine. A worker's isolate thread spins for a host call's reply
//! (`worker/src/pace.rs`), the supervisor's lookout for the frames around a host call
//! (`daemon/src/supervisor/link/lookout.rs`); both yield the CPU between looks, and both stop
//! when a yield shows another thread wanted the CPU.
//!
//! Guarantees: pure arithmetic; a cooldown is the spinner's own isolated one or [`MAX_COOLDOWN`].

use std::time::Duration;

/// A `yield` between looks that took longer than this gave the CPU to another thread for a
/// time slice: the machine is busy. There a spinning thread notices its reply a slice late
/// (a thread woken from `poll` is scheduled at once; one that yielded waits its turn; measured:
/// a bare host call 50 → 100 us at load 7 on 2 vCPUs), so the thread stops spinning, and does not
/// start again for a cooldown ([`cooldown`]). (A quiet VM shows a look over 100 us about
/// every 30 ms, a busy one nearly every time, after a millisecond or more.) The supervisor's
/// lookout uses the same rule.
pub const CONTENDED: Duration = Duration::from_micros(100);
/// The cooldown after an isolated contended look of the supervisor's lookout.
pub const LOOKOUT_COOLDOWN: Duration = Duration::from_millis(1);
/// The cooldown after an isolated contended spin of a worker's isolate thread.
pub const ISOLATE_THREAD_COOLDOWN: Duration = Duration::from_millis(20);
/// The cooldown after a contended spin that follows another within [`RECENT`].
pub const MAX_COOLDOWN: Duration = Duration::from_millis(64);
/// Two contended spins this close tell a busy machine from a quiet one's rare long look.
pub const RECENT: Duration = Duration::from_millis(4);

/// How long no spin starts after one found the CPU contended, given how long ago the previous
/// contended spin of the same spinner was (`None`: never) and the spinner's cooldown after an
/// isolated one ([`LOOKOUT_COOLDOWN`] or [`ISOLATE_THREAD_COOLDOWN`]). On a busy machine contended
/// spins come close together, and a spin starts at most every 64 ms or so: there a thread woken
/// from its sleep is scheduled at once, and one that yielded waits its turn.
///
/// The two isolated cooldowns were measured on a 2-vCPU VM (`binding-latency`, p50; "hogs":
/// six `while :; do :; done` loops beside it), with the lookout and a binding target's spin:
/// 20 ms for both left a quiet RPC round trip at 47-62 us (the lookout's looks, which a worker's
/// own work on the other CPU often makes long, were off much of the time); 1 ms for both gave
/// 40-45 us quiet but 154-290 us under the hogs against 105-122 us for the build before (the
/// caller alone spinning, 20 ms), and the worker's spins were the cause (lookout alone under the
/// hogs: 71-155 us); 1 ms for the lookout and 20 ms for the isolate threads: 36-37 us quiet,
/// 133-183 us under the hogs against 115-129 us. (A cooldown doubling with each contended spin
/// in a row: 36-38 us quiet, 376-440 us under the hogs.)
pub fn cooldown(since_last_contended: Option<Duration>, isolated: Duration) -> Duration {
    match since_last_contended {
        Some(since) if since < RECENT => MAX_COOLDOWN,
        _ => isolated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_isolated_contended_spin_costs_the_spinners_own_cooldown() {
        for isolated in [LOOKOUT_COOLDOWN, ISOLATE_THREAD_COOLDOWN] {
            assert_eq!(cooldown(None, isolated), isolated);
            assert_eq!(
                cooldown(Some(Duration::from_millis(30)), isolated),
                isolated
            );
            assert_eq!(cooldown(Some(RECENT), isolated), isolated);
        }
    }

    #[test]
    fn contended_spins_close_together_stop_the_spinning_for_longer() {
        for isolated in [LOOKOUT_COOLDOWN, ISOLATE_THREAD_COOLDOWN] {
            assert_eq!(cooldown(Some(Duration::ZERO), isolated), MAX_COOLDOWN);
            assert_eq!(
                cooldown(Some(RECENT - Duration::from_nanos(1)), isolated),
                MAX_COOLDOWN
            );
        }
    }
}
