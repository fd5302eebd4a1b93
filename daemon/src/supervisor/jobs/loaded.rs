//! What the supervisor knows of one worker process: the Loader workers it has loaded (with
//! their definitions, held weakly, and a load generation each), the memory each isolate last
//! reported, and its requests in flight.
//!
//! Guarantees: a load generation keeps an old request's answer from forgetting a newer load; a
//! deleted worker is not kept alive by the processes it was loaded in. Trusts: the runner
//! (`runner.rs`) to mark and forget loads as the worker answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use stockade_cordon::TenantId;
use stockade_ipc::{JailReport, WorkerId};

use super::WorkerDef;

/// What the supervisor knows of one worker process (one OS process; a replacement gets a new
/// one).
#[derive(Debug, Default)]
pub struct ProcessInfo {
    /// The admin view's position of this process (see `pool`).
    pub slot: usize,
    pub host_pid: AtomicU32,
    pub started_unix_ms: AtomicU64,
    /// The handshake completed: the process is jailed and serving.
    pub ready: AtomicBool,
    /// What the worker reported of its confinement at the handshake (self-reported).
    pub jail: Mutex<JailReport>,
    /// Jobs given to this process and not yet answered.
    pub in_flight: AtomicUsize,
    /// Loader workers whose isolate lives in this process: whose they are, the load's
    /// generation, and the definition (to reload it elsewhere if this process dies).
    loaded: Mutex<HashMap<WorkerId, Loaded>>,
    /// The last load generation handed out.
    generation: AtomicU64,
}

impl ProcessInfo {
    /// A process in slot `slot`, not started yet.
    pub fn new(slot: usize) -> ProcessInfo {
        ProcessInfo {
            slot,
            ..ProcessInfo::default()
        }
    }

    fn loaded(&self) -> MutexGuard<'_, HashMap<WorkerId, Loaded>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Loader workers of `tenant` loaded here.
    pub fn loaded_by(&self, tenant: TenantId) -> Vec<WorkerId> {
        self.loaded()
            .iter()
            .filter(|(_, l)| l.tenant == tenant)
            .map(|(w, _)| *w)
            .collect()
    }

    /// Every Loader worker loaded here, with its tenant.
    pub fn loaded_defs(&self) -> Vec<(TenantId, Arc<WorkerDef>)> {
        self.loaded()
            .values()
            .filter_map(|l| Some((l.tenant, l.def.upgrade()?)))
            .collect()
    }

    pub fn has_loaded(&self, worker: &WorkerId) -> bool {
        self.loaded().contains_key(worker)
    }

    pub fn isolates(&self) -> usize {
        self.loaded().len()
    }

    pub(super) fn generation_of(&self, worker: &WorkerId) -> Option<u64> {
        self.loaded().get(worker).map(|l| l.generation)
    }

    /// Records a completed load, whose isolate holds `memory_bytes`; its generation.
    pub(super) fn mark_loaded(
        &self,
        def: &Arc<WorkerDef>,
        tenant: TenantId,
        memory_bytes: u64,
    ) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let loaded = Loaded {
            tenant,
            generation,
            def: Arc::downgrade(def),
            memory_bytes,
        };
        self.loaded().insert(def.id, loaded);
        generation
    }

    /// The isolate of the loaded `worker` said it holds `bytes` as it answered.
    pub(super) fn note_memory(&self, worker: &WorkerId, bytes: u64) {
        if let Some(loaded) = self.loaded().get_mut(worker) {
            loaded.memory_bytes = bytes;
        }
    }

    /// The memory each tenant's Loader isolates here held as of their last answers, bytes
    /// (see `memory_cap::charged`).
    pub fn holdings(&self) -> BTreeMap<TenantId, u64> {
        let mut held = BTreeMap::new();
        for loaded in self.loaded().values() {
            let sum: &mut u64 = held.entry(loaded.tenant).or_default();
            *sum = sum.saturating_add(loaded.memory_bytes);
        }
        held
    }

    /// Forgets `worker` whatever its generation (it was disposed).
    pub(super) fn unload(&self, worker: &WorkerId) {
        self.loaded().remove(worker);
    }

    /// Forgets `worker` if it is still the load of `generation`.
    pub(super) fn forget(&self, worker: &WorkerId, generation: u64) {
        let mut loaded = self.loaded();
        if loaded
            .get(worker)
            .is_some_and(|l| l.generation == generation)
        {
            loaded.remove(worker);
        }
    }
}

/// One Loader worker loaded in a process. The definition is held weakly: a worker deleted
/// (and no longer in use) is not kept alive by the processes it was loaded in.
#[derive(Debug)]
struct Loaded {
    tenant: TenantId,
    generation: u64,
    def: std::sync::Weak<WorkerDef>,
    /// The memory its isolate held as of its last answer, bytes (the worker's report).
    memory_bytes: u64,
}
