//! How a worker process's death is read (its exit status; see [`Death`]) and how the jobs it
//! failed are answered ([`Verdict`]): `WorkerDied`, a limit the worker enforced by ending
//! itself, or the worker process memory cap.
//!
//! Trusts: the kernel's exit status.

use std::time::Duration;

use stockade_ipc::{ErrorKind, ErrorReply, Outcome, RequestId};
use tokio::process::Child;

use super::super::jobs::{Failure, JobError};
use super::super::link::InFlight;
use super::{Answer, Death, EXTERNAL_SIGNALS};

/// Logs a death.
pub(super) fn report(slot: usize, death: &Death, in_flight: &[InFlight]) {
    match (in_flight.len(), death.limit) {
        (0, _) => tracing::warn!("worker {slot} died while idle: {}", death.how),
        (_, Some(kind)) => tracing::warn!("worker {slot} ended itself for a {kind:?}"),
        (n, None) => tracing::warn!(
            "worker {slot} died with {n} request(s) in flight: {}",
            death.how
        ),
    }
}

/// How the jobs a death failed are answered.
pub(super) enum Verdict {
    /// The process died: `WorkerDied` with how.
    Died(String),
    /// It ended itself for `kind`, with this one request in flight: that limit's outcome.
    Limit(RequestId, ErrorKind),
    /// It ended itself for `kind` of `culprit`, one of the `n` requests in flight, which the
    /// worker named in its marks file: that limit's outcome for the culprit, `WorkerDied`
    /// saying so for the others.
    LimitAmong {
        culprit: RequestId,
        kind: ErrorKind,
        n: usize,
    },
    /// It ended itself for `kind` with several requests in flight and named none of them.
    LimitOfSeveral(ErrorKind, usize),
    /// It was killed for the worker process memory cap: how.
    ProcessMemory(String),
}

impl Verdict {
    /// `culprit`: the request the worker named as it ended itself for a limit (its marks
    /// file), if any; heeded only when it is one of the requests in flight.
    pub(super) fn of(death: &Death, in_flight: &[InFlight], culprit: Option<RequestId>) -> Verdict {
        if death.process_memory.is_some() {
            return Verdict::ProcessMemory(death.how.clone());
        }
        match (death.limit, in_flight) {
            (None, _) => Verdict::Died(death.how.clone()),
            (Some(kind), [only]) => Verdict::Limit(only.id, kind),
            (Some(kind), several) => match culprit.filter(|c| several.iter().any(|r| r.id == *c)) {
                Some(culprit) => Verdict::LimitAmong {
                    culprit,
                    kind,
                    n: several.len(),
                },
                None => Verdict::LimitOfSeveral(kind, several.len()),
            },
        }
    }

    /// The request whose limit the process ended itself for, when known, and that limit.
    fn culprit(&self) -> Option<(RequestId, ErrorKind)> {
        match self {
            Verdict::Limit(id, kind)
            | Verdict::LimitAmong {
                culprit: id, kind, ..
            } => Some((*id, *kind)),
            _ => None,
        }
    }

    /// The answer of a failed job; `suspect`: the death is evidence against its tenant;
    /// `ran`: how far a request sent and not answered went (the link's record of its host
    /// calls, and the process's marks).
    ///
    /// A sent request that made no host call changed nothing outside its isolate, which died
    /// with the process: it is placed again (`NotStarted`) when it never started, or when it did
    /// and the death is not evidence against its tenant and its culprit is known not to be it
    /// (a neighbour's limit, the process memory cap's charge, a kill from outside). One that
    /// made a host call is never placed again, whatever the marks say.
    pub(super) fn answer(
        &self,
        failure: Failure,
        suspect: bool,
        ran: &dyn Fn(RequestId) -> Ran,
    ) -> Answer {
        // The request whose limit the process ended itself for: that limit, nothing crashed
        // (whether or not its mark says it started).
        if let (Failure::Sent { request, .. }, Some((culprit, kind))) = (&failure, self.culprit()) {
            if *request == culprit {
                return Answer::Done(Ok(limit_outcome(culprit, kind)));
            }
        }
        let error = match failure {
            Failure::Sent { job, request, why } => match ran(request) {
                // It ran nowhere, so it runs elsewhere.
                Ran::NotStarted => return Answer::NotStarted(job),
                // It ran, but only inside its isolate, and it is not what ended the process.
                Ran::Inside if !suspect && self.culprit_is_known_or_none() => {
                    return Answer::NotStarted(job)
                }
                Ran::Inside | Ran::Outside => JobError::WorkerDied(why),
            },
            Failure::NotSent(job) => return Answer::NotStarted(job),
            // Its own request never ran. Placed again unless its tenant's code (the load) may
            // be what killed the process, or the process ended itself for a limit of the one
            // request it had, which this job waited on (that limit is then its answer too).
            Failure::Unstarted(job) if !suspect && !matches!(self, Verdict::Limit(..)) => {
                return Answer::NotStarted(job)
            }
            Failure::Unstarted(_) => JobError::WorkerDied("its worker's load was lost".into()),
            Failure::Error(error) => error,
        };
        Answer::Done(match (error, self) {
            (JobError::WorkerDied(_), Verdict::Died(how)) => Err(JobError::WorkerDied(how.clone())),
            (JobError::WorkerDied(_), Verdict::ProcessMemory(how)) => {
                Err(JobError::ProcessMemory(how.clone()))
            }
            // The engine's own limit enforcement: the tenant hit its limit, nothing crashed.
            (JobError::WorkerDied(_), Verdict::Limit(id, kind)) => Ok(limit_outcome(*id, *kind)),
            (JobError::WorkerDied(_), Verdict::LimitAmong { kind, n, .. }) => {
                Err(JobError::WorkerDied(format!(
                    "the process ended itself to enforce a {} limit of another of the {n} \
                     requests running in it",
                    limit_name(*kind)
                )))
            }
            (JobError::WorkerDied(_), Verdict::LimitOfSeveral(kind, n)) => {
                Err(JobError::WorkerDied(format!(
                    "the process ended itself to enforce a {} limit of one of the {n} requests \
                     running in it",
                    limit_name(*kind)
                )))
            }
            (other, _) => Err(other),
        })
    }

    /// Whether every request this death did not blame may run again: not when the process
    /// ended itself for a limit of a request it did not name (any of them may be the one).
    fn culprit_is_known_or_none(&self) -> bool {
        !matches!(self, Verdict::LimitOfSeveral(..))
    }
}

/// How far a request the process had sent it went before the process died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ran {
    /// The worker never started it (its marks).
    NotStarted,
    /// It started, and made no host call.
    Inside,
    /// It made a host call: it may have acted outside its isolate.
    Outside,
}

impl Ran {
    /// `request`'s, from the requests the link had in flight (the supervisor's own record of
    /// host calls) and `started` (the worker's marks). A request the link does not list is
    /// taken to have acted.
    pub(super) fn of(
        request: RequestId,
        in_flight: &[InFlight],
        started: impl Fn(RequestId) -> bool,
    ) -> Ran {
        match in_flight.iter().find(|r| r.id == request) {
            Some(r) if !r.called && !started(request) => Ran::NotStarted,
            Some(r) if !r.called => Ran::Inside,
            _ => Ran::Outside,
        }
    }
}

fn limit_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::CpuLimit => "CPU time",
        _ => "memory",
    }
}

/// After a failure: the process's exit status. A dying worker's reaper exits with the worker's
/// status, so give it a moment to say how it died (e.g. SIGSYS from seccomp) before killing it
/// (a hung or confused worker).
pub(super) async fn reap(child: &mut Child, why: &str) -> Death {
    match tokio::time::timeout(Duration::from_millis(500), child.wait()).await {
        Ok(status) => Death::from_status(status),
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            Death {
                how: format!("killed by the supervisor: {why}"),
                by_seccomp: false,
                limit: None,
                killed_externally: false,
                process_memory: None,
            }
        }
    }
}

/// The answer of a request whose worker ended itself for `kind` (see [`Death::limit`]).
pub(super) fn limit_outcome(request_id: RequestId, kind: ErrorKind) -> Outcome {
    Outcome {
        request_id,
        result: Err(ErrorReply {
            kind,
            message: format!(
                "{} limit exceeded (inside an operation V8 could not interrupt; the worker \
                 process was ended)",
                limit_name(kind)
            ),
            stack: None,
        }),
        logs: Vec::new(),
        cpu_us: 0,
        wall_us: 0,
        open: false,
        observed: Default::default(),
        memory_bytes: 0,
    }
}

impl Death {
    pub(super) fn from_status(status: std::io::Result<std::process::ExitStatus>) -> Death {
        use std::os::unix::process::ExitStatusExt;
        let Ok(status) = status else {
            return Death {
                how: "unknown exit".into(),
                by_seccomp: false,
                limit: None,
                killed_externally: false,
                process_memory: None,
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
            killed_externally: signal.is_some_and(|s| EXTERNAL_SIGNALS.contains(&s)),
            limit: match status.code() {
                Some(stockade_ipc::exit::CPU_LIMIT) => Some(ErrorKind::CpuLimit),
                Some(stockade_ipc::exit::MEMORY_LIMIT) => Some(ErrorKind::MemoryLimit),
                _ => None,
            },
            process_memory: None,
        }
    }
}
