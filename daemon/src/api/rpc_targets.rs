//! `RpcTarget`s over RPC: an RPC method (of a service binding's or Loader child's entrypoint, or
//! of a Durable Object) that returns an `RpcTarget` instance or a function (anywhere in its
//! result) hands its caller a stub, and the callee's request stays alive to serve the stub's
//! calls until the caller lets go, as on Cloudflare. No frame of the worker protocol changes:
//! the callee's side is host calls that wait for the next call.
//!
//! - `services::rpc` attaches a [`CalleeSession`] to the callee's request (`Caller::session`,
//!   which only the supervisor sets). The callee's runtime, finding targets in its result, sends
//!   the result with `service.export` instead of answering: the caller gets it at once with a
//!   session among its request's resources (`{"session": n, "key": k}`: its number there, and a
//!   random key a stub must name with it, so a stub that outlived its request reaches nothing
//!   of a later one's).
//! - The callee then calls `service.wait` (no payload), which answers the next call on a target:
//!   the caller's `service.target` `{session, key, target, method}` + encoded arguments, given to
//!   the callee as `{target, method, call}` + the arguments (`call`: a number no other call of
//!   the daemon has). The callee starts it and waits for the next at once: calls on one session
//!   start in order and run concurrently, as on Cloudflare (so a callback may call the same
//!   target again), at most [`MAX_SERVING`] at a time. It sends each answer (`{"ok"}` or
//!   `{"error"}`, encoded; it may hold more targets) with `service.next` `{call}`, which returns
//!   at once (its payload is not held while the callee waits).
//! - `service.release` `{session, key}` (every stub of the session disposed), the caller's
//!   request's end, or its resources dropped close the session: the callee's wait answers
//!   `{"done": true}` and its request ends. The callee's request ending (its wall-clock limit)
//!   fails the calls that wait and every later one with a clear error.
//!
//! Callbacks, the other way: the caller's arguments may hold functions and `RpcTarget`s too. The
//! callee's stubs of them call `service.callback` `{target, method}` + arguments, which reaches
//! the caller's `service.call` still waiting (`services::rpc`, [`drive`]): it answers the caller
//! `{"callback": {target, method}, "pending": n, "key": k, "reply": r}` + the arguments, the
//! call in flight kept among the caller's request's calls in flight ([`InFlight`], at most
//! [`MAX_CALLS_WITH_CALLBACKS`]). The caller starts the
//! callback and at once waits for the call's next event with `service.resume` `{pending, key}`
//! (its answer, or its next callback, `reply` r + 1); each callback's answer goes back with
//! `service.reply` `{pending, key, reply}`, answered at once. So a call's callbacks run
//! concurrently, as on Cloudflare, and one may wait for another. A callback is reachable until
//! the call is answered; one running then still answers its callee (the call is let go of once
//! the last answer is sent). Callbacks the callee made before its answer reach the caller
//! before that answer, also when the callee did not await them (each is queued in the link's
//! router, in the order of the worker's frames, and the queue is drained before the answer). A
//! call on a target takes callbacks the same way: its `TargetCall` carries a channel the callee's
//! `service.callback` `{target, method, call}` reaches while the callee serves that call
//! (`serving`), which the caller's `service.target` waits on beside the answer. The callee's
//! job is polled by a driver task of its own, never from the caller's resources (so a kept
//! call keeps the job going, and dropping it only aborts that task). A `service.callback` goes
//! to the running request's session: to the target call it names by number, or (naming none) to
//! its RPC call; the callee's runtime refuses a callback stub called by another request's code
//! (each stub remembers its request's task, `host.task()`), as Cloudflare refuses I/O on behalf
//! of a different request.
//!
//! Guarantees: a session, and a call in flight, is reached only through the caller's request's
//! resources (a number and a random key another request cannot name) and the callee's own
//! request (its context's session); each target call and callback spends one of the chain's
//! binding calls (`[limits] max_binding_calls`); the callee's session work counts against its
//! own request's limits (its wall-clock limit ends it).
//! Trusts: nothing in the payloads (the callee's runtime checks target numbers and methods).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::supervisor::{CallContext, Resources};

/// The most calls on one session's targets its callee serves at once (its runtime waits for one
/// to end before it asks for the next).
pub const MAX_SERVING: usize = 64;

/// The numbers of the calls callees serve: one counter for the daemon, so a number one request's
/// session handed out names nothing in another's.
static CALLS: AtomicU64 = AtomicU64::new(1);

/// The callee's job of an RPC call, as `services::rpc` started it.
pub type CalleeJob = Pin<Box<dyn Future<Output = crate::supervisor::JobReply> + Send>>;

/// One call on a target: `{target, method}`, its encoded arguments, where its answer goes, and,
/// for a caller's call on a target, where the callee's calls of the caller's argument targets go
/// while it runs (callbacks, which carry none of their own).
struct TargetCall {
    head: Value,
    args: Vec<u8>,
    answer: oneshot::Sender<Vec<u8>>,
    callbacks: Option<mpsc::UnboundedSender<TargetCall>>,
}

/// The caller's end of a session, among its request's resources, and the key its stubs name.
#[derive(Clone)]
struct TargetSender {
    calls: mpsc::Sender<TargetCall>,
    key: String,
}

/// The callee's end of one RPC call's session (`Caller::session` of the callee's request).
pub struct CalleeSession {
    /// Where the result with targets goes (once).
    exported: Mutex<Option<oneshot::Sender<Vec<u8>>>>,
    /// The caller's end until the export hands it over (kept here, the channel never closed).
    sender: Mutex<Option<mpsc::Sender<TargetCall>>>,
    calls: tokio::sync::Mutex<mpsc::Receiver<TargetCall>>,
    /// The calls being served, by number: where each one's answer goes, and its callbacks (its
    /// caller's argument targets).
    serving: Mutex<HashMap<u64, Serving>>,
    /// Where the callee's calls of the caller's arguments' targets go (`service.callback`).
    callbacks: mpsc::UnboundedSender<TargetCall>,
}

/// One call a callee serves.
struct Serving {
    answer: oneshot::Sender<Vec<u8>>,
    callbacks: Option<mpsc::UnboundedSender<TargetCall>>,
}

/// What a call's driver task reports to its caller.
enum Event {
    /// The callee's job is over.
    Finished(crate::supervisor::JobReply),
    /// The callee exported targets with its result (its job goes on, serving them).
    Exported(Vec<u8>),
    /// The callee calls one of the caller's arguments' targets.
    Callback(TargetCall),
}

/// An RPC call in flight, as its caller waits for it: what its driver task reports. The task owns
/// the callee's job (so it is always polled, wherever the caller is); dropping this aborts it,
/// which cancels the job, unless the call exported targets (its job then goes on to serve them).
pub struct Driving {
    events: mpsc::Receiver<Event>,
    session: Arc<CalleeSession>,
    task: Option<tokio::task::AbortHandle>,
}

impl Drop for Driving {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Only marks the task: its job is dropped on a runtime thread, never here (a
            // request's resources may be dropped under the link's lock).
            task.abort();
        }
    }
}

/// A call whose callee called back, among its caller's request's calls in flight
/// ([`CallsInFlight`]) until it is answered and its callbacks' answers are sent: where each
/// callback the caller runs answers (by its number in the call), and the wait for the call's
/// next event, taken while a `service.resume` waits on it (so one waits at a time).
#[derive(Clone)]
struct InFlight(Arc<Mutex<Calling>>);

struct Calling {
    key: String,
    waiting: Option<Waiting>,
    /// The call was answered: the entry goes once its callbacks' answers are sent.
    over: bool,
    replies: HashMap<u32, oneshot::Sender<Vec<u8>>>,
    next_reply: u32,
}

/// The most calls with callbacks one request has in flight at once (its runtime has at most 64
/// host calls in flight).
pub const MAX_CALLS_WITH_CALLBACKS: usize = 64;

/// A request's calls whose callees called back, by number (a request's one value of this type,
/// `Resources::shared`).
#[derive(Default)]
struct CallsInFlight {
    last: u32,
    calls: HashMap<u32, InFlight>,
}

impl CallsInFlight {
    fn insert(&mut self, call: InFlight) -> Option<u32> {
        if self.calls.len() >= MAX_CALLS_WITH_CALLBACKS {
            return None;
        }
        self.last = self.last.wrapping_add(1).max(1);
        self.calls.insert(self.last, call);
        Some(self.last)
    }
}

/// What a call in flight waits for: an RPC call's driver, or a call on a target (its answer,
/// and its callbacks).
enum Waiting {
    Call(Driving),
    Target {
        answered: oneshot::Receiver<Vec<u8>>,
        callbacks: mpsc::UnboundedReceiver<TargetCall>,
    },
}

/// What waiting for a call came to ([`drive`]).
pub enum Driven {
    /// The callee's job is over (its answer, or why not).
    Finished(crate::supervisor::JobReply),
    /// An answer for the caller now: an export (`{"session", "key"}`) or a callback
    /// (`{"callback", "pending", "key", "reply"}`), and its bytes.
    Answer(Value, Vec<u8>),
}

/// A random key (hex), naming a session or a call in flight along with its number (or a pipe,
/// `rpc_pipes`).
pub(super) fn random_key() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no random key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl CalleeSession {
    /// Starts one RPC call whose callee's job `start` makes (given the session for the job's
    /// `Streams::session`), in a driver task: the call in flight.
    pub fn start(start: impl FnOnce(Arc<CalleeSession>) -> CalleeJob) -> Driving {
        let (exported, export) = oneshot::channel();
        let (sender, calls) = mpsc::channel(1);
        let (callbacks, callbacks_rx) = mpsc::unbounded_channel();
        let session = Arc::new(CalleeSession {
            exported: Mutex::new(Some(exported)),
            sender: Mutex::new(Some(sender)),
            calls: tokio::sync::Mutex::new(calls),
            serving: Mutex::new(HashMap::new()),
            callbacks,
        });
        let job = start(Arc::clone(&session));
        let (events_tx, events) = mpsc::channel(1);
        let task = tokio::spawn(run(job, export, callbacks_rx, events_tx));
        Driving {
            events,
            session,
            task: Some(task.abort_handle()),
        }
    }

    /// After the export: keeps the caller's end among `resources` (its request's); the head
    /// that names it (`{"session": n, "key": k}`), or why not.
    fn hand_to(&self, resources: &Resources) -> Result<Value, String> {
        let calls = lock(&self.sender)
            .take()
            .ok_or("the RPC session was handed over already")?;
        let key = random_key()?;
        let sender = TargetSender {
            calls,
            key: key.clone(),
        };
        let number = resources.insert(sender).ok_or_else(|| {
            format!(
                "this request holds {} resources already (RpcTarget sessions among them)",
                Resources::MAX
            )
        })?;
        Ok(json!({ "session": number, "key": key }))
    }

    /// The next call for the callee: `{target, method, call}` + its arguments, or
    /// `{"done": true}` once the caller let go; refused while it serves [`MAX_SERVING`].
    async fn next_call(&self) -> Result<Vec<u8>, String> {
        if lock(&self.serving).len() >= MAX_SERVING {
            return Err(format!(
                "this RPC session serves {MAX_SERVING} calls already: answer one first"
            ));
        }
        let next = self.calls.lock().await.recv().await;
        Ok(match next {
            Some(TargetCall {
                mut head,
                args,
                answer,
                callbacks,
            }) => {
                let number = CALLS.fetch_add(1, Ordering::Relaxed);
                lock(&self.serving).insert(number, Serving { answer, callbacks });
                if let Some(fields) = head.as_object_mut() {
                    fields.insert("call".into(), json!(number));
                }
                crate::storage::frame(&head, &args)
            }
            None => crate::storage::frame(&json!({ "done": true }), &[]),
        })
    }

    /// The call `number` is answered: `answer` goes to its caller (its callbacks are over).
    fn answered(&self, number: u64, answer: Vec<u8>) -> Result<(), String> {
        let served = lock(&self.serving)
            .remove(&number)
            .ok_or("this RPC session serves no such call")?;
        // A caller that stopped waiting (its request ended) takes no answer.
        let _ = served.answer.send(answer);
        Ok(())
    }

    /// Where a callback of call `number` goes (none: the RPC call's own, until it is answered).
    fn callbacks_of(&self, number: Option<u64>) -> Option<mpsc::UnboundedSender<TargetCall>> {
        match number {
            None => lock(&self.exported)
                .is_some()
                .then(|| self.callbacks.clone()),
            Some(number) => lock(&self.serving)
                .get(&number)
                .and_then(|s| s.callbacks.clone()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn session_of(context: &CallContext) -> Result<Arc<CalleeSession>, String> {
    context
        .caller
        .session
        .clone()
        .and_then(|s| s.downcast::<CalleeSession>().ok())
        .ok_or_else(|| {
            "an RpcTarget or a function crosses only as the result of an RPC call (a service \
             binding's, a Loader child's or a Durable Object's method)"
                .to_owned()
        })
}

/// `service.export` `{}` + the answer's JSON text: the callee's result with targets goes to the
/// caller.
pub async fn export(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let session = session_of(&context)?;
    let (_, answer) = crate::storage::split(&payload)?;
    let exported = lock(&session.exported)
        .take()
        .ok_or("this RPC call's result was sent already")?;
    exported
        .send(answer.to_vec())
        .map_err(|_| "the RPC call's caller is gone")?;
    Ok(crate::storage::frame(&json!({}), &[]))
}

/// `service.next` `{call}` + the answer's JSON text: the answer of the call the callee ran goes
/// to its caller (its callbacks are over).
pub async fn next(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let session = session_of(&context)?;
    let (head, answer) = crate::storage::split(&payload)?;
    let number = call_number(&head).ok_or("the answer names no call")?;
    session.answered(number, answer.to_vec())?;
    Ok(crate::storage::frame(&json!({}), &[]))
}

/// The call a callee's `service.next` or `service.callback` names, if any.
fn call_number(head: &Value) -> Option<u64> {
    head.get("call").and_then(Value::as_u64)
}

/// `service.wait`: the next call on a target, or `{"done": true}` once the caller let go.
pub async fn wait(context: CallContext, _payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let session = session_of(&context)?;
    session.next_call().await
}

/// The session number a caller's head names.
fn number(head: &Value) -> Result<u32, String> {
    u32_field(head, "session", "the call names no RpcTarget session")
}

/// Field `name` of a caller's head as a u32, or `missing`.
fn u32_field(head: &Value, name: &str, missing: &str) -> Result<u32, String> {
    head.get(name)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| missing.to_owned())
}

const RELEASED: &str = "the RpcTarget was released (its stubs were disposed), or came from \
                        another request (a stub lives as long as the request that got it)";

/// The caller's end of the session `head` names (its number and key) in its request.
fn sender(resources: &Resources, head: &Value) -> Result<(u32, TargetSender), String> {
    let n = number(head)?;
    let key = head.get("key").and_then(Value::as_str).unwrap_or("");
    let sender = resources
        .cloned::<TargetSender>(n)
        .filter(|s| s.key == key)
        .ok_or(RELEASED)?;
    Ok((n, sender))
}

const GONE: &str = "the RpcTarget's worker is gone: the request that returned it ended (its \
                    wall-clock limit, or an error)";

/// The `{target, method}` a call on a target names, checked (the callee's runtime checks that
/// the target exists and has the method).
fn target_call(head: &Value) -> Result<Value, String> {
    let target = head
        .get("target")
        .and_then(Value::as_u64)
        .and_then(|t| u32::try_from(t).ok())
        .ok_or("the call names no target")?;
    let method = head
        .get("method")
        .and_then(Value::as_str)
        .filter(|m| m.len() <= stockade_ipc::limits::MAX_RPC_NAME_LEN)
        .ok_or("the call names no method")?;
    Ok(json!({ "target": target, "method": method }))
}

/// `service.target` `{session, key, target, method}` + encoded arguments: one call on a target,
/// answered with `{}` + the callee's answer, or first with the first callback it makes of the
/// caller's argument targets ([`resume`] waits for the next event).
pub async fn call(context: &CallContext, head: &Value, args: Vec<u8>) -> Result<Driven, String> {
    let call_head = target_call(head)?;
    let (_, TargetSender { calls: sender, .. }) = sender(&context.resources, head)?;
    let (answer, answered) = oneshot::channel();
    let (callbacks_tx, callbacks) = mpsc::unbounded_channel();
    let call = TargetCall {
        head: call_head,
        args,
        answer,
        callbacks: Some(callbacks_tx),
    };
    sender.send(call).await.map_err(|_| GONE.to_owned())?;
    match next_of_target(answered, callbacks).await? {
        Next::Over(driven) => Ok(driven),
        Next::Callback(waiting, call) => keep(waiting, call, &context.resources),
    }
}

/// `service.release` `{session, key}`: the caller lets go of the session (the callee's request
/// ends).
pub fn release(context: &CallContext, head: &Value) -> Result<Vec<u8>, String> {
    let (n, _) = sender(&context.resources, head)?;
    drop(context.resources.take::<TargetSender>(n));
    Ok(crate::storage::frame(&json!({}), &[]))
}

/// The driver task of one call: polls the callee's job and reports its callbacks, then its end
/// or its export (then drives the job to its end alone: its callbacks are over). Callbacks the
/// callee made before its answer are reported before it, as Cloudflare's calls arrive in the
/// order they were made: each is queued before the answer is known here (see [`callback`]),
/// and the queue is drained first.
async fn run(
    mut job: CalleeJob,
    mut exported: oneshot::Receiver<Vec<u8>>,
    mut callbacks: mpsc::UnboundedReceiver<TargetCall>,
    events: mpsc::Sender<Event>,
) {
    let mut finished = None;
    loop {
        if let Some(outcome) = finished.take() {
            let _ = report(&mut callbacks, &events, Event::Finished(outcome)).await;
            return;
        }
        tokio::select! {
            biased;
            Some(call) = callbacks.recv() => {
                // The job is polled while the callback waits for its caller to take it: it may
                // end meanwhile, reported once the callback is.
                let send = events.send(Event::Callback(call));
                tokio::pin!(send);
                loop {
                    tokio::select! {
                        sent = &mut send => {
                            if sent.is_err() {
                                return;
                            }
                            break;
                        }
                        outcome = &mut job, if finished.is_none() => finished = Some(outcome),
                    }
                }
            }
            outcome = &mut job => finished = Some(outcome),
            Ok(answer) = &mut exported => {
                if report(&mut callbacks, &events, Event::Exported(answer)).await {
                    let _ = job.await;
                }
                return;
            }
        }
    }
}

/// Reports the callbacks still queued, then `last`; whether the caller took them all.
async fn report(
    callbacks: &mut mpsc::UnboundedReceiver<TargetCall>,
    events: &mpsc::Sender<Event>,
    last: Event,
) -> bool {
    while let Ok(call) = callbacks.try_recv() {
        if events.send(Event::Callback(call)).await.is_err() {
            return false;
        }
    }
    events.send(last).await.is_ok()
}

/// What waiting for a call's next event came to: its end (or export), or a callback for the
/// caller to run while the call waits on (`waiting`).
enum Next {
    Over(Driven),
    Callback(Waiting, TargetCall),
}

/// Waits for the call `driving` until the callee's job is over, it exports targets (its session
/// then handed to the caller's `resources`), or it calls one of the caller's arguments' targets
/// back (the call then kept in `resources` until it is answered: [`resume`], [`reply`]).
pub async fn drive(driving: Driving, resources: &Resources) -> Result<Driven, String> {
    match next_of_call(driving, resources).await? {
        Next::Over(driven) => Ok(driven),
        Next::Callback(waiting, call) => keep(waiting, call, resources),
    }
}

async fn next_of_call(mut driving: Driving, resources: &Resources) -> Result<Next, String> {
    match driving.events.recv().await {
        Some(Event::Finished(outcome)) => Ok(Next::Over(Driven::Finished(outcome))),
        Some(Event::Exported(answer)) => {
            // The callee serves its targets until the caller lets go: its job goes on.
            driving.task = None;
            let head = driving.session.hand_to(resources)?;
            Ok(Next::Over(Driven::Answer(head, answer)))
        }
        // Run even if its callee stopped waiting (it made the call before it ended, as one that
        // does not await its callbacks does).
        Some(Event::Callback(call)) => Ok(Next::Callback(Waiting::Call(driving), call)),
        None => Err("the RPC call's worker task is gone".into()),
    }
}

/// Waits for a call on a target until its answer (`{}` + the answer), or until the callee calls
/// one of the caller's argument targets back.
async fn next_of_target(
    mut answered: oneshot::Receiver<Vec<u8>>,
    mut callbacks: mpsc::UnboundedReceiver<TargetCall>,
) -> Result<Next, String> {
    tokio::select! {
        // Callbacks first: those the callee made before its answer were queued before it.
        biased;
        Some(call) = callbacks.recv() => {
            Ok(Next::Callback(Waiting::Target { answered, callbacks }, call))
        }
        answer = &mut answered => {
            let answer = answer.map_err(|_| GONE.to_owned())?;
            Ok(Next::Over(Driven::Answer(json!({}), answer)))
        }
    }
}

async fn next_of(waiting: Waiting, resources: &Resources) -> Result<Next, String> {
    match waiting {
        Waiting::Call(driving) => next_of_call(driving, resources).await,
        Waiting::Target {
            answered,
            callbacks,
        } => next_of_target(answered, callbacks).await,
    }
}

/// The first callback of a call: the call kept among the request's calls in flight while the
/// caller runs it; the caller's answer now, `{"callback": {target, method}, "pending": n, "key":
/// k, "reply": 0}` + arguments.
fn keep(waiting: Waiting, call: TargetCall, resources: &Resources) -> Result<Driven, String> {
    let calling = Calling {
        key: random_key()?,
        waiting: Some(waiting),
        over: false,
        replies: HashMap::new(),
        next_reply: 0,
    };
    let in_flight = InFlight(Arc::new(Mutex::new(calling)));
    let number = resources
        .shared::<CallsInFlight, _>(|calls| calls.insert(in_flight.clone()))
        .ok_or_else(|| {
            format!("this request has {MAX_CALLS_WITH_CALLBACKS} calls with callbacks in flight")
        })?;
    let driven = lock(&in_flight.0).callback(number, call);
    Ok(driven)
}

impl Calling {
    /// Callback `call` of call `number`, for the caller to run: its answer's place kept under
    /// the next `reply` number; the caller's answer now, `{"callback": {target, method},
    /// "pending": number, "key", "reply"}` + arguments.
    fn callback(&mut self, number: u32, call: TargetCall) -> Driven {
        let reply = self.next_reply;
        self.next_reply += 1;
        self.replies.insert(reply, call.answer);
        let head =
            json!({ "callback": call.head, "pending": number, "key": self.key, "reply": reply });
        Driven::Answer(head, call.args)
    }
}

/// The call in flight `head` names (`{pending, key}`) among the request's.
fn in_flight(resources: &Resources, head: &Value) -> Result<(u32, InFlight), String> {
    const NONE: &str = "no such RPC call waits for its callbacks";
    let number = u32_field(head, "pending", "the call names no pending RPC call")?;
    let key = head.get("key").and_then(Value::as_str).unwrap_or("");
    let call = resources
        .shared::<CallsInFlight, _>(|calls| calls.calls.get(&number).cloned())
        .ok_or(NONE)?;
    if lock(&call.0).key != key {
        return Err(NONE.into());
    }
    Ok((number, call))
}

/// Call `number` is answered: it goes now, or (callbacks still running in the caller, which the
/// callee may still await) once the last of their answers is sent.
fn call_over(resources: &Resources, number: u32, call: &InFlight) {
    let done = {
        let mut calling = lock(&call.0);
        calling.over = true;
        calling.replies.is_empty()
    };
    if done {
        forget(resources, number);
    }
}

/// Call `number` and its callbacks are over: the request lets go of it.
fn forget(resources: &Resources, number: u32) {
    resources.shared::<CallsInFlight, _>(|calls| calls.calls.remove(&number));
}

/// `service.resume` `{pending, key}`: waits for the call's next event while its callbacks run in
/// the caller: its answer, or its next callback, answered as the first (with the next `reply`
/// number). A callback may so wait for another of the same call.
pub async fn resume(context: &CallContext, head: &Value) -> Result<Driven, String> {
    let resources = &context.resources;
    let (number, call) = in_flight(resources, head)?;
    let waiting = lock(&call.0)
        .waiting
        .take()
        .ok_or("this RPC call is waited for already, or was answered")?;
    match next_of(waiting, resources).await {
        Ok(Next::Callback(waiting, next)) => {
            let mut calling = lock(&call.0);
            calling.waiting = Some(waiting);
            Ok(calling.callback(number, next))
        }
        Ok(Next::Over(driven)) => {
            call_over(resources, number, &call);
            Ok(driven)
        }
        Err(e) => {
            call_over(resources, number, &call);
            Err(e)
        }
    }
}

/// `service.reply` `{pending, key, reply}` + the answer's JSON text: callback `reply` of the call
/// is over, its answer goes to the callee (which waits in its `service.callback`, though the call
/// itself may be answered by now). Answered at once.
pub fn reply(context: &CallContext, head: &Value, answer: &[u8]) -> Result<Vec<u8>, String> {
    let (number, call) = in_flight(&context.resources, head)?;
    let reply = u32_field(head, "reply", "the answer names no callback")?;
    let (to_callee, done) = {
        let mut calling = lock(&call.0);
        let to_callee = calling
            .replies
            .remove(&reply)
            .ok_or("no such callback waits for its answer")?;
        (to_callee, calling.over && calling.replies.is_empty())
    };
    if done {
        forget(&context.resources, number);
    }
    // A callee that stopped waiting (its request ended) takes no answer.
    let _ = to_callee.send(answer.to_vec());
    Ok(crate::storage::frame(&json!({}), &[]))
}

/// `service.callback` `{target, method, call?}` + encoded arguments, from the callee: a call of
/// one of its caller's arguments' targets, answered with `{}` + the caller's answer. Without
/// `call`, the RPC call's own (until it is answered); with it, the target call's it names (while
/// the callee serves it).
pub async fn callback(
    context: &CallContext,
    head: &Value,
    args: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let session = session_of(context)?;
    let call_head = target_call(head)?;
    const ANSWERED: &str = "the callback's caller is gone: its call was answered, or its \
                            request ended";
    let (answer, answered) = oneshot::channel();
    let call = TargetCall {
        head: call_head,
        args,
        answer,
        callbacks: None,
    };
    // Queued at once, in the link's router (before this handler's first wait): so a callback
    // the callee made before its answer (its job's reply, `service.export`, or `service.next`'s
    // answer of a target call, each handled after it) reaches the caller before that answer.
    session
        .callbacks_of(call_number(head))
        .ok_or(ANSWERED)?
        .send(call)
        .map_err(|_| ANSWERED.to_owned())?;
    let answer = answered.await.map_err(|_| ANSWERED.to_owned())?;
    Ok(crate::storage::frame(&json!({}), &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target_call(
        n: u64,
    ) -> (
        TargetCall,
        oneshot::Receiver<Vec<u8>>,
        mpsc::UnboundedReceiver<TargetCall>,
    ) {
        let (answer, answered) = oneshot::channel();
        let (callbacks, callbacks_rx) = mpsc::unbounded_channel();
        let call = TargetCall {
            head: json!({ "target": n, "method": "m" }),
            args: Vec::new(),
            answer,
            callbacks: Some(callbacks),
        };
        (call, answered, callbacks_rx)
    }

    /// Calls on a session are served at once, each answer and callback going to its own call
    /// (by number), at most MAX_SERVING at a time.
    #[tokio::test]
    async fn a_callee_serves_calls_at_once_each_answered_and_called_back_by_its_number() {
        let driving = CalleeSession::start(|_| Box::pin(std::future::pending()));
        let session = Arc::clone(&driving.session);
        let sender = lock(&session.sender).take().expect("the caller's end");
        let mut numbers = Vec::new();
        let mut waiting = Vec::new();
        for n in 0..MAX_SERVING as u64 {
            let (call, answered, callbacks) = target_call(n);
            sender.send(call).await.expect("sent");
            let frame = session.next_call().await.expect("served");
            let (head, _) = crate::storage::split(&frame).expect("frame");
            assert_eq!(head["target"], n);
            numbers.push(head["call"].as_u64().expect("a number"));
            waiting.push((answered, callbacks));
        }
        let (call, _answered, _callbacks) = target_call(99);
        sender.send(call).await.expect("queued");
        assert!(session.next_call().await.is_err(), "past MAX_SERVING");
        // A callback of the third call reaches its caller, not the first's; then its answer.
        let to = session.callbacks_of(Some(numbers[2])).expect("served");
        let (back, _, _) = target_call(7);
        to.send(back).expect("sent");
        assert!(waiting[0].1.try_recv().is_err(), "the first call got none");
        let (answered, mut callbacks) = waiting.swap_remove(2);
        let got = callbacks.recv().await.map(|c| c.head["target"].clone());
        assert_eq!(got, Some(json!(7)));
        session
            .answered(numbers[2], b"third".to_vec())
            .expect("answered");
        assert_eq!(answered.await.expect("answer"), b"third");
        // Answered: its number names nothing more, and a slot is free for the next call.
        assert!(session.callbacks_of(Some(numbers[2])).is_none());
        assert!(session.answered(numbers[2], Vec::new()).is_err());
        assert!(
            session.next_call().await.is_ok(),
            "the queued call is served"
        );
        // The RPC call's own callbacks went with its export (none was made here: still open).
        assert!(session.callbacks_of(None).is_some());
        assert!(
            session.callbacks_of(Some(u64::MAX)).is_none(),
            "no such call"
        );
    }
}
