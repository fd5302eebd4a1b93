//! The placement state machine: which tier each tenant is in, which process
//! hosts its isolate, and what must be drained when a tier changes.
//!
//! Guarantees (each is a named assertion in `tests/invariants.rs`):
//! - a process serves one tier; a tenant is routed (active) to at most one
//!   process, of its current tier; a process never holds two isolates of a
//!   tenant nor more isolates than its capacity;
//! - a new isolate goes to the least-loaded process of the tenant's tier with
//!   room that does not still hold the tenant's draining isolate (lowest
//!   [`ProcessId`] on ties) — *spread before stack*: unless that process is
//!   empty, a tier with fewer than its `min_processes` processes opens a new
//!   one instead; otherwise a process is opened only when none has room;
//! - a `Quarantine` tenant always gets a fresh process of its own, never
//!   reused for anyone else;
//! - when a tenant's tier changes, its next placement goes to the new tier at
//!   once and its old isolate is returned as a [`Drain`];
//! - a worker crash retires the process, evicts every tenant in it and
//!   quarantines the tenant whose code was running (unless pinned);
//! - a recycled process ([`Cordon::recycle`]) takes no new isolate: its
//!   tenants' next placements go to another process of their tier (their
//!   isolates there are returned as [`Drain`]s), and it is retired once the
//!   last is released; no tenant changes tier for it;
//! - every fallible method validates before mutating: `Err` ⇒ no change.
//!
//! Trusts: the daemon to call [`Cordon::release`] once per isolate it
//! disposes, to report crashes truthfully, and to pass non-decreasing times.
//! No clock is read and nothing does I/O.

use crate::assess::{
    assess, risk_report, History, Override, RiskReport, ScoringPolicy, TenantProfile,
};
use crate::config::CordonConfig;
use crate::error::CordonError;
use crate::ids::{Millis, ProcessId, TenantId};
use crate::persist::{self, TenantSnapshot};
use crate::pool::{ProcessTable, ProcessView};
use crate::signals::HistoryEvent;
use crate::tier::{RiskTier, V8Profile};
use std::collections::{BTreeMap, BTreeSet};

/// "Stop routing `tenant` to `process`, dispose its isolate there, then call
/// [`Cordon::release`]."
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Drain {
    /// Where the old isolate lives.
    pub process: ProcessId,
    /// Whose isolate it is.
    pub tenant: TenantId,
}

/// Where to run a tenant's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The process to run in.
    pub process: ProcessId,
    /// The tenant's tier (the process's tier).
    pub tier: RiskTier,
    /// How that process configures V8.
    pub profile: V8Profile,
    /// The daemon must spawn this process first.
    pub new_process: bool,
    /// The daemon must create the tenant's isolate there (false: reuse it).
    pub new_isolate: bool,
    /// The tenant's tier changed on this call: drain its old isolate.
    pub drain: Option<Drain>,
}

/// What [`Cordon::worker_crashed`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashOutcome {
    /// Every tenant that had an isolate in the dead process (now gone).
    pub evicted: Vec<TenantId>,
    /// The running tenant, if it is now in `Quarantine`.
    pub quarantined: Option<TenantId>,
    /// Isolates elsewhere to drain because their tenant changed tier.
    pub drains: Vec<Drain>,
}

/// What [`Cordon::release`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Released {
    /// The process became empty and was retired: the daemon should stop it.
    pub process_retired: bool,
}

/// What [`Cordon::recycle`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recycled {
    /// The isolates to dispose there (each then [`Cordon::release`]d), one per
    /// tenant that was active in it.
    pub drains: Vec<Drain>,
    /// The process was empty and is retired already: the daemon should stop it.
    pub process_retired: bool,
}

/// A tenant as the placement layer sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantView {
    /// Facts.
    pub profile: TenantProfile,
    /// Override.
    pub operator_override: Option<Override>,
    /// Tier as of the last evaluation (events, placements, `reevaluate`).
    pub tier: RiskTier,
    /// Process its requests are routed to.
    pub active: Option<ProcessId>,
    /// Processes still holding its draining isolates.
    pub draining: Vec<ProcessId>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TenantState {
    pub(crate) profile: TenantProfile,
    pub(crate) history: History,
    pub(crate) operator_override: Option<Override>,
    pub(crate) tier: RiskTier,
    pub(crate) active: Option<ProcessId>,
    pub(crate) draining: BTreeSet<ProcessId>,
}

/// The placement state. `Clone` + `PartialEq` so that determinism is testable.
#[derive(Clone, Debug, PartialEq)]
pub struct Cordon {
    config: CordonConfig,
    pub(crate) tenants: BTreeMap<TenantId, TenantState>,
    pub(crate) table: ProcessTable,
}

/// Re-scores one tenant at `now`; on a tier change moves its active isolate
/// to draining and returns the drain.
fn retier(
    tenant: TenantId,
    state: &mut TenantState,
    table: &mut ProcessTable,
    scoring: &ScoringPolicy,
    now: Millis,
) -> Option<Drain> {
    let tier = assess(
        &state.profile,
        &state.history,
        state.operator_override,
        scoring,
        now,
    )
    .tier;
    if tier == state.tier {
        return None;
    }
    state.tier = tier;
    let process = state.active.take()?;
    state.draining.insert(process);
    table.mark_draining(process, tenant);
    Some(Drain { process, tenant })
}

impl Cordon {
    /// An empty cordon; refuses a zero capacity or a zero minimum of
    /// processes.
    pub fn new(config: CordonConfig) -> Result<Self, CordonError> {
        for tier in [RiskTier::Trusted, RiskTier::Standard, RiskTier::Untrusted] {
            if config.capacity.for_tier(tier) == 0 {
                return Err(CordonError::ZeroCapacity(tier));
            }
            if config.min_processes.for_tier(tier) == 0 {
                return Err(CordonError::ZeroMinProcesses(tier));
            }
        }
        Ok(Self {
            config,
            tenants: BTreeMap::new(),
            table: ProcessTable::default(),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &CordonConfig {
        &self.config
    }

    /// Registers `tenant` or replaces its facts; returns a drain if its tier
    /// changed.
    pub fn set_profile(
        &mut self,
        tenant: TenantId,
        profile: TenantProfile,
        now: Millis,
    ) -> Option<Drain> {
        let scoring = self.config.scoring;
        match self.tenants.get_mut(&tenant) {
            Some(state) => {
                state.profile = profile;
                retier(tenant, state, &mut self.table, &scoring, now)
            }
            None => {
                let history = History::default();
                let tier = assess(&profile, &history, None, &scoring, now).tier;
                self.tenants.insert(
                    tenant,
                    TenantState {
                        profile,
                        history,
                        operator_override: None,
                        tier,
                        active: None,
                        draining: BTreeSet::new(),
                    },
                );
                None
            }
        }
    }

    /// Drops every trace of a tenant with no isolates left.
    pub fn forget(&mut self, tenant: TenantId) -> Result<(), CordonError> {
        let state = self
            .tenants
            .get(&tenant)
            .ok_or(CordonError::UnknownTenant(tenant))?;
        if state.active.is_some() || !state.draining.is_empty() {
            return Err(CordonError::TenantHasIsolates(tenant));
        }
        self.tenants.remove(&tenant);
        Ok(())
    }

    /// Where `tenant`'s request runs at `now`. Re-scores the tenant first, so
    /// decay and latch expiry take effect here. A new isolate goes to the
    /// least-loaded eligible process of the tier, unless that process is not
    /// empty and the tier has fewer than its `min_processes` processes: then
    /// a process is opened, so the tier spreads over its minimum before any
    /// process takes a second tenant. O(log n) in tenants and processes.
    pub fn place(&mut self, tenant: TenantId, now: Millis) -> Result<Placement, CordonError> {
        let state = self
            .tenants
            .get_mut(&tenant)
            .ok_or(CordonError::UnknownTenant(tenant))?;
        let drain = retier(tenant, state, &mut self.table, &self.config.scoring, now);
        let tier = state.tier;
        let placement = |process, new_process, new_isolate| Placement {
            process,
            tier,
            profile: tier.v8_profile(),
            new_process,
            new_isolate,
            drain,
        };
        if let Some(process) = state.active {
            return Ok(placement(process, false, false));
        }
        let below_minimum =
            self.table.processes_of(tier) < self.config.min_processes.for_tier(tier) as usize;
        let existing = match tier {
            RiskTier::Quarantine => None,
            _ => self
                .table
                .least_loaded_with_room(tier, tenant)
                .filter(|&(load, _)| load == 0 || !below_minimum),
        };
        let (process, new_process) = match existing {
            Some((_, process)) if self.table.add_active(process, tenant) => (process, false),
            _ => {
                let capacity = self.config.capacity.for_tier(tier);
                (self.table.open(tier, capacity, tenant), true)
            }
        };
        state.active = Some(process);
        Ok(placement(process, new_process, true))
    }

    /// Records a behavioural event; returns a drain if the tier changed.
    pub fn record(
        &mut self,
        tenant: TenantId,
        event: HistoryEvent,
        now: Millis,
    ) -> Result<Option<Drain>, CordonError> {
        let state = self
            .tenants
            .get_mut(&tenant)
            .ok_or(CordonError::UnknownTenant(tenant))?;
        state.history.record(event, now);
        Ok(retier(
            tenant,
            state,
            &mut self.table,
            &self.config.scoring,
            now,
        ))
    }

    /// Sets (`Some`) or clears (`None`) the operator override; returns a
    /// drain if the tier changed.
    pub fn set_override(
        &mut self,
        tenant: TenantId,
        operator_override: Option<Override>,
        now: Millis,
    ) -> Result<Option<Drain>, CordonError> {
        let state = self
            .tenants
            .get_mut(&tenant)
            .ok_or(CordonError::UnknownTenant(tenant))?;
        state.operator_override = operator_override;
        Ok(retier(
            tenant,
            state,
            &mut self.table,
            &self.config.scoring,
            now,
        ))
    }

    /// `tenant`'s history and operator pin as of `now`, to store (see `persist`).
    #[must_use]
    pub fn snapshot(&self, tenant: TenantId, now: Millis) -> Option<TenantSnapshot> {
        let state = self.tenants.get(&tenant)?;
        Some(persist::snapshot(
            &state.history,
            state.operator_override,
            now,
        ))
    }

    /// Replaces `tenant`'s history and operator pin with a stored snapshot taken `elapsed_ms`
    /// ago; returns a drain if the tier changed. A snapshot not understood is refused
    /// ([`CordonError::BadSnapshot`]) and changes nothing.
    pub fn restore(
        &mut self,
        tenant: TenantId,
        snap: &TenantSnapshot,
        elapsed_ms: u64,
        now: Millis,
    ) -> Result<Option<Drain>, CordonError> {
        let state = self
            .tenants
            .get_mut(&tenant)
            .ok_or(CordonError::UnknownTenant(tenant))?;
        let (history, pin) =
            persist::restore(snap, elapsed_ms, now).ok_or(CordonError::BadSnapshot(tenant))?;
        state.history = history;
        state.operator_override = pin;
        Ok(retier(
            tenant,
            state,
            &mut self.table,
            &self.config.scoring,
            now,
        ))
    }

    /// A worker process died. It is retired and every tenant in it evicted.
    /// `running_tenant`, whose code was running, gets `seccomp_kill` (if
    /// `killed_by_seccomp`) or `worker_crash_while_running`, which latches it
    /// into `Quarantine`; every other evicted tenant gets `worker_death`.
    /// With no running tenant, nobody is blamed: all get `worker_death`.
    pub fn worker_crashed(
        &mut self,
        process: ProcessId,
        running_tenant: Option<TenantId>,
        killed_by_seccomp: bool,
        now: Millis,
    ) -> Result<CrashOutcome, CordonError> {
        if let Some(tenant) = running_tenant.filter(|t| !self.tenants.contains_key(t)) {
            return Err(CordonError::UnknownTenant(tenant));
        }
        let evicted = self
            .table
            .retire(process)
            .ok_or(CordonError::UnknownProcess(process))?;
        let mut outcome = CrashOutcome::default();
        let culprit = running_tenant.into_iter().map(|tenant| {
            let event = if killed_by_seccomp {
                HistoryEvent::SeccompKill
            } else {
                HistoryEvent::WorkerCrashWhileRunning
            };
            (tenant, event)
        });
        let bystanders = evicted
            .iter()
            .filter(|&&t| Some(t) != running_tenant)
            .map(|&t| (t, HistoryEvent::WorkerDeath));
        for (tenant, event) in culprit.chain(bystanders) {
            let Some(state) = self.tenants.get_mut(&tenant) else {
                continue;
            };
            if state.active == Some(process) {
                state.active = None;
            }
            state.draining.remove(&process);
            state.history.record(event, now);
            let drain = retier(tenant, state, &mut self.table, &self.config.scoring, now);
            outcome.drains.extend(drain);
        }
        outcome.quarantined = running_tenant.filter(|t| {
            self.tenants
                .get(t)
                .is_some_and(|s| s.tier == RiskTier::Quarantine)
        });
        outcome.evicted = evicted;
        Ok(outcome)
    }

    /// Replaces `process` (its worker must not grow on, say): it takes no
    /// new isolate and no longer counts towards its tier's minimum; each
    /// tenant active in it is moved to draining there (its next request is
    /// placed afresh, in its own tier, while its jobs there finish), and the
    /// process is retired with the last release, or at once if it holds
    /// nothing. Nobody's history changes. Calling it again changes nothing.
    pub fn recycle(&mut self, process: ProcessId) -> Result<Recycled, CordonError> {
        let moved = self
            .table
            .start_retiring(process)
            .ok_or(CordonError::UnknownProcess(process))?;
        let mut drains = Vec::with_capacity(moved.len());
        for tenant in moved {
            if let Some(state) = self.tenants.get_mut(&tenant) {
                if state.active == Some(process) {
                    state.active = None;
                }
                state.draining.insert(process);
            }
            drains.push(Drain { process, tenant });
        }
        let process_retired = self
            .table
            .retire_if_surplus(process, &self.config.min_processes);
        Ok(Recycled {
            drains,
            process_retired,
        })
    }

    /// The daemon disposed `tenant`'s isolate in `process`. An emptied
    /// process is retired if it is being recycled or a `Quarantine` process, or if its tier
    /// already has another empty one and more than its `min_processes`
    /// processes (a tier keeps its minimum, and above it one idle spare).
    pub fn release(
        &mut self,
        tenant: TenantId,
        process: ProcessId,
    ) -> Result<Released, CordonError> {
        let state = self
            .tenants
            .get_mut(&tenant)
            .ok_or(CordonError::UnknownTenant(tenant))?;
        if self.table.view(process).is_none() {
            return Err(CordonError::UnknownProcess(process));
        }
        if !self.table.remove_isolate(process, tenant) {
            return Err(CordonError::TenantNotInProcess { tenant, process });
        }
        if state.active == Some(process) {
            state.active = None;
        }
        state.draining.remove(&process);
        Ok(Released {
            process_retired: self
                .table
                .retire_if_surplus(process, &self.config.min_processes),
        })
    }

    /// Re-scores every tenant at `now` (for a periodic sweep, so decayed
    /// tenants leave a tier without waiting for their next request). O(n).
    pub fn reevaluate(&mut self, now: Millis) -> Vec<Drain> {
        let scoring = self.config.scoring;
        self.tenants
            .iter_mut()
            .filter_map(|(&tenant, state)| retier(tenant, state, &mut self.table, &scoring, now))
            .collect()
    }

    /// The body of `GET /v1/tenants/{id}/risk` at `now` (read-only: does not
    /// re-tier; see [`Cordon::place`] / [`Cordon::reevaluate`]).
    pub fn risk_report(&self, tenant: TenantId, now: Millis) -> Result<RiskReport, CordonError> {
        let state = self
            .tenants
            .get(&tenant)
            .ok_or(CordonError::UnknownTenant(tenant))?;
        Ok(risk_report(
            tenant,
            &state.profile,
            &state.history,
            state.operator_override,
            &self.config.scoring,
            now,
        ))
    }

    /// One tenant's placement state.
    #[must_use]
    pub fn tenant(&self, tenant: TenantId) -> Option<TenantView> {
        self.tenants.get(&tenant).map(|state| TenantView {
            profile: state.profile,
            operator_override: state.operator_override,
            tier: state.tier,
            active: state.active,
            draining: state.draining.iter().copied().collect(),
        })
    }

    /// One live process.
    #[must_use]
    pub fn process(&self, id: ProcessId) -> Option<ProcessView<'_>> {
        self.table.view(id)
    }

    /// All live processes, by id.
    pub fn processes(&self) -> impl Iterator<Item = ProcessView<'_>> {
        self.table.views()
    }
}
