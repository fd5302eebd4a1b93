//! The bytes host calls hold in the supervisor. A call's payload (up to the protocol's 16 MiB)
//! is counted from the moment the link takes it until its handler is done (or dropped with its
//! cancelled or finished request), and its answer from then until it is written to the worker
//! (which may read slowly, or not at all), against its request's share, its tenant's share and
//! the daemon's whole budget. Without it, one request of plain tenant code (40 concurrent
//! `fetch()`es of one 15 MiB buffer to an upstream that never reads) grew the supervisor by
//! 1.8 GiB, and a few such requests would take the daemon down for everyone.
//!
//! Guarantees:
//! - the payloads and unwritten answers of one request's calls never add up to more than
//!   [`MAX_HELD_PER_REQUEST`], those of one tenant's requests to more than its share (`[limits]
//!   host_call_memory_per_tenant_mb`: one tenant cannot take the whole budget from the others),
//!   nor those of every request of the daemon to more than its budget (`[limits]
//!   host_call_memory_mb`); a call that would pass any is refused before any handler sees it,
//!   an answer is dropped (the call fails), and every count stays as it was;
//! - a count is given back exactly once, when its [`Held`] drops, however the call ends.
//!
//! Trusts: the link to hold each call's [`Held`] for as long as the call's future lives, and
//! each answer's until its outbox has written it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use stockade_cordon::TenantId;

/// What one request's outstanding host calls may hold: three calls of the protocol's largest
/// payload (a `fetch()` with a 15 MiB body rides in one call; two of them in parallel pass).
pub const MAX_HELD_PER_REQUEST: usize = 48 << 20;

/// The daemon's budget when the configuration does not name one (`host_call_memory_mb`).
pub const DEFAULT_BUDGET_MB: u64 = 512;

/// One tenant's share when the configuration does not name one
/// (`host_call_memory_per_tenant_mb`).
pub const DEFAULT_TENANT_SHARE_MB: u64 = 128;

/// Which share a refused call would have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "the request's host calls in flight already hold {held} bytes; {MAX_HELD_PER_REQUEST} \
         is its share (wait for some to finish)"
    )]
    Request { held: usize },
    #[error("the tenant's host calls in flight hold its whole share; try again shortly")]
    Tenant,
    #[error("the daemon's host calls in flight hold their whole budget; try again shortly")]
    Daemon,
}

/// The daemon-wide count and each tenant's, shared by every link.
#[derive(Debug)]
pub struct Budget {
    held: AtomicUsize,
    limit: usize,
    /// Each tenant's count, made at its first call (one per tenant ever seen).
    tenants: Mutex<HashMap<TenantId, Arc<AtomicUsize>>>,
    tenant_limit: usize,
}

fn mib(mb: u64) -> usize {
    usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
}

impl Budget {
    /// A budget of `limit` bytes for every outstanding call together, of `tenant_limit` for one
    /// tenant's.
    pub fn new(limit: usize, tenant_limit: usize) -> Budget {
        Budget {
            held: AtomicUsize::new(0),
            limit,
            tenants: Mutex::new(HashMap::new()),
            tenant_limit,
        }
    }

    /// A budget of `mb` MiB, of `tenant_mb` for one tenant (saturating).
    pub fn of_mb(mb: u64, tenant_mb: u64) -> Budget {
        Budget::new(mib(mb), mib(tenant_mb))
    }

    /// Bytes held now by every outstanding call.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    fn tenant(&self, tenant: TenantId) -> Arc<AtomicUsize> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(tenants.entry(tenant).or_default())
    }

    /// Counts `bytes` of `tenant` against `request`'s share, the tenant's and this budget, or
    /// refuses them (and counts nothing).
    pub fn take(
        self: &Arc<Self>,
        tenant: TenantId,
        request: &Arc<AtomicUsize>,
        bytes: usize,
    ) -> Result<Held, Refused> {
        add_within(request, bytes, MAX_HELD_PER_REQUEST)
            .map_err(|held| Refused::Request { held })?;
        let of_tenant = self.tenant(tenant);
        if add_within(&of_tenant, bytes, self.tenant_limit).is_err() {
            request.fetch_sub(bytes, Ordering::AcqRel);
            return Err(Refused::Tenant);
        }
        if add_within(&self.held, bytes, self.limit).is_err() {
            request.fetch_sub(bytes, Ordering::AcqRel);
            of_tenant.fetch_sub(bytes, Ordering::AcqRel);
            return Err(Refused::Daemon);
        }
        Ok(Held {
            request: Arc::clone(request),
            tenant: of_tenant,
            budget: Arc::clone(self),
            bytes,
        })
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::of_mb(DEFAULT_BUDGET_MB, DEFAULT_TENANT_SHARE_MB)
    }
}

/// Adds `bytes` to `count` unless the sum would pass `max`; the count it found when refusing.
fn add_within(count: &AtomicUsize, bytes: usize, max: usize) -> Result<(), usize> {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
            now.checked_add(bytes).filter(|&sum| sum <= max)
        })
        .map(|_| ())
}

/// One call's bytes, counted until it drops.
#[derive(Debug)]
pub struct Held {
    request: Arc<AtomicUsize>,
    tenant: Arc<AtomicUsize>,
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.request.fetch_sub(self.bytes, Ordering::AcqRel);
        self.tenant.fetch_sub(self.bytes, Ordering::AcqRel);
        self.budget.held.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: TenantId = TenantId(1);
    const B: TenantId = TenantId(2);

    fn count() -> Arc<AtomicUsize> {
        Arc::new(AtomicUsize::new(0))
    }

    #[test]
    fn a_request_past_its_share_is_refused_and_counts_nothing() {
        let budget = Arc::new(Budget::new(1 << 30, 1 << 30));
        let request = count();
        let a = budget.take(A, &request, 30 << 20).expect("within");
        let b = budget
            .take(A, &request, 18 << 20)
            .expect("exactly the share");
        assert_eq!(
            budget.take(A, &request, 1).err(),
            Some(Refused::Request {
                held: MAX_HELD_PER_REQUEST
            })
        );
        assert_eq!(budget.held(), 48 << 20);
        drop(a);
        assert_eq!(request.load(Ordering::Relaxed), 18 << 20);
        let _c = budget.take(A, &request, 30 << 20).expect("room again");
        drop(b);
        assert_eq!(budget.held(), 30 << 20);
    }

    #[test]
    fn a_tenant_past_its_share_leaves_the_rest_of_the_budget_to_the_others() {
        let budget = Arc::new(Budget::of_mb(256, 64));
        let (one, two, three) = (count(), count(), count());
        let _a = budget.take(A, &one, 40 << 20).expect("within");
        assert_eq!(budget.take(A, &two, 30 << 20).err(), Some(Refused::Tenant));
        assert_eq!(
            two.load(Ordering::Relaxed),
            0,
            "the request's share is given back"
        );
        let _b = budget
            .take(A, &two, 24 << 20)
            .expect("exactly the tenant's share");
        let _c = budget
            .take(B, &three, 40 << 20)
            .expect("another tenant's own share");
        assert_eq!(budget.held(), 104 << 20);
    }

    #[test]
    fn the_daemons_budget_binds_across_tenants_and_a_refusal_gives_every_share_back() {
        let budget = Arc::new(Budget::of_mb(64, 64));
        let (one, two) = (count(), count());
        let _a = budget.take(A, &one, 40 << 20).expect("within");
        assert_eq!(budget.take(B, &two, 30 << 20).err(), Some(Refused::Daemon));
        assert_eq!(two.load(Ordering::Relaxed), 0);
        assert_eq!(budget.tenant(B).load(Ordering::Relaxed), 0);
        let _b = budget.take(B, &two, 24 << 20).expect("exactly the budget");
        assert_eq!(budget.held(), 64 << 20);
    }

    #[test]
    fn empty_payloads_always_pass_and_sizes_cannot_overflow() {
        let budget = Arc::new(Budget::new(0, 0));
        let request = count();
        let _held = budget.take(A, &request, 0).expect("nothing to hold");
        assert!(budget.take(A, &request, usize::MAX).is_err());
        assert_eq!(Budget::of_mb(u64::MAX, 1).limit, usize::MAX);
    }

    proptest! {
        /// Invariants: after any sequence of takes and drops by several requests of two
        /// tenants, each count (request, tenant, daemon) equals the sum of its live `Held`s, and
        /// none is above its bound.
        #[test]
        fn counts_are_the_live_holds_and_stay_within_bounds(
            steps in proptest::collection::vec((0usize..4, 0usize..(20 << 20), any::<bool>()), 1..200)
        ) {
            let budget = Arc::new(Budget::new(80 << 20, 56 << 20));
            let requests: Vec<Arc<AtomicUsize>> = (0..4).map(|_| count()).collect();
            let tenant_of = |r: usize| if r < 2 { A } else { B };
            let mut live: Vec<(usize, Held)> = Vec::new();
            for (who, bytes, release) in steps {
                if release && !live.is_empty() {
                    live.remove(bytes % live.len());
                } else if let Ok(held) = budget.take(tenant_of(who), &requests[who], bytes) {
                    live.push((who, held));
                }
                let sum = |keep: &dyn Fn(usize) -> bool| -> usize {
                    live.iter().filter(|(w, _)| keep(*w)).map(|(_, h)| h.bytes).sum()
                };
                let total = sum(&|_| true);
                prop_assert_eq!(budget.held(), total);
                prop_assert!(total <= 80 << 20);
                for tenant in [A, B] {
                    let theirs = sum(&|w| tenant_of(w) == tenant);
                    prop_assert_eq!(budget.tenant(tenant).load(Ordering::Relaxed), theirs);
                    prop_assert!(theirs <= 56 << 20);
                }
                for (r, request) in requests.iter().enumerate() {
                    let mine = sum(&|w| w == r);
                    prop_assert_eq!(request.load(Ordering::Relaxed), mine);
                    prop_assert!(mine <= MAX_HELD_PER_REQUEST);
                }
            }
        }
    }
}
