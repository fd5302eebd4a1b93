//! One worker process's life, run by one task: spawn `stockade worker` (jailed, with the profile
//! its tier needs), complete the handshake, then feed it one job at a time until it is retired
//! (its job channel closes: it is asked to shut down) or it dies.
//!
//! Guarantees:
//! - a life is one OS process: it is never respawned, so a process that hosted one tier's
//!   tenants never serves anything else; the pool starts a new life instead;
//! - a death is noticed while idle as well as mid-job, and reported through the death hook,
//!   synchronously, *before* the failed job's caller gets its answer: whoever reads the risk
//!   report after a 502 sees the crash already recorded;
//! - only the job that was running fails; jobs still queued behind it are handed back unstarted
//!   (`Answer::NotStarted`), so the pool places them again, elsewhere;
//! - a death is attributed to the tenant whose code ran (not for a `Dispose`), and classified
//!   as a seccomp kill when the worker died of SIGSYS; a SIGKILL from outside (`kill -9`, the
//!   OOM killer) and a limit the worker enforced by exiting blame nobody.
//!
//! Trusts: the kernel's exit status; nothing the worker says about itself.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use stockade_cordon::TenantId;
use stockade_ipc::{ErrorKind, ErrorReply, Outcome, RequestId, ToWorker};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use super::channel::Channel;
use super::jobs::{handshake, serve_job, Conduct, Job, JobError, ProcessInfo, Reply};
use super::spawn::{spawn, SpawnConfig};

/// A job for one process, with the tenant it is for and where to answer.
pub struct Envelope {
    pub job: Job,
    pub tenant: TenantId,
    pub reply: oneshot::Sender<Answer>,
}

pub enum Answer {
    /// The process ran the job (or died running it).
    Done(Reply),
    /// The process died or was retired before the job started: it can run elsewhere.
    NotStarted(Job),
}

/// How a process died.
#[derive(Debug, Clone)]
pub struct Death {
    /// For people: "killed by signal 31", "exit code 70", ...
    pub how: String,
    /// The jail's seccomp filter killed it (SIGSYS).
    pub by_seccomp: bool,
    /// It ended itself to enforce this limit of the request it was running, which V8 could not
    /// stop in-process (`stockade_ipc::exit`): that request's answer, not a crash.
    pub limit: Option<ErrorKind>,
    /// Killed from outside with SIGKILL (an operator's `kill -9`, the kernel's OOM killer): no
    /// evidence against the tenant whose code happened to be running.
    pub killed_externally: bool,
}

impl Death {
    /// The tenant to hold responsible: the one whose code ran, unless the death says nothing
    /// about that code. Only a jail kill (SIGSYS), a crash of the process itself or a limit it
    /// enforced is evidence.
    pub fn culprit(&self, running: Option<TenantId>) -> Option<TenantId> {
        if self.killed_externally {
            None
        } else {
            running
        }
    }
}

/// Called once when a life's process dies: (life id, tenant whose code was running, how).
pub type DeathHook = Arc<dyn Fn(u64, Option<TenantId>, &Death) + Send + Sync>;

pub struct LifeConfig {
    /// Unique over the daemon's lifetime.
    pub id: u64,
    /// The admin view's position.
    pub slot: usize,
    pub spawn: SpawnConfig,
    /// Limit caps of every job (quarantine processes).
    pub caps: Option<stockade_ipc::Limits>,
    /// Wait this long before spawning (a replacement after a death, so a crash loop is paced).
    pub delay: Duration,
}

/// The supervisor's handle on one life.
pub struct Life {
    pub id: u64,
    pub info: Arc<ProcessInfo>,
    pub jobs: mpsc::Sender<Envelope>,
}

pub fn start(config: LifeConfig, on_death: DeathHook) -> Life {
    let (tx, rx) = mpsc::channel(1024);
    let info = Arc::new(ProcessInfo {
        slot: config.slot,
        ..ProcessInfo::default()
    });
    let id = config.id;
    tokio::spawn(run(Arc::clone(&info), config, rx, on_death));
    Life { id, info, jobs: tx }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Spawns the process and completes the handshake, retrying with backoff; `None` once the life
/// has been retired (its channel closed) before it ever became ready.
async fn start_process(
    info: &ProcessInfo,
    config: &LifeConfig,
    jobs: &mpsc::Receiver<Envelope>,
) -> Option<(Child, Channel)> {
    let mut backoff = Duration::from_millis(100);
    loop {
        if jobs.is_closed() && jobs.is_empty() {
            return None;
        }
        match spawn(&config.spawn) {
            Ok(mut spawned) => {
                info.host_pid
                    .store(spawned.child.id().unwrap_or(0), Ordering::Relaxed);
                info.started_unix_ms.store(unix_ms(), Ordering::Relaxed);
                let mut channel = Channel::new(spawned.stream);
                match handshake(&mut channel, config.spawn.jail).await {
                    Ok(report) => {
                        *info.jail.lock().unwrap_or_else(|e| e.into_inner()) = report;
                        return Some((spawned.child, channel));
                    }
                    Err(e) => {
                        eprintln!("stockade: worker {} failed its handshake: {e}", info.slot);
                        let _ = spawned.child.kill().await;
                    }
                }
            }
            Err(e) => eprintln!("stockade: cannot spawn worker {}: {e}", info.slot),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn run(
    info: Arc<ProcessInfo>,
    config: LifeConfig,
    mut jobs: mpsc::Receiver<Envelope>,
    on_death: DeathHook,
) {
    tokio::time::sleep(config.delay).await;
    let Some((mut child, mut channel)) = start_process(&info, &config, &jobs).await else {
        return;
    };
    info.ready.store(true, Ordering::Relaxed);
    let conduct = Conduct {
        profile: if config.spawn.profile == "strict" {
            stockade_ipc::Profile::Strict
        } else {
            stockade_ipc::Profile::Standard
        },
        caps: config.caps.as_ref(),
    };
    let mut next_id = 0u64;
    loop {
        let envelope = tokio::select! {
            envelope = jobs.recv() => envelope,
            // Idle: a process that dies now was running nobody's code.
            status = child.wait() => {
                info.ready.store(false, Ordering::Relaxed);
                let death = Death::from_status(status);
                eprintln!("stockade: worker {} died while idle: {}", info.slot, death.how);
                on_death(config.id, None, &death);
                hand_back_queued(&info, &mut jobs);
                return;
            }
        };
        let Some(Envelope { job, tenant, reply }) = envelope else {
            // Retired: every sender is gone and the queue is empty.
            let _ = channel.send(&ToWorker::Shutdown).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            return; // kill_on_drop ends a process that ignored Shutdown
        };
        let running = job.runs_tenant_code().then_some(tenant);
        let result = serve_job(&info, &mut channel, &mut next_id, job, tenant, &conduct).await;
        let error = match result {
            Ok(outcome) => {
                info.in_flight.fetch_sub(1, Ordering::Relaxed);
                let _ = reply.send(Answer::Done(Ok(outcome)));
                continue;
            }
            // The worker is fine: the supervisor gave up on a retry, or sent nothing.
            Err(error) if !error.ends_the_process() => {
                info.in_flight.fetch_sub(1, Ordering::Relaxed);
                let _ = reply.send(Answer::Done(Err(error)));
                continue;
            }
            Err(error) => error,
        };
        info.ready.store(false, Ordering::Relaxed);
        let death = reap(&mut child, &error).await;
        if let (JobError::WorkerDied(_), Some(kind)) = (&error, death.limit) {
            // The engine's own limit enforcement: the tenant hit its limit, nothing crashed.
            eprintln!("stockade: worker {} ended itself for a {kind:?}", info.slot);
            on_death(config.id, None, &death);
            info.in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = reply.send(Answer::Done(Ok(limit_outcome(RequestId(next_id), kind))));
            hand_back_queued(&info, &mut jobs);
            return;
        }
        let error = match error {
            JobError::WorkerDied(_) => JobError::WorkerDied(death.how.clone()),
            other => other,
        };
        eprintln!("stockade: worker {} failed: {error}", info.slot);
        on_death(config.id, death.culprit(running), &death);
        info.in_flight.fetch_sub(1, Ordering::Relaxed);
        let _ = reply.send(Answer::Done(Err(error)));
        hand_back_queued(&info, &mut jobs);
        return;
    }
}

/// After a failed job: the process's exit status. A dying worker's reaper exits with the
/// worker's status, so give it a moment to say how it died (e.g. SIGSYS from seccomp) before
/// killing it (a hung or confused worker).
async fn reap(child: &mut Child, error: &JobError) -> Death {
    match tokio::time::timeout(Duration::from_millis(500), child.wait()).await {
        Ok(status) => Death::from_status(status),
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            Death {
                how: format!("killed by the supervisor: {error}"),
                by_seccomp: false,
                limit: None,
                killed_externally: false,
            }
        }
    }
}

/// The answer of a request whose worker ended itself for `kind` (see [`Death::limit`]).
fn limit_outcome(request_id: RequestId, kind: ErrorKind) -> Outcome {
    let message = match kind {
        ErrorKind::CpuLimit => "CPU time limit exceeded (inside an operation V8 could not interrupt; the worker process was ended)",
        _ => "memory limit exceeded (inside an operation V8 could not interrupt; the worker process was ended)",
    };
    Outcome {
        request_id,
        result: Err(ErrorReply {
            kind,
            message: message.into(),
            stack: None,
        }),
        logs: Vec::new(),
        cpu_us: 0,
        wall_us: 0,
    }
}

/// Answers every job still queued with `NotStarted`, after refusing new ones.
fn hand_back_queued(info: &ProcessInfo, jobs: &mut mpsc::Receiver<Envelope>) {
    jobs.close();
    while let Ok(Envelope { job, reply, .. }) = jobs.try_recv() {
        info.in_flight.fetch_sub(1, Ordering::Relaxed);
        let _ = reply.send(Answer::NotStarted(job));
    }
}

impl Death {
    fn from_status(status: std::io::Result<std::process::ExitStatus>) -> Death {
        use std::os::unix::process::ExitStatusExt;
        let Ok(status) = status else {
            return Death {
                how: "unknown exit".into(),
                by_seccomp: false,
                limit: None,
                killed_externally: false,
            };
        };
        // The jail's reaper re-raises the worker's fatal signal, or (if it cannot) exits with
        // 128 + the signal number.
        let signal = match (status.code(), status.signal()) {
            (Some(c), _) if c >= 128 => Some(c - 128),
            (None, Some(s)) => Some(s),
            _ => None,
        };
        Death {
            how: match (signal, status.code()) {
                (Some(s), _) => format!("killed by signal {s}"),
                (None, Some(c)) => format!("exit code {c}"),
                _ => "unknown exit".into(),
            },
            by_seccomp: signal == Some(libc::SIGSYS),
            killed_externally: signal == Some(libc::SIGKILL),
            limit: match status.code() {
                Some(stockade_ipc::exit::CPU_LIMIT) => Some(ErrorKind::CpuLimit),
                Some(stockade_ipc::exit::MEMORY_LIMIT) => Some(ErrorKind::MemoryLimit),
                _ => None,
            },
        }
    }
}
