//! One worker process's life, run by one task: spawn `stockade worker` (jailed, with the profile
//! its tier needs), complete the handshake, then run the jobs it is given, concurrently, until
//! it is retired (its job channel closes: it finishes what it has and is asked to shut down) or
//! it dies.
//!
//! Guarantees:
//! - a life is one OS process: it is never respawned, so a process that hosted one tier's
//!   tenants never serves anything else; the pool starts a new life instead;
//! - at most `max_in_flight` jobs of a process run at once per depth (`lanes`, which share
//!   them fairly among the process's tenants), over the
//!   process's multiplexed `link`; while the process serves, a job runs in its caller's own task
//!   (`door`), before that it waits in the life's job channel and then runs in a task of its
//!   own. A request cancelled because its caller went away keeps its place until the worker
//!   answers it;
//! - a job whose caller goes away (the HTTP handler's future is dropped when its client
//!   disconnects) is cancelled: its request in flight gets `Cancel`;
//! - a death is noticed while idle as well as mid-job, and reported through the death hook,
//!   synchronously, *before* any failed job's caller gets its answer: whoever reads the risk
//!   report after a 502 sees the crash already recorded. What the worker wrote before it died
//!   is routed first, so a request it answered does not count as in flight;
//! - every job the process had is answered: with its own answer if the worker gave it, else
//!   `WorkerDied` (`Timeout` for a request the supervisor declared hung), or, when the process
//!   ended itself to enforce a limit (`stockade_ipc::exit`), that limit's outcome for the
//!   request it was enforced for: the one in flight, or, with several, the one the worker named
//!   in its marks file (`Marks::culprit`); the others fail `WorkerDied`, saying so (all of them
//!   when it named none in flight). Jobs still
//!   queued, and jobs nothing of which was sent, are handed back unstarted (`Answer::NotStarted`)
//!   so the pool places them again, elsewhere; so are Loader calls whose own request was never
//!   sent because the process died loading their worker ([`Failure::Unstarted`]), unless the
//!   death is evidence against their tenant (its module code was running then);
//! - a request sent and not answered that made no host call (the link's own record, not the
//!   worker's word) acted nowhere but in its isolate, which is gone: it is handed back too when
//!   the worker never started it (its marks), and when it did but the death is neither
//!   evidence against its tenant nor a limit exit for an unnamed one of several requests (a
//!   neighbour's named limit, the memory cap's charge of another tenant, a kill from outside),
//!   so a neighbour's death costs it only the time it had run. A request that made a host call
//!   is never run twice;
//! - the death hook is given the Loader workers the process had loaded, so the pool can load
//!   them again elsewhere (see `pool`);
//! - a worker's `RenewalOverdue` (it grows with every isolate and cannot stop: see
//!   `stockade_ipc::ToSupervisor::RenewalOverdue`) is passed to the overdue hook while the life
//!   serves, so the pool retires the process gracefully (`state::State::recycle`); the life
//!   itself serves on until it is retired like any other;
//! - a death's attribution ([`Blame`]) comes from the requests running tenant code that the
//!   worker had when it died (sent, not answered; cancelled ones included). A death of a SIGSYS
//!   is classified a seccomp kill. Nobody is blamed when none was in flight (idle, or only a
//!   `Dispose`), for a limit the worker enforced by exiting, or for a signal that comes from
//!   outside the process ([`EXTERNAL_SIGNALS`]: SIGKILL from `kill -9` or the OOM killer,
//!   SIGTERM, SIGINT, SIGHUP). A crash of the process itself (SIGSEGV, SIGABRT, SIGBUS, ... or an
//!   unexpected exit) is evidence: when the requests in flight were all one tenant's, that
//!   tenant is the culprit, as when a process ran one request at a time;
//! - a process killed for the worker process memory cap (`memory_cap`: the kernel's OOM kill in
//!   its cgroup, or the poller's SIGKILL) blames nobody; its failed jobs get
//!   `JobError::ProcessMemory` (`process_memory_limit`), and the death carries the tenants
//!   charged with `memory_limit_hit` ([`super::memory_cap::charged`]).
//!
//! **Several tenants in flight** ([`Blame::Unknown`]): the culprit cannot be told apart, so
//! nobody gets the latching signals (`worker_crash_while_running`, `seccomp_kill`), which would
//! quarantine innocent neighbours along with the culprit; each suspect gets the weak
//! `worker_death` signal instead (as every tenant of the process does), and the supervisor logs
//! the suspects. The gap: an attacker who crashes processes only while neighbours' requests are
//! in flight with its own escapes quarantine, paying only `worker_death` (capped at 10 points),
//! and takes those neighbours' requests down with it each time. Closing it needs the worker to
//! say which isolate was running (or a crash to be replayed alone), which it does not yet.
//!
//! Trusts: the kernel's exit status; nothing the worker says about itself.

use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use stockade_cordon::TenantId;
use stockade_ipc::marks::Marks;
use stockade_ipc::ErrorKind;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use super::channel::{split, FrameReader, FrameWriter};
use super::host_calls::HostCalls;
use super::jobs::{handshake, Conduct, Failure, Job, ProcessInfo, Runner, WorkerDef};
use super::link::Link;
use super::memory_cap::{charged, Guard};
use super::spawn::{spawn, SpawnConfig};

/// A job for one process, with the tenant it is for and where to answer.
pub struct Envelope {
    pub job: Job,
    pub tenant: TenantId,
    pub reply: oneshot::Sender<Answer>,
}

pub enum Answer {
    /// The process ran the job (or died running it).
    Done(super::jobs::Reply),
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
    /// It ended itself to enforce this limit of a request it was running, which V8 could not
    /// stop in-process (`stockade_ipc::exit`): that request's answer, not a crash.
    pub limit: Option<ErrorKind>,
    /// Killed from outside (one of [`EXTERNAL_SIGNALS`]: an operator's `kill -9`, the kernel's
    /// OOM killer, a stray `kill`): no evidence against the tenant whose code happened to be
    /// running.
    pub killed_externally: bool,
    /// Killed for the worker process memory cap (see `memory_cap`): the tenants charged with
    /// `memory_limit_hit` ([`super::memory_cap::charged`]). Not a crash: no blame.
    pub process_memory: Option<Vec<TenantId>>,
}

/// Signals that come from outside a worker process, never from its own code going wrong: a
/// death by one of them is evidence against nobody. (A compromised worker could raise one on
/// itself to escape blame; it could as well exit cleanly, and the jail holds either way.)
pub const EXTERNAL_SIGNALS: [i32; 4] = [libc::SIGKILL, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// Whom a death is evidence against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blame {
    /// Nobody: no tenant code was in flight, or the death says nothing about the code that was.
    Nobody,
    /// The one tenant whose code was in flight.
    Tenant(TenantId),
    /// Several tenants had code in flight; any of them may have caused it (see the module
    /// documentation). Sorted, at least two.
    Unknown(Vec<TenantId>),
}

impl Death {
    /// Whom to hold responsible, given the tenants whose code was in flight. Only a jail kill
    /// (SIGSYS) or a crash of the process itself is evidence; a limit it enforced by exiting and a
    /// SIGKILL from outside are not.
    pub fn blame(&self, running: &BTreeSet<TenantId>) -> Blame {
        if self.killed_externally || self.limit.is_some() || self.process_memory.is_some() {
            return Blame::Nobody;
        }
        let mut running = running.iter().copied();
        match (running.next(), running.next()) {
            (None, _) => Blame::Nobody,
            (Some(tenant), None) => Blame::Tenant(tenant),
            (Some(first), Some(second)) => {
                Blame::Unknown([first, second].into_iter().chain(running).collect())
            }
        }
    }
}

impl Blame {
    /// Whether this is evidence against `tenant` (the culprit, or one of the suspects).
    pub fn names(&self, tenant: TenantId) -> bool {
        match self {
            Blame::Nobody => false,
            Blame::Tenant(t) => *t == tenant,
            Blame::Unknown(suspects) => suspects.contains(&tenant),
        }
    }
}

/// Called once when a life's process dies: (life id, whom it is evidence against, how, the
/// Loader workers it had loaded, with their tenants).
pub type DeathHook =
    Arc<dyn Fn(u64, &Blame, &Death, Vec<(TenantId, Arc<WorkerDef>)>) + Send + Sync>;

/// Called when a life's worker says V8's shared heap is overdue for a renewal it cannot do
/// (life id): the process should be replaced. May be called again for the same life.
pub type OverdueHook = Arc<dyn Fn(u64) + Send + Sync>;

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
    /// Jobs running at once, at most (the config's `max_in_flight_per_worker`).
    pub max_in_flight: usize,
    /// What the process's requests may ask the supervisor.
    pub host_calls: Arc<HostCalls>,
}

/// The supervisor's handle on one life.
pub struct Life {
    pub id: u64,
    pub info: Arc<ProcessInfo>,
    pub jobs: Jobs,
}

pub fn start(config: LifeConfig, on_death: DeathHook, on_overdue: OverdueHook) -> Life {
    let (tx, rx) = mpsc::channel(1024);
    let info = Arc::new(ProcessInfo::new(config.slot));
    let id = config.id;
    let door = Arc::new(Door::default());
    let jobs = Jobs {
        queue: tx,
        door: Arc::clone(&door),
        info: Arc::clone(&info),
    };
    tokio::spawn(run(
        Arc::clone(&info),
        config,
        rx,
        door,
        on_death,
        on_overdue,
    ));
    Life { id, info, jobs }
}

/// Whether a worker without MPK has been logged (once per daemon is enough).
static NO_MPK_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Spawns the process and completes the handshake, retrying with backoff; `None` once the life
/// has been retired (its channel closed) before it ever became ready. The process's marks
/// (`stockade_ipc::marks`) go with its `Hello`.
async fn start_process(
    info: &ProcessInfo,
    config: &LifeConfig,
    jobs: &mpsc::Receiver<Envelope>,
    mut memory: Option<&mut Guard>,
) -> Option<(Child, FrameReader, FrameWriter, Marks)> {
    let mut backoff = Duration::from_millis(100);
    loop {
        if jobs.is_closed() && jobs.is_empty() {
            return None;
        }
        let cgroup = memory.as_deref().and_then(Guard::join_path);
        let (marks, marks_fd) = match Marks::create() {
            Ok(made) => made,
            Err(e) => {
                tracing::warn!("cannot make worker {}'s marks file: {e}", info.slot);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        match spawn(&config.spawn, cgroup) {
            Ok(mut spawned) => {
                let pid = spawned.child.id().unwrap_or(0);
                info.host_pid.store(pid, Ordering::Relaxed);
                if let Some(guard) = memory.as_deref_mut() {
                    guard.watch(pid, config.spawn.jail);
                }
                info.started_unix_ms.store(unix_ms(), Ordering::Relaxed);
                let (mut reader, mut writer) = split(spawned.stream);
                let greeted = handshake(
                    &mut reader,
                    &mut writer,
                    config.spawn.jail,
                    marks_fd.as_fd(),
                )
                .await;
                drop(marks_fd); // the worker has its own descriptor, or is gone
                match greeted {
                    Ok(report) => {
                        if let Some(guard) = memory.as_deref_mut() {
                            guard.note_baseline(pid, config.spawn.jail);
                        }
                        if !report.mpk && !NO_MPK_LOGGED.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                "worker {} reports no memory protection keys (the CPU or kernel \
                                 lacks PKU): isolates sharing a process are not separated by MPK",
                                info.slot
                            );
                        }
                        *info.jail.lock().unwrap_or_else(|e| e.into_inner()) = report;
                        return Some((spawned.child, reader, writer, marks));
                    }
                    Err(e) => {
                        tracing::warn!("worker {} failed its handshake: {e}", info.slot);
                        let _ = spawned.child.kill().await;
                    }
                }
            }
            Err(e) => tracing::warn!("cannot spawn worker {}: {e}", info.slot),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// What ended a life's serving.
enum Cause {
    /// The process exited.
    Exited(std::io::Result<std::process::ExitStatus>),
    /// The link closed (the worker closed its socket, sent garbage, or answered what it was not
    /// asked): why.
    Link(String),
    /// A job failed in a way that ends the process (boxed: a job is large, the other causes
    /// small).
    Job(Box<Failed>),
}

async fn run(
    info: Arc<ProcessInfo>,
    config: LifeConfig,
    mut jobs: mpsc::Receiver<Envelope>,
    door: Arc<Door>,
    on_death: DeathHook,
    on_overdue: OverdueHook,
) {
    tokio::time::sleep(config.delay).await;
    let mut memory = config.spawn.memory.as_ref().map(|cap| cap.guard(config.id));
    let Some((mut child, reader, writer, marks)) =
        start_process(&info, &config, &jobs, memory.as_mut()).await
    else {
        return;
    };
    let (link, mut link_end) = Link::start(reader, writer, Arc::clone(&config.host_calls));
    link.set_life(config.id);
    info.ready.store(true, Ordering::Relaxed);
    let conduct = Conduct {
        profile: if config.spawn.profile == "strict" {
            stockade_ipc::Profile::Strict
        } else {
            stockade_ipc::Profile::Standard
        },
        caps: config.caps,
    };
    let runner = Arc::new(Runner::new(Arc::clone(&info), Arc::clone(&link), conduct));
    let lanes = Arc::new(Lanes::new(config.max_in_flight));
    // Every job that runs holds a sender of `ends` (its `Entry`), and so does the open door:
    // once the door is closed, `ends` ends when they all are over.
    let (ends_tx, mut ends) = mpsc::unbounded_channel();
    door.open(Entry {
        runner,
        lanes: Arc::clone(&lanes),
        ends: ends_tx,
    });
    let mut unstarted: Vec<Envelope> = Vec::new();
    let mut retiring = false;
    let cause = loop {
        tokio::select! {
            envelope = jobs.recv(), if !retiring => match (envelope, door.entry()) {
                // Queued before the door opened.
                (Some(envelope), Some(entry)) => {
                    tokio::spawn(entry.run(envelope));
                }
                // The door closes only with `retiring` set or the loop left: not reached.
                (Some(envelope), None) => {
                    info.in_flight.fetch_sub(1, Ordering::Relaxed); // as if it had waited
                    unstarted.push(envelope);
                }
                // Retired: every sender is gone and the queue is empty.
                (None, _) => {
                    retiring = true;
                    door.close();
                }
            },
            end = ends.recv() => match end {
                Some(JobEnd::Over) => {}
                Some(JobEnd::Failed(failed)) => break Cause::Job(Box::new(failed)),
                Some(JobEnd::Unstarted(envelope)) => unstarted.push(envelope),
                None => {
                    // Retired, and everything it had is answered.
                    link.shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                    link_end.abort();
                    config.host_calls.process_gone(config.id);
                    return; // kill_on_drop ends a process that ignored Shutdown
                }
            },
            () = link.overdue(), if !retiring => on_overdue(config.id),
            status = child.wait() => break Cause::Exited(status),
            why = &mut link_end => {
                break Cause::Link(why.unwrap_or_else(|e| format!("the link task failed: {e}")))
            }
        }
    };
    door.close();
    info.ready.store(false, Ordering::Relaxed);
    let link_ended = matches!(cause, Cause::Link(_));
    let (mut death, mut failed) = match cause {
        Cause::Exited(status) => (Death::from_status(status), Vec::new()),
        Cause::Link(why) => (reap(&mut child, &why).await, Vec::new()),
        Cause::Job(failed) => {
            let why = match &failed.failure {
                Failure::Error(e) => e.to_string(),
                Failure::NotSent(_) | Failure::Unstarted(_) | Failure::Sent { .. } => {
                    "its link closed".into()
                }
            };
            (reap(&mut child, &why).await, vec![*failed])
        }
    };
    // The process is gone: let the router deliver what it wrote before it died, then close.
    if !link_ended
        && tokio::time::timeout(Duration::from_secs(1), &mut link_end)
            .await
            .is_err()
    {
        link_end.abort();
    }
    link.close(&format!("the worker process died ({})", death.how));
    let in_flight = link.take_in_flight();
    // Every job still running ends now: its answer came, or its request is lost.
    lanes.close();
    while let Some(end) = ends.recv().await {
        match end {
            JobEnd::Failed(f) => failed.push(f),
            JobEnd::Unstarted(envelope) => unstarted.push(envelope),
            JobEnd::Over => {}
        }
    }
    let running: BTreeSet<TenantId> = in_flight
        .iter()
        .filter(|r| r.runs_code)
        .map(|r| r.tenant)
        .collect();
    if let Some(hit) = memory.as_ref().and_then(Guard::hit) {
        death.how = hit.how.clone();
        death.process_memory = Some(charged(&hit, &running, &info.holdings()));
    }
    let blame = death.blame(&running);
    report(info.slot, &death, &in_flight);
    let loaded = info.loaded_defs();
    config.host_calls.process_gone(config.id);
    on_death(config.id, &blame, &death, loaded);
    let verdict = Verdict::of(&death, &in_flight, marks.culprit());
    for Failed {
        reply,
        failure,
        tenant,
        _counted,
    } in failed
    {
        let charged = death
            .process_memory
            .as_ref()
            .is_some_and(|c| c.contains(&tenant));
        let ran = |request| Ran::of(request, &in_flight, |r| marks.started(r));
        let _ = reply.send(verdict.answer(failure, blame.names(tenant) || charged, &ran));
    }
    hand_back_queued(&info, unstarted, &mut jobs);
}

/// Answers with `NotStarted` the jobs that waited for a place (no longer counted), then every
/// job still queued, after refusing new ones.
fn hand_back_queued(
    info: &ProcessInfo,
    waited: Vec<Envelope>,
    jobs: &mut mpsc::Receiver<Envelope>,
) {
    for Envelope { job, reply, .. } in waited {
        let _ = reply.send(Answer::NotStarted(job));
    }
    jobs.close();
    while let Ok(Envelope { job, reply, .. }) = jobs.try_recv() {
        info.in_flight.fetch_sub(1, Ordering::Relaxed);
        let _ = reply.send(Answer::NotStarted(job));
    }
}

mod death;
mod door;
mod job;
mod lanes;
use death::{reap, report, Ran, Verdict};
pub use door::Jobs;
use door::{Door, Entry};
use job::{Failed, JobEnd};
use lanes::Lanes;
#[cfg(test)]
mod tests;
