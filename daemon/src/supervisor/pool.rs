//! The cordon-driven pool of worker processes: every job is placed by the [`Cordon`] (the
//! tenant's tier decides which processes it may share) and runs in the process it names.
//!
//! Guarantees:
//! - a shared tier spreads its tenants over its `min_processes` (the config's `[cordon]`) before
//!   any process takes a second tenant, so that many tenants run in parallel; growing a tier
//!   binds warm spares first (see `slots`);
//! - tenants of different tiers never share a process (the cordon's invariant, enforced here by
//!   binding each cordon process to its own OS process, started with its tier's V8 profile:
//!   `--profile strict`, jitless and without WebAssembly, plus the quarantine limit caps, for
//!   quarantine);
//! - a tenant's tier change takes effect on its next job; its isolates in the old process are
//!   disposed once its jobs there finish (see `state`);
//! - CPU and memory limit hits, and worker deaths (attributed to the one tenant whose code was in
//!   flight, a seccomp kill when the worker died of SIGSYS; to nobody when several tenants' code
//!   was, see `process`), and kills for the worker process memory cap (`memory_limit_hit` for
//!   the tenant holding the most memory, see `memory_cap`), are recorded in the tenant's
//!   history before the job's caller gets its answer;
//! - a job still queued for a process that dies (beyond its `max_in_flight_per_worker`), or that
//!   could not send its request before the process died, is placed again (at most three
//!   placements per job), so co-resident tenants are served elsewhere instead of failing; so is
//!   a request that was in flight in it but acted only inside its isolate and is not blamed
//!   (see `process`); the other jobs whose request was in flight in it fail with it;
//! - a job whose caller goes away (its `submit` future is dropped) still finishes its placement,
//!   so the tenant's presence in the process is released; its request is cancelled (`process`);
//! - a death costs the neighbours of a process as little as it can: their Loader workers loaded
//!   there are loaded again, at once, wherever their tenant is placed next ([`Job::Load`]), so
//!   their next request finds them ready (with fresh module-level state: what a worker keeps in
//!   module variables is lost with its process). The workers of the tenant the death is evidence
//!   against (the culprit, or every suspect) are not, nor deleted ones; they load on their next
//!   call as usual;
//! - a worker process that cannot stop growing (its worker's `RenewalOverdue`: V8's shared heap
//!   is overdue for a renewal, which a Loader worker's isolate prevents) is recycled: its
//!   tenants' next jobs go to another process of their tier (a new one, if need be), its jobs in
//!   flight finish there, and it is shut down once idle (see `state`); its Loader workers are
//!   loaded again at once in their tenants' new processes, with fresh module-level state, as
//!   after a death. No request fails for it and nobody is blamed.
//!
//! Trusts: the configuration; the runner (`process`) to report each death once.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stockade_cordon::{
    Cordon, CordonConfig, CordonMetrics, HistoryEvent, Millis, Override, ProcessId, RiskReport,
    ScoringPolicy, TenantId, TenantSnapshot, TierCapacity, TierMinProcesses,
};
use stockade_ipc::{ErrorKind, Outcome};

use super::host_calls::HostCalls;
use super::jobs::{Job, JobError, Reply, WorkerDef};
use super::process::{Answer, Blame, Death, DeathHook, OverdueHook};

mod deaths;
mod risk;
use super::slots::{Launcher, SlotView};
use super::spawn::SpawnConfig;
use super::state::{Effect, State};
use super::tenants::{CodeFeatures, Tenants};
use crate::config::Config;
pub use deaths::Counters;

/// Placements per job: a job handed back unstarted by a dying process is placed again.
const PLACEMENTS_PER_JOB: usize = 3;

pub struct Pool {
    inner: Arc<Inner>,
    pub jailed: bool,
}

struct Inner {
    state: Mutex<State>,
    clock: Clock,
    tenants: Tenants,
    counters: Counters,
    /// Where changed risk histories go to be stored: (tenant, snapshot, taken at Unix ms).
    history_sink: std::sync::OnceLock<HistorySink>,
}

/// Tenant names by id, as the pool knows them (tenants added by a configuration reload
/// included); `None` once the pool is gone or for an id never given.
#[derive(Clone)]
pub struct TenantNames(std::sync::Weak<Inner>);

impl TenantNames {
    pub fn name(&self, tenant: TenantId) -> Option<String> {
        self.0.upgrade()?.tenants.find_name(tenant)
    }
}

/// Receives every tenant's risk history when it changes (see [`Pool::persist_history`]).
pub type HistorySink = tokio::sync::mpsc::UnboundedSender<(String, TenantSnapshot, u64)>;

/// The cordon's clock: Unix milliseconds as of start plus a monotonic elapsed time, so it never
/// goes backwards and reads as wall-clock time in risk reports.
struct Clock {
    origin: Instant,
    origin_unix_ms: u64,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            origin: Instant::now(),
            origin_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    fn now(&self) -> Millis {
        Millis(
            self.origin_unix_ms
                .saturating_add(self.origin.elapsed().as_millis() as u64),
        )
    }
}

/// The history event an answered job adds, if any. A script that threw is ordinary behaviour,
/// not a crash.
fn limit_event(outcome: &Outcome) -> Option<HistoryEvent> {
    match &outcome.result {
        Err(e) if e.kind == ErrorKind::CpuLimit => Some(HistoryEvent::CpuLimitHit),
        Err(e) if e.kind == ErrorKind::MemoryLimit => Some(HistoryEvent::MemoryLimitHit),
        _ => None,
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Places `job` for `tenant`, runs it and waits for its one reply.
    async fn submit(self: &Arc<Self>, id: TenantId, mut job: Job) -> Reply {
        let inner = self;
        for _ in 0..PLACEMENTS_PER_JOB {
            let mut effects = Vec::new();
            let route = inner.lock().route(id, inner.clock.now(), &mut effects);
            inner.spawn_effects(effects);
            let route = route?;
            let placed = Placed {
                inner,
                process: route.process,
                tenant: id,
                finished: false,
            };
            let answer = route.jobs.run(job, id).await;
            let event = match &answer {
                Answer::Done(Ok(outcome)) => {
                    inner.observed(id, outcome.observed);
                    limit_event(outcome)
                }
                _ => None,
            };
            placed.finish(event);
            match answer {
                Answer::Done(reply) => return reply,
                Answer::NotStarted(returned) => job = returned,
            }
        }
        Err(JobError::Unavailable)
    }

    /// What `id`'s code was seen doing becomes part of its profile (risk signals from
    /// behaviour, see `tenants`).
    fn observed(self: &Arc<Self>, id: TenantId, seen: stockade_ipc::Observed) {
        let Some(profile) = self.tenants.observe(id, seen) else {
            return;
        };
        let mut effects = Vec::new();
        self.lock()
            .set_profile(id, profile, self.clock.now(), &mut effects);
        self.spawn_effects(effects);
    }

    fn spawn_effects(self: &Arc<Self>, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        // Also called from drop guards, which may run outside the runtime while it shuts down.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(Arc::clone(self).apply(effects));
            }
            Err(_) => tracing::warn!("effects dropped: the runtime is gone"),
        }
    }

    /// Carries out effects, and those they lead to, in order.
    async fn apply(self: Arc<Self>, mut effects: Vec<Effect>) {
        while let Some(effect) = effects.pop() {
            match effect {
                Effect::Dispose {
                    process,
                    tenant,
                    jobs,
                    workers,
                } => {
                    for worker_id in workers {
                        let job = Job::Dispose { worker_id };
                        if let Answer::NotStarted(_) = jobs.run(job, tenant).await {
                            break; // the process is gone, and its isolates with it
                        }
                    }
                    self.lock().disposed(process, tenant, &mut effects);
                }
                Effect::Persist { tenant } => {
                    let Some(sink) = self.history_sink.get() else {
                        continue;
                    };
                    let now = self.clock.now();
                    let snapshot = self.lock().cordon.snapshot(tenant, now);
                    if let Some(snapshot) = snapshot {
                        let _ = sink.send((self.tenants.name(tenant), snapshot, now.0));
                    }
                }
            }
        }
    }
}

/// One placement of a job, finished exactly once: when its answer is in, or, if its caller
/// goes away first (the `submit` future is dropped), when it is dropped.
struct Placed<'a> {
    inner: &'a Arc<Inner>,
    process: ProcessId,
    tenant: TenantId,
    finished: bool,
}

impl Placed<'_> {
    fn finish(mut self, event: Option<HistoryEvent>) {
        self.finish_with(event);
    }

    fn finish_with(&mut self, event: Option<HistoryEvent>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let inner = self.inner;
        let mut effects = Vec::new();
        inner.lock().finish(
            self.process,
            self.tenant,
            event,
            inner.clock.now(),
            &mut effects,
        );
        inner.spawn_effects(effects);
    }
}

impl Drop for Placed<'_> {
    fn drop(&mut self) {
        self.finish_with(None);
    }
}

impl Pool {
    /// Registers the configured tenants with the cordon and starts the warm spares (so it must
    /// run inside the Tokio runtime). Running requests' host calls go to `host_calls`.
    pub fn start(
        config: &Config,
        spawn: SpawnConfig,
        host_calls: HostCalls,
    ) -> Result<Pool, stockade_cordon::CordonError> {
        let settings = &config.cordon;
        let mut cordon = Cordon::new(CordonConfig {
            capacity: TierCapacity {
                trusted: settings.trusted_capacity,
                standard: settings.standard_capacity,
                untrusted: settings.untrusted_capacity,
            },
            min_processes: TierMinProcesses {
                trusted: settings.trusted_min_processes,
                standard: settings.standard_min_processes,
                untrusted: settings.untrusted_min_processes,
            },
            scoring: ScoringPolicy {
                large_bundle_bytes: settings.large_bundle_bytes,
            },
        })?;
        let tenants = Tenants::new(&[]);
        let clock = Clock::new();
        for (id, profile) in tenants.reload(&config.tenants) {
            cordon.set_profile(id, profile, clock.now());
        }
        let quarantine_caps = stockade_ipc::Limits {
            cpu_ms: settings.quarantine_cpu_ms,
            wall_ms: settings.quarantine_wall_ms,
            memory_mb: settings.quarantine_memory_mb,
            stack_kb: 0,
            sub_requests: 0,
            result_bytes: 0,
            log_bytes: 0,
        };
        let jailed = spawn.jail;
        let warm = config.workers;
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let weak = weak.clone();
            let on_death: DeathHook = {
                let weak = weak.clone();
                Arc::new(move |life, blame: &Blame, death: &Death, loaded| {
                    if let Some(inner) = weak.upgrade() {
                        inner.on_death(life, blame, death, loaded);
                    }
                })
            };
            let on_overdue: OverdueHook = Arc::new(move |life| {
                if let Some(inner) = weak.upgrade() {
                    inner.on_overdue(life);
                }
            });
            let launcher = Launcher {
                spawn,
                quarantine_caps,
                on_death,
                on_overdue,
                max_in_flight: config.max_in_flight_per_worker,
                host_calls: Arc::new(host_calls),
            };
            Inner {
                state: Mutex::new(State::new(cordon, warm, launcher)),
                clock,
                tenants,
                counters: Counters::default(),
                history_sink: std::sync::OnceLock::new(),
            }
        });
        let weak = Arc::downgrade(&inner);
        let period = Duration::from_millis(settings.reevaluate_ms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let mut effects = Vec::new();
                inner.lock().reevaluate(inner.clock.now(), &mut effects);
                inner.apply(effects).await;
            }
        });
        Ok(Pool { inner, jailed })
    }

    /// Places `job` for `tenant`, runs it and waits for its one reply.
    pub async fn submit(&self, tenant: &str, job: Job) -> Reply {
        let id = self.inner.tenants.id(tenant).ok_or(JobError::Unavailable)?;
        self.inner.submit(id, job).await
    }

    /// Disposes a deleted Loader worker wherever it is loaded, and waits for it.
    pub async fn dispose_worker(&self, def: &WorkerDef) {
        let Some(tenant) = self.inner.tenants.id(&def.tenant) else {
            return;
        };
        let mut effects = Vec::new();
        self.inner
            .lock()
            .dispose_worker(&def.id, tenant, &mut effects);
        Arc::clone(&self.inner).apply(effects).await;
    }

    /// Disposes the deleted workers `defs` wherever they are loaded. The disposal goes on in the
    /// background, whatever becomes of the caller (a client that hangs up mid-delete).
    pub fn dispose_workers(&self, defs: &[Arc<WorkerDef>]) {
        let mut effects = Vec::new();
        {
            let mut state = self.inner.lock();
            for def in defs {
                if let Some(tenant) = self.inner.tenants.id(&def.tenant) {
                    state.dispose_worker(&def.id, tenant, &mut effects);
                }
            }
        }
        if effects.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(Arc::clone(&self.inner).apply(effects));
        }
    }

    /// Every worker process (bound or spare), by slot.
    pub fn processes(&self) -> Vec<SlotView> {
        self.inner.lock().view()
    }

    /// Processes and tenants per tier.
    pub fn metrics(&self) -> CordonMetrics {
        self.inner.lock().cordon.metrics()
    }

    /// Tenant names by id, for host calls that need them, without keeping the pool alive.
    pub fn tenant_names(&self) -> TenantNames {
        TenantNames(Arc::downgrade(&self.inner))
    }

    /// The id of the tenant named `name`, if it was ever configured.
    pub fn tenant_id(&self, name: &str) -> Option<TenantId> {
        self.inner.tenants.id(name)
    }

    /// The configured id of `tenant`.
    pub fn tenant_name(&self, tenant: TenantId) -> String {
        self.inner.tenants.name(tenant)
    }

    /// What happened to processes and tenants so far.
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Applies a reloaded configuration's tenants: new ones are registered, known ones get
    /// their new trust and account facts (a tenant no longer configured keeps its id, unused).
    pub fn reload_tenants(&self, configured: &[crate::config::TenantConfig]) {
        let inner = &self.inner;
        let changed = inner.tenants.reload(configured);
        let mut effects = Vec::new();
        {
            let mut state = inner.lock();
            for (id, profile) in changed {
                state.set_profile(id, profile, inner.clock.now(), &mut effects);
            }
        }
        inner.spawn_effects(effects);
    }
}
