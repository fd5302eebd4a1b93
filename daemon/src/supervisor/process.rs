//! One worker process seen from the supervisor: a task that owns it, feeds it jobs one at a time,
//! and replaces it when it dies.
//!
//! Guarantees: every job gets exactly one reply; a process that dies, hangs past the job's
//! wall-clock limit (plus grace), or sends a malformed frame fails only the job in flight, is
//! killed, and is replaced after a backoff (100 ms doubling to 5 s, reset by a healthy job).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stockade_ipc::{
    Call, ErrorKind, LoadWorker, Outcome, RequestId, ToSupervisor, ToWorker, WorkerId,
    PROTOCOL_VERSION,
};
use tokio::sync::{mpsc, oneshot};

use super::channel::{Channel, ChannelError};
use super::spawn::{spawn, SpawnConfig};

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
}

pub enum Job {
    Run {
        tenant: String,
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

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the worker process died while running this request ({0})")]
    WorkerDied(String),
    #[error("the worker process did not answer in time and was killed")]
    Timeout,
    #[error("no worker process is available")]
    Unavailable,
}

pub type Reply = Result<Outcome, JobError>;

/// What the admin API shows of a process.
#[derive(Debug, Default)]
pub struct ProcessInfo {
    pub slot: usize,
    pub host_pid: AtomicU32,
    pub started_unix_ms: AtomicU64,
    pub restarts: AtomicU32,
    pub in_flight: AtomicUsize,
    pub loaded: Mutex<HashSet<WorkerId>>,
    pub tenants: Mutex<HashSet<String>>,
}

pub struct ProcessHandle {
    pub info: Arc<ProcessInfo>,
    pub jobs: mpsc::Sender<(Job, oneshot::Sender<Reply>)>,
}

/// Time allowed beyond a job's wall-clock limit before the process is declared hung.
const GRACE: Duration = Duration::from_secs(5);

pub fn start(slot: usize, config: SpawnConfig) -> ProcessHandle {
    let (tx, rx) = mpsc::channel(1024);
    let info = Arc::new(ProcessInfo {
        slot,
        ..ProcessInfo::default()
    });
    tokio::spawn(run(Arc::clone(&info), config, rx));
    ProcessHandle { info, jobs: tx }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn run(
    info: Arc<ProcessInfo>,
    config: SpawnConfig,
    mut jobs: mpsc::Receiver<(Job, oneshot::Sender<Reply>)>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        if !first {
            info.restarts.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        first = false;
        let mut spawned = match spawn(&config) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("stockade: cannot spawn worker {}: {e}", info.slot);
                continue;
            }
        };
        info.host_pid
            .store(spawned.child.id().unwrap_or(0), Ordering::Relaxed);
        info.started_unix_ms.store(unix_ms(), Ordering::Relaxed);
        clear(&info);
        let mut channel = Channel::new(spawned.stream);
        match handshake(&mut channel).await {
            Ok(()) => {}
            Err(e) => {
                eprintln!("stockade: worker {} failed its handshake: {e}", info.slot);
                let _ = spawned.child.kill().await;
                continue;
            }
        }
        let mut next_id = 0u64;
        // Serve jobs until the channel closes (shutdown) or the process fails.
        loop {
            let Some((job, reply)) = jobs.recv().await else {
                let _ = channel.send(&ToWorker::Shutdown).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), spawned.child.wait()).await;
                return;
            };
            let result = serve_job(&info, &mut channel, &mut next_id, job).await;
            info.in_flight.fetch_sub(1, Ordering::Relaxed);
            match result {
                Ok(outcome) => {
                    backoff = Duration::from_millis(100);
                    let _ = reply.send(Ok(outcome));
                }
                Err(error) => {
                    // A dying worker's reaper exits with the worker's status: give it a moment
                    // to say how it died (e.g. SIGSYS from seccomp) before killing it.
                    let status = match tokio::time::timeout(
                        Duration::from_millis(500),
                        spawned.child.wait(),
                    )
                    .await
                    {
                        Ok(status) => status,
                        Err(_) => {
                            let _ = spawned.child.start_kill();
                            spawned.child.wait().await
                        }
                    };
                    let error = match (error, status) {
                        (JobError::WorkerDied(_), Ok(s)) => JobError::WorkerDied(describe_exit(s)),
                        (e, _) => e,
                    };
                    eprintln!("stockade: worker {} failed: {error}", info.slot);
                    let _ = reply.send(Err(error));
                    break;
                }
            }
        }
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) if c >= 128 => format!("killed by signal {}", c - 128),
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown exit".into(),
    }
}

fn clear(info: &ProcessInfo) {
    if let Ok(mut l) = info.loaded.lock() {
        l.clear();
    }
    if let Ok(mut t) = info.tenants.lock() {
        t.clear();
    }
}

async fn handshake(channel: &mut Channel) -> Result<(), String> {
    channel
        .send(&ToWorker::Hello {
            protocol_version: PROTOCOL_VERSION,
        })
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(30), channel.recv()).await {
        Ok(Ok(ToSupervisor::Ready {
            protocol_version, ..
        })) if protocol_version == PROTOCOL_VERSION => Ok(()),
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
    channel.send(&message).await.map_err(died)?;
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
        30_000
    } else {
        limits.wall_ms
    }))
}

fn expect_outcome(answer: ToSupervisor) -> Result<Outcome, JobError> {
    match answer {
        ToSupervisor::Outcome(o) => Ok(o),
        other => Err(JobError::WorkerDied(format!(
            "expected an outcome, got {other:?}"
        ))),
    }
}

async fn serve_job(
    info: &ProcessInfo,
    channel: &mut Channel,
    next_id: &mut u64,
    job: Job,
) -> Result<Outcome, JobError> {
    let mut fresh = || {
        *next_id += 1;
        RequestId(*next_id)
    };
    match job {
        Job::Run {
            tenant,
            code,
            arg_json,
            limits,
        } => {
            let id = fresh();
            let wall = wall_of(&limits);
            expect_outcome(
                ask(
                    channel,
                    ToWorker::RunSnippet {
                        request_id: id,
                        tenant,
                        code,
                        arg_json,
                        limits,
                    },
                    id,
                    wall,
                )
                .await?,
            )
        }
        Job::Dispose { worker_id } => {
            let id = fresh();
            ask(
                channel,
                ToWorker::Dispose {
                    request_id: id,
                    worker_id,
                },
                id,
                Duration::from_secs(5),
            )
            .await?;
            if let Ok(mut l) = info.loaded.lock() {
                l.remove(&worker_id);
            }
            Ok(Outcome {
                request_id: id,
                result: Ok(stockade_ipc::Reply::Loaded),
                logs: vec![],
                cpu_us: 0,
                wall_us: 0,
            })
        }
        Job::Call { def, call } => {
            let wall = wall_of(&def.limits);
            for _attempt in 0..2 {
                let loaded = info
                    .loaded
                    .lock()
                    .map(|l| l.contains(&def.id))
                    .unwrap_or(false);
                if !loaded {
                    let id = fresh();
                    let load = ToWorker::LoadWorker(LoadWorker {
                        request_id: id,
                        worker_id: def.id,
                        tenant: def.tenant.clone(),
                        main_module: def.main_module.clone(),
                        modules: def.modules.clone(),
                        env: def.env.clone(),
                        limits: def.limits,
                        profile: stockade_ipc::Profile::Standard,
                    });
                    let outcome = expect_outcome(ask(channel, load, id, wall).await?)?;
                    if outcome.result.is_err() {
                        return Ok(outcome);
                    }
                    if let Ok(mut l) = info.loaded.lock() {
                        l.insert(def.id);
                    }
                    if let Ok(mut t) = info.tenants.lock() {
                        t.insert(def.tenant.clone());
                    }
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
                        if let Ok(mut l) = info.loaded.lock() {
                            l.remove(&def.id);
                        }
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
                        if let Ok(mut l) = info.loaded.lock() {
                            l.remove(&def.id);
                        }
                    }
                    _ => {}
                }
                return Ok(outcome);
            }
            Err(JobError::Unavailable)
        }
    }
}
