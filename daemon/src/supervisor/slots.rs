//! The worker processes themselves: numbered slots, each running one life (one OS process) at a
//! time, either bound to a cordon process or waiting as a warm spare.
//!
//! Guarantees:
//! - a cordon process is bound to exactly one slot, and a life is bound at most once: when the
//!   cordon retires a process its life is ended (its job channel dropped, so the worker is asked
//!   to shut down), never given another tier or tenant; a slot that must stay gets a fresh life
//!   (so does a recycled process's slot, once the cordon retires it);
//! - a life's profile is fixed at spawn: `strict` (jitless, no WebAssembly, the quarantine
//!   limit caps) for quarantine, `standard` otherwise;
//! - warm spares (standard profile, not yet bound) are kept at the configured number; a process
//!   that dies is replaced in its own slot (`restarts` counts these) when its profile keeps
//!   spares, and spares above the target are stopped, newest slot first. Quarantine processes
//!   are started on demand and never kept as spares.
//!
//! Trusts: nothing; the caller keeps the cordon's side in step.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use stockade_cordon::{Cordon, ProcessId, RiskTier, TenantId, V8Profile};

use super::host_calls::HostCalls;
use super::jobs::ProcessInfo;
use super::process::{start, DeathHook, Life, LifeConfig, OverdueHook};
use super::spawn::SpawnConfig;

/// How to start lives.
pub struct Launcher {
    /// Program, jail and test hooks; the profile is set per life.
    pub spawn: SpawnConfig,
    /// Limit caps of quarantine (strict) processes.
    pub quarantine_caps: stockade_ipc::Limits,
    pub on_death: DeathHook,
    /// Where a worker's `RenewalOverdue` goes (the pool recycles its process).
    pub on_overdue: OverdueHook,
    /// Jobs one process runs at once, at most.
    pub max_in_flight: usize,
    /// What requests may ask the supervisor.
    pub host_calls: Arc<HostCalls>,
}

struct Slot {
    profile: V8Profile,
    life: Life,
    binding: Option<ProcessId>,
    restarts: u32,
}

/// One slot as the admin view shows it.
pub struct SlotView {
    pub slot: usize,
    pub process: Option<ProcessId>,
    pub tier: Option<RiskTier>,
    pub profile: V8Profile,
    pub tenants: Vec<TenantId>,
    pub draining: Vec<TenantId>,
    /// Being recycled: draining to a replacement, shut down once idle.
    pub retiring: bool,
    pub restarts: u32,
    pub info: Arc<ProcessInfo>,
}

pub struct Slots {
    launcher: Launcher,
    slots: BTreeMap<usize, Slot>,
    bound: BTreeMap<ProcessId, usize>,
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

impl Slots {
    /// Starts `warm` spares.
    pub fn new(launcher: Launcher, warm: usize) -> Slots {
        let mut slots = Slots {
            launcher,
            slots: BTreeMap::new(),
            bound: BTreeMap::new(),
            next_slot: 0,
            next_life: 0,
            warm,
        };
        slots.fill_spares();
        slots
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
            max_in_flight: launcher.max_in_flight,
            host_calls: Arc::clone(&launcher.host_calls),
        };
        start(
            config,
            Arc::clone(&launcher.on_death),
            Arc::clone(&launcher.on_overdue),
        )
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

    /// The life bound to cordon process `process`.
    pub fn life(&self, process: ProcessId) -> Option<&Life> {
        let slot = self.bound.get(&process)?;
        self.slots.get(slot).map(|s| &s.life)
    }

    /// Every bound cordon process with its life.
    pub fn bound(&self) -> impl Iterator<Item = (ProcessId, &Life)> + '_ {
        self.bound
            .iter()
            .filter_map(|(&p, slot)| Some((p, &self.slots.get(slot)?.life)))
    }

    /// The life of cordon process `process`, binding one if it has none: the lowest ready
    /// spare of the profile, else the lowest starting one, else a new slot.
    pub fn bind(&mut self, process: ProcessId, profile: V8Profile) -> Option<&Life> {
        if !self.bound.contains_key(&process) {
            let ready = self
                .spares(profile)
                .find(|id| self.slots[id].life.info.ready.load(Ordering::Relaxed));
            let slot = match ready.or_else(|| self.spares(profile).next()) {
                Some(slot) => slot,
                None => self.new_slot(profile),
            };
            if let Some(s) = self.slots.get_mut(&slot) {
                s.binding = Some(process);
            }
            self.bound.insert(process, slot);
            self.fill_spares();
        }
        self.life(process)
    }

    /// The cordon process life `life` is bound to, if it is a current life and bound.
    pub fn binding_of(&self, life: u64) -> Option<ProcessId> {
        self.slots
            .values()
            .find(|s| s.life.id == life)
            .and_then(|s| s.binding)
    }

    /// The cordon retired `process`: end its life; the slot gets a fresh one if spares are
    /// short, else it goes.
    pub fn retire(&mut self, process: ProcessId) {
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

    /// Life `life` died: unbind it and replace it. `None` if it is not a current life (it was
    /// already retired); else the cordon process it was bound to, if any.
    pub fn died(&mut self, life: u64) -> Option<Option<ProcessId>> {
        let (slot, profile, binding) =
            self.slots
                .iter_mut()
                .find(|(_, s)| s.life.id == life)
                .map(|(&id, s)| {
                    s.restarts += 1;
                    (id, s.profile, s.binding.take())
                })?;
        if let Some(process) = binding {
            self.bound.remove(&process);
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
        Some(binding)
    }

    /// Every slot, by slot number, with what `cordon` says of its process.
    pub fn view(&self, cordon: &Cordon) -> Vec<SlotView> {
        self.slots
            .iter()
            .map(|(&slot, s)| {
                let process = s.binding.and_then(|p| cordon.process(p));
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
                    retiring: process.is_some_and(|p| p.retiring()),
                    restarts: s.restarts,
                    info: Arc::clone(&s.life.info),
                }
            })
            .collect()
    }
}
