//! The multiplexed conversation with one worker process, after its handshake: any number of
//! requests in flight on its one socket, each matched to its answer by `RequestId`, plus the
//! host calls those requests make and the cancels the supervisor sends.
//!
//! Shape: one *router* task reads frames (`channel::FrameReader`, the size-capped decoder) and
//! routes each answer to the [`Ticket`] waiting for it, through a table of pending requests;
//! frames to the worker (requests, cancels, host replies) go through the [`outbox`], in order:
//! written by the task that queues them when the socket takes them at once, else by a *writer*
//! task. A request is registered in the table before its frame is queued, so its answer always
//! finds it.
//!
//! Guarantees:
//! - an `Outcome` or `Disposed` naming no pending request, or answering a request with the wrong
//!   kind of message, a second `Ready`, or a `HostCall` for a request not in flight (or one that
//!   runs no tenant code, a `Dispose`) ends the link: the worker is confused or compromised, and
//!   the process is ended by its life (`process`);
//! - a [`Ticket`] dropped while its request is in flight (its caller went away) sends
//!   `Cancel` for it if the request is cancellable, and leaves the request pending until the
//!   worker answers, so that late answer is not taken for a confused worker. The entry keeps
//!   the request's lease (its place under the process's cap) until then;
//! - a host call is dispatched to the registry (`host_calls`) (its first steps in the router's
//!   task, as far as its first wait, when its payload is small; the rest in a task of its own)
//!   and answered with one `HostReply` carrying its `request_id` and `call_id`, while its
//!   request is in flight; at most [`MAX_HOST_CALLS_PER_REQUEST`] are outstanding per request
//!   (beyond, the call is refused at once), an unknown name is refused, a cancelled request's
//!   new calls are refused, and the calls still outstanding when their request is answered or
//!   the link closes are aborted unanswered (the worker no longer has the request);
//! - a request is declared hung ([`AskError::Timeout`]) only when the worker has been silent
//!   for its wall-clock limit plus [`GRACE`] since the request was sent or since the worker last
//!   said anything: a worker that runs requests one after another starts each when the previous
//!   is answered, and a backlog there is not a hang;
//! - a `RenewalOverdue` (the worker's own notice that it cannot stop growing, see
//!   `stockade_ipc::ToSupervisor::RenewalOverdue`) wakes [`Link::overdue`]'s waiter: the life
//!   has the process replaced. It answers nothing and ends nothing;
//! - when the link closes, every waiting ticket gets [`AskError::Lost`] and no request can be
//!   registered any more ([`NotSent`]); the requests that were in flight stay listed
//!   ([`Link::take_in_flight`]) for the death's attribution.
//!
//! Trusts: nothing the worker sends beyond what the decoder accepts. The host call handlers to
//! bound their own work and answers (the payloads are capped by the protocol; how many bytes
//! all outstanding calls of a process may hold is not: up to 64 calls × 16 MiB per request).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use stockade_cordon::TenantId;
use stockade_ipc::{encode_to_vec, MessageKind, RequestId, ToSupervisor, ToWorker};
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

use super::bindings::Bindings;
use super::body::{BodyIn, BodyOut};
use super::channel::{FrameReader, FrameWriter};
use super::host_calls::{Caller, HostCalls, Outbound, Resources};
use super::jobs::{Keep, LogSink};
use super::websocket::SocketEnd;
use crate::egress::connections;

/// Host calls one request may have outstanding; more are refused at once.
pub const MAX_HOST_CALLS_PER_REQUEST: usize = 64;

/// Time allowed beyond a request's wall-clock limit before the process is declared hung.
pub const GRACE: Duration = Duration::from_secs(5);

/// How long the router keeps routing what a worker wrote after its socket stopped taking our
/// frames (it is most likely dead; its last answers are still worth delivering).
const DRAIN: Duration = Duration::from_millis(200);

/// A request's place under its process's cap of requests in flight (`process/lanes.rs`),
/// shared by the job and its pending requests: released when both are done.
pub type Lease = Arc<dyn std::any::Any + Send + Sync>;

/// The link is closed: nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotSent;

/// Why a sent request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskError {
    /// The request cannot be encoded; nothing was sent and the process is fine.
    Unencodable(String),
    /// The link closed (the worker died, or was confused) before the answer came.
    Lost(String),
    /// The worker was silent for the request's wall-clock limit plus [`GRACE`].
    Timeout,
}

/// What the supervisor knows of one request it registers.
pub struct Request {
    /// The tenant the request runs for.
    pub tenant: TenantId,
    /// Whether it runs tenant code (everything but `Dispose`): only such a request may make
    /// host calls, and only such requests count in a death's attribution.
    pub runs_code: bool,
    /// The answer's kind: `Outcome`, or `Disposed` for a `Dispose`.
    pub answer: MessageKind,
    /// Whether dropping its ticket sends `Cancel`. A `LoadWorker` is not cancelled: other
    /// requests may be waiting for the worker it loads.
    pub cancellable: bool,
    /// Held until the worker answers.
    pub lease: Option<Lease>,
    /// Where its outbound requests go (its host calls' context).
    pub outbound: Outbound,
    /// What its worker's `env` grants (its host calls' context).
    pub bindings: Arc<Bindings>,
    /// Its worker and binding-call chain (its host calls' context).
    pub caller: Caller,
    /// The rest of its streamed request body (`body.read`).
    pub body_in: Option<BodyIn>,
    /// Where its streamed response body goes (`body.write`, `body.end`).
    pub body_out: Option<BodyOut>,
    /// The worker's end of the client's WebSocket (`socket.send`, `socket.recv`, `socket.close`).
    pub socket: Option<SocketEnd>,
    /// Where the console lines its `Finished` carries go.
    pub after_logs: Option<LogSink>,
    /// Held until its `Finished` (or until it is forgotten).
    pub keep: Option<Keep>,
}

/// A request sent and not yet answered, as a death's attribution sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub id: RequestId,
    pub tenant: TenantId,
    pub runs_code: bool,
    /// Whether it made a host call the supervisor took up: the only way a request acts outside
    /// its isolate (storage, egress, bindings, its body's stream), so one that made none can run
    /// again elsewhere as if it had not run.
    pub called: bool,
}

struct Pending {
    tenant: TenantId,
    outbound: Outbound,
    bindings: Arc<Bindings>,
    caller: Caller,
    runs_code: bool,
    answer: MessageKind,
    /// `None` once its ticket is gone (cancelled) or the link closed.
    waiter: Option<oneshot::Sender<ToSupervisor>>,
    host_calls: Vec<AbortHandle>,
    /// It made a host call that was taken up (see [`InFlight::called`]).
    called: bool,
    /// Its host calls taken up and not yet answered (at most
    /// [`MAX_HOST_CALLS_PER_REQUEST`]).
    outstanding: usize,
    lease: Option<Lease>,
    /// Answered with an open `Outcome`: its work goes on until its `Finished`.
    open: bool,
    /// What its host calls hold across calls (see `host_calls::Resources`).
    resources: Arc<Resources>,
    /// Bytes of payload its outstanding host calls hold (see `held`).
    held: Arc<std::sync::atomic::AtomicUsize>,
    /// Its marks slot, named in its id (`request_slots`).
    _slot: request_slots::Slot,
    body_in: Option<BodyIn>,
    body_out: Option<BodyOut>,
    socket: Option<SocketEnd>,
    after_logs: Option<LogSink>,
    _keep: Option<Keep>,
}

struct Table {
    open: bool,
    closed_because: Option<String>,
    pending: HashMap<RequestId, Pending>,
    /// When the worker last sent a frame.
    last_heard: Instant,
}

/// The supervisor's end of one worker's socket.
pub struct Link {
    outbox: Arc<Outbox>,
    table: Mutex<Table>,
    next_id: AtomicU64,
    /// The marks slots of its requests in flight.
    slots: request_slots::RequestSlots,
    host_calls: Arc<HostCalls>,
    /// [`GRACE`], but for tests.
    grace: Duration,
    /// Notified when the worker says V8's shared heap is overdue for renewal.
    overdue: tokio::sync::Notify,
    /// The worker process life this link serves (0 until [`Link::set_life`]): its host calls
    /// carry it.
    life: AtomicU64,
}

impl Link {
    /// Starts the router and writer tasks over a worker's socket (after its handshake). The
    /// handle ends, with the reason, when the link closes.
    pub fn start(
        reader: FrameReader,
        writer: FrameWriter,
        host_calls: Arc<HostCalls>,
    ) -> (Arc<Link>, JoinHandle<String>) {
        Link::start_with_grace(reader, writer, host_calls, GRACE)
    }

    fn start_with_grace(
        reader: FrameReader,
        writer: FrameWriter,
        host_calls: Arc<HostCalls>,
        grace: Duration,
    ) -> (Arc<Link>, JoinHandle<String>) {
        if let Some(lookout) = lookout::get() {
            if let Err(e) = lookout.watch(reader.as_fd()) {
                tracing::warn!("the lookout cannot watch a worker's socket: {e}");
            }
        }
        let outbox = Arc::new(Outbox::new(writer.into_half()));
        let link = Arc::new(Link {
            outbox: Arc::clone(&outbox),
            table: Mutex::new(Table {
                open: true,
                closed_because: None,
                pending: HashMap::new(),
                last_heard: Instant::now(),
            }),
            next_id: AtomicU64::new(0),
            slots: request_slots::RequestSlots::new(),
            host_calls,
            grace,
            overdue: tokio::sync::Notify::new(),
            life: AtomicU64::new(0),
        });
        let writer = tokio::spawn(async move { outbox.drain().await });
        let router = tokio::spawn(route_loop(Arc::clone(&link), reader, writer));
        (link, router)
    }

    /// Names the worker process life this link serves, for its host calls' context.
    pub fn set_life(&self, life: u64) {
        self.life.store(life, Ordering::Relaxed);
    }

    fn life(&self) -> u64 {
        self.life.load(Ordering::Relaxed)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a request under a fresh id; its frame goes out with [`Ticket::exchange`].
    pub fn register(&self, request: Request) -> Result<Ticket<'_>, NotSent> {
        let (slot, id) = self
            .slots
            .take(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let (tx, rx) = oneshot::channel();
        let mut table = self.table();
        if !table.open {
            return Err(NotSent);
        }
        table.pending.insert(
            id,
            Pending {
                tenant: request.tenant,
                outbound: request.outbound,
                bindings: request.bindings,
                caller: request.caller,
                runs_code: request.runs_code,
                answer: request.answer,
                waiter: Some(tx),
                host_calls: Vec::new(),
                called: false,
                outstanding: 0,
                lease: request.lease,
                open: false,
                resources: Arc::default(),
                held: Arc::default(),
                _slot: slot,
                body_in: request.body_in,
                body_out: request.body_out,
                socket: request.socket,
                after_logs: request.after_logs,
                _keep: request.keep,
            },
        );
        Ok(Ticket {
            link: self,
            id,
            cancellable: request.cancellable,
            state: TicketState::Registered,
            answer: rx,
            queued: None,
        })
    }

    /// Resolves when the worker has said (since the last time this resolved) that V8's shared
    /// heap is overdue for a renewal it cannot do: the process should be replaced.
    pub async fn overdue(&self) {
        self.overdue.notified().await;
    }

    /// Queues `Shutdown` (the process is retired).
    pub fn shutdown(&self) {
        if let Ok(frame) = encode_to_vec(&ToWorker::Shutdown) {
            let _ = self.outbox.push(frame);
        }
    }

    /// Closes the link (idempotent): no new request, nothing more is written (the worker reads
    /// the end of its input), every waiting ticket gets `Lost`, every host call is aborted. The
    /// pending requests stay listed for [`Link::take_in_flight`].
    pub fn close(&self, why: &str) {
        self.outbox.close();
        let mut table = self.table();
        table.open = false;
        if table.closed_because.is_none() {
            table.closed_because = Some(why.to_owned());
        }
        let why = table.closed_because.clone().unwrap_or_default();
        for pending in table.pending.values_mut() {
            pending.waiter = None;
            pending.lease = None;
            pending._keep = None;
            connections::close(&pending.resources);
            for call in pending.host_calls.drain(..) {
                call.abort();
            }
            if let Some(out) = pending.body_out.take() {
                let why = format!("the worker was lost: {why}");
                tokio::spawn(async move { out.cut(why).await });
            }
        }
    }

    /// The requests sent and never answered (after [`Link::close`]: those the worker had when
    /// the link closed), forgotten.
    pub fn take_in_flight(&self) -> Vec<InFlight> {
        let mut table = self.table();
        let mut in_flight: Vec<InFlight> = table
            .pending
            .drain()
            .map(|(id, p)| InFlight {
                id,
                tenant: p.tenant,
                runs_code: p.runs_code,
                called: p.called,
            })
            .collect();
        in_flight.sort_by_key(|r| r.id);
        in_flight
    }

    /// Routes one frame from the worker; `Err` (why) for a frame that proves the worker confused.
    fn route(self: &Arc<Self>, message: ToSupervisor) -> Result<(), String> {
        self.table().last_heard = Instant::now();
        match message {
            ToSupervisor::Outcome(_) | ToSupervisor::Disposed { .. } => {
                let kind = message.kind();
                let Some(id) = message.request_id() else {
                    return Err(format!("sent a {kind:?} without a request id"));
                };
                let mut table = self.table();
                let Some(expected) = table.pending.get(&id).map(|p| p.answer) else {
                    return Err(format!(
                        "answered request {} with a {kind:?}, a request it was not asked or \
                         already answered",
                        id.0
                    ));
                };
                if expected != kind {
                    // Left pending: it was in flight when the worker went wrong.
                    return Err(format!(
                        "answered request {} with a {kind:?}, not a {expected:?}",
                        id.0
                    ));
                }
                if table.pending.get(&id).is_some_and(|p| p.open) {
                    return Err(format!("answered request {} twice", id.0));
                }
                if matches!(&message, ToSupervisor::Outcome(o) if o.open) {
                    // Its work goes on (a streamed body, `waitUntil`): it stays pending, with
                    // its lease and its right to call, until its `Finished`.
                    let Some(pending) = table.pending.get_mut(&id) else {
                        return Err(format!("lost request {} while routing its answer", id.0));
                    };
                    pending.open = true;
                    if let Some(waiter) = pending.waiter.take() {
                        let _ = waiter.send(message);
                    }
                    return Ok(());
                }
                let Some(pending) = table.pending.remove(&id) else {
                    return Err(format!("lost request {} while routing its answer", id.0));
                };
                drop(table);
                connections::close(&pending.resources);
                for call in &pending.host_calls {
                    call.abort(); // moot: the request is over
                }
                if let Some(waiter) = pending.waiter {
                    let _ = waiter.send(message); // a cancelled request: nobody waits
                }
                Ok(())
            }
            ToSupervisor::Finished {
                request_id,
                error,
                logs,
            } => {
                let mut table = self.table();
                if !table.pending.get(&request_id).is_some_and(|p| p.open) {
                    return Err(format!(
                        "finished request {}, which was not answered open",
                        request_id.0
                    ));
                }
                let Some(pending) = table.pending.remove(&request_id) else {
                    return Err(format!("lost request {}", request_id.0));
                };
                drop(table);
                connections::close(&pending.resources);
                for call in &pending.host_calls {
                    call.abort();
                }
                let mut logs = logs;
                if let (Some(_), Some(e)) = (&pending.after_logs, &error) {
                    // Cut short (its wall limit, say): the tenant sees why its `waitUntil`
                    // work, a Durable Object's timers or a streamed body stopped.
                    logs.push(stockade_ipc::LogLine {
                        level: stockade_ipc::LogLevel::Warn,
                        text: format!(
                            "the work left after the answer was cut short: {}",
                            e.message
                        ),
                    });
                }
                if let (Some(sink), false) = (&pending.after_logs, logs.is_empty()) {
                    sink(logs);
                }
                if let (Some(socket), Some(e)) = (&pending.socket, &error) {
                    // The request ended (its wall limit, say) with the socket open.
                    socket.ended(&e.message);
                }
                // Not ended by `body.end`: the body is incomplete, so it is cut, with the
                // request's error when it has one (else dropping its last sender cuts it,
                // `body.rs`).
                if let (Some(out), Some(e)) = (pending.body_out, error) {
                    tokio::spawn(async move { out.cut(e.message).await });
                }
                Ok(())
            }
            ToSupervisor::HostCall {
                request_id,
                call_id,
                name,
                payload,
                cpu_left_us,
            } => {
                let cpu_left = (cpu_left_us > 0)
                    .then(|| std::time::Duration::from_micros(u64::from(cpu_left_us)));
                self.host_call(request_id, call_id, &name, payload, cpu_left)
            }
            ToSupervisor::RenewalOverdue { .. } => {
                self.overdue.notify_one();
                Ok(())
            }
            ToSupervisor::Ready { .. } => Err("sent a second Ready".into()),
        }
    }

    /// Called by a ticket dropped with its request in flight. The request's outstanding host
    /// calls run on and are answered (new ones are refused); they are aborted when the worker
    /// answers the request.
    fn abandon(&self, id: RequestId, cancellable: bool) {
        let mut table = self.table();
        let open = table.open;
        let Some(pending) = table.pending.get_mut(&id) else {
            return; // answered meanwhile
        };
        pending.waiter = None;
        drop(table);
        if cancellable && open {
            if let Ok(frame) = encode_to_vec(&ToWorker::Cancel { request_id: id }) {
                let _ = self.outbox.push(frame);
            }
        }
    }
}

async fn route_loop(
    link: Arc<Link>,
    mut reader: FrameReader,
    mut writer: JoinHandle<std::io::Result<()>>,
) -> String {
    let why = loop {
        tokio::select! {
            message = reader.recv() => match message {
                Ok(message) => {
                    if let Err(why) = link.route(message) {
                        break format!("the worker {why}");
                    }
                }
                Err(e) => break e.to_string(),
            },
            written = &mut writer => {
                let why = match written {
                    Ok(Ok(())) => "the link was closed".to_owned(),
                    Ok(Err(e)) => format!("cannot write to the worker: {e}"),
                    Err(e) => format!("the writer task failed: {e}"),
                };
                // Deliver what the worker wrote before it stopped reading.
                let _ = tokio::time::timeout(DRAIN, async {
                    while let Ok(message) = reader.recv().await {
                        if link.route(message).is_err() {
                            break;
                        }
                    }
                })
                .await;
                break why;
            }
        }
    };
    if let Some(lookout) = lookout::get() {
        lookout.unwatch(reader.as_fd());
    }
    link.close(&why);
    writer.abort();
    why
}

mod host;
pub mod lookout;
mod outbox;
mod request_slots;
#[cfg(test)]
mod tests;
mod ticket;

use outbox::Outbox;
pub use ticket::Ticket;
use ticket::TicketState;
