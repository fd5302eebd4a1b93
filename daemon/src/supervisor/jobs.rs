//! One job, as the supervisor speaks it to one worker process over the IPC protocol (through
//! the process's [`Link`]): the request/answer exchanges, loading a Loader worker on first use,
//! and what a process knows it has loaded.
//!
//! Guarantees:
//! - any number of jobs of one process run concurrently (the life, `process`, caps how many);
//!   each request is matched to its answer by `RequestId` in the link, which ends the process on
//!   any answer it did not ask for;
//! - a Loader worker is loaded into a process once, however many requests for it arrive
//!   together: the first starts the load as a task of its own (so it is not abandoned if its
//!   caller goes away), the others wait for that load's result; an `Invoke` answered
//!   `UnknownWorker` forgets the worker and loads it again, once;
//! - a Loader worker whose isolate hit a limit is forgotten, so the next call loads it afresh; a
//!   load generation keeps an old request's answer from forgetting a newer load;
//! - a job that could not send its request (the link had closed: the process is dying) fails
//!   [`Failure::NotSent`] with the job intact, so it can run elsewhere; a Loader call whose load
//!   was lost with the process (its `Invoke` never sent) fails [`Failure::Unstarted`] with the
//!   job intact: only the worker's module code ran (which a replacement runs again anyway), so
//!   the life places it again unless the death is evidence against its tenant;
//! - the Loader workers a process has loaded are known with their definitions
//!   ([`ProcessInfo::loaded_defs`]), so that a death can reload them elsewhere ([`Job::Load`]);
//! - in a process with `caps` (a quarantine process) no request runs with a CPU, wall-clock or
//!   memory limit above them.
//!
//! Trusts: nothing the worker sends beyond what the size-capped decoder and the link accept.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use stockade_cordon::TenantId;
use stockade_ipc::{
    Call, ErrorKind, JailReport, LoadWorker, MessageKind, Outcome, ToSupervisor, ToWorker,
    WorkerId, PROTOCOL_VERSION,
};
use tokio::sync::watch;

use super::channel::{FrameReader, FrameWriter};
use super::host_calls::{Caller, Outbound};
use super::link::{AskError, Lease, Link, NotSent, Request};

/// A worker definition, as the Loader API stored it.
#[derive(Debug)]
pub struct WorkerDef {
    pub id: WorkerId,
    pub tenant: String,
    pub main_module: String,
    pub modules: Vec<stockade_ipc::Module>,
    /// `env` as given (any JSON values; bindings among them).
    pub env: Vec<(String, serde_json::Value)>,
    /// The capabilities among `env`, parsed when the definition was made.
    pub bindings: Arc<super::bindings::Bindings>,
    pub limits: stockade_ipc::Limits,
    pub compatibility_date: Option<String>,
    /// Cloudflare's `compatibilityFlags`, validated (`stockade_source::compat`).
    pub compatibility_flags: Vec<String>,
    /// Risk-relevant features of the modules (see `tenants`).
    pub features: super::tenants::CodeFeatures,
    /// Where its `fetch()` goes (`globalOutbound`).
    pub outbound: Outbound,
    /// Deleted through the API: never loaded again (a reload after a death skips it).
    pub deleted: AtomicBool,
}

/// The streamed bodies of a `Call::Fetch`: the rest of its upload (`Call::Fetch::body_streamed`),
/// and where its response body goes if the worker streams it. Cloned into each request the job
/// sends (a retried job hands the same handles on).
#[derive(Clone, Default)]
pub struct Streams {
    pub body_in: Option<super::body::BodyIn>,
    pub body_out: Option<super::body::BodyOut>,
    /// The chain of service / Loader calls the call belongs to (default: a client's request).
    pub chain: super::host_calls::Chain,
}

pub enum Job {
    Run {
        code: String,
        arg_json: Vec<u8>,
        limits: stockade_ipc::Limits,
    },
    Call {
        def: Arc<WorkerDef>,
        call: Call,
        /// Where a streamed request body comes from and a streamed response body goes.
        streams: Streams,
    },
    Dispose {
        worker_id: WorkerId,
    },
    /// Load a Loader worker without calling it: a reload after its process died, so the
    /// tenant's next request finds it ready (its module-level state starts afresh).
    Load {
        def: Arc<WorkerDef>,
    },
}

impl Job {
    /// How deep in a chain of binding calls the job's request is (0: a client's request; see
    /// `process/lanes.rs`).
    pub fn depth(&self) -> u32 {
        match self {
            Job::Call { streams, .. } => streams.chain.depth,
            Job::Run { .. } | Job::Dispose { .. } | Job::Load { .. } => 0,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    #[error("the worker process died while running this request ({0})")]
    WorkerDied(String),
    #[error("the worker process did not answer in time and was killed")]
    Timeout,
    /// The worker process was killed for its memory cap (`[limits] worker_process_memory_mb`),
    /// all its isolates together, while this request was in flight; it has been replaced.
    #[error("the worker process running this request was {0}; it has been replaced")]
    ProcessMemory(String),
    #[error("no worker process is available")]
    Unavailable,
    /// The supervisor could not encode the request (nothing was sent; the process is fine).
    #[error("the request cannot be sent to a worker: {0}")]
    Unencodable(String),
}

impl JobError {
    /// Whether the process is dead or untrustworthy after this error (it is then ended).
    pub fn ends_the_process(&self) -> bool {
        matches!(self, JobError::WorkerDied(_) | JobError::Timeout)
    }
}

impl From<AskError> for JobError {
    fn from(e: AskError) -> JobError {
        match e {
            AskError::Unencodable(why) => JobError::Unencodable(why),
            AskError::Lost(why) => JobError::WorkerDied(why),
            AskError::Timeout => JobError::Timeout,
        }
    }
}

/// Why a job did not produce an outcome.
pub enum Failure {
    /// Nothing of it was sent (the process is going away): it can run elsewhere.
    NotSent(Job),
    /// Its own request was never sent: the process died while loading the worker it calls (a
    /// load may be run again anywhere, as every replacement process does). It can run
    /// elsewhere unless the death is evidence against its tenant, whose module code was running.
    Unstarted(Job),
    /// It failed.
    Error(JobError),
}

impl From<JobError> for Failure {
    fn from(e: JobError) -> Failure {
        Failure::Error(e)
    }
}

impl From<AskError> for Failure {
    fn from(e: AskError) -> Failure {
        Failure::Error(e.into())
    }
}

pub type Reply = Result<Outcome, JobError>;

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

    fn generation_of(&self, worker: &WorkerId) -> Option<u64> {
        self.loaded().get(worker).map(|l| l.generation)
    }

    /// Records a completed load, whose isolate holds `memory_bytes`; its generation.
    fn mark_loaded(&self, def: &Arc<WorkerDef>, tenant: TenantId, memory_bytes: u64) -> u64 {
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
    fn note_memory(&self, worker: &WorkerId, bytes: u64) {
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

    /// Forgets `worker` if it is still the load of `generation`.
    fn forget(&self, worker: &WorkerId, generation: u64) {
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

/// Hello and Ready; the worker's own report of its confinement. When the jail is configured, a
/// worker that says it runs without seccomp or its own namespaces is refused: the report is
/// self-reported and proves nothing about a compromised worker, but a worker that admits it is
/// unjailed is a misconfiguration that must not serve.
pub async fn handshake(
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    jail: bool,
) -> Result<JailReport, String> {
    writer
        .send(&ToWorker::Hello {
            protocol_version: PROTOCOL_VERSION,
        })
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(30), reader.recv()).await {
        Ok(Ok(ToSupervisor::Ready {
            protocol_version,
            jail: report,
            ..
        })) if protocol_version == PROTOCOL_VERSION => {
            if jail && !(report.seccomp && report.user_namespace) {
                return Err(format!(
                    "the worker reports it is not jailed ({report:?}) although the jail is configured"
                ));
            }
            Ok(report)
        }
        Ok(Ok(other)) => Err(format!("unexpected first message, a {:?}", other.kind())),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no Ready within 30 s".into()),
    }
}

fn wall_of(limits: &stockade_ipc::Limits) -> Duration {
    Duration::from_millis(u64::from(if limits.wall_ms == 0 {
        stockade_ipc::limits::DEFAULT_WALL_MS
    } else {
        limits.wall_ms
    }))
}

/// `limits` with CPU, wall-clock and memory no higher than `caps` (0 means "the default", which
/// a cap replaces).
pub fn capped(
    limits: stockade_ipc::Limits,
    caps: Option<&stockade_ipc::Limits>,
) -> stockade_ipc::Limits {
    let Some(caps) = caps else {
        return limits;
    };
    let cap = |v: u32, max: u32| if v == 0 { max } else { v.min(max) };
    stockade_ipc::Limits {
        cpu_ms: cap(limits.cpu_ms, caps.cpu_ms),
        wall_ms: cap(limits.wall_ms, caps.wall_ms),
        memory_mb: cap(limits.memory_mb, caps.memory_mb),
        ..limits
    }
}

/// The answer of an `Outcome` request (the link has checked the kind).
fn expect_outcome(answer: ToSupervisor) -> Result<Outcome, JobError> {
    match answer {
        ToSupervisor::Outcome(o) => Ok(o),
        other => Err(JobError::WorkerDied(format!(
            "expected an outcome, got a {:?}",
            other.kind()
        ))),
    }
}

/// How one process runs jobs: its V8 profile and, for quarantine, the limit caps.
pub struct Conduct {
    pub profile: stockade_ipc::Profile,
    pub caps: Option<stockade_ipc::Limits>,
}

/// What a load published to the requests waiting for it.
#[derive(Clone)]
enum LoadResult {
    /// Loaded, in this generation; what the load was seen doing (nothing when it was loaded
    /// already).
    Yes(u64, stockade_ipc::Observed),
    /// The worker refused it (compile error, a throw at the top level, a limit...).
    Refused(Outcome),
    /// The link had closed.
    NotSent,
    Failed(JobError),
}

/// One process's side of running jobs: its link, what it has loaded, the loads under way.
pub struct Runner {
    pub info: Arc<ProcessInfo>,
    pub link: Arc<Link>,
    pub conduct: Conduct,
    loads: Mutex<HashMap<WorkerId, watch::Receiver<Option<LoadResult>>>>,
}

impl Runner {
    pub fn new(info: Arc<ProcessInfo>, link: Arc<Link>, conduct: Conduct) -> Runner {
        Runner {
            info,
            link,
            conduct,
            loads: Mutex::new(HashMap::new()),
        }
    }

    fn loads(&self) -> MutexGuard<'_, HashMap<WorkerId, watch::Receiver<Option<LoadResult>>>> {
        self.loads.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn caps(&self) -> Option<&stockade_ipc::Limits> {
        self.conduct.caps.as_ref()
    }
}

/// Runs `job` of `tenant` in `runner`'s process. `lease` is the job's place under the process's
/// cap; the requests it sends hold it until they are answered.
pub async fn serve_job(
    runner: &Arc<Runner>,
    job: Job,
    tenant: TenantId,
    lease: &Lease,
) -> Result<Outcome, Failure> {
    let (outbound, bindings, streams, worker) = match &job {
        Job::Call { def, streams, .. } => (
            def.outbound.clone(),
            Arc::clone(&def.bindings),
            streams.clone(),
            Some(Arc::clone(def)),
        ),
        Job::Load { def } => (
            def.outbound.clone(),
            Arc::clone(&def.bindings),
            Streams::default(),
            Some(Arc::clone(def)),
        ),
        Job::Run { .. } | Job::Dispose { .. } => {
            (Outbound::Policy, Arc::default(), Streams::default(), None)
        }
    };
    let caller = Caller {
        worker,
        chain: streams.chain.clone(),
    };
    let request = |runs_code: bool, answer: MessageKind, cancellable: bool| Request {
        tenant,
        runs_code,
        answer,
        cancellable,
        lease: Some(Arc::clone(lease)),
        outbound: outbound.clone(),
        bindings: Arc::clone(&bindings),
        caller: caller.clone(),
        body_in: streams.body_in.clone(),
        body_out: streams.body_out.clone(),
    };
    match job {
        Job::Run {
            code,
            arg_json,
            limits,
        } => {
            let Ok(ticket) = runner
                .link
                .register(request(true, MessageKind::Outcome, true))
            else {
                return Err(Failure::NotSent(Job::Run {
                    code,
                    arg_json,
                    limits,
                }));
            };
            let limits = capped(limits, runner.caps());
            let snippet = ToWorker::RunSnippet {
                request_id: ticket.id(),
                code,
                arg_json,
                limits,
            };
            Ok(expect_outcome(
                ticket.exchange(snippet, wall_of(&limits)).await?,
            )?)
        }
        Job::Dispose { worker_id } => {
            let Ok(ticket) = runner
                .link
                .register(request(false, MessageKind::Disposed, false))
            else {
                return Err(Failure::NotSent(Job::Dispose { worker_id }));
            };
            let id = ticket.id();
            let dispose = ToWorker::Dispose {
                request_id: id,
                worker_id,
            };
            ticket.exchange(dispose, Duration::from_secs(5)).await?;
            runner.info.loaded().remove(&worker_id);
            Ok(Outcome {
                request_id: id,
                result: Ok(stockade_ipc::Reply::Loaded),
                logs: vec![],
                cpu_us: 0,
                wall_us: 0,
                open: false,
                observed: Default::default(),
                memory_bytes: 0,
            })
        }
        Job::Load { def } => {
            let limits = capped(def.limits, runner.caps());
            match ensure_loaded(runner, &def, tenant, limits, lease).await {
                LoadResult::Yes(_, observed) => Ok(Outcome {
                    request_id: stockade_ipc::RequestId(0),
                    result: Ok(stockade_ipc::Reply::Loaded),
                    logs: vec![],
                    cpu_us: 0,
                    wall_us: 0,
                    open: false,
                    observed,
                    memory_bytes: 0,
                }),
                LoadResult::Refused(outcome) => Ok(outcome),
                LoadResult::NotSent => Err(Failure::NotSent(Job::Load { def })),
                LoadResult::Failed(JobError::WorkerDied(_)) => {
                    Err(Failure::Unstarted(Job::Load { def }))
                }
                LoadResult::Failed(e) => Err(e.into()),
            }
        }
        Job::Call { def, call, streams } => {
            let limits = capped(def.limits, runner.caps());
            let wall = wall_of(&limits);
            for _attempt in 0..2 {
                let generation = match ensure_loaded(runner, &def, tenant, limits, lease).await {
                    // What the load was seen doing reaches the tenant with the call's outcome
                    // (the isolate's observations are sticky).
                    LoadResult::Yes(generation, _) => generation,
                    LoadResult::Refused(outcome) => return Ok(outcome),
                    LoadResult::NotSent => {
                        return Err(Failure::NotSent(Job::Call { def, call, streams }))
                    }
                    // The process died while loading: the call itself never ran.
                    LoadResult::Failed(JobError::WorkerDied(_)) => {
                        return Err(Failure::Unstarted(Job::Call { def, call, streams }))
                    }
                    LoadResult::Failed(e) => return Err(e.into()),
                };
                let Ok(ticket) = runner
                    .link
                    .register(request(true, MessageKind::Outcome, true))
                else {
                    return Err(Failure::NotSent(Job::Call { def, call, streams }));
                };
                let invoke = ToWorker::Invoke {
                    request_id: ticket.id(),
                    worker_id: def.id,
                    call: call.clone(),
                };
                let outcome = expect_outcome(ticket.exchange(invoke, wall).await?)?;
                runner.info.note_memory(&def.id, outcome.memory_bytes);
                match &outcome.result {
                    Err(e) if e.kind == ErrorKind::UnknownWorker => {
                        // The worker disposed it (a limit poisoned it): load again and retry once.
                        runner.info.forget(&def.id, generation);
                        continue;
                    }
                    Err(e)
                        if matches!(
                            e.kind,
                            ErrorKind::CpuLimit
                                | ErrorKind::WallLimit
                                | ErrorKind::MemoryLimit
                                | ErrorKind::OutputTooLarge
                                | ErrorKind::ResultTooLarge
                        ) =>
                    {
                        runner.info.forget(&def.id, generation);
                    }
                    _ => {}
                }
                return Ok(outcome);
            }
            Err(JobError::Unavailable.into())
        }
    }
}

/// The generation of `def` loaded in `runner`'s process, loading it first if need be: at most
/// one load per worker at a time, shared by every request that needs it.
async fn ensure_loaded(
    runner: &Arc<Runner>,
    def: &Arc<WorkerDef>,
    tenant: TenantId,
    limits: stockade_ipc::Limits,
    lease: &Lease,
) -> LoadResult {
    let mut waiting = {
        let mut loads = runner.loads();
        // Checked under the loads lock: a load records itself as loaded before it leaves `loads`.
        if let Some(generation) = runner.info.generation_of(&def.id) {
            return LoadResult::Yes(generation, Default::default());
        }
        match loads.get(&def.id) {
            Some(under_way) => under_way.clone(),
            None => {
                let (publish, waiting) = watch::channel(None);
                loads.insert(def.id, waiting.clone());
                tokio::spawn(load(
                    Arc::clone(runner),
                    Arc::clone(def),
                    tenant,
                    limits,
                    Arc::clone(lease),
                    publish,
                ));
                waiting
            }
        }
    };
    let loaded = match waiting.wait_for(Option::is_some).await {
        Ok(loaded) => loaded.clone().unwrap_or(LoadResult::NotSent),
        Err(_) => LoadResult::Failed(JobError::WorkerDied("its load was abandoned".into())),
    };
    loaded
}

/// One load, as a task of its own; publishes its result to the requests waiting for it.
async fn load(
    runner: Arc<Runner>,
    def: Arc<WorkerDef>,
    tenant: TenantId,
    limits: stockade_ipc::Limits,
    lease: Lease,
    publish: watch::Sender<Option<LoadResult>>,
) {
    let registered = runner.link.register(Request {
        tenant,
        runs_code: true,
        answer: MessageKind::Outcome,
        cancellable: false,
        lease: Some(lease),
        outbound: def.outbound.clone(),
        bindings: Arc::clone(&def.bindings),
        caller: Caller {
            worker: Some(Arc::clone(&def)),
            chain: Default::default(),
        },
        body_in: None,
        body_out: None,
    });
    let loaded = match registered {
        Err(NotSent) => LoadResult::NotSent,
        Ok(ticket) => {
            let message = ToWorker::LoadWorker(LoadWorker {
                request_id: ticket.id(),
                worker_id: def.id,
                tenant: def.tenant.clone(),
                main_module: def.main_module.clone(),
                modules: def.modules.clone(),
                // Each value as JSON text (the worker parses it back).
                env: def
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect(),
                limits,
                profile: runner.conduct.profile,
                compatibility_date: def.compatibility_date.clone().unwrap_or_default(),
                compatibility_flags: def.compatibility_flags.clone(),
            });
            match ticket.exchange(message, wall_of(&limits)).await {
                Ok(answer) => match expect_outcome(answer) {
                    Ok(outcome) if outcome.result.is_ok() => {
                        let generation =
                            runner.info.mark_loaded(&def, tenant, outcome.memory_bytes);
                        LoadResult::Yes(generation, outcome.observed)
                    }
                    Ok(outcome) => LoadResult::Refused(outcome),
                    Err(e) => LoadResult::Failed(e),
                },
                Err(e) => LoadResult::Failed(e.into()),
            }
        }
    };
    runner.loads().remove(&def.id);
    let _ = publish.send(Some(loaded));
}

#[cfg(test)]
mod tests;
