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
//!   memory limit above them (an event's own wall-clock limit included);
//! - a call that carries its own wall-clock limit (`Call::Scheduled`, `Call::Queue`,
//!   `Call::Alarm`: `[limits] event_wall_ms`, lowered to the worker's own `event_wall_ms`) is
//!   waited for that long, not for the worker's `wall_ms`.
//!
//! Trusts: nothing the worker sends beyond what the size-capped decoder and the link accept.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use stockade_ipc::{Call, JailReport, Outcome, ToSupervisor, ToWorker, WorkerId, PROTOCOL_VERSION};

use super::channel::{FrameReader, FrameWriter};
use super::host_calls::Outbound;
use super::link::AskError;

/// A worker definition, as the Loader API stored it.
#[derive(Debug)]
pub struct WorkerDef {
    pub id: WorkerId,
    pub tenant: String,
    /// Its tenant-scoped name (`name` in the WorkerCode), if made with one: a version of that
    /// name (`store::worker_names`).
    pub name: Option<String>,
    pub main_module: String,
    pub modules: Vec<stockade_ipc::Module>,
    /// `env` as given (any JSON values; bindings among them).
    pub env: Vec<(String, serde_json::Value)>,
    /// The capabilities among `env`, parsed when the definition was made.
    pub bindings: Arc<super::bindings::Bindings>,
    pub limits: stockade_ipc::Limits,
    /// Its events' wall-clock limit (`limits.eventWallMs`: cron runs, queue batches, Durable
    /// Object alarms), ms, at most `[limits] event_wall_ms` when it was defined; `None`: the
    /// daemon's. The runner lowers an event call's own `wall_ms` to it.
    pub event_wall_ms: Option<u32>,
    pub compatibility_date: Option<String>,
    /// Cloudflare's `compatibilityFlags`, validated (`stockade_source::compat`).
    pub compatibility_flags: Vec<String>,
    /// Risk-relevant features of the modules (see `tenants`).
    pub features: super::tenants::CodeFeatures,
    /// Where its `fetch()` goes (`globalOutbound`).
    pub outbound: Outbound,
    /// Its cron triggers (`triggers.crons`, validated by `crate::scheduled::cron`), as given.
    pub crons: Vec<String>,
    /// The queues it consumes (`triggers.queues`, checked by `crate::queues::check_consumers`).
    pub queues: Vec<crate::queues::Consumer>,
    /// Deleted through the API: never loaded again (a reload after a death skips it).
    pub deleted: AtomicBool,
}

impl WorkerDef {
    /// What outlives its versions: its name if it has one, else its hex id. Its Durable Objects
    /// and its log ring are keyed by it, so a new version of a named worker keeps them.
    pub fn scope(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.id.to_hex())
    }

    /// The key of its log ring (`api/logs.rs`): [`log_ring`] of its tenant and scope.
    pub fn log_ring(&self) -> String {
        log_ring(&self.tenant, &self.scope())
    }
}

/// The key of the log ring of `tenant`'s worker scope `scope` (a name, or a hex id): its tenant's
/// own, as a name is only unique within its tenant.
pub fn log_ring(tenant: &str, scope: &str) -> String {
    format!("{tenant}/{scope}")
}

/// The streamed bodies of a `Call::Fetch`: the rest of its upload (`Call::Fetch::body_streamed`),
/// and where its response body goes if the worker streams it. Cloned into each request the job
/// sends (a retried job hands the same handles on).
#[derive(Clone, Default)]
pub struct Streams {
    pub body_in: Option<super::body::BodyIn>,
    pub body_out: Option<super::body::BodyOut>,
    /// The worker's end of a WebSocket the client asked for (`socket.*` host calls), if any.
    pub socket: Option<super::websocket::SocketEnd>,
    /// The chain of service / Loader calls the call belongs to (default: a client's request).
    pub chain: super::host_calls::Chain,
    /// Where the console lines its work makes after the answer go (`ctx.waitUntil` work, a
    /// streamed body's producer): they come with the worker's `Finished`. None: dropped.
    pub after_logs: Option<LogSink>,
    /// What the request holds until its work is over (its `Finished`, or its answer if it
    /// leaves no work): a Durable Object's place among the directory's calls in flight, so
    /// that an object whose call left timers running is not idle.
    pub keep: Option<Keep>,
    /// What its host calls' handlers find in their context (`Caller::session`).
    pub session: Option<super::host_calls::Session>,
    /// Told once the call's frame is queued to its worker process (`Ticket::on_queued`): a
    /// Durable Object's next call from the same request waits for it (`api::objects`).
    pub queued: Option<Queued>,
}

/// Tells its receiver once, when a call's frame is queued to its worker process (see
/// [`Streams::queued`]); the receiver hears an error instead if every clone is dropped untold.
#[derive(Clone)]
pub struct Queued(Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>>);

impl Queued {
    pub fn new() -> (Queued, tokio::sync::oneshot::Receiver<()>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (Queued(Arc::new(std::sync::Mutex::new(Some(tx)))), rx)
    }

    pub fn tell(&self) {
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = taken {
            let _ = tx.send(());
        }
    }
}

/// Takes the console lines a request made after its answer (see [`Streams::after_logs`]).
pub type LogSink = Arc<dyn Fn(Vec<stockade_ipc::LogLine>) + Send + Sync>;

/// Held while a request's work goes on (see [`Streams::keep`]); what it does when dropped is
/// its own.
pub type Keep = Arc<dyn std::any::Any + Send + Sync>;

// A job is made once per request and moved a few times; a box would cost an allocation each.
#[allow(clippy::large_enum_variant)]
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
    /// Its request was sent and the link closed before the answer: the process died, maybe
    /// before the worker started it. Placed again when the process's marks say it never started
    /// (`stockade_ipc::marks`), else failed with `WorkerDied`.
    Sent {
        job: Job,
        request: stockade_ipc::RequestId,
        why: String,
    },
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

/// Hello and Ready; the worker's own report of its confinement. When the jail is configured, a
/// worker that says it runs without seccomp or its own namespaces is refused: the report is
/// self-reported and proves nothing about a compromised worker, but a worker that admits it is
/// unjailed is a misconfiguration that must not serve.
/// The marks file (`stockade_ipc::marks`) goes with `Hello`.
pub async fn handshake(
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    jail: bool,
    marks: std::os::fd::BorrowedFd<'_>,
) -> Result<JailReport, String> {
    let hello = ToWorker::Hello {
        protocol_version: PROTOCOL_VERSION,
    };
    writer
        .send_with_fd(&hello, marks)
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

mod loaded;
mod runner;
#[cfg(test)]
mod tests;

pub use loaded::ProcessInfo;
pub use runner::{serve_job, Conduct, Runner};
