//! How isolates are spread over a limited set of keys, and how likely two
//! neighbours are to share one.
//!
//! Pure bookkeeping over key *slots* (indices into a pool), with no syscalls,
//! so the policy is the same on every platform and unit-testable. The pool
//! ([`crate::KeyPool`]) maps slots to kernel keys.
//!
//! Policy: a new isolate gets a slot with the fewest current users; among
//! equals, the first one at or after a round-robin cursor. Consequences:
//! * while some slot has no user, every new isolate gets a key nobody else
//!   holds (distinct keys while any are free);
//! * when isolates outnumber keys, users per key differ by at most one as long
//!   as isolates only arrive (releases can skew it; new arrivals fill the
//!   emptiest keys first, which re-balances).

/// Probability that two distinct isolates, picked uniformly at random among
/// `isolates` isolates balanced over `keys` keys, share a key, i.e. that MPK
/// does **not** separate a given pair of neighbours.
///
/// With `isolates = q·keys + r` (0 ≤ r < keys) balanced assignment puts
/// `q + 1` isolates on `r` keys and `q` on the others, so
///
/// ```text
///            r·(q+1)·q + (keys−r)·q·(q−1)
/// P(share) = ─────────────────────────────
///                 isolates·(isolates−1)
/// ```
///
/// * `isolates < 2` → 0 (there is no pair).
/// * `isolates ≤ keys` → 0 (every isolate has its own key).
/// * `keys == 0` → 1 (without MPK every isolate is under key 0).
///
/// This is the attacker's view when it does not know the assignment; for one
/// *specific* pair the answer is 0 or 1, see [`KeyAssigner::shares_with`] /
/// [`crate::KeyPool`]. Balanced assignment minimises this value for the given
/// counts (the sum of squares of the per-key counts is minimal).
pub fn pair_sharing_probability(isolates: u64, keys: u64) -> f64 {
    if isolates < 2 {
        return 0.0;
    }
    if keys == 0 {
        return 1.0;
    }
    if isolates <= keys {
        return 0.0;
    }
    let n = isolates as f64;
    let q = (isolates / keys) as f64;
    let r = (isolates % keys) as f64;
    let k = keys as f64;
    let same_key_ordered_pairs = r * (q + 1.0) * q + (k - r) * q * (q - 1.0);
    same_key_ordered_pairs / (n * (n - 1.0))
}

/// Least-used, round-robin assignment of isolates to `slots` key slots.
#[derive(Clone, Debug)]
pub struct KeyAssigner {
    users: Vec<u32>,
    cursor: usize,
}

impl KeyAssigner {
    /// An assigner over `slots` slots, all unused. `slots` may be 0, in which
    /// case [`assign`](Self::assign) always returns `None`.
    pub fn new(slots: usize) -> Self {
        KeyAssigner {
            users: vec![0; slots],
            cursor: 0,
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.users.len()
    }

    /// Current users of each slot.
    pub fn users(&self) -> &[u32] {
        &self.users
    }

    /// Picks the slot for a new isolate and counts it as a user; `None` only
    /// when there are no slots.
    pub fn assign(&mut self) -> Option<usize> {
        let n = self.users.len();
        let min = *self.users.iter().min()?;
        let slot = (0..n)
            .map(|i| (self.cursor + i) % n)
            .find(|&i| self.users[i] == min)?;
        self.users[slot] = self.users[slot].saturating_add(1);
        self.cursor = (slot + 1) % n;
        Some(slot)
    }

    /// Counts one user of `slot` as gone. Returns false (and changes nothing)
    /// when `slot` is out of range or has no users, i.e. a double release.
    pub fn release(&mut self, slot: usize) -> bool {
        match self.users.get_mut(slot) {
            Some(count) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => false,
        }
    }

    /// Probability that two distinct current isolates, chosen uniformly,
    /// share a slot, computed from the actual per-slot counts (equals
    /// [`pair_sharing_probability`] when the counts are balanced).
    pub fn current_sharing_probability(&self) -> f64 {
        let n: u64 = self.users.iter().map(|&c| u64::from(c)).sum();
        if n < 2 {
            return 0.0;
        }
        let same: u64 = self
            .users
            .iter()
            .map(|&c| u64::from(c) * u64::from(c).saturating_sub(1))
            .sum();
        same as f64 / (n as f64 * (n - 1) as f64)
    }

    /// Whether an isolate on `slot` currently has a same-key neighbour.
    pub fn shares_with(&self, slot: usize) -> bool {
        self.users.get(slot).is_some_and(|&c| c > 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_edges() {
        assert_eq!(pair_sharing_probability(0, 15), 0.0);
        assert_eq!(pair_sharing_probability(1, 0), 0.0);
        assert_eq!(pair_sharing_probability(2, 0), 1.0);
        assert_eq!(pair_sharing_probability(15, 15), 0.0);
        assert_eq!(pair_sharing_probability(2, 1), 1.0);
        assert_eq!(pair_sharing_probability(100, 1), 1.0);
    }

    #[test]
    fn probability_small_cases_by_hand() {
        // 16 isolates on 15 keys: one key holds 2 → 1 pair (2 ordered) of 16·15.
        let p = pair_sharing_probability(16, 15);
        assert!((p - 2.0 / 240.0).abs() < 1e-12, "{p}");
        // 4 isolates on 2 keys: 2+2 → 2 unordered same-key pairs of 6.
        assert!((pair_sharing_probability(4, 2) - 2.0 / 6.0).abs() < 1e-12);
        // 30 isolates on 15 keys: 15 pairs of C(30,2) = 435.
        assert!((pair_sharing_probability(30, 15) - 15.0 / 435.0).abs() < 1e-12);
    }

    /// Brute force over every pair of a balanced assignment.
    #[test]
    fn probability_matches_pair_enumeration() {
        for keys in 1..=16u64 {
            for isolates in 0..=60u64 {
                let owner = |i: u64| i % keys;
                let (mut same, mut all) = (0u64, 0u64);
                for a in 0..isolates {
                    for b in (a + 1)..isolates {
                        all += 1;
                        same += u64::from(owner(a) == owner(b));
                    }
                }
                let expected = if all == 0 {
                    0.0
                } else {
                    same as f64 / all as f64
                };
                let got = pair_sharing_probability(isolates, keys);
                assert!((got - expected).abs() < 1e-12, "n={isolates} k={keys}");
            }
        }
    }

    #[test]
    fn distinct_slots_while_any_free_then_least_used() {
        let mut a = KeyAssigner::new(3);
        let first: Vec<_> = (0..3).filter_map(|_| a.assign()).collect();
        assert_eq!(first, vec![0, 1, 2]);
        assert_eq!(a.current_sharing_probability(), 0.0);
        // Oversubscribed: round-robin over equally used slots.
        let next: Vec<_> = (0..4).filter_map(|_| a.assign()).collect();
        assert_eq!(next, vec![0, 1, 2, 0]);
        assert_eq!(a.users(), &[3, 2, 2]);
        // A freed slot is preferred over the cursor position.
        assert!(a.release(2));
        assert!(a.release(2));
        assert_eq!(a.assign(), Some(2));
        assert!(!a.release(7));
    }

    #[test]
    fn balanced_counts_match_formula() {
        for slots in 1..=15usize {
            let mut a = KeyAssigner::new(slots);
            for n in 1..=50u64 {
                assert!(a.assign().is_some());
                let max = a.users().iter().max().copied().unwrap_or(0);
                let min = a.users().iter().min().copied().unwrap_or(0);
                assert!(max - min <= 1);
                let (cur, formula) = (
                    a.current_sharing_probability(),
                    pair_sharing_probability(n, slots as u64),
                );
                assert!((cur - formula).abs() < 1e-12, "n={n} slots={slots}");
            }
        }
    }

    #[test]
    fn double_release_is_refused() {
        let mut a = KeyAssigner::new(2);
        assert_eq!(a.assign(), Some(0));
        assert!(a.release(0));
        assert!(!a.release(0));
        assert_eq!(a.users(), &[0, 0]);
        assert_eq!(KeyAssigner::new(0).assign(), None);
    }
}
