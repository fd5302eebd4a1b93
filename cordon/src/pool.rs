//! The process table: which isolates each worker process hosts, and an index
//! that finds the least-loaded process of a tier in O(log n).
//!
//! Guarantees (checked from outside by `tests/invariants.rs`):
//! - every process serves exactly one tier, fixed when it is opened;
//! - a process never holds more isolates (active + draining) than its
//!   capacity, nor two isolates of one tenant;
//! - `with_room[tier]` holds exactly the `(load, id)` of the tier's unsealed
//!   processes whose load is below capacity, so its first entry not hosting
//!   the tenant is the least-loaded eligible process, lowest id on ties;
//! - `per_tier[tier]` is the number of live processes of the tier;
//! - `Quarantine` processes are sealed at birth: single tenant, single use;
//! - a retiring process (being recycled) takes no new isolate, does not count towards its
//!   tier's minimum, and is retired as soon as it is empty.
//!
//! Trusts: its caller (`Cordon`) to keep tenant-side bookkeeping in step.

use crate::config::TierMinProcesses;
use crate::ids::{ProcessId, TenantId};
use crate::tier::{RiskTier, V8Profile};
use std::collections::{BTreeMap, BTreeSet};

/// One worker process as the placement layer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Process {
    tier: RiskTier,
    capacity: u32,
    /// Tenants whose new requests are routed here.
    active: BTreeSet<TenantId>,
    /// Tenants re-cordoned elsewhere whose isolate here awaits disposal.
    draining: BTreeSet<TenantId>,
    /// Being recycled: every isolate drains, none is added, and it is retired once empty.
    retiring: bool,
}

impl Process {
    fn load(&self) -> u32 {
        // Bounded by `capacity: u32` (checked on every insert).
        (self.active.len() + self.draining.len()) as u32
    }

    fn hosts(&self, tenant: TenantId) -> bool {
        self.active.contains(&tenant) || self.draining.contains(&tenant)
    }

    fn sealed(&self) -> bool {
        self.tier == RiskTier::Quarantine
    }

    fn has_room(&self) -> bool {
        !self.sealed() && !self.retiring && self.load() < self.capacity
    }
}

/// A read-only view of one process.
#[derive(Clone, Copy, Debug)]
pub struct ProcessView<'a> {
    id: ProcessId,
    process: &'a Process,
}

impl<'a> ProcessView<'a> {
    /// The process.
    #[must_use]
    pub fn id(&self) -> ProcessId {
        self.id
    }
    /// The one tier it serves.
    #[must_use]
    pub fn tier(&self) -> RiskTier {
        self.process.tier
    }
    /// How it configures V8.
    #[must_use]
    pub fn v8_profile(&self) -> V8Profile {
        self.process.tier.v8_profile()
    }
    /// Maximum isolates (active + draining).
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.process.capacity
    }
    /// Isolates it holds now (active + draining).
    #[must_use]
    pub fn load(&self) -> u32 {
        self.process.load()
    }
    /// Whether new placements may still land here.
    #[must_use]
    pub fn has_room(&self) -> bool {
        self.process.has_room()
    }
    /// Tenants routed here.
    pub fn active_tenants(&self) -> impl Iterator<Item = TenantId> + 'a {
        self.process.active.iter().copied()
    }
    /// Tenants being drained out.
    pub fn draining_tenants(&self) -> impl Iterator<Item = TenantId> + 'a {
        self.process.draining.iter().copied()
    }
    /// Whether `tenant` has an isolate here (active or draining).
    #[must_use]
    pub fn hosts(&self, tenant: TenantId) -> bool {
        self.process.hosts(tenant)
    }
    /// Whether it is being recycled (see [`crate::Cordon::recycle`]).
    #[must_use]
    pub fn retiring(&self) -> bool {
        self.process.retiring
    }
}

/// All live processes plus the per-tier least-loaded index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProcessTable {
    processes: BTreeMap<ProcessId, Process>,
    with_room: [BTreeSet<(u32, ProcessId)>; 4],
    /// Live processes per tier, retiring ones excepted.
    per_tier: [usize; 4],
    next_id: u64,
}

impl ProcessTable {
    pub(crate) fn view(&self, id: ProcessId) -> Option<ProcessView<'_>> {
        self.processes
            .get(&id)
            .map(|process| ProcessView { id, process })
    }

    pub(crate) fn views(&self) -> impl Iterator<Item = ProcessView<'_>> {
        self.processes
            .iter()
            .map(|(&id, process)| ProcessView { id, process })
    }

    /// The least-loaded process of `tier` with room that does not already
    /// host `tenant` (lowest id on ties), with its load. O(log n + k), k =
    /// the tenant's draining isolates in this tier. Never a `Quarantine`
    /// process.
    pub(crate) fn least_loaded_with_room(
        &self,
        tier: RiskTier,
        tenant: TenantId,
    ) -> Option<(u32, ProcessId)> {
        self.with_room[tier.index()]
            .iter()
            .copied()
            .find(|(_, id)| self.processes.get(id).is_some_and(|p| !p.hosts(tenant)))
    }

    /// Live processes of `tier` that are not retiring. O(1).
    pub(crate) fn processes_of(&self, tier: RiskTier) -> usize {
        self.per_tier[tier.index()]
    }

    /// Opens a process of `tier` hosting `tenant` actively. Ids only grow.
    pub(crate) fn open(&mut self, tier: RiskTier, capacity: u32, tenant: TenantId) -> ProcessId {
        let id = ProcessId(self.next_id);
        self.next_id += 1;
        let process = Process {
            tier,
            capacity: capacity.max(1),
            active: BTreeSet::from([tenant]),
            draining: BTreeSet::new(),
            retiring: false,
        };
        if process.has_room() {
            self.with_room[tier.index()].insert((process.load(), id));
        }
        self.per_tier[tier.index()] += 1;
        self.processes.insert(id, process);
        id
    }

    /// Applies `change` to process `id`, keeping the index in step. Returns
    /// `None` (and changes nothing) if the process does not exist.
    fn update<R>(&mut self, id: ProcessId, change: impl FnOnce(&mut Process) -> R) -> Option<R> {
        let process = self.processes.get_mut(&id)?;
        let index = &mut self.with_room[process.tier.index()];
        if process.has_room() {
            index.remove(&(process.load(), id));
        }
        let result = change(process);
        if process.has_room() {
            index.insert((process.load(), id));
        }
        Some(result)
    }

    /// Adds an active isolate of `tenant` to `id`. The caller has chosen `id`
    /// with [`Self::least_loaded_with_room`], so there is room.
    pub(crate) fn add_active(&mut self, id: ProcessId, tenant: TenantId) -> bool {
        self.update(id, |p| {
            let fits = p.has_room() && !p.hosts(tenant);
            if fits {
                p.active.insert(tenant);
            }
            fits
        })
        .unwrap_or(false)
    }

    /// Moves `tenant`'s isolate in `id` from active to draining (load and
    /// index unchanged).
    pub(crate) fn mark_draining(&mut self, id: ProcessId, tenant: TenantId) {
        if let Some(p) = self.processes.get_mut(&id) {
            if p.active.remove(&tenant) {
                p.draining.insert(tenant);
            }
        }
    }

    /// Starts retiring `id`: no new isolate, every active one moved to draining; returns the
    /// tenants moved (`None` if there is no such process). Idempotent.
    pub(crate) fn start_retiring(&mut self, id: ProcessId) -> Option<Vec<TenantId>> {
        let tier = self.processes.get(&id)?.tier;
        let newly = self.update(id, |p| !std::mem::replace(&mut p.retiring, true))?;
        if !newly {
            return Some(Vec::new());
        }
        self.per_tier[tier.index()] -= 1;
        let process = self.processes.get_mut(&id)?;
        let moved: Vec<TenantId> = std::mem::take(&mut process.active).into_iter().collect();
        process.draining.extend(moved.iter().copied());
        Some(moved)
    }

    /// Removes `tenant`'s isolate from `id`; returns whether it was there.
    pub(crate) fn remove_isolate(&mut self, id: ProcessId, tenant: TenantId) -> bool {
        self.update(id, |p| {
            p.active.remove(&tenant) || p.draining.remove(&tenant)
        })
        .unwrap_or(false)
    }

    /// The retirement rule for a process that just became empty: a
    /// retiring process (being recycled) and a `Quarantine` process are
    /// always retired (single use); a shared-tier
    /// process is retired if its tier already has another empty process and
    /// more than `min_processes` processes. So a tier keeps every process
    /// while it has at most its minimum, and above it at most one idle
    /// spare. Returns whether `id` was retired.
    pub(crate) fn retire_if_surplus(
        &mut self,
        id: ProcessId,
        min_processes: &TierMinProcesses,
    ) -> bool {
        let Some(process) = self.processes.get(&id) else {
            return false;
        };
        if process.load() != 0 {
            return false;
        }
        if process.retiring {
            self.retire(id);
            return true;
        }
        let tier = process.tier;
        let other_empty = self.with_room[tier.index()]
            .range((0, ProcessId(0))..(1, ProcessId(0)))
            .any(|&(_, other)| other != id);
        let above_minimum = self.processes_of(tier) > min_processes.for_tier(tier) as usize;
        if tier == RiskTier::Quarantine || (other_empty && above_minimum) {
            self.retire(id);
            return true;
        }
        false
    }

    /// Removes process `id` whatever it holds; returns the tenants it held.
    pub(crate) fn retire(&mut self, id: ProcessId) -> Option<Vec<TenantId>> {
        let process = self.processes.remove(&id)?;
        self.with_room[process.tier.index()].remove(&(process.load(), id));
        if !process.retiring {
            self.per_tier[process.tier.index()] -= 1;
        }
        Some(process.active.union(&process.draining).copied().collect())
    }
}
