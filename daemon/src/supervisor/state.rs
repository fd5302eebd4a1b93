//! The supervisor's placement state, behind one mutex: the [`Cordon`] (which tier each tenant
//! is in and which cordon process hosts it), the [`Slots`] (the worker processes), and each
//! tenant's presence in each process. Every method is synchronous; work that must wait on a
//! process (disposing isolates) is returned as an [`Effect`] for the pool to carry out after the
//! lock is released.
//!
//! Guarantees:
//! - a tenant's isolate in a process is released to the cordon only when no job of the tenant
//!   is running or queued there and none of its Loader workers is loaded there; a drained
//!   tenant's workers are disposed first (after its running jobs), then released; a process the
//!   cordon then retires is shut down (see `slots`);
//! - a process death retires its cordon process, evicts every tenant in it (their next request
//!   is placed afresh) and blames the one tenant whose code was in flight, which the cordon
//!   quarantines; when several tenants' code was in flight ([`Blame::Unknown`]) nobody is
//!   blamed and each of them gets `worker_death`, exactly once, like every evicted tenant;
//! - a death for the worker process memory cap blames nobody and records `memory_limit_hit`
//!   for each tenant it charges (see `memory_cap::charged`), before any caller is answered;
//! - a recycled process (its worker cannot stop growing, see [`State::recycle`]) takes no new
//!   job: every tenant in it drains as after a tier change (its running jobs finish there, its
//!   Loader workers there are then disposed) while its next jobs go to another process of its
//!   tier; once the last is released the cordon retires the process and it is shut down.
//!   Nobody's history changes.
//!
//! Trusts: the runner to report each death once, with whom it is evidence against.

use std::collections::BTreeMap;
use std::sync::Arc;

use stockade_cordon::{
    Cordon, Drain, HistoryEvent, Millis, Override, ProcessId, TenantId, TenantProfile,
};
use stockade_ipc::WorkerId;

use super::jobs::{JobError, WorkerDef};
use super::process::{Blame, Death, Jobs};
use super::slots::{Launcher, SlotView, Slots};

/// Work to do outside the lock.
pub enum Effect {
    /// Dispose these Loader workers of `tenant` in `process`, then call [`State::disposed`].
    Dispose {
        process: ProcessId,
        tenant: TenantId,
        jobs: Jobs,
        workers: Vec<WorkerId>,
    },
    /// `tenant`'s risk history or operator pin changed: store it (see `Pool::persist_history`).
    Persist { tenant: TenantId },
}

/// Where a placed job goes.
pub struct Route {
    pub process: ProcessId,
    pub jobs: Jobs,
}

#[derive(Default)]
struct Presence {
    /// Jobs placed here and not finished.
    running: u32,
    /// The cordon moved the tenant away: dispose and release once idle.
    draining: bool,
    /// A disposal is under way.
    disposing: bool,
    /// Deleted workers to dispose once it is over (asked for meanwhile).
    dispose_next: Vec<WorkerId>,
}

pub struct State {
    pub cordon: Cordon,
    slots: Slots,
    presence: BTreeMap<(ProcessId, TenantId), Presence>,
}

impl State {
    /// Starts `warm` spare processes.
    pub fn new(cordon: Cordon, warm: usize, launcher: Launcher) -> State {
        State {
            cordon,
            slots: Slots::new(launcher, warm),
            presence: BTreeMap::new(),
        }
    }

    /// Places one job of `tenant` (see `Cordon::place`) and counts it as running there.
    pub fn route(
        &mut self,
        tenant: TenantId,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) -> Result<Route, JobError> {
        let placement = self.cordon.place(tenant, now).map_err(|e| {
            tracing::warn!("cannot place {tenant}: {e}");
            JobError::Unavailable
        })?;
        if let Some(drain) = placement.drain {
            self.drain(drain, effects);
        }
        let process = placement.process;
        let life = self
            .slots
            .bind(process, placement.profile)
            .ok_or(JobError::Unavailable)?;
        let route = Route {
            process,
            jobs: life.jobs.clone(),
        };
        self.presence.entry((process, tenant)).or_default().running += 1;
        Ok(route)
    }

    /// A job placed by [`State::route`] is over (answered, failed, or handed back unstarted).
    pub fn finish(
        &mut self,
        process: ProcessId,
        tenant: TenantId,
        event: Option<HistoryEvent>,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) {
        if let Some(p) = self.presence.get_mut(&(process, tenant)) {
            p.running = p.running.saturating_sub(1);
        }
        if let Some(event) = event {
            self.record(tenant, event, now, effects);
        }
        self.settle(process, tenant, effects);
    }

    fn record(
        &mut self,
        tenant: TenantId,
        event: HistoryEvent,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) {
        match self.cordon.record(tenant, event, now) {
            Ok(Some(drain)) => self.drain(drain, effects),
            Ok(None) => {}
            Err(e) => return tracing::warn!("cannot record {event:?}: {e}"),
        }
        effects.push(Effect::Persist { tenant });
    }

    /// Carries out the drain a cordon call returned, if any.
    pub fn drained(&mut self, drain: Option<Drain>, effects: &mut Vec<Effect>) {
        if let Some(drain) = drain {
            self.drain(drain, effects);
        }
    }

    fn drain(&mut self, drain: Drain, effects: &mut Vec<Effect>) {
        self.presence
            .entry((drain.process, drain.tenant))
            .or_default()
            .draining = true;
        self.settle(drain.process, drain.tenant, effects);
    }

    /// Releases `tenant`'s isolate in `process` if nothing of it is left there, or starts
    /// disposing its workers if it is draining and idle.
    fn settle(&mut self, process: ProcessId, tenant: TenantId, effects: &mut Vec<Effect>) {
        let Some(p) = self.presence.get_mut(&(process, tenant)) else {
            return;
        };
        if p.running > 0 || p.disposing {
            return;
        }
        let Some(life) = self.slots.life(process) else {
            return;
        };
        let workers = life.info.loaded_by(tenant);
        if !workers.is_empty() {
            if p.draining {
                start_disposal(p, process, tenant, life, workers, effects);
            }
            return;
        }
        self.presence.remove(&(process, tenant));
        match self.cordon.release(tenant, process) {
            Ok(released) if released.process_retired => self.slots.retire(process),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot release {tenant} from {process}: {e}"),
        }
    }

    /// A disposal started by an [`Effect::Dispose`] is over.
    pub fn disposed(&mut self, process: ProcessId, tenant: TenantId, effects: &mut Vec<Effect>) {
        if let Some(p) = self.presence.get_mut(&(process, tenant)) {
            p.disposing = false;
            let next = std::mem::take(&mut p.dispose_next);
            if let Some(life) = self.slots.life(process) {
                let workers: Vec<WorkerId> = next
                    .into_iter()
                    .filter(|w| life.info.has_loaded(w))
                    .collect();
                if !workers.is_empty() {
                    start_disposal(p, process, tenant, life, workers, effects);
                    return;
                }
            }
        }
        self.settle(process, tenant, effects);
    }

    /// Disposes Loader worker `worker` of `tenant` wherever it is loaded (it was deleted).
    pub fn dispose_worker(
        &mut self,
        worker: &WorkerId,
        tenant: TenantId,
        effects: &mut Vec<Effect>,
    ) {
        for (process, life) in self.slots.bound() {
            if !life.info.has_loaded(worker) {
                continue;
            }
            let Some(p) = self.presence.get_mut(&(process, tenant)) else {
                continue;
            };
            if p.disposing {
                // Another disposal is under way there: this one follows it (`disposed`).
                if !p.dispose_next.contains(worker) {
                    p.dispose_next.push(*worker);
                }
                continue;
            }
            start_disposal(p, process, tenant, life, vec![*worker], effects);
        }
    }

    /// Life `life` died; `blame` says whom its death is evidence against. Returns the tenant the
    /// death quarantined, if any.
    pub fn died(
        &mut self,
        life: u64,
        blame: &Blame,
        death: &Death,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) -> Option<TenantId> {
        let binding = self.slots.died(life);
        let mut quarantined = None;
        // `None`: a retired life, nobody placed anything there any more.
        if let Some(Some(process)) = binding {
            self.presence.retain(|(p, _), _| *p != process);
            let running = match blame {
                Blame::Tenant(tenant) => Some(*tenant),
                Blame::Nobody | Blame::Unknown(_) => None,
            };
            let crash = self
                .cordon
                .worker_crashed(process, running, death.by_seccomp, now)
                .or_else(|_| {
                    self.cordon
                        .worker_crashed(process, None, death.by_seccomp, now)
                });
            match crash {
                Ok(outcome) => {
                    quarantined = outcome.quarantined;
                    for &tenant in outcome.evicted.iter().chain(&outcome.quarantined) {
                        effects.push(Effect::Persist { tenant });
                    }
                    for drain in outcome.drains {
                        self.drain(drain, effects);
                    }
                    // With no culprit the cordon gave every evicted tenant `worker_death`; a
                    // suspect it did not count in the process (none should exist: a tenant
                    // with a job there is placed there) gets it here.
                    if let Blame::Unknown(suspects) = blame {
                        for &tenant in suspects {
                            if !outcome.evicted.contains(&tenant) {
                                self.record(tenant, HistoryEvent::WorkerDeath, now, effects);
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!("cannot record the death of {process}: {e}"),
            }
        }
        // Killed for the worker process memory cap: the tenants it charges (none is blamed).
        for &tenant in death.process_memory.iter().flatten() {
            self.record(tenant, HistoryEvent::MemoryLimitHit, now, effects);
        }
        quarantined
    }

    /// Life `life`'s worker cannot stop growing (`RenewalOverdue`): its process is replaced
    /// gracefully (see the module documentation). Returns the Loader workers it had loaded,
    /// with their tenants, to load again in their new processes; `None` if nothing was done
    /// (the life is not bound, or is already being recycled or gone).
    pub fn recycle(
        &mut self,
        life: u64,
        effects: &mut Vec<Effect>,
    ) -> Option<Vec<(TenantId, Arc<WorkerDef>)>> {
        let process = self.slots.binding_of(life)?;
        if self.cordon.process(process)?.retiring() {
            return None;
        }
        let loaded = self.slots.life(process)?.info.loaded_defs();
        let recycled = match self.cordon.recycle(process) {
            Ok(recycled) => recycled,
            Err(e) => {
                tracing::warn!("cannot recycle {process}: {e}");
                return None;
            }
        };
        for drain in recycled.drains {
            self.drain(drain, effects);
        }
        if recycled.process_retired {
            self.slots.retire(process);
        }
        Some(loaded)
    }

    /// Sets the tenant's facts (config trust plus code features).
    pub fn set_profile(
        &mut self,
        tenant: TenantId,
        profile: TenantProfile,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) {
        if let Some(drain) = self.cordon.set_profile(tenant, profile, now) {
            self.drain(drain, effects);
        }
    }

    pub fn set_override(
        &mut self,
        tenant: TenantId,
        operator_override: Option<Override>,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) -> Result<(), stockade_cordon::CordonError> {
        if let Some(drain) = self.cordon.set_override(tenant, operator_override, now)? {
            self.drain(drain, effects);
        }
        effects.push(Effect::Persist { tenant });
        Ok(())
    }

    pub fn reevaluate(&mut self, now: Millis, effects: &mut Vec<Effect>) {
        for drain in self.cordon.reevaluate(now) {
            self.drain(drain, effects);
        }
    }

    /// Every slot, by slot number.
    pub fn view(&self) -> Vec<SlotView> {
        self.slots.view(&self.cordon)
    }
}

/// Starts disposing `workers` of `tenant` in `process` (whose life is `life`): one disposal at a
/// time there (`Presence::disposing`).
fn start_disposal(
    p: &mut Presence,
    process: ProcessId,
    tenant: TenantId,
    life: &super::process::Life,
    workers: Vec<WorkerId>,
    effects: &mut Vec<Effect>,
) {
    p.disposing = true;
    effects.push(Effect::Dispose {
        process,
        tenant,
        jobs: life.jobs.clone(),
        workers,
    });
}
