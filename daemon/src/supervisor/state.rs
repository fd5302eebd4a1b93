//! The supervisor's placement state, behind one mutex: the [`Cordon`] (which tier each tenant
//! is in and which cordon process hosts it), the slots (worker processes, bound to a cordon
//! process or waiting as warm spares), and each tenant's presence in each process. Every method
//! is synchronous; work that must wait on a process (disposing isolates) is returned as an
//! [`Effect`] for the pool to carry out after the lock is released.
//!
//! Guarantees:
//! - a cordon process is bound to exactly one slot's current life, and a life is bound at most
//!   once: when the cordon retires a process its OS process is shut down, never reused for
//!   another tier or tenant (a slot that must stay gets a fresh process);
//! - a tenant's isolate in a process is released to the cordon only when no job of the tenant
//!   is running or queued there and none of its Loader workers is loaded there; a drained
//!   tenant's workers are disposed first (after its running jobs), then released;
//! - a process death retires its cordon process, evicts every tenant in it (their next request
//!   is placed afresh) and blames the tenant whose code ran, which the cordon quarantines;
//! - warm spares (standard profile, not yet given to a tier) are kept at the configured number;
//!   a crashed process is replaced in its own slot (`restarts` counts these), and spares above
//!   the target are stopped, newest slot first.
//!
//! Trusts: the runner to report each death once, with the tenant whose code was running.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use stockade_cordon::{
    Cordon, Drain, HistoryEvent, Millis, Override, ProcessId, RiskTier, TenantId, TenantProfile,
    V8Profile,
};
use stockade_ipc::WorkerId;
use tokio::sync::mpsc;

use super::jobs::{JobError, ProcessInfo};
use super::process::{start, Death, DeathHook, Envelope, Life, LifeConfig};
use super::spawn::SpawnConfig;

/// How to start lives.
pub struct Launcher {
    /// Program, jail and test hooks; the profile is set per life.
    pub spawn: SpawnConfig,
    /// Limit caps of quarantine (strict) processes.
    pub quarantine_caps: stockade_ipc::Limits,
    pub on_death: DeathHook,
}

/// Work to do outside the lock.
pub enum Effect {
    /// Dispose these Loader workers of `tenant` in `process`, then call [`State::disposed`].
    Dispose {
        process: ProcessId,
        tenant: TenantId,
        jobs: mpsc::Sender<Envelope>,
        info: Arc<ProcessInfo>,
        workers: Vec<WorkerId>,
    },
}

/// Where a placed job goes.
pub struct Route {
    pub process: ProcessId,
    pub jobs: mpsc::Sender<Envelope>,
    pub info: Arc<ProcessInfo>,
}

struct Slot {
    profile: V8Profile,
    life: Life,
    binding: Option<ProcessId>,
    restarts: u32,
}

#[derive(Default)]
struct Presence {
    /// Jobs placed here and not finished.
    running: u32,
    /// The cordon moved the tenant away: dispose and release once idle.
    draining: bool,
    /// A disposal is under way.
    disposing: bool,
}

/// One slot as the admin view shows it.
pub struct SlotView {
    pub slot: usize,
    pub process: Option<ProcessId>,
    pub tier: Option<RiskTier>,
    pub profile: V8Profile,
    pub tenants: Vec<TenantId>,
    pub draining: Vec<TenantId>,
    pub restarts: u32,
    pub info: Arc<ProcessInfo>,
}

pub struct State {
    pub cordon: Cordon,
    launcher: Launcher,
    slots: BTreeMap<usize, Slot>,
    bound: BTreeMap<ProcessId, usize>,
    presence: BTreeMap<(ProcessId, TenantId), Presence>,
    next_slot: usize,
    next_life: u64,
    warm: usize,
}

/// A replacement after a death waits this long, so a worker that dies at once is not respawned
/// in a tight loop.
const REPLACEMENT_DELAY: Duration = Duration::from_millis(100);

fn profile_name(profile: V8Profile) -> &'static str {
    match profile {
        V8Profile::Standard => "standard",
        V8Profile::Strict => "strict",
    }
}

impl State {
    pub fn new(cordon: Cordon, warm: usize, launcher: Launcher) -> State {
        let mut state = State {
            cordon,
            launcher,
            slots: BTreeMap::new(),
            bound: BTreeMap::new(),
            presence: BTreeMap::new(),
            next_slot: 0,
            next_life: 0,
            warm,
        };
        state.fill_spares();
        state
    }

    fn launch(&mut self, slot: usize, profile: V8Profile, delay: Duration) -> Life {
        self.next_life += 1;
        let launcher = &self.launcher;
        let config = LifeConfig {
            id: self.next_life,
            slot,
            spawn: SpawnConfig {
                profile: profile_name(profile),
                ..launcher.spawn.clone()
            },
            caps: (profile == V8Profile::Strict).then_some(launcher.quarantine_caps),
            delay,
        };
        start(config, Arc::clone(&launcher.on_death))
    }

    fn new_slot(&mut self, profile: V8Profile) -> usize {
        let slot = self.next_slot;
        self.next_slot += 1;
        let life = self.launch(slot, profile, Duration::ZERO);
        self.slots.insert(
            slot,
            Slot {
                profile,
                life,
                binding: None,
                restarts: 0,
            },
        );
        slot
    }

    fn target(&self, profile: V8Profile) -> usize {
        match profile {
            V8Profile::Standard => self.warm,
            V8Profile::Strict => 0,
        }
    }

    fn spares(&self, profile: V8Profile) -> impl DoubleEndedIterator<Item = usize> + '_ {
        self.slots
            .iter()
            .filter(move |(_, s)| s.binding.is_none() && s.profile == profile)
            .map(|(&id, _)| id)
    }

    fn fill_spares(&mut self) {
        while self.spares(V8Profile::Standard).count() < self.warm {
            self.new_slot(V8Profile::Standard);
        }
    }

    fn trim_spares(&mut self) {
        for profile in [V8Profile::Standard, V8Profile::Strict] {
            while self.spares(profile).count() > self.target(profile) {
                let Some(newest) = self.spares(profile).next_back() else {
                    break;
                };
                self.slots.remove(&newest); // dropping its sender shuts the process down
            }
        }
    }

    /// Gives cordon process `process` a slot: the lowest ready spare of the profile, else the
    /// lowest starting one, else a new slot.
    fn bind(&mut self, process: ProcessId, profile: V8Profile) -> usize {
        let ready = self.spares(profile).find(|id| {
            self.slots[id]
                .life
                .info
                .ready
                .load(std::sync::atomic::Ordering::Relaxed)
        });
        let slot = match ready.or_else(|| self.spares(profile).next()) {
            Some(slot) => slot,
            None => self.new_slot(profile),
        };
        if let Some(s) = self.slots.get_mut(&slot) {
            s.binding = Some(process);
        }
        self.bound.insert(process, slot);
        self.fill_spares();
        slot
    }

    /// Places one job of `tenant` (see `Cordon::place`) and counts it as running there.
    pub fn route(
        &mut self,
        tenant: TenantId,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) -> Result<Route, JobError> {
        let placement = self.cordon.place(tenant, now).map_err(|e| {
            eprintln!("stockade: cannot place {tenant}: {e}");
            JobError::Unavailable
        })?;
        if let Some(drain) = placement.drain {
            self.drain(drain, effects);
        }
        let process = placement.process;
        let slot = match self.bound.get(&process) {
            Some(&slot) => slot,
            None => self.bind(process, placement.profile),
        };
        let life = &self.slots.get(&slot).ok_or(JobError::Unavailable)?.life;
        let route = Route {
            process,
            jobs: life.jobs.clone(),
            info: Arc::clone(&life.info),
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
            match self.cordon.record(tenant, event, now) {
                Ok(Some(drain)) => self.drain(drain, effects),
                Ok(None) => {}
                Err(e) => eprintln!("stockade: cannot record {event:?}: {e}"),
            }
        }
        self.settle(process, tenant, effects);
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
        let Some(life) = self
            .bound
            .get(&process)
            .and_then(|s| self.slots.get(s))
            .map(|s| &s.life)
        else {
            return;
        };
        let workers = life.info.loaded_by(tenant);
        if !workers.is_empty() {
            if p.draining {
                p.disposing = true;
                effects.push(Effect::Dispose {
                    process,
                    tenant,
                    jobs: life.jobs.clone(),
                    info: Arc::clone(&life.info),
                    workers,
                });
            }
            return;
        }
        self.presence.remove(&(process, tenant));
        match self.cordon.release(tenant, process) {
            Ok(released) if released.process_retired => self.retire(process),
            Ok(_) => {}
            Err(e) => eprintln!("stockade: cannot release {tenant} from {process}: {e}"),
        }
    }

    /// The cordon retired `process`: shut its OS process down (by dropping the slot's life);
    /// the slot gets a fresh one if spares are short, else it goes.
    fn retire(&mut self, process: ProcessId) {
        let Some(slot) = self.bound.remove(&process) else {
            return;
        };
        let Some(profile) = self.slots.get(&slot).map(|s| s.profile) else {
            return;
        };
        if self.spares(profile).count() < self.target(profile) {
            let life = self.launch(slot, profile, Duration::ZERO);
            if let Some(s) = self.slots.get_mut(&slot) {
                s.life = life;
                s.binding = None;
            }
        } else {
            self.slots.remove(&slot);
        }
    }

    /// A disposal started by an [`Effect::Dispose`] is over.
    pub fn disposed(&mut self, process: ProcessId, tenant: TenantId, effects: &mut Vec<Effect>) {
        if let Some(p) = self.presence.get_mut(&(process, tenant)) {
            p.disposing = false;
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
        for (&process, &slot) in &self.bound {
            let Some(life) = self.slots.get(&slot).map(|s| &s.life) else {
                continue;
            };
            if !life.info.has_loaded(worker) {
                continue;
            }
            let Some(p) = self.presence.get_mut(&(process, tenant)) else {
                continue;
            };
            if p.disposing {
                continue; // a drain is disposing every worker of the tenant there
            }
            p.disposing = true;
            effects.push(Effect::Dispose {
                process,
                tenant,
                jobs: life.jobs.clone(),
                info: Arc::clone(&life.info),
                workers: vec![*worker],
            });
        }
    }

    /// Life `life` died; `running` is the tenant whose code it was running. Returns the tenant
    /// the death quarantined, if any.
    pub fn died(
        &mut self,
        life: u64,
        running: Option<TenantId>,
        death: &Death,
        now: Millis,
        effects: &mut Vec<Effect>,
    ) -> Option<TenantId> {
        let Some((slot, profile, binding)) = self
            .slots
            .iter_mut()
            .find(|(_, s)| s.life.id == life)
            .map(|(&id, s)| {
                s.restarts += 1;
                (id, s.profile, s.binding.take())
            })
        else {
            return None; // a retired life: nobody placed anything there any more
        };
        let mut quarantined = None;
        if let Some(process) = binding {
            self.bound.remove(&process);
            self.presence.retain(|(p, _), _| *p != process);
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
                    for drain in outcome.drains {
                        self.drain(drain, effects);
                    }
                }
                Err(e) => eprintln!("stockade: cannot record the death of {process}: {e}"),
            }
        }
        if self.target(profile) > 0 {
            let life = self.launch(slot, profile, REPLACEMENT_DELAY);
            if let Some(s) = self.slots.get_mut(&slot) {
                s.life = life;
            }
        } else {
            self.slots.remove(&slot);
        }
        self.trim_spares();
        self.fill_spares();
        quarantined
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
        Ok(())
    }

    pub fn reevaluate(&mut self, now: Millis, effects: &mut Vec<Effect>) {
        for drain in self.cordon.reevaluate(now) {
            self.drain(drain, effects);
        }
    }

    /// Every slot, by slot number.
    pub fn view(&self) -> Vec<SlotView> {
        self.slots
            .iter()
            .map(|(&slot, s)| {
                let process = s.binding.and_then(|p| self.cordon.process(p));
                SlotView {
                    slot,
                    process: s.binding,
                    tier: process.map(|p| p.tier()),
                    profile: s.profile,
                    tenants: process
                        .map(|p| p.active_tenants().collect())
                        .unwrap_or_default(),
                    draining: process
                        .map(|p| p.draining_tenants().collect())
                        .unwrap_or_default(),
                    restarts: s.restarts,
                    info: Arc::clone(&s.life.info),
                }
            })
            .collect()
    }
}
