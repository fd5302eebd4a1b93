//! The places for jobs in one worker process: one lane of `per_depth` places per depth of a
//! chain of binding calls (0: a client's request; a service or Loader call is one deeper than the
//! request that made it), shared fairly among the tenants placed there.
//!
//! Guarantees:
//! - a job waits for a place among the jobs of its own depth only. A caller waits for its
//!   callees, which are one deeper, and the deepest calls (at `max_binding_depth`) can make no
//!   binding call; so, from the deepest up, every depth's jobs finish without a place of another
//!   depth, and callers filling every place of their depth never starve the calls they wait for;
//! - at most `per_depth` jobs of one depth run at once in the process;
//! - no tenant takes a lane from the others: the last [`reserve`] free places (an eighth) go
//!   only to a tenant below its fair share (the places divided by the tenants holding or
//!   waiting for places, and one more), so a tenant that fills the process with requests asleep
//!   in timers, alone or not, leaves places for a neighbour, which gets one at once; and a place
//!   that frees goes to the first waiter (in arrival order) that may take it, so to a tenant
//!   below its share before any that is not;
//! - a place is given back when its [`Place`] is dropped, and a wait that is dropped (its
//!   caller went away) takes no place, even one granted to it meanwhile.
//!
//! Trusts: the chain depth the supervisor attached to the job (`Chain::depth`, never the
//! worker's word) and the tenant it runs for.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use stockade_cordon::TenantId;
use tokio::sync::oneshot;

/// The deepest chain the configuration allows (`limits.max_binding_depth` is 1 to 64); deeper
/// depths, which the supervisor refuses anyway, would share the last lane.
const MAX_DEPTH: u32 = 64;

/// The places of a lane of `places` kept for tenants below their share: an eighth.
pub fn reserve(places: usize) -> usize {
    places / 8
}

/// A tenant's fair share of a lane of `places` among `active` tenants (at least one place).
pub fn share(places: usize, active: usize) -> usize {
    (places / active.max(1)).max(1)
}

/// Whether a tenant holding `held` places may take one more of a lane of `places` with `free`
/// free among `active` tenants (itself included): any place above the reserve, and one of the
/// reserve while it holds less than its share with one more tenant come (so that a tenant
/// alone leaves the reserve to the next one).
pub fn may_take(places: usize, free: usize, held: usize, active: usize) -> bool {
    free > 0 && (free > reserve(places) || held < share(places, active + 1))
}

/// The lane is closed: the process no longer starts jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

struct Waiter {
    tenant: TenantId,
    grant: oneshot::Sender<()>,
}

#[derive(Default)]
struct LaneState {
    free: usize,
    closed: bool,
    /// Places held, by tenant (no zero entries).
    held: HashMap<TenantId, usize>,
    waiting: VecDeque<Waiter>,
}

impl LaneState {
    /// [`LaneState::active`], counting `tenant` too.
    #[cfg(test)]
    fn active_with(&self, tenant: TenantId) -> usize {
        let known =
            self.held.contains_key(&tenant) || self.waiting.iter().any(|w| w.tenant == tenant);
        self.active() + usize::from(!known)
    }

    fn active(&self) -> usize {
        let mut waiting: Vec<TenantId> = self
            .waiting
            .iter()
            .map(|w| w.tenant)
            .filter(|t| !self.held.contains_key(t))
            .collect();
        waiting.sort_unstable();
        waiting.dedup();
        self.held.len() + waiting.len()
    }

    fn take(&mut self, tenant: TenantId) {
        self.free -= 1;
        *self.held.entry(tenant).or_default() += 1;
    }

    fn give_back(&mut self, tenant: TenantId) {
        self.free += 1;
        if let Some(n) = self.held.get_mut(&tenant) {
            *n -= 1;
            if *n == 0 {
                self.held.remove(&tenant);
            }
        }
    }
}

/// One depth's places in one process.
pub struct Lane {
    places: usize,
    state: Mutex<LaneState>,
}

/// A place in a lane, given back when dropped.
pub struct Place {
    lane: Arc<Lane>,
    tenant: TenantId,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.lane.lock();
        state.give_back(self.tenant);
        self.lane.dispatch(&mut state);
    }
}

/// A wait for a place: dropped after its place was granted and before it was taken, it gives
/// the place back.
struct Wait {
    lane: Arc<Lane>,
    tenant: TenantId,
    granted: Option<oneshot::Receiver<()>>,
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(mut granted) = self.granted.take() {
            granted.close();
            if granted.try_recv().is_ok() {
                drop(Place {
                    lane: Arc::clone(&self.lane),
                    tenant: self.tenant,
                });
            }
        }
    }
}

impl Lane {
    fn new(places: usize) -> Lane {
        Lane {
            places,
            state: Mutex::new(LaneState {
                free: places,
                ..LaneState::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Grants free places to waiters, first come first served among those whose tenant may take
    /// one; forgets the waits whose callers went away.
    fn dispatch(&self, state: &mut LaneState) {
        state.waiting.retain(|w| !w.grant.is_closed());
        if state.free == 0 || state.waiting.is_empty() {
            return;
        }
        // A grant moves a tenant from waiting to holding: the count of active tenants stays.
        let active = state.active();
        let mut i = 0;
        while state.free > 0 && i < state.waiting.len() {
            let tenant = state.waiting[i].tenant;
            let held = state.held.get(&tenant).copied().unwrap_or(0);
            if !may_take(self.places, state.free, held, active) {
                i += 1;
                continue;
            }
            let Some(waiter) = state.waiting.remove(i) else {
                break;
            };
            state.take(tenant);
            if waiter.grant.send(()).is_err() {
                state.give_back(tenant); // its caller went away just now
            }
        }
    }

    /// A place for a job of `tenant`, once the lane has one for it.
    pub async fn acquire(self: &Arc<Self>, tenant: TenantId) -> Result<Place, Closed> {
        let granted = {
            let mut state = self.lock();
            if state.closed {
                return Err(Closed);
            }
            // Nobody waits: the place is this tenant's now if it may take it.
            let held = state.held.get(&tenant).copied().unwrap_or(0);
            let active = state.held.len() + usize::from(held == 0);
            if state.waiting.is_empty() && may_take(self.places, state.free, held, active) {
                state.take(tenant);
                return Ok(Place {
                    lane: Arc::clone(self),
                    tenant,
                });
            }
            let (grant, granted) = oneshot::channel();
            state.waiting.push_back(Waiter { tenant, grant });
            self.dispatch(&mut state);
            granted
        };
        let mut wait = Wait {
            lane: Arc::clone(self),
            tenant,
            granted: Some(granted),
        };
        let Some(granted) = wait.granted.as_mut() else {
            return Err(Closed);
        };
        match granted.await {
            Ok(()) => {
                wait.granted = None;
                Ok(Place {
                    lane: Arc::clone(self),
                    tenant,
                })
            }
            // Dropped unanswered: the lane closed.
            Err(_) => Err(Closed),
        }
    }

    /// A place at once if the lane has one for `tenant` (tests).
    #[cfg(test)]
    pub fn try_acquire(self: &Arc<Self>, tenant: TenantId) -> Option<Place> {
        let mut state = self.lock();
        let held = state.held.get(&tenant).copied().unwrap_or(0);
        let active = state.active_with(tenant);
        if state.closed || !may_take(self.places, state.free, held, active) {
            return None;
        }
        state.take(tenant);
        Some(Place {
            lane: Arc::clone(self),
            tenant,
        })
    }

    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.waiting.clear(); // their waits end with `Closed`
    }
}

pub struct Lanes {
    per_depth: usize,
    /// By depth, made on first use; whether they are closed.
    lanes: Mutex<(Vec<Arc<Lane>>, bool)>,
}

impl Lanes {
    pub fn new(per_depth: usize) -> Lanes {
        Lanes {
            per_depth: per_depth.max(1),
            lanes: Mutex::new((Vec::new(), false)),
        }
    }

    /// The places of jobs `depth` deep (closed ones, once [`Lanes::close`] was called).
    pub fn of(&self, depth: u32) -> Arc<Lane> {
        let index = depth.min(MAX_DEPTH) as usize;
        let mut guard = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let (lanes, closed) = &mut *guard;
        while lanes.len() <= index {
            let lane = Lane::new(self.per_depth);
            if *closed {
                lane.close();
            }
            lanes.push(Arc::new(lane));
        }
        Arc::clone(&lanes[index])
    }

    /// No job starts any more, at any depth: the ones waiting for a place are handed back.
    pub fn close(&self) {
        let mut guard = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        guard.1 = true;
        for lane in guard.0.iter() {
            lane.close();
        }
    }
}

#[cfg(test)]
#[path = "lanes_tests.rs"]
mod tests;
