//! One job, as the supervisor speaks it to one worker process over the IPC protocol: the
//! request/answer exchange, loading a Loader worker on first use, and what a process knows it
//! has loaded.
//!
//! Guarantees: one request in flight per process, matched to its answer by `RequestId` (any
//! other id is a confused or compromised worker and ends the process); a Loader worker whose
//! isolate hit a limit is forgotten, so the next call loads it afresh; in a process with `caps`
//! (a quarantine process) no request runs with a CPU, wall-clock or memory limit above them.
//!
//! Trusts: nothing the worker sends beyond what the size-capped decoder accepts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stockade_cordon::TenantId;
use stockade_ipc::{
    Call, ErrorKind, JailReport, LoadWorker, Outcome, RequestId, ToSupervisor, ToWorker, WorkerId,
    PROTOCOL_VERSION,
};

use super::channel::{Channel, ChannelError};

/// A worker definition, as the Loader API stored it.
#[derive(Debug)]
pub struct WorkerDef {
    pub id: WorkerId,
    pub tenant: String,
    pub main_module: String,
    pub modules: Vec<stockade_ipc::Module>,
    pub env: Vec<(String, String)>,
    pub limits: stockade_ipc::Limits,
    pub compatibility_date: Option<String>,
    /// Risk-relevant features of the modules (see `tenants`).
    pub features: super::tenants::CodeFeatures,
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
    },
    Dispose {
        worker_id: WorkerId,
    },
}

impl Job {
    /// Whether the job runs tenant code (a process dying during it is that tenant's doing).
    pub fn runs_tenant_code(&self) -> bool {
        !matches!(self, Job::Dispose { .. })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the worker process died while running this request ({0})")]
    WorkerDied(String),
    #[error("the worker process did not answer in time and was killed")]
    Timeout,
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
    /// Jobs sent and not yet answered.
    pub in_flight: AtomicUsize,
    /// Loader workers whose isolate lives in this process, and whose they are.
    pub loaded: Mutex<HashMap<WorkerId, TenantId>>,
}

impl ProcessInfo {
    fn loaded(&self) -> std::sync::MutexGuard<'_, HashMap<WorkerId, TenantId>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Loader workers of `tenant` loaded here.
    pub fn loaded_by(&self, tenant: TenantId) -> Vec<WorkerId> {
        self.loaded()
            .iter()
            .filter(|(_, t)| **t == tenant)
            .map(|(w, _)| *w)
            .collect()
    }

    pub fn has_loaded(&self, worker: &WorkerId) -> bool {
        self.loaded().contains_key(worker)
    }

    pub fn isolates(&self) -> usize {
        self.loaded().len()
    }
}

/// Time allowed beyond a job's wall-clock limit before the process is declared hung.
const GRACE: Duration = Duration::from_secs(5);

/// Hello and Ready; the worker's own report of its confinement. When the jail is configured, a
/// worker that says it runs without seccomp or its own namespaces is refused: the report is
/// self-reported and proves nothing about a compromised worker, but a worker that admits it is
/// unjailed is a misconfiguration that must not serve.
pub async fn handshake(channel: &mut Channel, jail: bool) -> Result<JailReport, String> {
    channel
        .send(&ToWorker::Hello {
            protocol_version: PROTOCOL_VERSION,
        })
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(30), channel.recv()).await {
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
        Ok(Ok(other)) => Err(format!("unexpected first message {other:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no Ready within 30 s".into()),
    }
}

/// Sends one request and waits for the answer carrying its id.
async fn ask(
    channel: &mut Channel,
    message: ToWorker,
    id: RequestId,
    wall: Duration,
) -> Result<ToSupervisor, JobError> {
    let died = |e: ChannelError| JobError::WorkerDied(e.to_string());
    channel.send(&message).await.map_err(|e| match e {
        ChannelError::Encode(e) => JobError::Unencodable(e.to_string()),
        other => died(other),
    })?;
    let answer = tokio::time::timeout(wall + GRACE, channel.recv())
        .await
        .map_err(|_| JobError::Timeout)?
        .map_err(died)?;
    match answer.request_id() {
        Some(got) if got == id => Ok(answer),
        // One request is in flight at a time: any other id means a confused or compromised
        // worker, which is treated as dead.
        _ => Err(JobError::WorkerDied(format!(
            "answered an unknown request: {answer:?}"
        ))),
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

fn expect_outcome(answer: ToSupervisor) -> Result<Outcome, JobError> {
    match answer {
        ToSupervisor::Outcome(o) => Ok(o),
        other => Err(JobError::WorkerDied(format!(
            "expected an outcome, got {other:?}"
        ))),
    }
}

/// How one process runs jobs: its V8 profile and, for quarantine, the limit caps.
pub struct Conduct<'a> {
    pub profile: stockade_ipc::Profile,
    pub caps: Option<&'a stockade_ipc::Limits>,
}

pub async fn serve_job(
    info: &ProcessInfo,
    channel: &mut Channel,
    next_id: &mut u64,
    job: Job,
    tenant: TenantId,
    conduct: &Conduct<'_>,
) -> Result<Outcome, JobError> {
    let mut fresh = || {
        *next_id += 1;
        RequestId(*next_id)
    };
    match job {
        Job::Run {
            code,
            arg_json,
            limits,
        } => {
            let id = fresh();
            let limits = capped(limits, conduct.caps);
            let wall = wall_of(&limits);
            let snippet = ToWorker::RunSnippet {
                request_id: id,
                code,
                arg_json,
                limits,
            };
            expect_outcome(ask(channel, snippet, id, wall).await?)
        }
        Job::Dispose { worker_id } => {
            let id = fresh();
            let dispose = ToWorker::Dispose {
                request_id: id,
                worker_id,
            };
            ask(channel, dispose, id, Duration::from_secs(5)).await?;
            info.loaded().remove(&worker_id);
            Ok(Outcome {
                request_id: id,
                result: Ok(stockade_ipc::Reply::Loaded),
                logs: vec![],
                cpu_us: 0,
                wall_us: 0,
            })
        }
        Job::Call { def, call } => {
            let limits = capped(def.limits, conduct.caps);
            let wall = wall_of(&limits);
            for _attempt in 0..2 {
                if !info.has_loaded(&def.id) {
                    let id = fresh();
                    let load = ToWorker::LoadWorker(LoadWorker {
                        request_id: id,
                        worker_id: def.id,
                        tenant: def.tenant.clone(),
                        main_module: def.main_module.clone(),
                        modules: def.modules.clone(),
                        env: def.env.clone(),
                        limits,
                        profile: conduct.profile,
                    });
                    let outcome = expect_outcome(ask(channel, load, id, wall).await?)?;
                    if outcome.result.is_err() {
                        return Ok(outcome);
                    }
                    info.loaded().insert(def.id, tenant);
                }
                let id = fresh();
                let invoke = ToWorker::Invoke {
                    request_id: id,
                    worker_id: def.id,
                    call: call.clone(),
                };
                let outcome = expect_outcome(ask(channel, invoke, id, wall).await?)?;
                match &outcome.result {
                    Err(e) if e.kind == ErrorKind::UnknownWorker => {
                        // The worker disposed it (a limit poisoned it): load again and retry once.
                        info.loaded().remove(&def.id);
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
                        info.loaded().remove(&def.id);
                    }
                    _ => {}
                }
                return Ok(outcome);
            }
            Err(JobError::Unavailable)
        }
    }
}
