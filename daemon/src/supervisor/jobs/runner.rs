//! How one process runs a job over its link: the request/answer exchange, and loading a Loader
//! worker on first use, once however many requests for it arrive together (see the module
//! above for the guarantees). Trusts: the link to match answers to requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use stockade_cordon::TenantId;
use stockade_ipc::{ErrorKind, LoadWorker, MessageKind, Outcome, ToWorker, WorkerId};
use tokio::sync::watch;

use super::{
    capped, expect_outcome, wall_of, Failure, Job, JobError, ProcessInfo, Streams, WorkerDef,
};
use crate::supervisor::host_calls::{Caller, Outbound};
use crate::supervisor::link::{AskError, Lease, Link, NotSent, Request};

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
        session: streams.session.clone(),
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
        socket: streams.socket.clone(),
        after_logs: streams.after_logs.clone(),
        keep: streams.keep.clone(),
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
            let request = ticket.id();
            let sent = capped(limits, runner.caps());
            let snippet = ToWorker::RunSnippet {
                request_id: request,
                code,
                arg_json,
                limits: sent,
            };
            match ticket.exchange_keeping(&snippet, wall_of(&sent)).await {
                Err(AskError::Lost(why)) => match snippet {
                    ToWorker::RunSnippet { code, arg_json, .. } => Err(Failure::Sent {
                        job: Job::Run {
                            code,
                            arg_json,
                            limits,
                        },
                        request,
                        why,
                    }),
                    _ => Err(JobError::WorkerDied(why).into()),
                },
                answer => Ok(expect_outcome(answer?)?),
            }
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
            runner.info.unload(&worker_id);
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
        Job::Call {
            def,
            mut call,
            streams,
        } => {
            let limits = capped(def.limits, runner.caps());
            // The worker's own event limit (`limits.eventWallMs`), then a quarantine's cap.
            if let Some(ms) = def.event_wall_ms {
                call.cap_wall_ms(ms);
            }
            if let Some(caps) = runner.caps() {
                call.cap_wall_ms(caps.wall_ms);
            }
            // An event (a cron run, a queue batch, an alarm) has a wall-clock limit of its own.
            let wall = call.own_wall_ms().map_or_else(
                || wall_of(&limits),
                |ms| Duration::from_millis(u64::from(ms)),
            );
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
                let Ok(mut ticket) =
                    runner
                        .link
                        .register(request(true, MessageKind::Outcome, true))
                else {
                    return Err(Failure::NotSent(Job::Call { def, call, streams }));
                };
                let request = ticket.id();
                // Told at the first queueing, wherever the job is placed (it keeps its copy when
                // it goes back to the pool); dropped with the job if it never is.
                if let Some(queued) = streams.queued.clone() {
                    ticket.on_queued(move || queued.tell());
                }
                let invoke = ToWorker::Invoke {
                    request_id: request,
                    worker_id: def.id,
                    call: call.clone(),
                };
                let outcome = match ticket.exchange(invoke, wall).await {
                    Err(AskError::Lost(why)) => {
                        let job = Job::Call { def, call, streams };
                        return Err(Failure::Sent { job, request, why });
                    }
                    answer => expect_outcome(answer?)?,
                };
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
            session: None,
        },
        body_in: None,
        body_out: None,
        socket: None,
        after_logs: None,
        keep: None,
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
