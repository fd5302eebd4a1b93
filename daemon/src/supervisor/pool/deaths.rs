//! What the pool does when a worker process dies: record the death (the placement state
//! evicts its tenants and the cordon blames whom the death is evidence against), count it, and
//! load the bystanders' Loader workers again at once (see the pool's guarantees). And when a
//! worker cannot stop growing (`RenewalOverdue`): recycle its process (`State::recycle`) and
//! load its Loader workers again at once in their tenants' new processes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use stockade_cordon::TenantId;

use super::{Blame, Death, Inner, Job, WorkerDef};

/// Counts of what happened to processes and tenants, for the metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Worker process deaths by cause: the jail (SIGSYS), a limit the worker enforced by
    /// exiting, a signal from outside, any other crash.
    pub deaths_seccomp: AtomicU64,
    pub deaths_limit: AtomicU64,
    pub deaths_external: AtomicU64,
    pub deaths_crash: AtomicU64,
    /// Worker processes killed for the worker process memory cap.
    pub deaths_process_memory: AtomicU64,
    /// Tenants quarantined by a death.
    pub quarantines: AtomicU64,
    /// Loader workers loaded again after their process died or was recycled.
    pub reloads: AtomicU64,
    /// Worker processes recycled because V8's shared heap was overdue for a renewal they could
    /// not do (`worker_renew_after`).
    pub recycles: AtomicU64,
}

impl Inner {
    pub(super) fn on_death(
        self: &Arc<Self>,
        life: u64,
        blame: &Blame,
        death: &Death,
        loaded: Vec<(TenantId, Arc<WorkerDef>)>,
    ) {
        let mut effects = Vec::new();
        let quarantined = self
            .lock()
            .died(life, blame, death, self.clock.now(), &mut effects);
        let cause = if death.process_memory.is_some() {
            &self.counters.deaths_process_memory
        } else if death.by_seccomp {
            &self.counters.deaths_seccomp
        } else if death.limit.is_some() {
            &self.counters.deaths_limit
        } else if death.killed_externally {
            &self.counters.deaths_external
        } else {
            &self.counters.deaths_crash
        };
        cause.fetch_add(1, Ordering::Relaxed);
        if quarantined.is_some() {
            self.counters.quarantines.fetch_add(1, Ordering::Relaxed);
        }
        if let Blame::Unknown(suspects) = blame {
            let names: Vec<String> = suspects.iter().map(|&t| self.tenants.name(t)).collect();
            tracing::warn!(
                "a worker died ({}) running code of several tenants ({}); it is blamed \
                 on none of them",
                death.how,
                names.join(", ")
            );
        }
        if let Some(tenant) = quarantined {
            tracing::warn!(
                "tenant {} quarantined: its code was running when its worker died ({})",
                self.tenants.name(tenant),
                death.how
            );
        }
        if let Some(charged) = &death.process_memory {
            let names: Vec<String> = charged.iter().map(|&t| self.tenants.name(t)).collect();
            tracing::warn!(
                "a worker process was {}; charged with memory_limit_hit: {}",
                death.how,
                if names.is_empty() {
                    "nobody (no tenant code in flight, no isolate reporting memory)".to_string()
                } else {
                    names.join(", ")
                }
            );
        }
        self.spawn_effects(effects);
        let charged = death.process_memory.as_deref().unwrap_or_default();
        let loaded = loaded
            .into_iter()
            .filter(|(tenant, _)| !blame.names(*tenant) && !charged.contains(tenant));
        self.reload(loaded, "after its process died");
    }

    /// Life `life`'s worker says it cannot stop growing: its process is recycled (no new job
    /// goes there; it is shut down once its jobs are done) and its Loader workers are loaded
    /// again at once where their tenants are placed next, as after a death. Nobody is blamed.
    pub(super) fn on_overdue(self: &Arc<Self>, life: u64) {
        let mut effects = Vec::new();
        let loaded = self.lock().recycle(life, &mut effects);
        let Some(loaded) = loaded else {
            return; // not bound, or being recycled already
        };
        self.counters.recycles.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            "recycling a worker process: V8's shared heap is overdue for a renewal it cannot \
             do; {} Loader worker(s) load again in its replacement",
            loaded.len()
        );
        self.spawn_effects(effects);
        self.reload(loaded.into_iter(), "after its process was recycled");
    }

    /// Loads the workers of a dead or recycled process again (see the module documentation),
    /// deleted ones excepted. After a death, not those of the tenants the death is evidence
    /// against, nor of those a memory cap kill charged (their workers may be what grows; they
    /// load on their next call): the caller leaves them out.
    fn reload(
        self: &Arc<Self>,
        loaded: impl Iterator<Item = (TenantId, Arc<WorkerDef>)>,
        why: &'static str,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for (tenant, def) in loaded {
            if def.deleted.load(Ordering::Relaxed) {
                continue;
            }
            self.counters.reloads.fetch_add(1, Ordering::Relaxed);
            let inner = Arc::clone(self);
            runtime.spawn(async move {
                match inner.submit(tenant, Job::Load { def }).await {
                    Ok(outcome) if outcome.result.is_ok() => {}
                    Ok(outcome) => tracing::warn!(
                        "reloading a worker of {} {why}: {:?}",
                        inner.tenants.name(tenant),
                        outcome.result.err().map(|e| e.message)
                    ),
                    Err(e) => tracing::warn!(
                        "reloading a worker of {} {why}: {e}",
                        inner.tenants.name(tenant)
                    ),
                }
            });
        }
    }
}
